//! Structured logs: one JSON object per line on `console.log`.
//!
//! Callers pass only ids, names, codes and numbers; never a secret, a token, a signature
//! or a payload value.

use serde_json::Value;

/// Writes one log line.
pub fn emit(line: Value) {
    #[cfg(target_arch = "wasm32")]
    worker::console_log!("{line}");
    #[cfg(not(target_arch = "wasm32"))]
    eprintln!("{line}");
}
