//! The one queue handler: tells batches apart by queue name and hands them on to their
//! consumers (`collect::ingest`, `collect::dead`, `dispatch::deliver`).

use serde_json::{Value, json};
use worker::{Env, MessageBatch, RawMessage};

use crate::app;
use crate::collect;
use crate::config::QueueRole;
use crate::log;
use crate::message::retry_later;

/// Consumes one batch from any of edgehook's queues. Every message ends acked or retried:
/// this never returns an error (an `Err` would re-initialize the wasm).
pub async fn consume(batch: MessageBatch<Value>, env: &Env) {
    let now_ms = worker::Date::now().as_millis();
    let queue = batch.queue();
    let messages: Vec<RawMessage> = batch.raw_iter().collect();
    let app = match app::app(env) {
        Ok(app) => Some(app),
        Err(e) => {
            log::emit(
                json!({"event": "queue", "queue": queue, "outcome": "invalid_config",
                "error": e.message}),
            );
            None
        }
    };
    let role = app.as_ref().and_then(|a| a.config.queues.role(&queue));
    match (role, app) {
        (Some(QueueRole::Ingest), Some(app)) => {
            collect::ingest::consume(&queue, messages, env, &app.config, now_ms).await;
        }
        (Some(QueueRole::DeadLetter), _) => {
            collect::dead::consume(&queue, messages, env, now_ms).await;
        }
        (Some(QueueRole::Deliveries), Some(app)) => {
            // The queue also carries replays' steps (`{"v","replay"}`), which ask for the
            // next chunk of a replay rather than a delivery.
            let (steps, deliveries): (Vec<RawMessage>, Vec<RawMessage>) = messages
                .into_iter()
                .partition(crate::dispatch::replay_step::is_step);
            futures_util::future::join(
                crate::dispatch::replay_step::consume(steps, env, &app, now_ms),
                crate::dispatch::deliver::consume(deliveries, env, &app, now_ms),
            )
            .await;
        }
        // No config to act on: keep the messages (retry) rather than drop them.
        _ => {
            log::emit(
                json!({"event": "queue", "queue": queue, "outcome": "no_consumer",
                "messages": messages.len()}),
            );
            messages.iter().for_each(|m| retry_later(m, now_ms));
        }
    }
}
