//! Write an edgehook plugin in Rust.
//!
//! A plugin is one function, `fn process(record: Record) -> Answer`, exported with
//! [`plugin!`]. Built for `wasm32-unknown-unknown` it is one `.wasm` that
//! `PUT /admin/plugins/{name}` (`Content-Type: application/wasm`) takes as it is:
//! edgehook supplies the JavaScript that runs it in the plugin's own isolate.
//!
//! ```
//! use edgehook_plugin::{Answer, Record, json};
//!
//! fn process(record: Record) -> Answer {
//!     let mut payload = record.payload;
//!     payload["seen_by"] = json!("my-plugin");
//!     Answer::Processed(payload)
//! }
//! edgehook_plugin::plugin!(process);
//! # assert_eq!(edgehook_plugin::handle(br#"{"type":"record","collector":"c","record":{}}"#, process),
//! #     br#"{"action":"processed","content":{"seen_by":"my-plugin"}}"#);
//! ```
//!
//! The contract is the one of edgehook's `plugin` step (AShirt's answers): a record comes
//! in as `{"type":"record","collector":..,"record":..}` (or `{"type":"delivery",
//! "subscription":..,"event_type":..,"record":..}` for a subscription's `transform`), the
//! answer goes out as `{"action":"processed","content":..}`, `rejected`, `deferred` or
//! `error`. The ABI underneath is plain C: `edgehook_alloc(len) -> ptr` and
//! `edgehook_process(ptr, len) -> (answer_ptr << 32) | answer_len` over the module's
//! exported memory, so no wasm-bindgen is needed. A panic traps: edgehook counts it as an
//! `error` answer and starts the next call on a fresh instance.

use serde::{Deserialize, Serialize};
pub use serde_json::{self, Map, Value, json};

/// What the plugin is given.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Record {
    /// `"record"` from a collector's `wasm` step, `"delivery"` from a subscription's
    /// `transform`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The collector that accepted the webhook (steps).
    #[serde(default)]
    pub collector: Option<String>,
    /// The subscription the delivery goes to (transforms).
    #[serde(default)]
    pub subscription: Option<String>,
    /// The event's type (transforms).
    #[serde(default)]
    pub event_type: Option<String>,
    /// The record itself: the webhook's JSON payload, or the event's.
    #[serde(rename = "record")]
    pub payload: Value,
}

/// What the plugin answers.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// Use this record instead.
    Processed(Value),
    /// Refuse the record (a collector answers `422 rejected_by_plugin`), with a reason.
    Rejected(String),
    /// Keep the record unchanged.
    Deferred,
    /// The plugin failed: the step's `on_error` decides.
    Error(String),
}

#[derive(Serialize)]
struct Wire<'a> {
    action: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    content: Option<&'a Value>,
}

impl Answer {
    /// The answer's JSON, as edgehook reads it.
    pub fn to_json(&self) -> Vec<u8> {
        let text;
        let (action, content) = match self {
            Answer::Processed(v) => ("processed", Some(v)),
            Answer::Rejected(why) => {
                text = Value::String(why.clone());
                ("rejected", Some(&text))
            }
            Answer::Deferred => ("deferred", None),
            Answer::Error(why) => {
                text = Value::String(why.clone());
                ("error", Some(&text))
            }
        };
        serde_json::to_vec(&Wire { action, content }).unwrap_or_else(|_| {
            br#"{"action":"error","content":"the answer could not be encoded"}"#.to_vec()
        })
    }
}

/// Reads a plugin message, runs `process` on it and writes its answer: what the exported
/// function does, callable natively in tests. A message that is not a record is answered
/// with an `error`.
pub fn handle(input: &[u8], process: impl FnOnce(Record) -> Answer) -> Vec<u8> {
    match serde_json::from_slice::<Record>(input) {
        Ok(record) => process(record).to_json(),
        Err(e) => Answer::Error(format!("not a plugin message: {e}")).to_json(),
    }
}

/// The C ABI [`plugin!`] exports; not for direct use.
#[doc(hidden)]
pub mod abi {
    use std::cell::RefCell;

    thread_local! {
        // The last answer, kept alive until the next call so the host can copy it out.
        static ANSWER: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
    }

    /// A buffer of `len` bytes for the host to write the message into; `process` frees it.
    pub fn alloc(len: usize) -> *mut u8 {
        Box::into_raw(vec![0u8; len].into_boxed_slice()).cast()
    }

    /// Runs `process` on the `len` bytes at `ptr` (from [`alloc`], freed here) and
    /// returns `(answer_ptr << 32) | answer_len`.
    ///
    /// # Safety
    /// `ptr` and `len` must come from one call of [`alloc`], not yet passed here.
    pub unsafe fn process(
        ptr: *mut u8,
        len: usize,
        f: impl FnOnce(super::Record) -> super::Answer,
    ) -> u64 {
        // SAFETY: the caller passes a buffer made by `alloc(len)`, which is a Box<[u8]>.
        let input = unsafe { Box::from_raw(std::ptr::slice_from_raw_parts_mut(ptr, len)) };
        let answer = super::handle(&input, f);
        drop(input);
        ANSWER.with(|slot| {
            let mut slot = slot.borrow_mut();
            *slot = answer;
            ((slot.as_ptr() as usize as u64) << 32) | slot.len() as u64
        })
    }
}

/// Exports `process` (a `fn(Record) -> Answer`) as the plugin's entry point.
#[macro_export]
macro_rules! plugin {
    ($process:path) => {
        /// Allocates the buffer edgehook writes the plugin message into.
        #[unsafe(no_mangle)]
        pub extern "C" fn edgehook_alloc(len: usize) -> *mut u8 {
            $crate::abi::alloc(len)
        }

        /// Processes the message at `ptr`; returns `(answer_ptr << 32) | answer_len`.
        ///
        /// # Safety
        /// Called by edgehook's glue with a buffer from `edgehook_alloc`.
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn edgehook_process(ptr: *mut u8, len: usize) -> u64 {
            // SAFETY: edgehook's glue passes what edgehook_alloc returned.
            unsafe { $crate::abi::process(ptr, len, $process) }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(out: Vec<u8>) -> Value {
        serde_json::from_slice(&out).unwrap()
    }

    #[test]
    fn answers_read_the_way_edgehook_reads_them() {
        let cases = [
            (
                Answer::Processed(json!({"a": 1})),
                json!({"action": "processed", "content": {"a": 1}}),
            ),
            (
                Answer::Rejected("no".into()),
                json!({"action": "rejected", "content": "no"}),
            ),
            (Answer::Deferred, json!({"action": "deferred"})),
            (
                Answer::Error("boom".into()),
                json!({"action": "error", "content": "boom"}),
            ),
        ];
        for (a, want) in cases {
            assert_eq!(answer(a.to_json()), want);
        }
    }

    #[test]
    fn records_of_steps_and_transforms_parse_and_keep_numbers_exactly() {
        let step =
            br#"{"type":"record","collector":"amo","record":{"id":12345678901234567890,"p":1.10}}"#;
        let out = handle(step, |r| {
            assert_eq!(
                (r.kind.as_str(), r.collector.as_deref()),
                ("record", Some("amo"))
            );
            Answer::Processed(r.payload)
        });
        assert_eq!(
            out,
            br#"{"action":"processed","content":{"id":12345678901234567890,"p":1.10}}"#
        );
        let delivery = br#"{"type":"delivery","subscription":"s","event_type":"t","record":{}}"#;
        handle(delivery, |r| {
            assert_eq!(
                (r.subscription.as_deref(), r.event_type.as_deref()),
                (Some("s"), Some("t"))
            );
            Answer::Deferred
        });
    }

    #[test]
    fn garbage_in_is_an_error_answer() {
        let out = answer(handle(b"nope", |_| Answer::Deferred));
        assert_eq!(out["action"], "error");
    }

    #[test]
    fn the_abi_round_trips_through_raw_buffers() {
        let message = br#"{"type":"record","collector":"c","record":{"n":1}}"#;
        let ptr = abi::alloc(message.len());
        // SAFETY: ptr is a fresh buffer of message.len() bytes.
        unsafe { std::ptr::copy_nonoverlapping(message.as_ptr(), ptr, message.len()) };
        // SAFETY: ptr and len come from alloc.
        let packed = unsafe { abi::process(ptr, message.len(), |r| Answer::Processed(r.payload)) };
        let (at, len) = ((packed >> 32) as usize, (packed & 0xffff_ffff) as usize);
        if cfg!(target_pointer_width = "32") {
            // SAFETY: the answer lives in ANSWER until the next call.
            let out = unsafe { std::slice::from_raw_parts(at as *const u8, len) };
            assert_eq!(out, br#"{"action":"processed","content":{"n":1}}"#);
        } else {
            // Natively pointers are 64 bits: only the length survives the packing.
            assert_eq!(len, br#"{"action":"processed","content":{"n":1}}"#.len());
        }
    }
}
