//! Requests edgehook makes: each with a deadline ([`with_timeout`]: `fetch` has none of
//! its own, so the exchange is raced against a timer and aborted when the timer wins), and
//! the calls of plugin steps ([`plugins`]). Deliveries to subscribers use it too
//! (`dispatch::deliver`).

pub mod plugins;

use std::future::Future;
use std::time::Duration;

use futures_util::future::{Either, select};
use worker::{AbortController, Delay};

/// Runs `exchange` (which should send with `controller`'s signal) for at most
/// `timeout_ms`; on timeout aborts the request and says so.
pub async fn with_timeout<T>(
    exchange: impl Future<Output = Result<T, String>>,
    controller: AbortController,
    timeout_ms: u64,
) -> Result<T, String> {
    let timeout = Delay::from(Duration::from_millis(timeout_ms));
    futures_util::pin_mut!(exchange);
    match select(exchange, timeout).await {
        Either::Left((answer, _)) => answer,
        Either::Right(((), _)) => {
            controller.abort();
            Err(format!("no answer within {timeout_ms} ms"))
        }
    }
}
