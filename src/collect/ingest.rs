//! The `INGEST` consumer: queued records → one NDJSON object per collector in R2.
//!
//! Messages are acked only after their object is written and recorded in D1; any
//! failure retries them with a delay. The object key comes from the records' ids, so a
//! batch delivered again overwrites its object rather than duplicating records.

use serde_json::json;
use worker::{Bucket, D1Database, Env, MessageExt, RawMessage};

use super::batch::{self, Batch};
use super::record::QueuedRecord;
use crate::log;
use crate::queues::{decode_body, retry_later};
use crate::store::batches::{self, BatchRow};

/// Consumes one batch of `INGEST` messages.
pub async fn consume(messages: Vec<RawMessage>, env: &Env, now_ms: u64) {
    let (bucket, db) = match (env.bucket("ARCHIVE"), env.d1("DB")) {
        (Ok(b), Ok(d)) => (b, d),
        (b, d) => {
            log::emit(json!({"event": "ingest", "outcome": "binding_missing",
                "archive": b.is_ok(), "db": d.is_ok()}));
            messages.iter().for_each(|m| retry_later(m, now_ms));
            return;
        }
    };

    // Decode each message on its own: one bad message must not hold back the others.
    let mut records: Vec<QueuedRecord> = Vec::with_capacity(messages.len());
    let mut owners: Vec<&RawMessage> = Vec::with_capacity(messages.len());
    for m in &messages {
        let restored = match decode_body::<QueuedRecord>(m) {
            Ok(r) => restore(&bucket, r)
                .await
                .map_err(|e| ("spill_unreadable", e)),
            Err(e) => Err(("undecodable", e)),
        };
        match restored {
            Ok(r) => {
                records.push(r);
                owners.push(m);
            }
            Err((outcome, error)) => {
                log::emit(json!({"event": "ingest", "outcome": outcome,
                    "message_id": m.id(), "error": error}));
                retry_later(m, now_ms);
            }
        }
    }

    for b in batch::group(&records) {
        let body = batch::encode(b.members.iter().map(|&i| records[i].line.as_str()));
        let written = write(&bucket, &db, &b, body, now_ms).await;
        let members = b.members.iter().map(|&i| owners[i]);
        match written {
            Ok(bytes) => {
                members.for_each(|m| m.ack());
                log::emit(
                    json!({"event": "ingest", "outcome": "written", "key": b.key,
                    "collector": b.collector, "records": b.members.len(), "bytes": bytes}),
                );
                let spilled: Vec<String> = b
                    .members
                    .iter()
                    .filter_map(|&i| records[i].spill.clone())
                    .collect();
                if !spilled.is_empty() {
                    // Best effort: the record is safe in its batch; a leftover spill
                    // object is only garbage.
                    let _ = bucket.delete_multiple(spilled).await;
                }
            }
            Err(e) => {
                members.for_each(|m| retry_later(m, now_ms));
                log::emit(
                    json!({"event": "ingest", "outcome": "write_failed", "key": b.key,
                    "collector": b.collector, "records": b.members.len(), "error": e}),
                );
            }
        }
    }
}

/// Brings back a line that was spilled to R2 because it was too big for the queue.
async fn restore(bucket: &Bucket, mut r: QueuedRecord) -> Result<QueuedRecord, String> {
    let Some(key) = &r.spill else { return Ok(r) };
    let object = bucket
        .get(key)
        .execute()
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("spilled object {key} is missing"))?;
    let body = object.body().ok_or("spilled object has no body")?;
    r.line = body.text().await.map_err(|e| e.to_string())?;
    Ok(r)
}

async fn write(
    bucket: &Bucket,
    db: &D1Database,
    b: &Batch,
    body: Vec<u8>,
    now_ms: u64,
) -> Result<u64, String> {
    let bytes = body.len() as u64;
    bucket
        .put(&b.key, body)
        .http_metadata(worker::HttpMetadata {
            content_type: Some("application/x-ndjson".into()),
            ..Default::default()
        })
        .execute()
        .await
        .map_err(|e| format!("R2 put: {e}"))?;
    batches::record(
        db,
        &BatchRow {
            key: &b.key,
            collector: &b.collector,
            records: b.members.len() as u64,
            bytes,
            created_at: now_ms / 1000,
        },
    )
    .await
    .map_err(|e| format!("D1 batches: {e}"))?;
    Ok(bytes)
}
