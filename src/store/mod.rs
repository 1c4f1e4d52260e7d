//! D1 access: one file per table; the SQL lives here and nowhere else.

pub mod api_keys;
pub mod attempts;
pub mod audit;
pub mod batches;
pub mod cache;
pub mod counters;
pub mod handshakes;
pub mod nonces;
pub mod plugins;
pub mod purge;
pub mod result_stats;
pub mod results;
pub mod rules;
pub mod seen_ids;
pub mod subscriptions;
pub mod written;

use worker::wasm_bindgen::JsValue;

/// A D1 bind value for an integer. D1 numbers cross as f64, exact up to 2^53.
pub fn int(n: u64) -> JsValue {
    JsValue::from_f64(n as f64)
}
