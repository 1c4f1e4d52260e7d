//! Sends an accepted webhook's record to `INGEST`, packed with the other webhooks this
//! isolate is accepting at the same moment into one message (`group_send.mjs` says how,
//! and why it is safe on Workers; docs/PERFORMANCE.md what it is worth).

use worker::wasm_bindgen::JsValue;
use worker::wasm_bindgen::prelude::wasm_bindgen;
use worker::wasm_bindgen_futures::JsFuture;
use worker::{Env, js_sys};

use crate::collect::record::QueuedRecord;

#[wasm_bindgen(module = "/src/collect/group_send.mjs")]
extern "C" {
    #[wasm_bindgen(js_name = groupSend, catch)]
    fn group_send(
        name: &str,
        queues: &js_sys::Array,
        body: &JsValue,
        bytes: f64,
        ctx: &JsValue,
    ) -> Result<js_sys::Promise, JsValue>;
}

/// What a record's fields other than its line and original add, at most, to its message.
const FIELDS_BYTES: usize = 1_024;

/// The largest message Cloudflare Queues takes (128 KB); a record whose
/// [`message_bytes_bound`] is over it is spilled to R2 first.
pub const MAX_MESSAGE_BYTES: usize = 128_000;

/// An upper bound of `record`'s size as a queue message. Messages are V8-serialised
/// objects (content type `v8`), where a string takes one byte per character when every
/// character is Latin-1, else two bytes per UTF-16 unit: an ASCII string costs its
/// length, any other at most twice its UTF-8 length (miniflare/group_send.test.mjs checks
/// this against V8's own serialiser). A send over 128 KB is refused, and records are
/// packed up to that sum of their bounds, so this must not under-count; over-counting only
/// spills a non-ASCII record sooner and makes a pack of them smaller.
pub fn message_bytes_bound(record: &QueuedRecord) -> usize {
    let original = record.original.as_deref().map_or(0, string_bytes_bound);
    // The id is printable ASCII (`idempotency::key`), the digest hex.
    let dedupe = record
        .dedupe
        .as_ref()
        .map_or(0, |k| k.key.len() + k.body_digest.len());
    string_bytes_bound(&record.line) + original + dedupe + FIELDS_BYTES
}

fn string_bytes_bound(s: &str) -> usize {
    if is_ascii(s.as_bytes()) {
        s.len()
    } else {
        2 * s.len()
    }
}

/// `bytes.is_ascii()`, sixteen bytes at a time: core's goes a `usize` at a time, four
/// bytes on wasm32; this one compiles to SIMD128 ORs (what that saved:
/// docs/PERFORMANCE.md, "Figures behind choices in the code").
fn is_ascii(bytes: &[u8]) -> bool {
    let (chunks, rest) = bytes.as_chunks::<16>();
    let high = chunks
        .iter()
        .fold(0u128, |acc, c| acc | u128::from_le_bytes(*c));
    high & u128::from_le_bytes([0x80; 16]) == 0 && rest.is_ascii()
}

/// The queue producer bound as `name`, if there is one.
pub fn binding(env: &Env, name: &str) -> Option<JsValue> {
    js_sys::Reflect::get(env, &name.into())
        .ok()
        .filter(JsValue::is_object)
}

/// Puts `record` on one of `queues`, the producers of the shards of the queue bound as
/// `name` ([`binding`]; each message goes to the next shard in turn); `bytes` is its
/// [`message_bytes_bound`], which the caller has computed to decide on spilling; `ctx` is
/// the request's ExecutionContext (the send is kept alive with its `waitUntil`). The record
/// goes as a JS object (as workers-rs' `Queue::send` makes it), alone or in a pack's
/// array ([`super::pack`]), sent with content type `v8`: the runtime copies its strings as
/// they are instead of writing them out as JSON (what that saved: docs/PERFORMANCE.md,
/// "Figures behind choices in the code").
pub async fn send(
    queues: &js_sys::Array,
    name: &str,
    ctx: &JsValue,
    record: &QueuedRecord,
    bytes: usize,
) -> worker::Result<()> {
    // worker::Error's own conversion would drop serde's reason.
    let body = serde_wasm_bindgen::to_value(record)
        .map_err(|e| worker::Error::RustError(e.to_string()))?;
    let sent = group_send(name, queues, &body, bytes as f64, ctx)?;
    JsFuture::from(sent).await?;
    Ok(())
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
            dedupe: None,
        }
    }

    #[test]
    fn is_ascii_agrees_with_core_at_every_length_and_position() {
        for len in 0..70 {
            let ascii = vec![b'a'; len];
            assert!(is_ascii(&ascii), "{len}");
            for at in 0..len {
                let mut other = ascii.clone();
                other[at] = 0x80 | (at as u8);
                assert!(!is_ascii(&other), "{len} {at}");
            }
        }
    }

    #[test]
    fn the_bound_counts_ascii_at_its_length_and_other_text_at_twice() {
        let ascii = format!("[{}\"\"]", "\"\",".repeat(5_000));
        let latin = "caf\u{e9} ".repeat(2_000);
        let mixed = format!("{}\u{4e2d}", "x".repeat(90_000));
        let fields = FIELDS_BYTES;
        assert_eq!(
            message_bytes_bound(&record(&ascii, None)),
            ascii.len() + fields
        );
        assert_eq!(
            message_bytes_bound(&record(&ascii, Some(&latin))),
            ascii.len() + 2 * latin.len() + fields
        );
        // 90 000 ASCII bytes and one CJK character: V8 stores all of it at two bytes per
        // character, over a queue message's limit, so such a record is spilled.
        assert!(message_bytes_bound(&record(&mixed, None)) > MAX_MESSAGE_BYTES);
        assert!(message_bytes_bound(&record(&"x".repeat(120_000), None)) < MAX_MESSAGE_BYTES);
        // What the bound leaves for the other fields holds the longest of them.
        let longest = serde_json::to_string(&record("", Some(""))).expect("serialises");
        assert!(longest.len() * 2 < fields, "{}", longest.len());
        // A webhook id and its digest are counted on top, at their length (ASCII).
        let mut keyed = record(&ascii, None);
        keyed.dedupe = Some(crate::collect::idempotency::Keyed {
            key: "k".repeat(255),
            body_digest: "d".repeat(64),
        });
        assert_eq!(message_bytes_bound(&keyed), ascii.len() + 255 + 64 + fields);
    }
}
