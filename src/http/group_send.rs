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
    let bytes = (record.carried_bytes() + FIELDS_BYTES) as f64;
    let sent = group_send(name, queue, &body, bytes, ctx).map_err(js_error)?;
    JsFuture::from(sent).await.map(|_| ()).map_err(js_error)
}

fn js_error(e: JsValue) -> String {
    worker::Error::from(e).to_string()
}
