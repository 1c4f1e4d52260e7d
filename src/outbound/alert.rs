//! The POST of an operational alert to a Slack-compatible incoming webhook: JSON, redirects
//! not followed, with a deadline, at most 4 KiB of the answer read (its status is all that
//! counts).

use serde_json::Value;
use worker::{Headers, Method, Request, RequestInit, RequestRedirect, wasm_bindgen::JsValue};

use super::exchange;
use crate::error::{BindingError, During};

/// POSTs `body` to `url`; the answer's status.
pub async fn post(url: &str, body: &Value, timeout_ms: u64) -> Result<u16, BindingError> {
    let headers = Headers::new();
    headers
        .set("content-type", "application/json")
        .during("header content-type")?;
    let mut init = RequestInit::new();
    init.with_method(Method::Post)
        .with_headers(headers)
        .with_body(Some(JsValue::from_str(&body.to_string())))
        .with_redirect(RequestRedirect::Manual);
    let request = Request::new_with_init(url, &init).during("request")?;
    let (resp, _) = exchange(request, timeout_ms, 4_096).await?;
    Ok(resp.status_code())
}
