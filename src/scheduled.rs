//! The cron trigger: purges expired dedupe ids, JWT nonces and long-dead API keys, and
//! finished results (with their attempts) past `dispatch.retention_days`, a bounded batch
//! per run; enqueues deliveries whose message was lost (due, still `pending`), and asks
//! for a step of every replay left `running` and unchanged (its step died or its message
//! was lost).

use serde_json::json;
use worker::Env;

use crate::log;
use crate::store;

/// Runs the periodic maintenance at `scheduled_ms`.
pub async fn run(scheduled_ms: u64, env: &Env) {
    let outcome = match env.d1("DB") {
        Ok(db) => store::purge::expired(&db, crate::time::secs(scheduled_ms)).await,
        Err(e) => Err(e),
    };
    match outcome {
        Ok(counts) => log::emit(json!({"event": "cron", "outcome": "purged",
            "seen_ids": counts.first(), "jwt_nonces": counts.get(1), "api_keys": counts.get(2), "written_records": counts.get(3)})),
        Err(e) => log::emit(json!({"event": "cron", "outcome": "failed", "error": e.to_string()})),
    }
    if let (Ok(db), Ok(app)) = (env.d1("DB"), crate::app::app(env)) {
        let days = app.config.dispatch.retention_days;
        let cutoff = store::purge::retention_cutoff(crate::time::secs(scheduled_ms), days);
        match store::purge::retention(&db, cutoff, store::purge::RETENTION_BATCH).await {
            Ok((results, attempts)) => log::emit(json!({"event": "cron", "outcome": "retention",
                "retention_days": days, "results": results, "delivery_attempts": attempts})),
            Err(e) => log::emit(json!({"event": "cron", "outcome": "retention_failed",
                "error": e.to_string()})),
        }
    }
    if let Ok(db) = env.d1("DB") {
        match crate::dispatch::replay_step::resume_stalled(
            env,
            &db,
            crate::time::secs(scheduled_ms),
        )
        .await
        {
            Ok(n) => log::emit(json!({"event": "cron", "outcome": "replays_resumed",
                "replays": n})),
            Err(e) => log::emit(
                json!({"event": "cron", "outcome": "replays_not_resumed", "error": e.to_string()}),
            ),
        }
        match crate::dispatch::publish::requeue_stuck(env, &db, crate::time::secs(scheduled_ms))
            .await
        {
            Ok(n) => log::emit(json!({"event": "cron", "outcome": "requeued", "deliveries": n})),
            Err(e) => log::emit(
                json!({"event": "cron", "outcome": "requeue_failed", "error": e.to_string()}),
            ),
        }
    }
}
