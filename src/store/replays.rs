//! Table `replays`: each replay's request, cursor, counts and status (migration 0014).

use serde::{Deserialize, Serialize};
use worker::{D1Database, D1PreparedStatement, wasm_bindgen::JsValue};

use super::int;
use crate::dispatch::replay::Cursor;

const COLUMNS: &str = "id, idempotency_key, collector, range_from, range_to, event_type, \
    subscriptions, listed, status, cursor_at, cursor_key, cursor_line, batches, published, \
    skipped, deliveries, steps, failures, error, created_by, created_at, updated_at, completed_at";

fn text(s: &str) -> JsValue {
    JsValue::from_str(s)
}

/// A replay as `GET /admin/replay/{id}` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Replay {
    /// Its id (`rpl_` + a ULID, or the client's).
    pub id: String,
    /// The `Idempotency-Key` it was created with, if any.
    pub idempotency_key: Option<String>,
    /// The collector whose archive it reads.
    pub collector: String,
    /// Batches archived at or after this time (Unix seconds)…
    pub from: i64,
    /// … and before this one.
    pub to: i64,
    /// The type of the events it publishes.
    pub event_type: String,
    /// The subscriptions it publishes to, fixed when it was created.
    pub subscriptions: Vec<String>,
    /// Whether the request listed them (otherwise: every subscriber then).
    pub listed: bool,
    /// `running`, `completed` or `failed`.
    pub status: String,
    /// How far it got; `None` before its first step.
    pub cursor: Option<Cursor>,
    /// Batches read to their end.
    pub batches: u64,
    /// Records published as events.
    pub published: u64,
    /// Records that could not be (not a JSON object, too large, object gone).
    pub skipped: u64,
    /// Results created (one per event and subscription).
    pub deliveries: u64,
    /// Steps that moved its cursor.
    pub steps: u64,
    /// Steps failed in a row.
    pub failures: u32,
    /// The last step's failure.
    pub error: Option<String>,
    /// Who started it.
    pub created_by: String,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds of its last change.
    pub updated_at: i64,
    /// Unix seconds, once completed.
    pub completed_at: Option<i64>,
}

// D1 numbers cross as f64.
#[derive(Deserialize)]
struct Row {
    id: String,
    idempotency_key: Option<String>,
    collector: String,
    range_from: f64,
    range_to: f64,
    event_type: String,
    subscriptions: String,
    listed: f64,
    status: String,
    cursor_at: Option<f64>,
    cursor_key: Option<String>,
    cursor_line: f64,
    batches: f64,
    published: f64,
    skipped: f64,
    deliveries: f64,
    steps: f64,
    failures: f64,
    error: Option<String>,
    created_by: String,
    created_at: f64,
    updated_at: f64,
    completed_at: Option<f64>,
}

impl From<Row> for Replay {
    fn from(r: Row) -> Replay {
        Replay {
            id: r.id,
            idempotency_key: r.idempotency_key,
            collector: r.collector,
            from: r.range_from as i64,
            to: r.range_to as i64,
            event_type: r.event_type,
            subscriptions: serde_json::from_str(&r.subscriptions).unwrap_or_default(),
            listed: r.listed != 0.0,
            status: r.status,
            cursor: match (r.cursor_at, r.cursor_key) {
                (Some(at), Some(key)) => Some(Cursor {
                    at: at as i64,
                    key,
                    line: r.cursor_line as usize,
                }),
                _ => None,
            },
            batches: r.batches as u64,
            published: r.published as u64,
            skipped: r.skipped as u64,
            deliveries: r.deliveries as u64,
            steps: r.steps as u64,
            failures: r.failures as u32,
            error: r.error,
            created_by: r.created_by,
            created_at: r.created_at as i64,
            updated_at: r.updated_at as i64,
            completed_at: r.completed_at.map(|t| t as i64),
        }
    }
}

/// A replay to create.
#[derive(Debug, Clone)]
pub struct NewReplay<'a> {
    /// Its id.
    pub id: &'a str,
    /// Its `Idempotency-Key`, if any.
    pub idempotency_key: Option<&'a str>,
    /// The collector.
    pub collector: &'a str,
    /// `[from, to)`, Unix seconds.
    pub range: (i64, i64),
    /// The event type.
    pub event_type: &'a str,
    /// The subscriptions, resolved.
    pub subscriptions: &'a [String],
    /// Whether the request listed them.
    pub listed: bool,
    /// Who started it.
    pub created_by: &'a str,
}

/// Creates a replay unless one has its id or its key: true when this call created it.
pub async fn insert(db: &D1Database, r: &NewReplay<'_>, now_secs: i64) -> worker::Result<bool> {
    let result = db
        .prepare(
            "INSERT INTO replays (id, idempotency_key, collector, range_from, range_to, event_type,
               subscriptions, listed, status, created_by, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'running', ?9, ?10, ?10)
             ON CONFLICT DO NOTHING",
        )
        .bind(&[
            text(r.id),
            r.idempotency_key.map_or(JsValue::NULL, text),
            text(r.collector),
            int(r.range.0),
            int(r.range.1),
            text(r.event_type),
            text(&serde_json::Value::from(r.subscriptions.to_vec()).to_string()),
            int(i64::from(r.listed)),
            text(r.created_by),
            int(now_secs),
        ])?
        .run()
        .await?;
    Ok(result.meta()?.and_then(|m| m.changes).unwrap_or(0) == 1)
}

/// Replay `id`, if it exists.
pub async fn get(db: &D1Database, id: &str) -> worker::Result<Option<Replay>> {
    let row: Option<Row> = db
        .prepare(format!("SELECT {COLUMNS} FROM replays WHERE id = ?1"))
        .bind(&[text(id)])?
        .first(None)
        .await?;
    Ok(row.map(Replay::from))
}

/// The replay created with Idempotency-Key `key`, if any.
pub async fn by_key(db: &D1Database, key: &str) -> worker::Result<Option<Replay>> {
    let row: Option<Row> = db
        .prepare(format!(
            "SELECT {COLUMNS} FROM replays WHERE idempotency_key = ?1"
        ))
        .bind(&[text(key)])?
        .first(None)
        .await?;
    Ok(row.map(Replay::from))
}

/// The newest replays, at most `limit`.
pub async fn list(db: &D1Database, limit: u32) -> worker::Result<Vec<Replay>> {
    let rows: Vec<Row> = db
        .prepare(format!(
            "SELECT {COLUMNS} FROM replays ORDER BY created_at DESC, id DESC LIMIT ?1"
        ))
        .bind(&[int(limit)])?
        .all()
        .await?
        .results()?;
    Ok(rows.into_iter().map(Replay::from).collect())
}

/// Running replays not changed since `before` (their step's message was lost, or the
/// step died): the cron asks each for a step again.
pub async fn stalled(db: &D1Database, before: i64, limit: u32) -> worker::Result<Vec<String>> {
    #[derive(Deserialize)]
    struct Id {
        id: String,
    }
    let rows: Vec<Id> = db
        .prepare(
            "SELECT id FROM replays WHERE status = 'running' AND updated_at < ?1
             ORDER BY updated_at LIMIT ?2",
        )
        .bind(&[int(before), int(limit)])?
        .all()
        .await?
        .results()?;
    Ok(rows.into_iter().map(|r| r.id).collect())
}

/// The batch a replay reads next from `after` (or its first): `(created_at, key,
/// records)` of the collector's batches archived in `[from, to)`, in (created_at, key)
/// order: the cursor's own batch while it has lines left, else the one after it.
pub async fn next_batch(
    db: &D1Database,
    r: &Replay,
    after: Option<&Cursor>,
) -> worker::Result<Option<(i64, String, u64)>> {
    #[derive(Deserialize)]
    struct B {
        key: String,
        records: f64,
        created_at: f64,
    }
    let (at, key, line) = after.map_or((JsValue::NULL, JsValue::NULL, int(0)), |c| {
        (int(c.at), text(&c.key), int(c.line as u64))
    });
    let row: Option<B> = db
        .prepare(
            "SELECT key, records, created_at FROM batches
             WHERE collector = ?1 AND created_at >= ?2 AND created_at < ?3
               AND (?4 IS NULL OR (created_at, key) > (?4, ?5)
                    OR (created_at = ?4 AND key = ?5 AND records > ?6))
             ORDER BY created_at, key LIMIT 1",
        )
        .bind(&[text(&r.collector), int(r.from), int(r.to), at, key, line])?
        .first(None)
        .await?;
    Ok(row.map(|b| (b.created_at as i64, b.key, b.records as u64)))
}

/// What one step did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StepDone {
    /// Where the cursor is now.
    pub cursor: Option<Cursor>,
    /// Batches it read to their end.
    pub batches: u64,
    /// Records it published.
    pub published: u64,
    /// Records it skipped.
    pub skipped: u64,
    /// Results it created.
    pub deliveries: u64,
    /// Whether the replay is complete.
    pub completed: bool,
}

/// The statement recording a step: it moves the cursor only if it still holds `from`
/// (the value the step read) and the replay is running, so of two steps racing on one
/// replay only one counts. Run in the same D1 batch as the step's results.
pub fn step_statement(
    db: &D1Database,
    id: &str,
    from: Option<&Cursor>,
    done: &StepDone,
    now_secs: i64,
) -> worker::Result<D1PreparedStatement> {
    let (at, key, line) = match &done.cursor {
        Some(c) => (int(c.at), text(&c.key), int(c.line as u64)),
        None => (JsValue::NULL, JsValue::NULL, int(0)),
    };
    let (from_at, from_key, from_line) = match from {
        Some(c) => (int(c.at), text(&c.key), int(c.line as u64)),
        None => (JsValue::NULL, JsValue::NULL, int(0)),
    };
    db.prepare(
        "UPDATE replays SET cursor_at = ?2, cursor_key = ?3, cursor_line = ?4,
           batches = batches + ?5, published = published + ?6, skipped = skipped + ?7,
           deliveries = deliveries + ?8, steps = steps + 1, failures = 0, error = NULL,
           status = CASE WHEN ?9 = 1 THEN 'completed' ELSE 'running' END,
           completed_at = CASE WHEN ?9 = 1 THEN ?10 ELSE NULL END, updated_at = ?10
         WHERE id = ?1 AND status = 'running' AND cursor_at IS ?11 AND cursor_key IS ?12
           AND cursor_line = ?13",
    )
    .bind(&[
        text(id),
        at,
        key,
        line,
        int(done.batches),
        int(done.published),
        int(done.skipped),
        int(done.deliveries),
        int(i64::from(done.completed)),
        int(now_secs),
        from_at,
        from_key,
        from_line,
    ])
}

/// Records a failed step: `failures` + 1, the error, and `status` (`failed` once too
/// many failed in a row, [`crate::dispatch::replay::status_after_failure`]).
pub async fn step_failed(
    db: &D1Database,
    id: &str,
    failures: u32,
    status: &str,
    error: &str,
    now_secs: i64,
) -> worker::Result<()> {
    db.prepare(
        "UPDATE replays SET failures = ?2, status = ?3, error = ?4, updated_at = ?5
         WHERE id = ?1 AND status = 'running'",
    )
    .bind(&[
        text(id),
        int(failures),
        text(status),
        text(error),
        int(now_secs),
    ])?
    .run()
    .await?;
    Ok(())
}
