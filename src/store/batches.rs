//! Table `batches`: one row per NDJSON object written to R2.

use worker::{D1Database, wasm_bindgen::JsValue};

use super::int;

/// A written object.
#[derive(Debug, Clone)]
pub struct BatchRow<'a> {
    /// R2 key.
    pub key: &'a str,
    /// Collector name.
    pub collector: &'a str,
    /// Number of records (lines).
    pub records: u64,
    /// Object size in bytes.
    pub bytes: u64,
    /// When it was written, Unix seconds.
    pub created_at: u64,
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
