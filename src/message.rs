//! A queue message as edgehook's consumers handle it: its body decoded, and a retry that
//! backs off with the message's age. Shared by the three consumers (`collect::ingest`,
//! `collect::dead`, `dispatch::deliver`) and the queue handler (`queues`).

use serde::de::DeserializeOwned;
use serde_json::Value;
use worker::{MessageExt, QueueRetryOptionsBuilder, RawMessage};

/// Shortest and longest delay before a failed message is tried again.
pub const RETRY_DELAY_SECS: (u64, u64) = (10, 3600);

/// Delay before retrying a message first sent at `sent_ms`: its age, clamped. Queue
/// messages carry no attempt counter, but their age roughly doubles with each retry, so
/// this backs off exponentially.
pub fn retry_delay_secs(sent_ms: u64, now_ms: u64) -> u32 {
    let age = now_ms.saturating_sub(sent_ms) / 1000;
    age.clamp(RETRY_DELAY_SECS.0, RETRY_DELAY_SECS.1) as u32
}

/// Marks a message for retry after [`retry_delay_secs`].
pub fn retry_later(m: &RawMessage, now_ms: u64) {
    let delay = retry_delay_secs(m.timestamp().as_millis(), now_ms);
    m.retry_with_options(
        &QueueRetryOptionsBuilder::new()
            .with_delay_seconds(delay)
            .build(),
    );
}

/// Why a message body could not be read.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    /// `JSON.stringify` refused the body.
    #[error("body is not JSON-serializable")]
    NotJson,
    /// The JSON text did not parse.
    #[error(transparent)]
    Json(#[from] serde_json::Error),
    /// The body is not the shape expected.
    #[error(transparent)]
    Decode(#[from] serde_wasm_bindgen::Error),
}

/// A message body as JSON.
pub fn body_json(m: &RawMessage) -> Result<Value, BodyError> {
    let text = worker::js_sys::JSON::stringify(&m.body())
        .ok()
        .and_then(|s| s.as_string())
        .ok_or(BodyError::NotJson)?;
    Ok(serde_json::from_str(&text)?)
}

/// A message body decoded into `T`.
///
/// Read straight from the JS value the runtime gives (a V8 message's object, or a JSON
/// message's parsed value), not through `JSON.stringify` and a parse, which cost a large
/// share of the consumer's time per record (docs/PERFORMANCE.md, "Figures behind
/// choices in the code").
pub fn decode_body<T: DeserializeOwned>(m: &RawMessage) -> Result<T, BodyError> {
    Ok(serde_wasm_bindgen::from_value(m.body())?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_delay_backs_off_with_age() {
        assert_eq!(retry_delay_secs(1_000_000, 1_000_500), 10);
        assert_eq!(retry_delay_secs(1_000_000, 1_060_000), 60);
        assert_eq!(retry_delay_secs(0, 86_400_000), 3600);
    }
}
