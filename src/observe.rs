//! Counting requests without slowing them: the isolate's counter buffer, its flush to
//! D1 off the response path, and the optional Workers Analytics Engine binding.
//!
//! `serve` calls [`count_hook`] (memory only) and [`analytics`] (the runtime's
//! `writeDataPoint`, which does not wait for anything). The fetch entry point then asks
//! [`scheduled_flush`] for a future to hand to `ctx.wait_until`: it sleeps
//! [`FLUSH_AFTER_MS`] and writes every count buffered by then in one D1 batch, so a busy
//! isolate writes at most one batch per interval whatever its request rate.

use std::cell::RefCell;

use serde_json::{Value, json};
use worker::{AnalyticsEngineDataPointBuilder, Env};

use crate::error::ApiError;
use crate::log;
use crate::metrics::{self, Buffer, FLUSH_AFTER_MS};
use crate::store::counters;

/// Name of the optional Analytics Engine binding (`[[analytics_engine_datasets]]`).
pub const ANALYTICS_BINDING: &str = "ANALYTICS";

thread_local! {
    static BUFFER: RefCell<Buffer> = RefCell::new(Buffer::default());
}

/// Counts one finished request to a configured collector.
pub fn count_hook(collector: &str, metric: &str, now_ms: u64) {
    BUFFER.with(|b| b.borrow_mut().add(collector, metric, now_ms));
}

/// Counts one accepted webhook's acceptance latency (`duration_ms` from receipt to the
/// answer) in its bucket.
pub fn count_latency(collector: &str, duration_ms: u64, now_ms: u64) {
    let bucket = metrics::latency_bucket(duration_ms);
    BUFFER.with(|b| {
        b.borrow_mut()
            .add_in(metrics::SCOPE_LATENCY, collector, &bucket, now_ms);
    });
}

/// Writes the request's log fields as one Analytics Engine data point when the binding
/// is configured: index = collector (or route), blobs = [route, collector, outcome,
/// method], doubles = [1, status, duration_ms].
pub fn analytics(env: &Env, fields: &Value) {
    let Ok(dataset) = env.analytics_engine(ANALYTICS_BINDING) else {
        return;
    };
    let text = |k: &str| fields.get(k).and_then(Value::as_str).unwrap_or("");
    let num = |k: &str| fields.get(k).and_then(Value::as_f64).unwrap_or(0.0);
    let index = if text("collector").is_empty() {
        text("route")
    } else {
        text("collector")
    };
    let written = AnalyticsEngineDataPointBuilder::new()
        .indexes([index])
        .blobs([
            text("route"),
            text("collector"),
            text("outcome"),
            text("method"),
        ])
        .doubles([1.0, num("status"), num("duration_ms")])
        .write_to(&dataset);
    if let Err(e) = written {
        log::emit(json!({"event": "analytics", "outcome": "write_failed", "error": e.to_string()}));
    }
}

/// A future for `ctx.wait_until` that flushes the buffer after [`FLUSH_AFTER_MS`], when
/// counts are waiting and no flush is pending yet.
pub fn scheduled_flush(env: &Env) -> Option<impl Future<Output = ()> + 'static> {
    let schedule = BUFFER.with(|b| {
        let mut b = b.borrow_mut();
        let due = !b.is_empty() && !b.flush_scheduled;
        b.flush_scheduled |= due;
        due
    });
    if !schedule {
        return None;
    }
    let env = env.clone();
    Some(async move {
        worker::Delay::from(std::time::Duration::from_millis(FLUSH_AFTER_MS)).await;
        if let Err(e) = flush(&env).await {
            log::emit(json!({"event": "counters", "outcome": "flush_failed", "error": e.message}));
        }
    })
}

/// Writes every buffered count to D1 now; on failure the counts go back in the buffer.
pub async fn flush(env: &Env) -> Result<(), ApiError> {
    let counts = BUFFER.with(|b| {
        let mut b = b.borrow_mut();
        b.flush_scheduled = false;
        b.take()
    });
    if counts.is_empty() {
        return Ok(());
    }
    let written = match env.d1("DB") {
        Ok(db) => counters::add(&db, &counts).await,
        Err(e) => Err(e),
    };
    written.map_err(|e| {
        BUFFER.with(|b| b.borrow_mut().restore(counts));
        ApiError::unavailable(format!("could not write the counters: {e}"))
    })
}
