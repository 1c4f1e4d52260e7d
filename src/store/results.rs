//! Table `results`: one row per (event, subscription): the delivery's state and the
//! subscriber's answer.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use worker::{D1Database, wasm_bindgen::JsValue};

const COLUMNS: &str = "id, event_id, event_type, subscription_id, payload, status, results, \
    matched_rules, flagged, attempts, retry_base, next_attempt_at, last_error, created_at, updated_at";

#[derive(Deserialize)]
struct Row {
    id: String,
    event_id: String,
    event_type: String,
    subscription_id: String,
    payload: String,
    status: String,
    results: Option<String>,
    matched_rules: Option<String>,
    flagged: f64,
    attempts: f64,
    retry_base: f64,
    next_attempt_at: Option<f64>,
    last_error: Option<String>,
    created_at: f64,
    updated_at: f64,
}

/// A result.
#[derive(Debug, Clone, Serialize)]
pub struct ResultRecord {
    /// Id (also the deliveries' `webhook-id`).
    pub id: String,
    /// The published event.
    pub event_id: String,
    /// Its type.
    pub event_type: String,
    /// Whose result it is.
    pub subscription_id: String,
    /// The event payload as published.
    #[serde(skip)]
    pub payload: String,
    /// `pending`, `delivered`, `completed`, `rejected`, `deferred` or `failed`.
    pub status: String,
    /// What the subscriber answered or PATCHed.
    pub results: Option<Value>,
    /// Rule names it matched.
    pub matched_rules: Option<Vec<String>>,
    /// Set by a `flag` rule.
    pub flagged: bool,
    /// Attempts made so far.
    #[serde(skip)]
    pub attempts: u32,
    /// Attempts made before the latest manual retry (the schedule restarts there).
    #[serde(skip)]
    pub retry_base: u32,
    /// When the next attempt is due, while `pending`.
    pub next_attempt_at: Option<i64>,
    /// The last failure, if any.
    pub last_error: Option<String>,
    /// Created, Unix seconds.
    pub created_at: i64,
    /// Last changed, Unix seconds.
    pub updated_at: i64,
}

impl From<Row> for ResultRecord {
    fn from(r: Row) -> ResultRecord {
        ResultRecord {
            id: r.id,
            event_id: r.event_id,
            event_type: r.event_type,
            subscription_id: r.subscription_id,
            payload: r.payload,
            status: r.status,
            results: r.results.and_then(|t| serde_json::from_str(&t).ok()),
            matched_rules: r.matched_rules.and_then(|t| serde_json::from_str(&t).ok()),
            flagged: r.flagged != 0.0,
            attempts: r.attempts as u32,
            retry_base: r.retry_base as u32,
            next_attempt_at: r.next_attempt_at.map(|t| t as i64),
            last_error: r.last_error,
            created_at: r.created_at as i64,
            updated_at: r.updated_at as i64,
        }
    }
}

fn text(s: &str) -> JsValue {
    JsValue::from_str(s)
}

fn num(n: i64) -> JsValue {
    JsValue::from_f64(n as f64)
}

fn opt_text(s: Option<&str>) -> JsValue {
    s.map_or(JsValue::NULL, text)
}

/// A result to create for a published event.
#[derive(Debug, Clone)]
pub struct NewResult<'a> {
    /// `res_` + a ULID: one per event and subscription.
    pub id: &'a str,
    /// `evt_` + a ULID, shared by every result of the published event.
    pub event_id: &'a str,
    /// The `{type}` the event was published to.
    pub event_type: &'a str,
    /// The subscription the event is delivered to.
    pub subscription_id: &'a str,
    /// The event's JSON object as published, delivered as the body.
    pub payload: &'a str,
}

/// Creates the results of one event, due at once.
pub async fn insert_all(db: &D1Database, rows: &[NewResult<'_>], now: i64) -> worker::Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let statements = rows
        .iter()
        .map(|r| {
            db.prepare(
                "INSERT INTO results (id, event_id, event_type, subscription_id, payload, status,
                   attempts, next_attempt_at, created_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, 'pending', 0, ?6, ?6, ?6)",
            )
            .bind(&[
                text(r.id),
                text(r.event_id),
                text(r.event_type),
                text(r.subscription_id),
                text(r.payload),
                num(now),
            ])
        })
        .collect::<worker::Result<Vec<_>>>()?;
    db.batch(statements).await?;
    Ok(())
}

/// One result.
pub async fn get(db: &D1Database, id: &str) -> worker::Result<Option<ResultRecord>> {
    let row: Option<Row> = db
        .prepare(format!("SELECT {COLUMNS} FROM results WHERE id = ?1"))
        .bind(&[text(id)])?
        .first(None)
        .await?;
    Ok(row.map(ResultRecord::from))
}

/// Takes attempt `attempt` of a pending result: true for exactly one caller, so a
/// message delivered twice never sends twice.
pub async fn claim_attempt(
    db: &D1Database,
    id: &str,
    attempt: u32,
    now: i64,
) -> worker::Result<bool> {
    let result = db
        .prepare(
            "UPDATE results SET attempts = ?2, updated_at = ?3
             WHERE id = ?1 AND status = 'pending' AND attempts = ?2 - 1",
        )
        .bind(&[text(id), num(i64::from(attempt)), num(now)])?
        .run()
        .await?;
    Ok(result.meta()?.and_then(|m| m.changes).unwrap_or(0) == 1)
}

/// What an attempt (or a PATCH) leaves on a result.
#[derive(Debug, Clone)]
pub struct Update<'a> {
    /// New status.
    pub status: &'a str,
    /// Results JSON, when the subscriber sent some.
    pub results: Option<&'a str>,
    /// Matched rules JSON, with `results`.
    pub matched_rules: Option<&'a str>,
    /// When the next attempt is due (`pending` only).
    pub next_attempt_at: Option<i64>,
    /// The failure, if any.
    pub last_error: Option<&'a str>,
}

/// Records an attempt's outcome. Results are only replaced when new ones came.
pub async fn update(db: &D1Database, id: &str, u: &Update<'_>, now: i64) -> worker::Result<()> {
    db.prepare(
        "UPDATE results SET status = ?2, results = COALESCE(?3, results),
           matched_rules = COALESCE(?4, matched_rules), next_attempt_at = ?5, last_error = ?6,
           updated_at = ?7 WHERE id = ?1",
    )
    .bind(&[
        text(id),
        text(u.status),
        opt_text(u.results),
        opt_text(u.matched_rules),
        u.next_attempt_at.map_or(JsValue::NULL, num),
        opt_text(u.last_error),
        num(now),
    ])?
    .run()
    .await?;
    Ok(())
}

/// Flags a result (a `flag` rule matched).
pub async fn flag(db: &D1Database, id: &str, now: i64) -> worker::Result<()> {
    db.prepare("UPDATE results SET flagged = 1, updated_at = ?2 WHERE id = ?1")
        .bind(&[text(id), num(now)])?
        .run()
        .await?;
    Ok(())
}

/// Makes a failed result pending again, restarting the schedule; false unless it was
/// `failed`.
pub async fn retry_now(db: &D1Database, id: &str, now: i64) -> worker::Result<bool> {
    let result = db
        .prepare(
            "UPDATE results SET status = 'pending', retry_base = attempts, next_attempt_at = ?2,
               last_error = NULL, updated_at = ?2 WHERE id = ?1 AND status = 'failed'",
        )
        .bind(&[text(id), num(now)])?
        .run()
        .await?;
    Ok(result.meta()?.and_then(|m| m.changes).unwrap_or(0) == 1)
}

/// A row of `GET /admin/deliveries`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Delivery {
    /// The result this delivery settles (`res_` + a ULID).
    pub id: String,
    /// The subscription delivered to.
    pub subscription_id: String,
    /// Subscription name (gone when deleted).
    pub subscription_name: Option<String>,
    /// The `{type}` the event was published to.
    pub event_type: String,
    /// Where the delivery stands: one of `GET /admin/deliveries`' `status` values.
    pub status: String,
    /// Attempts made.
    pub attempts: f64,
    /// Last failure.
    pub last_error: Option<String>,
    /// Last change.
    pub updated_at: f64,
}

const DELIVERY: &str = "SELECT r.id, r.subscription_id, s.name AS subscription_name, r.event_type,
    r.status, r.attempts, r.last_error, r.updated_at
    FROM results r LEFT JOIN subscriptions s ON s.id = r.subscription_id";

/// Deliveries, newest change first, optionally of one status.
pub async fn deliveries(
    db: &D1Database,
    status: Option<&str>,
    limit: u32,
) -> worker::Result<Vec<Delivery>> {
    db.prepare(format!(
        "{DELIVERY} WHERE (?1 IS NULL OR r.status = ?1) ORDER BY r.updated_at DESC, r.id DESC LIMIT ?2"
    ))
    .bind(&[opt_text(status), num(i64::from(limit))])?
    .all()
    .await?
    .results()
}

/// One delivery.
pub async fn delivery(db: &D1Database, id: &str) -> worker::Result<Option<Delivery>> {
    db.prepare(format!("{DELIVERY} WHERE r.id = ?1"))
        .bind(&[text(id)])?
        .first(None)
        .await
}

/// Pending results whose attempt was due before `before` and never ran (lost message).
pub async fn stuck(db: &D1Database, before: i64, limit: u32) -> worker::Result<Vec<(String, u32)>> {
    #[derive(Deserialize)]
    struct Stuck {
        id: String,
        attempts: f64,
    }
    let rows: Vec<Stuck> = db
        .prepare(
            "SELECT id, attempts FROM results WHERE status = 'pending' AND next_attempt_at <= ?1
             ORDER BY next_attempt_at LIMIT ?2",
        )
        .bind(&[num(before), num(i64::from(limit))])?
        .all()
        .await?
        .results()?;
    Ok(rows
        .into_iter()
        .map(|r| (r.id, r.attempts as u32))
        .collect())
}
