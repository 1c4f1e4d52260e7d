//! The admin API's gate and its key routes: `Authorization: Bearer <ADMIN_TOKEN>`.
//!
//! `POST /admin/keys` issues a key and shows its plaintext once; `GET /admin/keys` lists
//! keys (never their hashes); `DELETE /admin/keys/{id}` revokes one at once.

use serde_json::json;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use worker::{D1Database, Env, Request, Response};

use super::call::Call;
use super::call::{json_response, read_json};
use crate::auth::api_key::{self, ApiKey, NewKey};
use crate::error::{ApiError, ErrorCode};
use crate::ids;
use crate::store::api_keys;

/// Checks the admin bearer token in constant time.
pub fn require_admin(req: &Request, env: &Env) -> Result<(), ApiError> {
    let expected = env
        .secret("ADMIN_TOKEN")
        .map(|s| s.to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ApiError::from(ErrorCode::AdminDisabled))?;
    let header = req.headers().get("authorization").ok().flatten();
    let given = header
        .as_deref()
        .and_then(|h| h.trim().split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
        .ok_or_else(|| ApiError::from(ErrorCode::MissingAdminToken))?;
    // Compare digests so the comparison is constant-time whatever the lengths.
    let same = Sha256::digest(given.as_bytes()).ct_eq(&Sha256::digest(expected.as_bytes()));
    if bool::from(same) {
        Ok(())
    } else {
        Err(ErrorCode::InvalidAdminToken.into())
    }
}

pub(crate) fn db(env: &Env) -> Result<D1Database, ApiError> {
    env.d1("DB")
        .map_err(|e| ApiError::internal(format!("DB binding: {e}")))
}

/// `503 unavailable` for a D1 failure (retryable; never a misleading 4xx).
pub(crate) fn d1_failed(e: worker::Error) -> ApiError {
    ApiError::unavailable(format!("the database failed: {e}"))
}

/// A key as the admin API shows it.
fn view(key: &ApiKey, now: i64) -> serde_json::Value {
    json!({
        "id": key.id,
        "name": key.name,
        "email": key.email,
        "scopes": key.scopes,
        "not_before": key.not_before,
        "not_after": key.not_after,
        "revoked_at": key.revoked_at,
        "created_at": key.created_at,
        "last_used_at": key.last_used_at,
        "status": key.status(now),
    })
}

/// `POST /admin/keys` → `201` with the plaintext key, shown this once.
pub async fn create_key(c: Call<'_>) -> Result<Response, ApiError> {
    let now = c.now_secs();
    let Call { mut req, env, .. } = c;
    let input: NewKey = read_json(&mut req).await?;
    let (not_before, not_after) = input.validity(now)?;
    let random = ids::random_bytes::<32>()
        .map_err(|e| ApiError::internal(format!("no randomness available: {e}")))?;
    let plaintext = api_key::format_key(random);
    let key = ApiKey {
        id: format!(
            "key_{}",
            ids::ulid(now as u64 * 1000, ids::random_bytes().unwrap_or_default())
        ),
        name: input.name.trim().to_string(),
        email: input.email,
        scopes: input.scopes,
        not_before,
        not_after,
        revoked_at: None,
        created_at: now,
        last_used_at: None,
    };
    api_keys::insert(&db(env)?, &api_key::hash(&plaintext), &key)
        .await
        .map_err(d1_failed)?;
    let mut body = view(&key, now);
    body["key"] = json!(plaintext);
    Ok(json_response(201, &body))
}

/// `GET /admin/keys`.
pub async fn list_keys(c: Call<'_>) -> Result<Response, ApiError> {
    let now = c.now_secs();
    let keys = api_keys::list(&db(c.env)?).await.map_err(d1_failed)?;
    let keys: Vec<_> = keys.iter().map(|k| view(k, now)).collect();
    Ok(json_response(200, &json!({ "keys": keys })))
}

/// `DELETE /admin/keys/{id}`: revokes at once; revoking again is harmless.
pub async fn revoke_key(c: Call<'_>) -> Result<Response, ApiError> {
    let (id, now) = (c.param("id"), c.now_secs());
    let db = db(c.env)?;
    api_keys::revoke(&db, id, now).await.map_err(d1_failed)?;
    let key = api_keys::find_by_id(&db, id)
        .await
        .map_err(d1_failed)?
        .ok_or_else(|| ApiError::new(ErrorCode::UnknownKeyId, format!("no key has id {id:?}")))?;
    Ok(json_response(200, &view(&key, now)))
}
