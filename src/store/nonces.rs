//! Table `jwt_nonces`: result-token ids already used (a PATCH token works once).

use worker::{D1Database, wasm_bindgen::JsValue};

/// Records `jti` of `issuer` until `expires_at`; false when it was already used.
pub async fn use_once(
    db: &D1Database,
    jti: &str,
    issuer: &str,
    expires_at: i64,
) -> worker::Result<bool> {
    let result = db
        .prepare(
            "INSERT INTO jwt_nonces (jti, issuer, expires_at) VALUES (?1, ?2, ?3)
             ON CONFLICT (jti) DO NOTHING",
        )
        .bind(&[
            JsValue::from_str(&format!("{issuer}:{jti}")),
            JsValue::from_str(issuer),
            JsValue::from_f64(expires_at as f64),
        ])?
        .run()
        .await?;
    Ok(result.meta()?.and_then(|m| m.changes).unwrap_or(0) == 1)
}
