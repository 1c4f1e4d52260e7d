//! The INGEST producer: an accepted webhook's record goes on the queue, grouped with the
//! isolate's concurrent webhooks ([`group_send`]), after spilling to R2 what is too big
//! for a queue message.

use worker::wasm_bindgen::JsValue;
use worker::{Bucket, Env};

use super::group_send;
use super::record::{QueuedRecord, original_spill_key, spill_key};
use crate::error::ApiError;

/// Puts the record on the INGEST queue (grouped with the isolate's concurrent webhooks,
/// [`group_send`]), spilling a line (and original) too big for a queue message to R2
/// first. Any failure is `503` with `Retry-After`.
pub async fn enqueue(env: &Env, ctx: &JsValue, record: &mut QueuedRecord) -> Result<(), ApiError> {
    let mut spilled = Vec::new();
    let mut bytes = group_send::message_bytes_bound(record);
    if bytes > group_send::MAX_MESSAGE_BYTES {
        let bucket = env
            .bucket("ARCHIVE")
            .map_err(|e| ApiError::internal(format!("ARCHIVE binding: {e}")))?;
        let line_key = spill_key(&record.collector, &record.id);
        put_spill(&bucket, &line_key, std::mem::take(&mut record.line)).await?;
        spilled.push(line_key.clone());
        record.spill = Some(line_key);
        if let Some(original) = record.original.take() {
            let key = original_spill_key(&record.collector, &record.id);
            put_spill(&bucket, &key, original).await?;
            spilled.push(key.clone());
            record.original_spill = Some(key);
        }
        bytes = group_send::message_bytes_bound(record);
    }
    let queue = group_send::binding(env, "INGEST")
        .ok_or_else(|| ApiError::internal("INGEST binding: no queue producer is bound"))?;
    if let Err(e) = group_send::send(&queue, "INGEST", ctx, record, bytes).await {
        if let Ok(bucket) = env.bucket("ARCHIVE")
            && !spilled.is_empty()
        {
            let _ = bucket.delete_multiple(spilled).await;
        }
        return Err(ApiError::unavailable(format!(
            "the queue did not take the webhook: {e}"
        )));
    }
    Ok(())
}

async fn put_spill(bucket: &Bucket, key: &str, text: String) -> Result<(), ApiError> {
    bucket
        .put(key, text.into_bytes())
        .execute()
        .await
        .map(|_| ())
        .map_err(|e| ApiError::unavailable(format!("could not store the body: {e}")))
}
