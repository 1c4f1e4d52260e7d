//! `GET /admin/stats` (counts per collector and subscription) and `GET /admin/batches`
//! (the NDJSON objects written to R2).

use serde_json::json;
use worker::{D1Database, Response};

use super::admin::{d1_failed, db};
use super::call::Call;
use super::call::json_response;
use crate::error::{ApiError, ErrorCode};
use std::collections::BTreeMap;

use crate::charts;
use crate::metrics::{self, SCOPE_COLLECTOR, SCOPE_LATENCY};
use crate::observe;
use crate::store::{attempts, batches, counters, result_stats, subscriptions};

fn invalid_query(message: String) -> ApiError {
    ApiError::new(ErrorCode::InvalidQuery, message)
}

/// The value of query parameter `name`; refuses unknown parameters, so a typo is not
/// silently ignored.
pub(crate) fn query_param(
    url: &url::Url,
    name: &str,
    known: &[&str],
) -> Result<Option<String>, ApiError> {
    let mut value = None;
    for (k, v) in url.query_pairs() {
        if !known.contains(&k.as_ref()) {
            return Err(invalid_query(format!(
                "unknown query parameter {k:?}; known: {}",
                known.join(", ")
            )));
        }
        if k == name {
            value = Some(v.into_owned());
        }
    }
    Ok(value)
}

/// The window of `?hours=` with what its counts are read from.
struct Window<'a> {
    hours: u64,
    since: i64,
    db: D1Database,
    configured: Vec<&'a str>,
}

/// Reads `?hours=` and flushes this isolate's pending counts, so the window's counts in
/// D1 include them.
async fn window<'a>(c: &Call<'a>) -> Result<Window<'a>, ApiError> {
    let hours = metrics::window_hours(query_param(&c.url()?, "hours", &["hours"])?.as_deref())?;
    observe::flush(c.env).await?;
    let configured = c
        .app
        .config
        .collectors
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    Ok(Window {
        hours,
        since: metrics::window_start(c.now_secs(), hours),
        db: db(c.env)?,
        configured,
    })
}

/// `GET /admin/stats[?hours=24]`: the window's counts per collector and subscription.
pub async fn stats(c: Call<'_>) -> Result<Response, ApiError> {
    let Window {
        hours,
        since,
        db,
        configured,
    } = window(&c).await?;
    let collector_rows = counters::sum_since(&db, SCOPE_COLLECTOR, since)
        .await
        .map_err(d1_failed)?;
    let result_rows = result_stats::by_subscription_since(&db, since)
        .await
        .map_err(d1_failed)?;
    Ok(json_response(
        200,
        &json!({
            "since": since,
            "hours": hours,
            "collectors": metrics::summarize_collectors(&configured, &collector_rows),
            "subscriptions": metrics::summarize_subscriptions(&result_rows),
        }),
    ))
}

/// `GET /admin/stats/hourly[?hours=24]`: the charts' series, one point per hour of the
/// window: per collector accepted / duplicate / dropped / refused (and refused by code),
/// per subscription delivered / failed / held attempts, and acceptance latency (p50, p95).
pub async fn hourly(c: Call<'_>) -> Result<Response, ApiError> {
    let Window {
        hours,
        since,
        db,
        configured,
    } = window(&c).await?;
    let collector_rows = counters::hourly_since(&db, SCOPE_COLLECTOR, since)
        .await
        .map_err(d1_failed)?;
    let latency_rows = counters::hourly_since(&db, SCOPE_LATENCY, since)
        .await
        .map_err(d1_failed)?;
    let attempt_rows = attempts::hourly_since(&db, since)
        .await
        .map_err(d1_failed)?;
    let names: BTreeMap<String, String> = subscriptions::list(&db)
        .await
        .map_err(d1_failed)?
        .into_iter()
        .map(|s| (s.id, s.name))
        .collect();
    let axis = charts::axis(since, hours);
    Ok(json_response(
        200,
        &json!({
            "since": since,
            "hours": axis,
            "collectors": charts::collectors(&axis, &configured, &collector_rows),
            "subscriptions": charts::deliveries(&axis, &names, &attempt_rows),
            "latency": charts::latency(&axis, &latency_rows),
        }),
    ))
}

/// Largest `limit` of `/admin/batches`.
pub const MAX_BATCHES: u64 = 500;

/// The parsed query of `/admin/batches`.
#[derive(Debug, PartialEq, Eq)]
pub struct BatchQuery {
    /// Only this collector's objects.
    pub collector: Option<String>,
    /// Only objects written before this time (Unix seconds), for paging.
    pub before: Option<u64>,
    /// Only objects written in this hour (Unix seconds of any time in it, rounded down).
    pub hour: Option<u64>,
    /// At most this many (1 to [`MAX_BATCHES`], default 50).
    pub limit: u64,
}

impl BatchQuery {
    /// Validates `collector`, `before`, `hour` and `limit`.
    pub fn parse(pairs: &[(String, String)]) -> Result<BatchQuery, ApiError> {
        let mut q = BatchQuery {
            collector: None,
            before: None,
            hour: None,
            limit: 50,
        };
        for (k, v) in pairs {
            match k.as_str() {
                "collector" => {
                    let ok = (1..=64).contains(&v.len())
                        && v.bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
                    if !ok {
                        return Err(invalid_query(format!("{v:?} is not a collector name")));
                    }
                    q.collector = Some(v.clone());
                }
                "before" => {
                    q.before = Some(v.parse().map_err(|_| {
                        invalid_query(format!("before must be Unix seconds, not {v:?}"))
                    })?);
                }
                "hour" => {
                    let at: u64 = v.parse().map_err(|_| {
                        invalid_query(format!("hour must be Unix seconds, not {v:?}"))
                    })?;
                    q.hour = Some(at - at % 3600);
                }
                "limit" => {
                    q.limit = v
                        .parse()
                        .ok()
                        .filter(|n| (1..=MAX_BATCHES).contains(n))
                        .ok_or_else(|| {
                            invalid_query(format!(
                                "limit must be a whole number from 1 to {MAX_BATCHES}, not {v:?}"
                            ))
                        })?;
                }
                other => {
                    return Err(invalid_query(format!(
                        "unknown query parameter {other:?}; known: collector, before, hour, limit"
                    )));
                }
            }
        }
        Ok(q)
    }
}

/// `GET /admin/batches[?collector=..&hour=..&before=..&limit=..]`, newest first.
pub async fn list_batches(c: Call<'_>) -> Result<Response, ApiError> {
    let (url, env) = (&c.url()?, c.env);
    let pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    let q = BatchQuery::parse(&pairs)?;
    let filter = batches::Filter {
        collector: q.collector.as_deref(),
        before: q.before,
        hour: q.hour,
    };
    let rows = batches::list(&db(env)?, filter, q.limit)
        .await
        .map_err(d1_failed)?;
    Ok(json_response(200, &json!({ "batches": rows })))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(q: &[(&str, &str)]) -> Result<BatchQuery, ApiError> {
        let pairs: Vec<_> = q
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        BatchQuery::parse(&pairs)
    }

    #[test]
    fn batch_query_defaults_and_validation() {
        assert_eq!(
            parse(&[]),
            Ok(BatchQuery {
                collector: None,
                before: None,
                hour: None,
                limit: 50
            })
        );
        let q = parse(&[("collector", "amo"), ("limit", "5"), ("before", "100")]).unwrap();
        assert_eq!(
            (q.collector.as_deref(), q.limit, q.before),
            (Some("amo"), 5, Some(100))
        );
        assert!(parse(&[("collector", "a b")]).is_err());
        assert!(parse(&[("limit", "0")]).is_err());
        assert!(parse(&[("limit", "501")]).is_err());
        assert!(parse(&[("before", "yesterday")]).is_err());
        assert_eq!(parse(&[("hour", "7300")]).unwrap().hour, Some(7200));
        assert!(parse(&[("hour", "-1")]).is_err());
        assert!(parse(&[("colector", "amo")]).is_err());
    }
}
