//! `GET /healthz`.

use serde_json::json;
use worker::Response;

use super::json_response;
use crate::error::ApiError;

/// `200 {"status":"ok","version":..}`; reached only when the config is valid.
pub fn handle(method: &str) -> Result<Response, ApiError> {
    if method != "GET" && method != "HEAD" {
        return Err(ApiError::method_not_allowed(method, "GET"));
    }
    Ok(json_response(
        200,
        &json!({"status": "ok", "version": env!("CARGO_PKG_VERSION")}),
    ))
}
