//! Requests edgehook makes (deliveries, subscription tests, plugin calls): each with a
//! deadline ([`with_timeout`]: `fetch` has no deadline of its own, so the exchange is raced
//! against a timer and aborted when the timer wins) and a bounded answer (its body read
//! chunk by chunk up to a bound, the rest cancelled unread, so a subscriber cannot make
//! edgehook hold a large body in memory); the calls of plugin steps ([`plugins`]); and
//! the requests of plugins granted network ([`egress`]).

pub mod alert;
pub mod delivery;
pub mod destination;
pub mod egress;
pub mod jwks;
pub mod plugins;

use std::future::Future;
use std::time::Duration;

use futures_util::StreamExt;
use futures_util::future::{Either, select};
use worker::{AbortController, Delay, Fetch, Fetcher, Request, Response};

use crate::error::{BindingError, During};

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

/// Sends `request` (which should not follow redirects) with a deadline of `timeout_ms`
/// ([`with_timeout`]) and reads at most `limit` bytes of the answer ([`read_prefix`]):
/// the answer, and its body's prefix or why it could not be read.
pub async fn exchange(
    request: Request,
    timeout_ms: u64,
    limit: usize,
) -> Result<(Response, Result<Prefix, BindingError>), BindingError> {
    exchange_via(None, request, timeout_ms, limit).await
}

/// [`exchange`] through a service binding when `service` is given (another Worker, no
/// network), else over the network. A service binding's fetch takes no abort signal: on
/// timeout edgehook stops waiting for it.
pub async fn exchange_via(
    service: Option<&Fetcher>,
    request: Request,
    timeout_ms: u64,
    limit: usize,
) -> Result<(Response, Result<Prefix, BindingError>), BindingError> {
    let controller = AbortController::default();
    let signal = controller.signal();
    let exchange = async {
        let resp = match service {
            Some(service) => service.fetch_request(request).await,
            None => Fetch::Request(request).send_with_signal(&signal).await,
        };
        let mut resp = resp.during("network error")?;
        let body = read_prefix(&mut resp, limit).await;
        Ok((resp, body))
    };
    with_timeout(exchange, controller, timeout_ms).await
}

/// The start of an answer's body: at most the bound, and whether there was more.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Prefix {
    /// The bytes read, at most the bound.
    pub bytes: Vec<u8>,
    /// The body went on past the bound; the rest was cancelled unread.
    pub cut: bool,
}

impl Prefix {
    /// Adds the next chunk; `false` once the body is known to be longer than `limit`
    /// (keep what fits and stop reading).
    pub fn push(&mut self, chunk: &[u8], limit: usize) -> bool {
        let room = limit.saturating_sub(self.bytes.len());
        if chunk.len() > room {
            self.bytes.extend_from_slice(&chunk[..room]);
            self.cut = true;
            return false;
        }
        self.bytes.extend_from_slice(chunk);
        true
    }
}

/// Reads `resp`'s body chunk by chunk, keeping at most `limit` bytes; at the bound the
/// body stream is cancelled (dropping the reader cancels it), so the rest is never read.
pub async fn read_prefix(resp: &mut Response, limit: usize) -> Result<Prefix, BindingError> {
    let mut prefix = Prefix::default();
    let Ok(mut stream) = resp.stream() else {
        // No stream: an empty body, or one the runtime already holds.
        let body = resp.bytes().await.during("reading the answer")?;
        prefix.push(&body, limit);
        return Ok(prefix);
    };
    while let Some(chunk) = stream.next().await {
        if !prefix.push(&chunk.during("reading the answer")?, limit) {
            break;
        }
    }
    Ok(prefix)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(chunks: &[&[u8]], limit: usize) -> Prefix {
        let mut p = Prefix::default();
        for c in chunks {
            if !p.push(c, limit) {
                break;
            }
        }
        p
    }

    #[test]
    fn a_body_is_kept_whole_up_to_the_bound_and_cut_past_it() {
        assert_eq!(read(&[b"abc", b"de"], 5).bytes, b"abcde");
        assert!(!read(&[b"abc", b"de"], 5).cut, "exactly the bound is whole");
        let cut = read(&[b"abc", b"def", b"never read"], 5);
        assert_eq!((cut.bytes.as_slice(), cut.cut), (&b"abcde"[..], true));
        let mut p = Prefix::default();
        assert!(p.push(b"abcde", 5));
        assert!(
            !p.push(b"f", 5),
            "one byte past the bound stops the reading"
        );
        assert_eq!(read(&[], 5), Prefix::default());
    }
}
