//! Request counters per collector: buffered in the isolate, flushed to D1 off the
//! response path, summarized for `GET /admin/stats`.
//!
//! Counting must not slow the webhook answer, so a request only adds to an in-memory
//! [`Buffer`]; the worker flushes it to the D1 `counters` table in `ctx.wait_until` after
//! the response has gone (at most [`FLUSH_AFTER_MS`] after the first unflushed count), and
//! `GET /admin/stats` flushes its own isolate's buffer before reading. The trade-off: an
//! isolate evicted between a count and its flush loses those counts. Counters are metrics,
//! not records; the records themselves are in R2 and `batches`.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use crate::error::{ApiError, ErrorCode};

/// Longest a count waits in an isolate before it is written to D1.
pub const FLUSH_AFTER_MS: u64 = 10_000;
/// Counts are kept per hour.
pub const BUCKET_SECS: i64 = 3600;
/// The `scope` of collector counters.
pub const SCOPE_COLLECTOR: &str = "collector";
/// The `scope` of acceptance latency counters: per collector, one metric per bucket of
/// [`LATENCY_BOUNDS_MS`] (`le_<ms>`, or `gt_<last>`), counting accepted webhooks.
pub const SCOPE_LATENCY: &str = "latency";
/// Upper bounds of the acceptance latency buckets, milliseconds.
pub const LATENCY_BOUNDS_MS: [u64; 10] = [5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000];

/// The latency bucket (a counter metric) of `ms`.
pub fn latency_bucket(ms: u64) -> String {
    match LATENCY_BOUNDS_MS.iter().find(|&&b| ms <= b) {
        Some(b) => format!("le_{b}"),
        None => format!("gt_{}", LATENCY_BOUNDS_MS[LATENCY_BOUNDS_MS.len() - 1]),
    }
}

/// One counter cell: a collector, what happened, and the hour it happened in.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct CounterKey {
    /// [`SCOPE_COLLECTOR`] or [`SCOPE_LATENCY`].
    pub scope: &'static str,
    /// The collector name.
    pub subject: String,
    /// `accepted`, `duplicate`, `dropped` (a filter step's `drop`), `handshake` (a provider's
    /// handshake answered, [`crate::collect::handshake`]) or an error code.
    pub metric: String,
    /// Start of the hour, Unix seconds.
    pub hour: i64,
}

/// Counts not yet written to D1.
#[derive(Debug, Default)]
pub struct Buffer {
    counts: BTreeMap<CounterKey, u64>,
    /// A delayed flush is already pending in `wait_until`.
    pub flush_scheduled: bool,
}

impl Buffer {
    /// Adds one to `collector`'s `metric` in the hour of `now_ms`.
    pub fn add(&mut self, collector: &str, metric: &str, now_ms: u64) {
        self.add_in(SCOPE_COLLECTOR, collector, metric, now_ms);
    }

    /// Adds one to `subject`'s `metric` of `scope` in the hour of `now_ms`.
    pub fn add_in(&mut self, scope: &'static str, subject: &str, metric: &str, now_ms: u64) {
        let secs = crate::time::secs(now_ms);
        let key = CounterKey {
            scope,
            subject: subject.to_string(),
            metric: metric.to_string(),
            hour: secs - secs % BUCKET_SECS,
        };
        *self.counts.entry(key).or_insert(0) += 1;
    }

    /// Takes every pending count, leaving the buffer empty.
    pub fn take(&mut self) -> Vec<(CounterKey, u64)> {
        std::mem::take(&mut self.counts).into_iter().collect()
    }

    /// Puts back counts whose write failed, so the next flush tries them again.
    pub fn restore(&mut self, counts: Vec<(CounterKey, u64)>) {
        for (k, n) in counts {
            *self.counts.entry(k).or_insert(0) += n;
        }
    }

    /// Whether nothing is pending.
    pub fn is_empty(&self) -> bool {
        self.counts.is_empty()
    }
}

/// One stored counter row, summed over the window: (collector, metric, count).
pub type CountRow = (String, String, u64);

/// One collector's counts over the window.
#[derive(Default)]
struct Tally {
    accepted: u64,
    duplicate: u64,
    dropped: u64,
    handshake: u64,
    refused: Map<String, Value>,
}

/// The `collectors` part of `/admin/stats`: every configured collector (zeros
/// included), then any collector that has counts but is no longer configured.
pub fn summarize_collectors(configured: &[&str], rows: &[CountRow]) -> Vec<Value> {
    let mut by_name: BTreeMap<&str, Tally> = BTreeMap::new();
    let mut order: Vec<&str> = configured.to_vec();
    for (name, metric, n) in rows {
        if !order.contains(&name.as_str()) {
            order.push(name);
        }
        let t = by_name.entry(name).or_default();
        match metric.as_str() {
            "accepted" => t.accepted += n,
            "duplicate" => t.duplicate += n,
            "dropped" => t.dropped += n,
            "handshake" => t.handshake += n,
            code => {
                let prev = t.refused.get(code).and_then(Value::as_u64).unwrap_or(0);
                t.refused.insert(code.to_string(), json!(prev + n));
            }
        }
    }
    order
        .into_iter()
        .map(|name| {
            let t = by_name.remove(name).unwrap_or_default();
            let refused_total: u64 = t.refused.values().filter_map(Value::as_u64).sum();
            json!({
                "name": name,
                "configured": configured.contains(&name),
                "accepted": t.accepted,
                "duplicate": t.duplicate,
                "dropped": t.dropped,
                "handshake": t.handshake,
                "refused": refused_total,
                "refused_by_code": t.refused,
            })
        })
        .collect()
}

/// One row of the `results` table summed over the window: (subscription id, name,
/// status, count).
pub type ResultRow = (String, Option<String>, String, u64);

/// Result statuses that mean the subscriber answered (SPEC's dispatch classification).
pub const DELIVERED_STATUSES: &[&str] = &["delivered", "completed", "rejected", "deferred"];

/// The `subscriptions` part of `/admin/stats`: per subscription, `delivered` (the
/// subscriber answered: delivered, completed, rejected or deferred), `failed`, and every
/// status counted.
pub fn summarize_subscriptions(rows: &[ResultRow]) -> Vec<Value> {
    let mut by_id: BTreeMap<&str, (Option<&str>, Map<String, Value>)> = BTreeMap::new();
    for (id, name, status, n) in rows {
        let entry = by_id.entry(id).or_default();
        if entry.0.is_none() {
            entry.0 = name.as_deref();
        }
        let prev = entry.1.get(status).and_then(Value::as_u64).unwrap_or(0);
        entry.1.insert(status.clone(), json!(prev + n));
    }
    by_id
        .into_iter()
        .map(|(id, (name, statuses))| {
            let sum = |pred: &dyn Fn(&str) -> bool| -> u64 {
                statuses
                    .iter()
                    .filter(|(s, _)| pred(s))
                    .filter_map(|(_, n)| n.as_u64())
                    .sum()
            };
            json!({
                "id": id,
                "name": name,
                "delivered": sum(&|s| DELIVERED_STATUSES.contains(&s)),
                "failed": sum(&|s| s == "failed"),
                "by_status": statuses,
            })
        })
        .collect()
}

/// The stats window in hours from `?hours=`: 1 to 720, default 24.
pub fn window_hours(query: Option<&str>) -> Result<u64, ApiError> {
    match query {
        None => Ok(24),
        Some(s) => s
            .parse::<u64>()
            .ok()
            .filter(|h| (1..=720).contains(h))
            .ok_or_else(|| {
                ApiError::new(
                    ErrorCode::InvalidQuery,
                    format!("hours must be a whole number from 1 to 720, not {s:?}"),
                )
            }),
    }
}

/// Start of the window: the beginning of the hour `hours - 1` hours before `now_secs`'s.
pub fn window_start(now_secs: i64, hours: u64) -> i64 {
    let this_hour = now_secs - now_secs.rem_euclid(BUCKET_SECS);
    let back = i64::try_from(hours.saturating_sub(1)).unwrap_or(i64::MAX);
    this_hour
        .saturating_sub(back.saturating_mul(BUCKET_SECS))
        .max(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_buckets_take_the_first_bound_not_below() {
        assert_eq!(latency_bucket(0), "le_5");
        assert_eq!(latency_bucket(5), "le_5");
        assert_eq!(latency_bucket(6), "le_10");
        assert_eq!(latency_bucket(5000), "le_5000");
        assert_eq!(latency_bucket(5001), "gt_5000");
    }

    #[test]
    fn buffer_counts_per_collector_metric_and_hour() {
        let mut b = Buffer::default();
        b.add("amo", "accepted", 3_600_000);
        b.add("amo", "accepted", 3_600_999);
        b.add("amo", "invalid_signature", 3_601_000);
        b.add("amo", "accepted", 7_200_000);
        let taken = b.take();
        assert!(b.is_empty());
        let cells: Vec<_> = taken
            .iter()
            .map(|(k, n)| (k.metric.as_str(), k.hour, *n))
            .collect();
        assert_eq!(
            cells,
            vec![
                ("accepted", 3600, 2),
                ("accepted", 7200, 1),
                ("invalid_signature", 3600, 1)
            ]
        );
        b.add("amo", "accepted", 3_600_000);
        b.restore(taken);
        assert_eq!(b.take()[0].1, 3);
    }

    #[test]
    fn collectors_summary_lists_configured_ones_with_zeros() {
        let rows = vec![
            ("amo".to_string(), "accepted".to_string(), 5),
            ("amo".to_string(), "invalid_signature".to_string(), 2),
            ("amo".to_string(), "payload_too_large".to_string(), 1),
            ("amo".to_string(), "dropped".to_string(), 4),
            ("gone".to_string(), "accepted".to_string(), 1),
        ];
        let s = summarize_collectors(&["open", "amo"], &rows);
        assert_eq!(s[0]["name"], "open");
        assert_eq!(s[0]["accepted"], 0);
        assert_eq!(s[1]["accepted"], 5);
        assert_eq!(s[1]["refused"], 3);
        assert_eq!(s[1]["dropped"], 4);
        assert_eq!(s[1]["handshake"], 0);
        assert_eq!(s[1]["refused_by_code"]["invalid_signature"], 2);
        assert_eq!(s[2]["name"], "gone");
        assert_eq!(s[2]["configured"], false);
    }

    #[test]
    fn subscriptions_summary_splits_delivered_and_failed() {
        let rows = vec![
            (
                "sub_1".to_string(),
                Some("scanner".to_string()),
                "completed".to_string(),
                3,
            ),
            (
                "sub_1".to_string(),
                Some("scanner".to_string()),
                "deferred".to_string(),
                1,
            ),
            (
                "sub_1".to_string(),
                Some("scanner".to_string()),
                "failed".to_string(),
                2,
            ),
            (
                "sub_1".to_string(),
                Some("scanner".to_string()),
                "pending".to_string(),
                4,
            ),
        ];
        let s = summarize_subscriptions(&rows);
        assert_eq!(s[0]["name"], "scanner");
        assert_eq!(s[0]["delivered"], 4);
        assert_eq!(s[0]["failed"], 2);
        assert_eq!(s[0]["by_status"]["pending"], 4);
    }

    #[test]
    fn window_is_validated() {
        assert_eq!(window_hours(None), Ok(24));
        assert_eq!(window_hours(Some("1")), Ok(1));
        assert!(window_hours(Some("0")).is_err());
        assert!(window_hours(Some("721")).is_err());
        assert!(window_hours(Some("x")).is_err());
        assert_eq!(window_start(7_300, 1), 7_200);
        assert_eq!(window_start(7_300, 2), 3_600);
        assert_eq!(window_start(7_300, 24), 0);
    }
}
