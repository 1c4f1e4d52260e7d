//! The INGEST producer: an accepted webhook's record goes on the queue, grouped with the
//! isolate's concurrent webhooks ([`group_send`]), after spilling to R2 what is too big
//! for a queue message; its webhook id is checked here (`dedupe = "sync"`) or travels with
//! it to the consumer (`async`, [`idempotency::Dedupe`]).

use serde_json::json;
use worker::wasm_bindgen::JsValue;
use worker::{Bucket, D1Database, Env, HttpMetadata, js_sys};

use super::body::Attachment;
use super::group_send;
use super::idempotency::{self, Admitted, Keyed, admit_once};
use super::record::{QueuedRecord, original_spill_key, spill_key};
use crate::config::{Collector, Config};
use crate::error::ApiError;
use crate::log;
use crate::store::seen_ids::D1SeenIds;

/// What the sender of a queued webhook is told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Submitted {
    /// `202 accepted`: its record is on the queue (with `async` dedupe, possibly a repeat
    /// that the consumer will drop).
    Accepted,
    /// `200 duplicate` (`sync` only): the id was accepted before, as `record_id`.
    Duplicate {
        /// The record id answered to the first request.
        record_id: String,
    },
}

/// Queues an accepted webhook's `record` once per webhook id, as `collector.dedupe` says:
/// `async` puts the id in the record for the consumer and touches no D1; `sync` claims it
/// in `db` first ([`admit_once`]: `config.dedupe_window_secs`, `409`, `422`). Queue
/// failures are `503`.
#[allow(clippy::too_many_arguments)]
pub async fn submit(
    env: &Env,
    ctx: &JsValue,
    db: &D1Database,
    config: &Config,
    collector: &Collector,
    mut record: QueuedRecord,
    key: Option<Keyed>,
    attachments: Vec<Attachment>,
) -> Result<Submitted, ApiError> {
    let (carried, checked) = idempotency::route(collector.dedupe, key);
    record.dedupe = carried;
    let Some(key) = checked else {
        enqueue(env, ctx, config, &mut record, attachments).await?;
        return Ok(Submitted::Accepted);
    };
    let seen = D1SeenIds {
        db,
        collector: &collector.name,
    };
    let now_secs = crate::time::secs(record.received_at);
    let id = record.id.clone();
    let queued = enqueue(env, ctx, config, &mut record, attachments);
    let window_secs = config.dedupe_window_secs;
    match admit_once(&seen, Some(&key), &id, now_secs, window_secs, queued).await? {
        Admitted::Duplicate { record_id } => Ok(Submitted::Duplicate { record_id }),
        Admitted::Queued { unconfirmed } => {
            if let Some(e) = unconfirmed {
                log::emit(json!({"event": "dedupe", "outcome": "confirm_failed",
                    "collector": collector.name, "error": e}));
            }
            Ok(Submitted::Accepted)
        }
    }
}

/// Puts the record on the INGEST queue, or the next of its shards (grouped with the
/// isolate's concurrent webhooks, [`group_send`]), after storing its multipart files in R2 and spilling a line (and
/// original) too big for a queue message there. Any failure is `503` with `Retry-After`,
/// and what was stored for the record is deleted again.
pub async fn enqueue(
    env: &Env,
    ctx: &JsValue,
    config: &Config,
    record: &mut QueuedRecord,
    attachments: Vec<Attachment>,
) -> Result<(), ApiError> {
    let queues = js_sys::Array::new();
    for name in config.queues.ingest_bindings() {
        let queue = group_send::binding(env, &name).ok_or_else(|| {
            ApiError::internal(format!("{name} binding: no queue producer is bound"))
        })?;
        queues.push(&queue);
    }
    let mut spilled = Vec::new();
    let mut bytes = group_send::message_bytes_bound(record);
    let archive = || {
        env.bucket("ARCHIVE")
            .map_err(|e| ApiError::internal(format!("ARCHIVE binding: {e}")))
    };
    if !attachments.is_empty() {
        let bucket = archive()?;
        for file in attachments {
            let mut put = bucket.put(&file.key, file.bytes);
            if let Some(content_type) = file.content_type {
                put = put.http_metadata(HttpMetadata {
                    content_type: Some(content_type),
                    ..Default::default()
                });
            }
            if let Err(e) = put.execute().await {
                forget(env, spilled).await;
                return Err(ApiError::unavailable(format!(
                    "could not store a file: {e}"
                )));
            }
            spilled.push(file.key);
        }
    }
    if bytes > group_send::MAX_MESSAGE_BYTES {
        let bucket = archive()?;
        let line_key = spill_key(&record.collector, &record.id);
        let line = std::mem::take(&mut record.line);
        if let Err(e) = put_spill(&bucket, &line_key, line).await {
            forget(env, spilled).await;
            return Err(e);
        }
        spilled.push(line_key.clone());
        record.spill = Some(line_key);
        if let Some(original) = record.original.take() {
            let key = original_spill_key(&record.collector, &record.id);
            if let Err(e) = put_spill(&bucket, &key, original).await {
                forget(env, spilled).await;
                return Err(e);
            }
            spilled.push(key.clone());
            record.original_spill = Some(key);
        }
        bytes = group_send::message_bytes_bound(record);
    }
    if let Err(e) = group_send::send(&queues, "INGEST", ctx, record, bytes).await {
        forget(env, spilled).await;
        return Err(ApiError::unavailable(format!(
            "the queue did not take the webhook: {e}"
        )));
    }
    Ok(())
}

/// Deletes what was stored for a record that did not make it onto the queue (best
/// effort: nothing references it).
async fn forget(env: &Env, keys: Vec<String>) {
    if let Ok(bucket) = env.bucket("ARCHIVE")
        && !keys.is_empty()
    {
        let _ = bucket.delete_multiple(keys).await;
    }
}

async fn put_spill(bucket: &Bucket, key: &str, text: String) -> Result<(), ApiError> {
    bucket
        .put(key, text.into_bytes())
        .execute()
        .await
        .map(|_| ())
        .map_err(|e| ApiError::unavailable(format!("could not store the body: {e}")))
}
