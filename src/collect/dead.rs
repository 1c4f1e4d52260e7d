//! The dead-letter consumer: whatever exhausted its retries is written under `dead/` so
//! nothing is ever dropped silently.

use serde_json::{Value, json};
use worker::{Env, MessageExt, RawMessage};

use super::batch;
use crate::log;
use crate::message::{body_json, retry_later};
use crate::time::Utc;

/// Writes a dead-letter batch to `dead/<queue>/dt=../hr=../<batch-id>.ndjson`, one line
/// per message: `{"queue","message_id","timestamp","body"}`.
pub async fn consume(queue: &str, messages: Vec<RawMessage>, env: &Env, now_ms: u64) {
    if messages.is_empty() {
        return;
    }
    let mut lines = Vec::with_capacity(messages.len());
    let mut earliest = u64::MAX;
    for m in &messages {
        let sent = m.timestamp().as_millis();
        earliest = earliest.min(sent);
        let body = body_json(m).unwrap_or_else(|e| Value::String(format!("<unreadable: {e}>")));
        lines.push(
            json!({
                "queue": queue,
                "message_id": m.id(),
                "timestamp": Utc::from_millis(sent as i64).rfc3339(),
                "body": body,
            })
            .to_string(),
        );
    }
    let ids: Vec<String> = messages.iter().map(MessageExt::id).collect();
    let key = batch::object_key(
        &format!("dead/{queue}"),
        earliest,
        &batch::batch_id(ids.iter().map(String::as_str)),
    );
    let body = batch::encode(lines.iter().map(String::as_str));
    let written = match env.bucket("ARCHIVE") {
        Ok(bucket) => bucket.put(&key, body).execute().await.map(|_| ()),
        Err(e) => Err(e),
    };
    match written {
        Ok(()) => {
            messages.iter().for_each(MessageExt::ack);
            log::emit(
                json!({"event": "dead_letter", "outcome": "written", "queue": queue,
                "key": key, "messages": messages.len()}),
            );
        }
        Err(e) => {
            messages.iter().for_each(|m| retry_later(m, now_ms));
            log::emit(
                json!({"event": "dead_letter", "outcome": "write_failed", "queue": queue,
                "key": key, "error": e.to_string()}),
            );
        }
    }
}
