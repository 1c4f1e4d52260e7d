//! `GET /admin/handshakes` and `DELETE /admin/handshakes/{collector}`: the secrets
//! providers gave collectors in their handshakes (Asana, Notion). The operator reads
//! Notion's verification token here to paste it into Notion, and forgets a secret to let
//! a new handshake in.

use serde_json::json;
use worker::Response;

use super::admin::{d1_failed, db};
use super::call::{Call, json_response};
use crate::dispatch::keys::master_key;
use crate::error::{ApiError, ErrorCode};
use crate::store::handshakes;

/// `GET /admin/handshakes` → `{"handshakes":[{collector, provider, secret, created_at}]}`.
pub async fn list(c: Call<'_>) -> Result<Response, ApiError> {
    let rows = handshakes::list(&db(c.env)?).await.map_err(d1_failed)?;
    let key = master_key(c.env)?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let secret = key
            .open(
                &row.secret_sealed,
                &handshakes::seal_context(&row.collector),
            )
            .map_err(|e| ApiError::internal(e.0))?;
        out.push(json!({
            "collector": row.collector,
            "provider": row.provider,
            "secret": String::from_utf8_lossy(&secret),
            "created_at": row.created_at,
        }));
    }
    Ok(json_response(200, &json!({ "handshakes": out })))
}

/// `DELETE /admin/handshakes/{collector}` → `200 {"collector","deleted":true}`; `404
/// unknown_handshake` when the collector holds no secret.
pub async fn delete(c: Call<'_>) -> Result<Response, ApiError> {
    let collector = c.param("collector").to_string();
    if !handshakes::delete(&db(c.env)?, &collector)
        .await
        .map_err(d1_failed)?
    {
        return Err(ApiError::new(
            ErrorCode::UnknownHandshake,
            format!("collector {collector:?} holds no handshake secret"),
        ));
    }
    Ok(json_response(
        200,
        &json!({"collector": collector, "deleted": true}),
    ))
}
