//! The cron trigger: purges expired dedupe ids, JWT nonces and long-dead API keys.

use serde_json::json;
use worker::Env;

use crate::log;
use crate::store;

/// Runs the periodic maintenance at `scheduled_ms`.
pub async fn run(scheduled_ms: u64, env: &Env) {
    let outcome = match env.d1("DB") {
        Ok(db) => store::purge::expired(&db, scheduled_ms / 1000).await,
        Err(e) => Err(e),
    };
    match outcome {
        Ok(counts) => log::emit(json!({"event": "cron", "outcome": "purged",
            "seen_ids": counts.first(), "jwt_nonces": counts.get(1), "api_keys": counts.get(2)})),
        Err(e) => log::emit(json!({"event": "cron", "outcome": "failed", "error": e.to_string()})),
    }
}
