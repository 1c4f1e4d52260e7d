//! `GET /admin/stats` (counts per collector and subscription) and `GET /admin/batches`
//! (the NDJSON objects written to R2).

use serde_json::json;
use worker::Response;

use super::admin::{d1_failed, db};
use super::call::Call;
use super::call::json_response;
use crate::error::{ApiError, ErrorCode};
use crate::metrics::{self, SCOPE_COLLECTOR};
use crate::observe;
use crate::store::{batches, counters, result_stats};

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

/// `GET /admin/stats[?hours=24]`: this isolate's pending counts are flushed first, then
/// the window's counts are read from D1.
pub async fn stats(c: Call<'_>) -> Result<Response, ApiError> {
    let (url, env, app, now_secs) = (&c.url()?, c.env, c.app, c.now_secs() as u64);
    let hours = metrics::window_hours(query_param(url, "hours", &["hours"])?.as_deref())?;
    observe::flush(env).await?;
    let since = metrics::window_start(now_secs, hours);
    let db = db(env)?;
    let collector_rows = counters::sum_since(&db, SCOPE_COLLECTOR, since)
        .await
        .map_err(d1_failed)?;
    let result_rows = result_stats::by_subscription_since(&db, since)
        .await
        .map_err(d1_failed)?;
    let configured: Vec<&str> = app
        .config
        .collectors
        .iter()
        .map(|c| c.name.as_str())
        .collect();
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

/// Largest `limit` of `/admin/batches`.
pub const MAX_BATCHES: u64 = 500;

/// The parsed query of `/admin/batches`.
#[derive(Debug, PartialEq, Eq)]
pub struct BatchQuery {
    /// Only this collector's objects.
    pub collector: Option<String>,
    /// Only objects written before this time (Unix seconds), for paging.
    pub before: Option<u64>,
    /// At most this many (1 to [`MAX_BATCHES`], default 50).
    pub limit: u64,
}

impl BatchQuery {
    /// Validates `collector`, `before` and `limit`.
    pub fn parse(pairs: &[(String, String)]) -> Result<BatchQuery, String> {
        let mut q = BatchQuery {
            collector: None,
            before: None,
            limit: 50,
        };
        for (k, v) in pairs {
            match k.as_str() {
                "collector" => {
                    let ok = (1..=64).contains(&v.len())
                        && v.bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
                    if !ok {
                        return Err(format!("{v:?} is not a collector name"));
                    }
                    q.collector = Some(v.clone());
                }
                "before" => {
                    q.before = Some(
                        v.parse()
                            .map_err(|_| format!("before must be Unix seconds, not {v:?}"))?,
                    );
                }
                "limit" => {
                    q.limit = v
                        .parse()
                        .ok()
                        .filter(|n| (1..=MAX_BATCHES).contains(n))
                        .ok_or_else(|| {
                            format!(
                                "limit must be a whole number from 1 to {MAX_BATCHES}, not {v:?}"
                            )
                        })?;
                }
                other => {
                    return Err(format!(
                        "unknown query parameter {other:?}; known: collector, before, limit"
                    ));
                }
            }
        }
        Ok(q)
    }
}

/// `GET /admin/batches[?collector=..&before=..&limit=..]`, newest first.
pub async fn list_batches(c: Call<'_>) -> Result<Response, ApiError> {
    let (url, env) = (&c.url()?, c.env);
    let pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    let q = BatchQuery::parse(&pairs).map_err(invalid_query)?;
    let rows = batches::list(&db(env)?, q.collector.as_deref(), q.before, q.limit)
        .await
        .map_err(d1_failed)?;
    Ok(json_response(200, &json!({ "batches": rows })))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(q: &[(&str, &str)]) -> Result<BatchQuery, String> {
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
        assert!(parse(&[("colector", "amo")]).is_err());
    }
}
