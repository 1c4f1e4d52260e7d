//! Sends an accepted webhook's record to `INGEST`, grouped with the other webhooks this
//! isolate is accepting at the same moment into one `sendBatch` (`group_send.mjs` says how,
//! and why it is safe on Workers; docs/PERFORMANCE.md what it is worth).

use worker::wasm_bindgen::JsValue;
use worker::wasm_bindgen::prelude::wasm_bindgen;
use worker::wasm_bindgen_futures::JsFuture;
use worker::{Env, js_sys};

use crate::collect::record::QueuedRecord;

#[wasm_bindgen(module = "/src/http/group_send.mjs")]
extern "C" {
    #[wasm_bindgen(js_name = groupSend, catch)]
    fn group_send(
        name: &str,
        queue: &JsValue,
        body: &JsValue,
        bytes: f64,
        ctx: &JsValue,
    ) -> Result<js_sys::Promise, JsValue>;
}

/// What a record's fields other than its line and original add, at most, to its message.
const FIELDS_BYTES: usize = 1_024;

/// An upper bound of `record`'s size as a queue message, which the runtime measures as
/// JSON: the line and original are JSON text, so escaping at most doubles them (a `"` or
/// `\\` becomes two bytes, and a tab, CR or LF, the only control bytes JSON text may hold,
/// becomes two). sendBatch refuses a batch over 256 KB whole, so the grouping must not
/// under-count; over-counting only makes a batch of large messages smaller.
pub fn message_bytes_bound(record: &QueuedRecord) -> usize {
    2 * record.carried_bytes() + FIELDS_BYTES
}

/// The queue producer bound as `name`, if there is one.
pub fn binding(env: &Env, name: &str) -> Option<JsValue> {
    js_sys::Reflect::get(env, &name.into())
        .ok()
        .filter(|q| q.is_object())
}

/// Puts `record` on `queue`, the producer bound as `name` ([`binding`]); `ctx` is the
/// request's ExecutionContext (the send is kept alive with its `waitUntil`). The message
/// is the one workers-rs' `Queue::send` would make: the record as a JS object, content
/// type `json`.
pub async fn send(
    queue: &JsValue,
    name: &str,
    ctx: &JsValue,
    record: &QueuedRecord,
) -> Result<(), String> {
    let body = serde_wasm_bindgen::to_value(record).map_err(|e| e.to_string())?;
    let bytes = message_bytes_bound(record) as f64;
    let sent = group_send(name, queue, &body, bytes, ctx).map_err(js_error)?;
    JsFuture::from(sent).await.map(|_| ()).map_err(js_error)
}

fn js_error(e: JsValue) -> String {
    worker::Error::from(e).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::record::QUEUED_RECORD_VERSION;

    fn record(line: &str, original: Option<&str>) -> QueuedRecord {
        QueuedRecord {
            v: QUEUED_RECORD_VERSION,
            id: "01HZZZZZZZZZZZZZZZZZZZZZZZ".into(),
            collector: "a-collector-with-a-long-name-of-sixty-four-characters-at-most-x".into(),
            received_at: 1_700_000_000_000,
            line: line.into(),
            spill: Some("spill/a-collector/01HZZZZZZZZZZZZZZZZZZZZZZZ.json".into()),
            original: original.map(str::to_string),
            original_spill: Some(
                "spill/a-collector/01HZZZZZZZZZZZZZZZZZZZZZZZ.original.json".into(),
            ),
        }
    }

    #[test]
    fn the_bound_is_never_below_the_message_as_json() {
        let quotes = format!("[{}\"\"]", "\"\",".repeat(5_000));
        let escapes = format!("{{\"s\":\"{}\"}}", "\\\"\\\\".repeat(3_000));
        let pretty = "{\n\t\"a\": [1,\t2],\r\n\t\"caf\u{e9}\": \"\u{1F600}\"\n}";
        let cases = [
            record("{}", None),
            record(&quotes, None),
            record(&escapes, Some(&escapes)),
            record("{\"a\":1}", Some(pretty)),
            record(&"x".repeat(100_000), Some(&quotes)),
        ];
        for r in &cases {
            let as_json = serde_json::to_string(r).expect("serialises").len();
            let bound = message_bytes_bound(r);
            assert!(
                as_json <= bound,
                "{as_json} > {bound} for a line of {} bytes",
                r.line.len()
            );
        }
        // A string of escaped quotes and backslashes is where the bound is tight: every byte
        // of it costs two.
        let tight = serde_json::to_string(&record(&escapes, None))
            .expect("serialises")
            .len();
        assert!(tight > 2 * escapes.len(), "{tight} vs {}", escapes.len());
    }
}
