//! Table `delivery_attempts`: every attempt to deliver a result.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use worker::{D1Database, wasm_bindgen::JsValue};

use crate::charts::HourRow;
use crate::dispatch::exchange::Exchange;

/// One delivery attempt as stored: outcome, status, duration, the retry it scheduled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Attempt {
    /// 1-based attempt number.
    pub attempt: u32,
    /// The subscriber's status code (none for timeouts and network errors).
    pub status_code: Option<u16>,
    /// How long it took.
    pub duration_ms: u64,
    /// `completed`, `rejected`, `deferred`, `delivered`, `retry` or `failed`.
    pub outcome: String,
    /// What went wrong.
    pub error: Option<String>,
    /// When, Unix seconds.
    pub attempted_at: i64,
    /// The delay scheduled before the next attempt, when one was.
    pub retry_in_secs: Option<u64>,
}

#[derive(Deserialize)]
struct Row {
    attempt: f64,
    status_code: Option<f64>,
    duration_ms: f64,
    outcome: String,
    error: Option<String>,
    attempted_at: f64,
    retry_in_secs: Option<f64>,
}

impl From<Row> for Attempt {
    fn from(r: Row) -> Attempt {
        Attempt {
            attempt: r.attempt as u32,
            status_code: r.status_code.map(|c| c as u16),
            duration_ms: r.duration_ms as u64,
            outcome: r.outcome,
            error: r.error,
            attempted_at: r.attempted_at as i64,
            retry_in_secs: r.retry_in_secs.map(|s| s as u64),
        }
    }
}

const COLUMNS: &str =
    "result_id, attempt, status_code, duration_ms, outcome, error, attempted_at, retry_in_secs";

fn num(n: f64) -> JsValue {
    JsValue::from_f64(n)
}

/// Records an attempt and, when a request was sent, its exchange (for the inspector);
/// the same attempt recorded twice stays one row.
pub async fn insert(
    db: &D1Database,
    result_id: &str,
    a: &Attempt,
    exchange: Option<&Exchange>,
) -> worker::Result<()> {
    let exchange = exchange
        .and_then(|e| serde_json::to_string(e).ok())
        .map_or(JsValue::NULL, |e| JsValue::from_str(&e));
    db.prepare(format!(
        "INSERT OR IGNORE INTO delivery_attempts ({COLUMNS}, exchange)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
    ))
    .bind(&[
        JsValue::from_str(result_id),
        num(f64::from(a.attempt)),
        a.status_code.map_or(JsValue::NULL, |c| num(f64::from(c))),
        num(a.duration_ms as f64),
        JsValue::from_str(&a.outcome),
        a.error.as_deref().map_or(JsValue::NULL, JsValue::from_str),
        num(a.attempted_at as f64),
        a.retry_in_secs.map_or(JsValue::NULL, |s| num(s as f64)),
        exchange,
    ])?
    .run()
    .await?;
    Ok(())
}

/// A result's attempts, in order.
pub async fn for_result(db: &D1Database, result_id: &str) -> worker::Result<Vec<Attempt>> {
    let rows: Vec<Row> = db
        .prepare(format!(
            "SELECT {COLUMNS} FROM delivery_attempts WHERE result_id = ?1 ORDER BY attempt"
        ))
        .bind(&[JsValue::from_str(result_id)])?
        .all()
        .await?
        .results()?;
    Ok(rows.into_iter().map(Attempt::from).collect())
}

/// An attempt with what it sent and what it was answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Inspected {
    /// The attempt's own row.
    #[serde(flatten)]
    pub attempt: Attempt,
    /// Its exchange; none when nothing was sent (or the attempt predates migration 0008).
    pub exchange: Option<Exchange>,
}

/// A result's attempts with their exchanges, in order.
pub async fn inspect(db: &D1Database, result_id: &str) -> worker::Result<Vec<Inspected>> {
    #[derive(Deserialize)]
    struct WithExchange {
        #[serde(flatten)]
        row: Row,
        exchange: Option<String>,
    }
    let rows: Vec<WithExchange> = db
        .prepare(format!(
            "SELECT {COLUMNS}, exchange FROM delivery_attempts WHERE result_id = ?1 ORDER BY attempt"
        ))
        .bind(&[JsValue::from_str(result_id)])?
        .all()
        .await?
        .results()?;
    Ok(rows
        .into_iter()
        .map(|r| Inspected {
            attempt: Attempt::from(r.row),
            exchange: r.exchange.and_then(|e| serde_json::from_str(&e).ok()),
        })
        .collect())
}

/// The latest attempt of each subscription.
pub async fn latest_by_subscription(db: &D1Database) -> worker::Result<HashMap<String, Attempt>> {
    #[derive(Deserialize)]
    struct Latest {
        subscription_id: String,
        #[serde(flatten)]
        row: Row,
    }
    let rows: Vec<Latest> = db
        .prepare(
            "SELECT r.subscription_id, a.result_id, a.attempt, a.status_code, a.duration_ms,
               a.outcome, a.error, a.attempted_at, a.retry_in_secs
             FROM delivery_attempts a JOIN results r ON r.id = a.result_id
             WHERE a.id IN (SELECT MAX(a2.id) FROM delivery_attempts a2
                            JOIN results r2 ON r2.id = a2.result_id GROUP BY r2.subscription_id)",
        )
        .all()
        .await?
        .results()?;
    Ok(rows
        .into_iter()
        .map(|l| (l.subscription_id, Attempt::from(l.row)))
        .collect())
}

/// Attempts made since `since`, counted per (subscription, outcome, hour).
pub async fn hourly_since(db: &D1Database, since: i64) -> worker::Result<Vec<HourRow>> {
    #[derive(Deserialize)]
    struct Hourly {
        subscription_id: String,
        outcome: String,
        hour: f64,
        count: f64,
    }
    let rows: Vec<Hourly> = db
        .prepare(
            "SELECT r.subscription_id, a.outcome, a.attempted_at - a.attempted_at % 3600 AS hour,
               COUNT(*) AS count
             FROM delivery_attempts a JOIN results r ON r.id = a.result_id
             WHERE a.attempted_at >= ?1
             GROUP BY r.subscription_id, a.outcome, hour",
        )
        .bind(&[num(since as f64)])?
        .all()
        .await?
        .results()?;
    Ok(rows
        .into_iter()
        .map(|r| (r.subscription_id, r.outcome, r.hour as i64, r.count as u64))
        .collect())
}
