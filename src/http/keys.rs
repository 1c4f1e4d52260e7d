//! `GET /keys/test`: PTTH's "You're valid!" for API keys.

use serde_json::json;
use worker::Response;

use super::admin::db;
use super::call::Call;
use super::call::json_response;
use crate::auth::api_key;
use crate::error::ApiError;
use crate::inbound::HeaderMap;
use crate::store::api_keys::D1Keys;

/// Answers `200 {"valid":true,"name","expires_at"}` for a valid key.
pub async fn check_key(c: Call<'_>) -> Result<Response, ApiError> {
    let now_secs = c.now_secs();
    let headers = HeaderMap::from_pairs(c.req.headers().entries());
    let db = db(c.env)?;
    let key = api_key::authenticate(&D1Keys(&db), &headers, now_secs, None).await?;
    Ok(json_response(
        200,
        &json!({
            "valid": true,
            "id": key.id,
            "name": key.name,
            "scopes": key.scopes,
            "expires_at": key.not_after,
        }),
    ))
}
