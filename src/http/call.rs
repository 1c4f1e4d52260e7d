//! What a route's handler is given ([`Call`]: the request, the bindings, the loaded app,
//! the path's `{params}` and when the request arrived) and how it reads a JSON body and
//! answers JSON.

use serde::de::DeserializeOwned;
use serde_json::Value;
use worker::{Env, Request, Response};

use crate::app::App;
use crate::error::{ApiError, ErrorCode};
use crate::json;

/// A response with `status` and `body` serialised, as `application/json`.
pub fn json_response(status: u16, body: &Value) -> Response {
    let resp = Response::builder()
        .with_status(status)
        .fixed(body.to_string().into_bytes());
    let _ = resp.headers().set("content-type", "application/json");
    resp
}

/// Reads a JSON request body as strict JSON ([`crate::json`]): `400 invalid_json` when it
/// is not JSON, `400 duplicate_key` when an object repeats a member name, `422
/// invalid_request` when it is JSON of the wrong shape.
pub async fn read_json<T: DeserializeOwned>(req: &mut Request) -> Result<T, ApiError> {
    let bytes = req.bytes().await.map_err(ApiError::unreadable_body)?;
    parse_json(&bytes)
}

/// Reads a JSON body that may be left out: empty (or only whitespace) is `T::default()`,
/// anything else is read as strictly as [`read_json`] reads.
pub async fn read_optional_json<T: DeserializeOwned + Default>(
    req: &mut Request,
) -> Result<T, ApiError> {
    let bytes = req.bytes().await.map_err(ApiError::unreadable_body)?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    parse_json(&bytes)
}

/// Parses a request body already read, as [`read_json`] does.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let value = json::parse(bytes)?;
    serde_json::from_value(value)
        .map_err(|e| ApiError::new(ErrorCode::InvalidRequest, e.to_string()))
}

/// What a handler is given: the request, the bindings, the loaded app, the path and its
/// `{params}`, and when the request arrived.
pub struct Call<'a> {
    /// The runtime's request, for the body and the headers not already read.
    pub req: Request,
    /// The worker's bindings.
    pub env: &'a Env,
    /// Config and secrets.
    pub app: &'a App,
    /// The request's path.
    pub path: &'a str,
    /// The values of the pattern's `{params}`.
    pub params: Params,
    /// When the request arrived, Unix milliseconds.
    pub now_ms: u64,
    /// Who is calling, on admin routes.
    pub actor: Option<super::admin::Actor>,
}

impl Call<'_> {
    /// The value of `{name}` (empty when the pattern has no such parameter).
    pub fn param(&self, name: &str) -> &str {
        self.params.get(name).unwrap_or_default()
    }

    /// When the request arrived, Unix seconds.
    pub fn now_secs(&self) -> i64 {
        crate::time::secs(self.now_ms)
    }

    /// The request URL, for its query.
    pub fn url(&self) -> Result<url::Url, ApiError> {
        self.req
            .url()
            .map_err(|e| ApiError::new(ErrorCode::BadRequest, e.to_string()))
    }
}

/// The values of a pattern's `{params}`, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params(pub(super) Vec<(&'static str, String)>);

impl Params {
    /// The value of `{name}` or `{*name}`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }
}
