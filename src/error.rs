//! The one error type every HTTP route answers with.
//!
//! Each variant of a layer's error maps to an [`ApiError`]: an HTTP status plus the
//! stable snake_case `code` of SPEC.md. The body is always
//! `{"error":{"code":"..","message":".."}}`.

use serde_json::json;

/// An error answered to an HTTP client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP status code.
    pub status: u16,
    /// Stable machine-readable code (`invalid_signature`, `payload_too_large`, ...).
    pub code: &'static str,
    /// Human sentence; never contains a secret or an expected signature.
    pub message: String,
    /// Seconds the client should wait before retrying (sent as `Retry-After`).
    pub retry_after: Option<u32>,
    /// What went wrong underneath (the runtime's or a binding's error text): logged with
    /// the request's line, never answered, so no runtime error text reaches a client.
    pub detail: Option<String>,
}

impl ApiError {
    /// An error with the given status, code and message.
    pub fn new(status: u16, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            retry_after: None,
            detail: None,
        }
    }

    /// Keeps `detail` for the log; the answer keeps its own stable message.
    pub fn with_detail(mut self, detail: impl std::fmt::Display) -> Self {
        self.detail = Some(detail.to_string());
        self
    }

    /// `400 bad_request`: the request's body could not be read (the connection broke);
    /// the runtime's error is logged, not answered.
    pub fn unreadable_body(detail: impl std::fmt::Display) -> Self {
        Self::new(400, "bad_request", "the request body could not be read").with_detail(detail)
    }

    /// Adds a `Retry-After` hint.
    pub fn retry_after(mut self, secs: u32) -> Self {
        self.retry_after = Some(secs);
        self
    }

    /// `404 not_found` for a path no route serves.
    pub fn not_found(path: &str) -> Self {
        Self::new(404, "not_found", format!("no route serves {path}"))
    }

    /// `405 method_not_allowed`.
    pub fn method_not_allowed(method: &str, allowed: &str) -> Self {
        Self::new(
            405,
            "method_not_allowed",
            format!("method {method} is not allowed here; use {allowed}"),
        )
    }

    /// `500 invalid_config`: the configuration failed validation.
    pub fn invalid_config(message: impl Into<String>) -> Self {
        Self::new(500, "invalid_config", message)
    }

    /// `500 internal_error` for failures of our own that retrying will not fix; `detail`
    /// (often the runtime's error text) is logged, the answer is a stable sentence.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        Self::new(
            500,
            "internal_error",
            "an internal error occurred; it has been logged",
        )
        .with_detail(detail)
    }

    /// `503 unavailable` + `Retry-After`: a binding (queue, D1, R2, WebCrypto) failed; the
    /// client should retry and nothing was stored. `detail` is logged, never answered.
    pub fn unavailable(detail: impl std::fmt::Display) -> Self {
        Self::new(
            503,
            "unavailable",
            "a storage, queue or crypto binding is unavailable; nothing was stored, retry",
        )
        .retry_after(5)
        .with_detail(detail)
    }

    /// The JSON body of this error.
    pub fn body(&self) -> serde_json::Value {
        json!({"error": {"code": self.code, "message": self.message}})
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status, self.code, self.message)
    }
}

impl std::error::Error for ApiError {}

/// A configuration problem, naming the key it is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError(pub String);

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_has_code_and_message() {
        let e = ApiError::new(401, "invalid_signature", "no secret matches");
        assert_eq!(
            e.body(),
            json!({"error": {"code": "invalid_signature", "message": "no secret matches"}})
        );
    }

    #[test]
    fn unavailable_asks_for_a_retry() {
        assert_eq!(ApiError::unavailable("queue").retry_after, Some(5));
    }

    #[test]
    fn runtime_error_text_is_logged_never_answered() {
        // What workerd says when a sender's connection drops mid-body, and D1 failing.
        let runtime = "JsValue(Error: Network connection lost.)";
        for e in [
            ApiError::unreadable_body(runtime),
            ApiError::unavailable(format!("could not store the body: {runtime}")),
            ApiError::internal(format!("DB binding: {runtime}")),
        ] {
            assert!(!e.body().to_string().contains("Network"), "{}", e.body());
            assert!(!e.message.contains(':'), "{}", e.message);
            assert!(e.detail.as_deref().is_some_and(|d| d.contains(runtime)));
        }
    }
}
