//! A delivery's request: a signed POST to a subscriber, redirects not followed, with a
//! deadline and at most [`ANSWER_LIMIT`] of the answer read.

use worker::{
    Fetcher, Headers, Method, Request, RequestInit, RequestRedirect, wasm_bindgen::JsValue,
};

use super::exchange_via;
use crate::dispatch::classify::ANSWER_LIMIT;
use crate::dispatch::sign::Signed;
use crate::error::{BindingError, During};

/// A subscriber's answer to a delivery.
pub struct SubscriberAnswer {
    /// The HTTP status the subscriber answered.
    pub status: u16,
    /// Body bytes, at most [`ANSWER_LIMIT`].
    pub body: Vec<u8>,
    /// The body went on past [`ANSWER_LIMIT`] and the rest was cancelled unread.
    pub cut: bool,
    /// `Retry-After`, if sent.
    pub retry_after: Option<String>,
    /// The answer's headers.
    pub headers: Vec<(String, String)>,
}

/// POSTs a signed request without following redirects, giving up after `timeout_ms`;
/// reads at most [`ANSWER_LIMIT`] of the answer.
pub async fn send(
    url: &str,
    signed: Signed,
    timeout_ms: u64,
) -> Result<SubscriberAnswer, BindingError> {
    send_via(None, url, signed, timeout_ms).await
}

/// [`send`] through a service binding when `service` is given (`url` then only gives the
/// path the other Worker sees).
pub async fn send_via(
    service: Option<&Fetcher>,
    url: &str,
    signed: Signed,
    timeout_ms: u64,
) -> Result<SubscriberAnswer, BindingError> {
    let headers = Headers::new();
    for (k, v) in &signed.headers {
        headers.set(k, v).during(format!("header {k}"))?;
    }
    let mut init = RequestInit::new();
    init.with_method(Method::Post)
        .with_headers(headers)
        .with_body(Some(JsValue::from_str(&signed.body)))
        .with_redirect(RequestRedirect::Manual);
    let request = Request::new_with_init(url, &init).during("request")?;
    let (resp, body) = exchange_via(service, request, timeout_ms, ANSWER_LIMIT).await?;
    // A body that fails to read counts as empty: the status alone classifies it.
    let body = body.unwrap_or_default();
    Ok(SubscriberAnswer {
        status: resp.status_code(),
        body: body.bytes,
        cut: body.cut,
        retry_after: resp.headers().get("retry-after").ok().flatten(),
        headers: resp.headers().entries().collect(),
    })
}
