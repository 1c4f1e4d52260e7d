//! Table `batches`: one row per NDJSON object written to R2.

use worker::{D1Database, wasm_bindgen::JsValue};

use super::int;

/// A written object.
#[derive(Debug, Clone)]
pub struct BatchRow<'a> {
    /// R2 key.
    pub key: &'a str,
    /// The collector whose records the batch holds.
    pub collector: &'a str,
    /// Number of records (lines).
    pub records: u64,
    /// Object size in bytes.
    pub bytes: u64,
    /// When it was written, Unix seconds.
    pub created_at: i64,
}

/// Records a written object. Idempotent: a retried batch rewrites the same key and row.
pub async fn record(db: &D1Database, row: &BatchRow<'_>) -> worker::Result<()> {
    db.prepare(
        "INSERT INTO batches (key, collector, records, bytes, created_at) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (key) DO UPDATE SET records = excluded.records, bytes = excluded.bytes,
           created_at = excluded.created_at",
    )
    .bind(&[
        JsValue::from_str(row.key),
        JsValue::from_str(row.collector),
        int(row.records),
        int(row.bytes),
        int(row.created_at),
    ])?
    .run()
    .await?;
    Ok(())
}

/// A written object as `GET /admin/batches` lists it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct StoredBatch {
    /// R2 key.
    pub key: String,
    /// The collector whose records the batch holds.
    pub collector: String,
    /// Number of records.
    pub records: u64,
    /// Object size in bytes.
    pub bytes: u64,
    /// When it was written, Unix seconds.
    pub created_at: i64,
}

// D1 numbers cross as f64.
#[derive(serde::Deserialize)]
struct Row {
    key: String,
    collector: String,
    records: f64,
    bytes: f64,
    created_at: f64,
}

impl From<Row> for StoredBatch {
    fn from(r: Row) -> StoredBatch {
        StoredBatch {
            key: r.key,
            collector: r.collector,
            records: r.records as u64,
            bytes: r.bytes as u64,
            created_at: r.created_at as i64,
        }
    }
}

/// Which objects [`list`] answers.
#[derive(Debug, Clone, Copy, Default)]
pub struct Filter<'a> {
    /// Only this collector's objects.
    pub collector: Option<&'a str>,
    /// Only objects written before this time (Unix seconds).
    pub before: Option<u64>,
    /// Only objects written in the hour starting at this time (Unix seconds).
    pub hour: Option<u64>,
}

/// The newest objects written that pass `filter`.
pub async fn list(
    db: &D1Database,
    filter: Filter<'_>,
    limit: u64,
) -> worker::Result<Vec<StoredBatch>> {
    let rows: Vec<Row> = db
        .prepare(
            "SELECT key, collector, records, bytes, created_at FROM batches
             WHERE (?1 IS NULL OR collector = ?1) AND (?2 IS NULL OR created_at < ?2)
               AND (?4 IS NULL OR (created_at >= ?4 AND created_at < ?4 + 3600))
             ORDER BY created_at DESC, key DESC LIMIT ?3",
        )
        .bind(&[
            filter.collector.map_or(JsValue::NULL, JsValue::from_str),
            filter.before.map_or(JsValue::NULL, int),
            int(limit),
            filter.hour.map_or(JsValue::NULL, int),
        ])?
        .all()
        .await?
        .results()?;
    Ok(rows.into_iter().map(StoredBatch::from).collect())
}

/// The object written under `key`, if one was.
pub async fn get(db: &D1Database, key: &str) -> worker::Result<Option<StoredBatch>> {
    let row: Option<Row> = db
        .prepare("SELECT key, collector, records, bytes, created_at FROM batches WHERE key = ?1")
        .bind(&[JsValue::from_str(key)])?
        .first(None)
        .await?;
    Ok(row.map(StoredBatch::from))
}
