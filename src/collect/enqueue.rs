//! The INGEST producer: an accepted webhook's record goes on the queue, grouped with the
//! isolate's concurrent webhooks ([`group_send`]), after spilling to R2 what is too big
//! for a queue message.

use worker::wasm_bindgen::JsValue;
use worker::{Bucket, Env, HttpMetadata};

use super::body::Attachment;
use super::group_send;
use super::record::{QueuedRecord, original_spill_key, spill_key};
use crate::error::ApiError;

/// Puts the record on the INGEST queue (grouped with the isolate's concurrent webhooks,
/// [`group_send`]), after storing its multipart files in R2 and spilling a line (and
/// original) too big for a queue message there. Any failure is `503` with `Retry-After`,
/// and what was stored for the record is deleted again.
pub async fn enqueue(
    env: &Env,
    ctx: &JsValue,
    record: &mut QueuedRecord,
    attachments: Vec<Attachment>,
) -> Result<(), ApiError> {
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
    let queue = group_send::binding(env, "INGEST")
        .ok_or_else(|| ApiError::internal("INGEST binding: no queue producer is bound"))?;
    if let Err(e) = group_send::send(&queue, "INGEST", ctx, record, bytes).await {
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
