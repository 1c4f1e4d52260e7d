//! Outbound requests with a deadline: `fetch` has none of its own, so the exchange is
//! raced against a timer and aborted when the timer wins.

use std::future::Future;
use std::time::Duration;

use futures_util::future::{Either, select};
use worker::{AbortController, Delay};

use crate::error::BindingError;

/// Runs `exchange` (which should send with `controller`'s signal) for at most
/// `timeout_ms`; on timeout aborts the request and says so.
pub async fn with_timeout<T>(
    exchange: impl Future<Output = Result<T, BindingError>>,
    controller: AbortController,
    timeout_ms: u64,
) -> Result<T, BindingError> {
    let timeout = Delay::from(Duration::from_millis(timeout_ms));
    futures_util::pin_mut!(exchange);
    match select(exchange, timeout).await {
        Either::Left((answer, _)) => answer,
        Either::Right(((), _)) => {
            controller.abort();
            Err(BindingError::Timeout(timeout_ms))
        }
    }
}
