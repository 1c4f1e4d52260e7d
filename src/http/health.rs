//! `GET /healthz`.

use serde_json::json;
use worker::Response;

use super::call::Call;
use super::call::json_response;
use crate::error::ApiError;

/// `200 {"status":"ok","version":..}`; reached only when the config is valid.
pub async fn handle(_: Call<'_>) -> Result<Response, ApiError> {
    Ok(json_response(
        200,
        &json!({"status": "ok", "version": env!("CARGO_PKG_VERSION")}),
    ))
}
