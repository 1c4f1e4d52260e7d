//! edgehook: a webhook gateway for Cloudflare Workers.
//!
//! The folders mirror SPEC.md: `auth/` (one file per scheme), `steps/` (one file per step
//! kind), `collect/` (webhooks in: records, the INGEST producer, NDJSON batches, the
//! ingest consumer), `dispatch/` (events out: delivery, retry, rules), `store/` (one file
//! per D1 table), `http/` (routes only), `outbound/` (requests edgehook makes). `config`,
//! `error`, `inbound`, `json`, `time` and `ids` are the pure core shared by all. README's
//! "Layout" names the file for each part. This file only wires the Workers entry points
//! to them.

pub mod app;
pub mod auth;
pub mod charts;
pub mod collect;
pub mod config;
pub mod crypto;
pub mod dispatch;
pub mod error;
// A Waker over an `Rc` needs a RawWaker vtable, which safe Rust cannot build; executor.rs
// keeps each unsafe block beside its SAFETY argument. The rest of the crate denies unsafe.
#[allow(unsafe_code)]
pub mod executor;
pub mod http;
pub mod ids;
pub mod inbound;
pub mod json;
pub mod log;
pub mod message;
pub mod metrics;
pub mod observe;
pub mod outbound;
pub mod plugins;
pub mod queues;
pub mod scheduled;
pub mod secrets;
pub mod steps;
pub mod store;
pub mod time;

use worker::wasm_bindgen::prelude::wasm_bindgen;
use worker::{Context, Env, MessageBatch, ScheduleContext, ScheduledEvent, event, js_sys, web_sys};

#[event(start)]
fn start() {
    console_error_panic_hook::set_once();
}

/// The fetch entry point, written out instead of `#[event(fetch)]` so the request runs on
/// [`executor`] (each request polled only in its own context). It takes the runtime's own
/// Request and answers its own Response: `http::serve` converts only where it needs to.
#[wasm_bindgen]
pub fn fetch(req: web_sys::Request, env: Env, ctx: worker::worker_sys::Context) -> js_sys::Promise {
    // A plugin's own fetch(), through its network grant (docs/PLUGINS.md).
    if let Some(plugin) = outbound::egress::caller(&ctx) {
        return executor::promise(async move {
            Ok(outbound::egress::serve(req, &env, &plugin).await.into())
        });
    }
    executor::promise(async move {
        let resp = http::serve(req, &env, &ctx).await;
        // Counters reach D1 after the response has gone, never before it.
        if let Some(flush) = observe::scheduled_flush(&env) {
            Context::new(ctx).wait_until(flush);
        }
        resp.map(Into::into)
    })
}

#[event(queue)]
async fn queue(
    batch: MessageBatch<serde_json::Value>,
    env: Env,
    _ctx: Context,
) -> worker::Result<()> {
    queues::consume(batch, &env).await;
    Ok(())
}

#[event(scheduled)]
async fn scheduled(event: ScheduledEvent, env: Env, _ctx: ScheduleContext) {
    scheduled::run(event.schedule() as u64, &env).await;
}
