//! What a route's handler is given ([`Call`]): the request, the bindings, the loaded app,
//! the path's `{params}` and when the request arrived.

use worker::{Env, Request};

use crate::app::App;
use crate::error::ApiError;

/// What a handler is given: the request, the bindings, the loaded app, the path and its
/// `{params}`, and when the request arrived.
pub struct Call<'a> {
    /// The request.
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
}

impl Call<'_> {
    /// The value of `{name}` (empty when the pattern has no such parameter).
    pub fn param(&self, name: &str) -> &str {
        self.params.get(name).unwrap_or_default()
    }

    /// When the request arrived, Unix seconds.
    pub fn now_secs(&self) -> i64 {
        (self.now_ms / 1000) as i64
    }

    /// The request URL, for its query.
    pub fn url(&self) -> Result<url::Url, ApiError> {
        self.req
            .url()
            .map_err(|e| ApiError::new(400, "bad_request", e.to_string()))
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
