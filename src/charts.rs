//! Per-hour series for the admin page's charts (`GET /admin/stats/hourly`): counts read
//! from D1 (`counters` for collectors and acceptance latency, `delivery_attempts` for
//! deliveries) laid on one axis of hours, a zero for every hour without a row.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::metrics::{BUCKET_SECS, LATENCY_BOUNDS_MS};

/// One counter row: (subject, metric, hour start in Unix seconds, count).
pub type HourRow = (String, String, i64, u64);

/// The `hours` hour starts from `since` (itself an hour start).
pub fn axis(since: i64, hours: u64) -> Vec<i64> {
    (0..hours)
        .scan(since, |hour, _| {
            let this = *hour;
            *hour += BUCKET_SECS;
            Some(this)
        })
        .collect()
}

/// Sums `rows` into one series per (subject, label), aligned on `axis`; `label` maps a
/// row's metric to the series it adds to (`None`: not charted).
fn series<'a>(
    axis: &[i64],
    rows: &'a [HourRow],
    label: fn(&str) -> Option<&str>,
) -> BTreeMap<&'a str, BTreeMap<&'a str, Vec<u64>>> {
    let index: BTreeMap<i64, usize> = axis.iter().enumerate().map(|(i, &h)| (h, i)).collect();
    let mut out: BTreeMap<&str, BTreeMap<&str, Vec<u64>>> = BTreeMap::new();
    for (subject, metric, hour, n) in rows {
        let (Some(&i), Some(l)) = (index.get(hour), label(metric)) else {
            continue;
        };
        out.entry(subject)
            .or_default()
            .entry(l)
            .or_insert_with(|| vec![0; axis.len()])[i] += n;
    }
    out
}

fn zeros_or(v: Option<&Vec<u64>>, len: usize) -> Value {
    v.map_or_else(|| json!(vec![0; len]), |v| json!(v))
}

/// Per collector (every configured one, then any other with counts): `accepted`,
/// `duplicate`, `dropped`, `handshake` and `refused` per hour, and `refused_by_code` (one series per
/// refusal code, for the chart's hover legend).
pub fn collectors(axis: &[i64], configured: &[&str], rows: &[HourRow]) -> Vec<Value> {
    // Every collector metric is charted as itself.
    let by_code = series(axis, rows, |m| Some(m));
    let mut names: Vec<&str> = configured.to_vec();
    names.extend(by_code.keys().filter(|n| !configured.contains(n)));
    names
        .into_iter()
        .map(|name| {
            let metrics = by_code.get(name);
            let get = |m: &str| metrics.and_then(|s| s.get(m));
            let codes: BTreeMap<&str, &Vec<u64>> = metrics
                .into_iter()
                .flatten()
                .filter(|(m, _)| !matches!(**m, "accepted" | "duplicate" | "dropped" | "handshake"))
                .map(|(m, v)| (*m, v))
                .collect();
            let refused: Vec<u64> = (0..axis.len())
                .map(|i| codes.values().map(|v| v[i]).sum())
                .collect();
            json!({
                "name": name,
                "accepted": zeros_or(get("accepted"), axis.len()),
                "duplicate": zeros_or(get("duplicate"), axis.len()),
                "dropped": zeros_or(get("dropped"), axis.len()),
                "handshake": zeros_or(get("handshake"), axis.len()),
                "refused": refused,
                "refused_by_code": codes,
            })
        })
        .collect()
}

/// What an attempt's outcome counts as on the deliveries chart: `delivered` (the
/// subscriber took it: delivered, completed), `failed` (failed, rejected) or `held` (the
/// delivery waits: a retry scheduled, or deferred by the subscriber).
pub fn delivery_label(outcome: &str) -> Option<&'static str> {
    match outcome {
        "delivered" | "completed" => Some("delivered"),
        "failed" | "rejected" => Some("failed"),
        "retry" | "deferred" => Some("held"),
        _ => None,
    }
}

/// Per subscription with attempts in the window: `delivered`, `failed` and `held` per
/// hour; `names` gives each id's name (a deleted subscription has none).
pub fn deliveries(axis: &[i64], names: &BTreeMap<String, String>, rows: &[HourRow]) -> Vec<Value> {
    series(axis, rows, delivery_label)
        .into_iter()
        .map(|(id, s)| {
            json!({
                "id": id,
                "name": names.get(id),
                "delivered": zeros_or(s.get("delivered"), axis.len()),
                "failed": zeros_or(s.get("failed"), axis.len()),
                "held": zeros_or(s.get("held"), axis.len()),
            })
        })
        .collect()
}

/// A latency bucket's upper bound from its metric: `le_<ms>` is `ms`; `gt_<last>` is
/// unbounded (`u64::MAX`).
fn bound(metric: &str) -> Option<u64> {
    if let Some(ms) = metric.strip_prefix("le_") {
        return ms.parse().ok();
    }
    metric.strip_prefix("gt_").map(|_| u64::MAX)
}

/// The bound of the bucket holding quantile `q` of a histogram (bound → count), `None`
/// when it is empty. Past the last bound the answer is the last bound (a floor).
pub fn quantile(histogram: &BTreeMap<u64, u64>, q: f64) -> Option<u64> {
    let total: u64 = histogram.values().sum();
    if total == 0 {
        return None;
    }
    let rank = (q * total as f64).ceil().max(1.0) as u64;
    let mut seen = 0;
    for (&b, &n) in histogram {
        seen += n;
        if seen >= rank {
            return Some(b.min(LATENCY_BOUNDS_MS[LATENCY_BOUNDS_MS.len() - 1]));
        }
    }
    None
}

/// Acceptance latency over all collectors per hour: `p50` and `p95` (the upper bound of
/// the bucket holding them, ms; null for an hour without webhooks) and `accepted`.
pub fn latency(axis: &[i64], rows: &[HourRow]) -> Value {
    let mut hist: Vec<BTreeMap<u64, u64>> = vec![BTreeMap::new(); axis.len()];
    let index: BTreeMap<i64, usize> = axis.iter().enumerate().map(|(i, &h)| (h, i)).collect();
    for (_, metric, hour, n) in rows {
        if let (Some(&i), Some(b)) = (index.get(hour), bound(metric)) {
            *hist[i].entry(b).or_insert(0) += n;
        }
    }
    json!({
        "p50": hist.iter().map(|h| quantile(h, 0.5)).collect::<Vec<_>>(),
        "p95": hist.iter().map(|h| quantile(h, 0.95)).collect::<Vec<_>>(),
        "accepted": hist.iter().map(|h| h.values().sum::<u64>()).collect::<Vec<_>>(),
        "bounds_ms": LATENCY_BOUNDS_MS,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(s: &str, m: &str, h: i64, n: u64) -> HourRow {
        (s.into(), m.into(), h, n)
    }

    #[test]
    fn collectors_get_a_point_per_hour_and_their_refusals_by_code() {
        let axis = axis(7200, 3);
        assert_eq!(axis, vec![7200, 10800, 14400]);
        let rows = [
            row("amo", "accepted", 7200, 4),
            row("amo", "accepted", 14400, 1),
            row("amo", "invalid_signature", 10800, 2),
            row("amo", "payload_too_large", 10800, 1),
            row("gone", "duplicate", 14400, 3),
            row("amo", "accepted", 3600, 9), // before the window
        ];
        let c = collectors(&axis, &["amo", "idle"], &rows);
        assert_eq!(c.len(), 3);
        assert_eq!(c[0]["name"], "amo");
        assert_eq!(c[0]["accepted"], json!([4, 0, 1]));
        assert_eq!(c[0]["refused"], json!([0, 3, 0]));
        assert_eq!(
            c[0]["refused_by_code"]["invalid_signature"],
            json!([0, 2, 0])
        );
        assert_eq!(c[1]["name"], "idle");
        assert_eq!(c[1]["accepted"], json!([0, 0, 0]));
        assert_eq!(c[2]["duplicate"], json!([0, 0, 3]));
    }

    #[test]
    fn deliveries_are_delivered_failed_or_held() {
        let axis = axis(0, 2);
        let rows = [
            row("sub_1", "delivered", 0, 2),
            row("sub_1", "completed", 0, 1),
            row("sub_1", "retry", 3600, 4),
            row("sub_1", "deferred", 3600, 1),
            row("sub_1", "rejected", 3600, 1),
            row("sub_2", "failed", 0, 1),
        ];
        let names = BTreeMap::from([("sub_1".to_string(), "scanner".to_string())]);
        let d = deliveries(&axis, &names, &rows);
        assert_eq!(d[0]["name"], "scanner");
        assert_eq!(d[0]["delivered"], json!([3, 0]));
        assert_eq!(d[0]["held"], json!([0, 5]));
        assert_eq!(d[0]["failed"], json!([0, 1]));
        assert_eq!(d[1]["name"], Value::Null);
        assert_eq!(d[1]["failed"], json!([1, 0]));
    }

    #[test]
    fn latency_quantiles_are_bucket_bounds() {
        let axis = axis(0, 2);
        let rows = [
            row("amo", "le_5", 0, 60),
            row("open", "le_25", 0, 35),
            row("amo", "le_250", 0, 5),
            row("amo", "gt_5000", 3600, 1),
        ];
        let l = latency(&axis, &rows);
        assert_eq!(l["p50"], json!([5, 5000]));
        assert_eq!(l["p95"], json!([25, 5000]));
        assert_eq!(l["accepted"], json!([100, 1]));
        assert_eq!(latency(&axis, &[])["p50"], json!([null, null]));
        let h = BTreeMap::from([(5, 1), (10, 1)]);
        assert_eq!((quantile(&h, 0.5), quantile(&h, 0.51)), (Some(5), Some(10)));
    }
}
