//! The admin API's gate and its key routes. An admin is either the bearer of
//! `ADMIN_TOKEN` (role `admin`, for scripts and CI) or, with `admin.access` set, the
//! identity Cloudflare Access signed in (`Cf-Access-Jwt-Assertion`, its role from
//! `admin.roles`: `viewer` reads, `admin` also changes).
//!
//! `POST /admin/keys` issues a key and shows its plaintext once; `GET /admin/keys` lists
//! keys (never their hashes); `DELETE /admin/keys/{id}` revokes one at once.

use serde_json::json;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use worker::{D1Database, Env, Request, Response};

use super::call::Call;
use super::call::{json_response, read_json};
use crate::app::App;
use crate::auth::access::{self, AccessConfig, Role};
use crate::auth::api_key::{self, ApiKey, NewKey};
use crate::auth::jwt::{self, JwtError};
use crate::crypto::webcrypto::WebCrypto;
use crate::error::{ApiError, ErrorCode};
use crate::ids;
use crate::store::api_keys;
use crate::{auth, outbound};

/// Who is calling the admin API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// The Access email, or `admin token`.
    pub who: String,
    /// What they may do.
    pub role: Role,
    /// `access` or `token`.
    pub via: &'static str,
}

/// Who is calling: the bearer token when an `Authorization` header is sent, else the
/// Access assertion when `admin.access` is set. Which methods the role allows is checked
/// by the caller ([`access::may`]), so a refused change can still be audited.
pub async fn authorize(
    req: &Request,
    env: &Env,
    app: &App,
    now_ms: u64,
) -> Result<Actor, ApiError> {
    let header = |name: &str| req.headers().get(name).ok().flatten();
    let access_config = app.config.admin.access.as_ref();
    match (access_config, header(access::ASSERTION_HEADER)) {
        (Some(cfg), Some(token)) if header("authorization").is_none() => {
            signed_in(app, cfg, &token, now_ms).await
        }
        (Some(_), None) if header("authorization").is_none() => Err(ApiError::new(
            ErrorCode::MissingAdminToken,
            "sign in through Cloudflare Access, or send Authorization: Bearer <ADMIN_TOKEN>",
        )),
        _ => require_admin(req, env).map(|()| Actor {
            who: "admin token".into(),
            role: Role::Admin,
            via: "token",
        }),
    }
}

/// The actor of an Access assertion: RS256 against the team's keys, `aud`, `iss`, `exp`
/// (jwt::verify), then the email's role.
async fn signed_in(
    app: &App,
    cfg: &AccessConfig,
    token: &str,
    now_ms: u64,
) -> Result<Actor, ApiError> {
    let team = cfg.team_url();
    let rules = cfg.rules(&team);
    let now_secs = crate::time::secs(now_ms);
    let refused = |e: JwtError| match e {
        JwtError::Backend(detail) => ApiError::unavailable(detail),
        e => ApiError::new(
            e.code(),
            format!("the Cloudflare Access token is refused: {e}"),
        ),
    };
    // The team's certs, cached per isolate like a collector's jwks_url (fetched again for
    // a kid not cached, which is how Access's key rotation shows).
    let url = cfg.certs_url();
    outbound::jwks::refresh(app, &url, auth::jwks::token_kid(token).as_deref(), now_secs).await;
    let keys = auth::jwks::cached(&url);
    if keys.is_empty() {
        return Err(ApiError::unavailable(format!(
            "no Cloudflare Access certs could be fetched from {url}"
        )));
    }
    let claims = jwt::verify(&WebCrypto, &keys, &rules, token, now_secs)
        .await
        .map_err(refused)?;
    let id = access::identity(&claims)
        .map_err(|e| ApiError::new(ErrorCode::InvalidAccessToken, e.to_string()))?;
    let role = access::role(&app.config.admin.roles, &id).ok_or_else(|| {
        ApiError::new(
            ErrorCode::NoAdminRole,
            format!("{} is signed in but admin.roles gives it no role", id.email),
        )
    })?;
    Ok(Actor {
        who: id.email,
        role,
        via: "access",
    })
}

/// `403 read_only` for a viewer's change.
pub fn read_only(actor: &Actor) -> ApiError {
    ApiError::new(
        ErrorCode::ReadOnly,
        format!(
            "{} has the viewer role, which only reads; an admin can make this change",
            actor.who
        ),
    )
}

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
fn view(key: &ApiKey, now_secs: i64) -> serde_json::Value {
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
        "status": key.status(now_secs),
    })
}

/// `POST /admin/keys` → `201` with the plaintext key, shown this once.
pub async fn create_key(c: Call<'_>) -> Result<Response, ApiError> {
    let now_secs = c.now_secs();
    let Call { mut req, env, .. } = c;
    let input: NewKey = read_json(&mut req).await?;
    let (not_before, not_after) = input.validity(now_secs)?;
    let random = ids::random_bytes::<32>()
        .map_err(|e| ApiError::internal(format!("no randomness available: {e}")))?;
    let plaintext = api_key::format_key(random);
    let key = ApiKey {
        id: format!(
            "key_{}",
            ids::ulid(
                now_secs as u64 * 1000,
                ids::random_bytes().unwrap_or_default()
            )
        ),
        name: input.name.trim().to_string(),
        email: input.email,
        scopes: input.scopes,
        not_before,
        not_after,
        revoked_at: None,
        created_at: now_secs,
        last_used_at: None,
    };
    api_keys::insert(&db(env)?, &api_key::hash(&plaintext), &key)
        .await
        .map_err(d1_failed)?;
    let mut body = view(&key, now_secs);
    body["key"] = json!(plaintext);
    Ok(json_response(201, &body))
}

/// `GET /admin/keys`.
pub async fn list_keys(c: Call<'_>) -> Result<Response, ApiError> {
    let now_secs = c.now_secs();
    let keys = api_keys::list(&db(c.env)?).await.map_err(d1_failed)?;
    let keys: Vec<_> = keys.iter().map(|k| view(k, now_secs)).collect();
    Ok(json_response(200, &json!({ "keys": keys })))
}

/// `DELETE /admin/keys/{id}`: revokes at once; revoking again is harmless.
pub async fn revoke_key(c: Call<'_>) -> Result<Response, ApiError> {
    let (id, now_secs) = (c.param("id"), c.now_secs());
    let db = db(c.env)?;
    api_keys::revoke(&db, id, now_secs)
        .await
        .map_err(d1_failed)?;
    api_keys::forget_cached(id);
    let key = api_keys::find_by_id(&db, id)
        .await
        .map_err(d1_failed)?
        .ok_or_else(|| ApiError::new(ErrorCode::UnknownKeyId, format!("no key has id {id:?}")))?;
    Ok(json_response(200, &view(&key, now_secs)))
}
