//! Table `results`: one row per (event, subscription): the delivery's state and the
//! subscriber's answer.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use worker::{D1Database, D1PreparedStatement, wasm_bindgen::JsValue};

const COLUMNS: &str = "id, event_id, event_type, subscription_id, payload, status, results, \
    matched_rules, flagged, attempts, retry_base, next_attempt_at, last_error, created_at, updated_at, \
    review_decision, review_reason, reviewed_by, reviewed_at, ordering_key";

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
    review_decision: Option<String>,
    review_reason: Option<String>,
    reviewed_by: Option<String>,
    reviewed_at: Option<f64>,
    ordering_key: Option<String>,
}

/// A reviewer's decision on a flagged result (`POST /admin/results/{id}/review`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Review {
    /// `approve` or `clear`.
    pub decision: String,
    /// The reviewer's reason, as given.
    pub reason: String,
    /// The reviewer: the Access email, or `admin token`.
    pub by: String,
    /// When, Unix seconds.
    pub at: i64,
}

/// A result: one event for one subscription, with its delivery state.
#[derive(Debug, Clone, Serialize)]
pub struct ResultRecord {
    /// Id (also the deliveries' `webhook-id`).
    pub id: String,
    /// The published event.
    pub event_id: String,
    /// The event type it was published to.
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
    /// The review of its flag, once reviewed.
    pub review: Option<Review>,
    /// Its ordering key, when its subscription delivers in order per key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ordering_key: Option<String>,
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
            review: match (
                r.review_decision,
                r.review_reason,
                r.reviewed_by,
                r.reviewed_at,
            ) {
                (Some(decision), Some(reason), Some(by), Some(at)) => Some(Review {
                    decision,
                    reason,
                    by,
                    at: at as i64,
                }),
                _ => None,
            },
            ordering_key: r.ordering_key,
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
    /// Held (its subscription holds its deliveries) rather than due at once.
    pub held: bool,
    /// Its ordering key (FIFO per key).
    pub ordering_key: Option<&'a str>,
}

/// Creates the results of one event, due at once (or held).
pub async fn insert_all(
    db: &D1Database,
    rows: &[NewResult<'_>],
    now_secs: i64,
) -> worker::Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let statements = rows
        .iter()
        .map(|r| {
            db.prepare(
                "INSERT INTO results (id, event_id, event_type, subscription_id, payload, status,
                   attempts, next_attempt_at, created_at, updated_at, ordering_key)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?7, 0, CASE WHEN ?7 = 'held' THEN NULL ELSE ?6 END, ?6, ?6, ?8)",
            )
            .bind(&[
                text(r.id),
                text(r.event_id),
                text(r.event_type),
                text(r.subscription_id),
                text(r.payload),
                num(now_secs),
                text(if r.held { "held" } else { "pending" }),
                opt_text(r.ordering_key),
            ])
        })
        .collect::<worker::Result<Vec<_>>>()?;
    db.batch(statements).await?;
    Ok(())
}

/// The statements creating `rows` unless a result of the same id exists (ids derived
/// from what they publish, as a replay's are): one `INSERT … SELECT` per run of rows
/// within [`super::MAX_LIST_PARAM_BYTES`], for the caller's D1 batch (a transaction).
pub fn insert_new_statements(
    db: &D1Database,
    rows: &[NewResult<'_>],
    now_secs: i64,
) -> worker::Result<Vec<D1PreparedStatement>> {
    let items: Vec<String> = rows
        .iter()
        .map(|r| {
            serde_json::json!([
                r.id,
                r.event_id,
                r.event_type,
                r.subscription_id,
                r.payload,
                if r.held { "held" } else { "pending" },
                r.ordering_key
            ])
            .to_string()
        })
        .collect();
    let lens: Vec<usize> = items.iter().map(String::len).collect();
    super::list_chunks(&lens, super::MAX_LIST_PARAM_BYTES)
        .into_iter()
        .map(|run| {
            // `WHERE true`: SQLite's upsert after INSERT … SELECT needs a WHERE to parse.
            db.prepare(
                "INSERT INTO results (id, event_id, event_type, subscription_id, payload, status,
                   attempts, next_attempt_at, created_at, updated_at, ordering_key)
                 SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'),
                   json_extract(value, '$[2]'), json_extract(value, '$[3]'),
                   json_extract(value, '$[4]'), json_extract(value, '$[5]'), 0,
                   CASE WHEN json_extract(value, '$[5]') = 'held' THEN NULL ELSE ?2 END, ?2, ?2,
                   json_extract(value, '$[6]')
                 FROM json_each(?1) WHERE true
                 ON CONFLICT (id) DO NOTHING",
            )
            .bind(&[text(&format!("[{}]", items[run].join(","))), num(now_secs)])
        })
        .collect()
}

/// Result `id`, if it exists.
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
    now_secs: i64,
) -> worker::Result<bool> {
    let result = db
        .prepare(
            "UPDATE results SET attempts = ?2, updated_at = ?3
             WHERE id = ?1 AND status = 'pending' AND attempts = ?2 - 1",
        )
        .bind(&[text(id), num(i64::from(attempt)), num(now_secs)])?
        .run()
        .await?;
    Ok(result.meta()?.and_then(|m| m.changes).unwrap_or(0) == 1)
}

/// What an attempt (or a PATCH) leaves on a result.
#[derive(Debug, Clone)]
pub struct Update<'a> {
    /// The status it moves to (`pending`, `delivered`, `failed`, ...).
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
pub async fn update(
    db: &D1Database,
    id: &str,
    u: &Update<'_>,
    now_secs: i64,
) -> worker::Result<()> {
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
        num(now_secs),
    ])?
    .run()
    .await?;
    Ok(())
}

/// Flags a result (a `flag` rule matched).
pub async fn flag(db: &D1Database, id: &str, now_secs: i64) -> worker::Result<()> {
    db.prepare("UPDATE results SET flagged = 1, updated_at = ?2 WHERE id = ?1")
        .bind(&[text(id), num(now_secs)])?
        .run()
        .await?;
    Ok(())
}

/// Results, newest change first, filtered by whether they are flagged and whether they
/// were reviewed (`GET /admin/results`).
pub async fn list(
    db: &D1Database,
    flagged: Option<bool>,
    reviewed: Option<bool>,
    limit: u32,
) -> worker::Result<Vec<ResultRecord>> {
    let flag = |b: Option<bool>| b.map_or(JsValue::NULL, |b| num(i64::from(b)));
    let rows: Vec<Row> = db
        .prepare(format!(
            "SELECT {COLUMNS} FROM results WHERE (?1 IS NULL OR flagged = ?1)
             AND (?2 IS NULL OR (reviewed_at IS NOT NULL) = ?2)
             ORDER BY updated_at DESC, id DESC LIMIT ?3"
        ))
        .bind(&[flag(flagged), flag(reviewed), num(i64::from(limit))])?
        .all()
        .await?
        .results()?;
    Ok(rows.into_iter().map(ResultRecord::from).collect())
}

/// Records a review of a flagged, unreviewed result (`clear` lifts the flag); false when
/// the result was not such (reviewed meanwhile, or not flagged).
pub async fn review(
    db: &D1Database,
    id: &str,
    decision: &str,
    reason: &str,
    by: &str,
    now_secs: i64,
) -> worker::Result<bool> {
    let result = db
        .prepare(
            "UPDATE results SET review_decision = ?2, review_reason = ?3, reviewed_by = ?4,
               reviewed_at = ?5, flagged = CASE WHEN ?2 = 'clear' THEN 0 ELSE flagged END,
               updated_at = ?5
             WHERE id = ?1 AND flagged = 1 AND reviewed_at IS NULL",
        )
        .bind(&[
            text(id),
            text(decision),
            text(reason),
            text(by),
            num(now_secs),
        ])?
        .run()
        .await?;
    Ok(result.meta()?.and_then(|m| m.changes).unwrap_or(0) == 1)
}

/// `(id, attempts)` rows of a statement `RETURNING id, attempts` or selecting them.
async fn ids_and_attempts(
    statement: worker::D1PreparedStatement,
) -> worker::Result<Vec<(String, u32)>> {
    #[derive(Deserialize)]
    struct Row {
        id: String,
        attempts: f64,
    }
    let rows: Vec<Row> = statement.all().await?.results()?;
    Ok(rows
        .into_iter()
        .map(|r| (r.id, r.attempts as u32))
        .collect())
}

/// Holds a pending result (its subscription holds its deliveries): no attempt is due
/// until the subscription is enabled again.
pub async fn hold(db: &D1Database, id: &str, now_secs: i64) -> worker::Result<()> {
    db.prepare(
        "UPDATE results SET status = 'held', next_attempt_at = NULL, updated_at = ?2
         WHERE id = ?1 AND status = 'pending'",
    )
    .bind(&[text(id), num(now_secs)])?
    .run()
    .await?;
    Ok(())
}

/// Makes a subscription's held results pending and due now; returns each with the
/// attempts it has made.
pub async fn release_held(
    db: &D1Database,
    subscription_id: &str,
    now_secs: i64,
) -> worker::Result<Vec<(String, u32)>> {
    ids_and_attempts(
        db.prepare(
            "UPDATE results SET status = 'pending', next_attempt_at = ?2, updated_at = ?2
             WHERE subscription_id = ?1 AND status = 'held' RETURNING id, attempts",
        )
        .bind(&[text(subscription_id), num(now_secs)])?,
    )
    .await
}

/// Makes a subscription's failed and held results changed since `since` pending again,
/// due now, each with a fresh retry schedule (Svix's "recover"); returns each with the
/// attempts it has made.
pub async fn recover(
    db: &D1Database,
    subscription_id: &str,
    since: i64,
    now_secs: i64,
) -> worker::Result<Vec<(String, u32)>> {
    ids_and_attempts(
        db.prepare(
            "UPDATE results SET status = 'pending', retry_base = attempts, next_attempt_at = ?3,
               last_error = NULL, updated_at = ?3
             WHERE subscription_id = ?1 AND status IN ('failed', 'held') AND updated_at >= ?2
             RETURNING id, attempts",
        )
        .bind(&[text(subscription_id), num(since), num(now_secs)])?,
    )
    .await
}

/// Moves a pending result's due time (its delivery waits for its endpoint), so the cron
/// does not take it for lost.
pub async fn defer(db: &D1Database, id: &str, until: i64) -> worker::Result<()> {
    db.prepare("UPDATE results SET next_attempt_at = ?2 WHERE id = ?1 AND status = 'pending'")
        .bind(&[text(id), num(until)])?
        .run()
        .await?;
    Ok(())
}

/// Makes a failed result pending again, restarting the schedule; false unless it was
/// `failed`.
pub async fn retry_now(db: &D1Database, id: &str, now_secs: i64) -> worker::Result<bool> {
    let result = db
        .prepare(
            "UPDATE results SET status = 'pending', retry_base = attempts, next_attempt_at = ?2,
               last_error = NULL, updated_at = ?2 WHERE id = ?1 AND status = 'failed'",
        )
        .bind(&[text(id), num(now_secs)])?
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
    /// How many attempts were made so far.
    pub attempts: f64,
    /// Why the last failed attempt failed, if one did.
    pub last_error: Option<String>,
    /// When the delivery last changed, Unix seconds.
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

/// The newest deliveries of one subscription.
pub async fn deliveries_of(
    db: &D1Database,
    subscription_id: &str,
    limit: u32,
) -> worker::Result<Vec<Delivery>> {
    db.prepare(format!(
        "{DELIVERY} WHERE r.subscription_id = ?1 ORDER BY r.updated_at DESC, r.id DESC LIMIT ?2"
    ))
    .bind(&[text(subscription_id), num(i64::from(limit))])?
    .all()
    .await?
    .results()
}

/// Delivery (result) `id` as the deliveries list shows it, if it exists.
pub async fn delivery(db: &D1Database, id: &str) -> worker::Result<Option<Delivery>> {
    db.prepare(format!("{DELIVERY} WHERE r.id = ?1"))
        .bind(&[text(id)])?
        .first(None)
        .await
}

/// Pending results whose attempt was due before `before` and never ran (lost message).
pub async fn stuck(db: &D1Database, before: i64, limit: u32) -> worker::Result<Vec<(String, u32)>> {
    ids_and_attempts(
        db.prepare(
            "SELECT id, attempts FROM results WHERE status = 'pending' AND next_attempt_at <= ?1
             ORDER BY next_attempt_at LIMIT ?2",
        )
        .bind(&[num(before), num(i64::from(limit))])?,
    )
    .await
}
