//! `POST /events/{type}` (publish), `GET /results/{id}` and `PATCH /results/{id}` (a
//! subscriber's asynchronous result, with its service-account JWT).

use serde::Deserialize;
use serde_json::{Map, Value, json};
use worker::{Env, Request, Response};

use super::admin::{self, d1_failed, db};
use super::call::Call;
use super::call::{json_response, parse_json, read_json};
use crate::auth::jwt::{self, JwtError};
use crate::auth::{AuthError, api_key, ashirt};
use crate::crypto::webcrypto::WebCrypto;
use crate::dispatch::deliver;
use crate::dispatch::keys::{jwt_secret_context, master_key, result_url};
use crate::dispatch::publish;
use crate::dispatch::service_token::PatchCredentials;
use crate::dispatch::{self, service_token};
use crate::error::{ApiError, ErrorCode};
use crate::inbound::HeaderMap;
use crate::store::api_keys::D1Keys;
use crate::store::results::{self, ResultRecord};
use crate::store::{attempts, nonces, subscriptions};

/// The scope an API key needs to publish events and read results.
pub const PUBLISH_SCOPE: &str = "publish";

/// Admin token or an API key with the `publish` scope.
async fn require_publisher(req: &Request, env: &Env, now_secs: i64) -> Result<(), ApiError> {
    let headers = HeaderMap::from_pairs(req.headers().entries());
    match api_key::presented(&headers) {
        Some(k) if k.starts_with(api_key::PREFIX) => {
            api_key::authenticate(&D1Keys(&db(env)?), &headers, now_secs, Some(PUBLISH_SCOPE))
                .await
                .map(|_| ())
                .map_err(ApiError::from)
        }
        _ => admin::require_admin(req, env),
    }
}

/// `POST /events/{type}` with a JSON object: one result and one delivery per enabled
/// subscription of the type → `202 {"event_id","results":[{id,subscription,result_url}]}`.
pub async fn publish(c: Call<'_>) -> Result<Response, ApiError> {
    let (event_type, now_ms) = (c.param("type").to_string(), c.now_ms);
    let event_type = event_type.as_str();
    let Call {
        mut req, env, app, ..
    } = c;
    require_publisher(&req, env, crate::time::secs(now_ms)).await?;
    if !dispatch::valid_event_type(event_type) {
        return Err(ApiError::new(
            ErrorCode::InvalidEventType,
            format!("{event_type:?} is not an event type (1-128 of A-Z a-z 0-9 . _ : -)"),
        ));
    }
    if dispatch::reserved_event_type(event_type) {
        return Err(ApiError::new(
            ErrorCode::ReservedEventType,
            format!("{event_type} is an event type edgehook publishes itself; publishers cannot"),
        ));
    }
    let payload: Value = read_json(&mut req).await?;
    let Value::Object(payload) = payload else {
        return Err(ApiError::new(
            ErrorCode::InvalidEvent,
            "an event payload is a JSON object",
        ));
    };
    let header = |name: &str| req.headers().get(name).ok().flatten();
    let (event_id, published) =
        publish::publish(env, &db(env)?, event_type, &payload, &header, now_ms).await?;
    let results: Vec<Value> = published
        .iter()
        .map(|p| json!({"id": p.id, "subscription": p.subscription, "result_url": result_url(app, &p.id), "held": p.held,
            "ordering_key": p.ordering_key}))
        .collect();
    Ok(json_response(
        202,
        &json!({"event_id": event_id, "results": results}),
    ))
}

async fn view(env: &Env, r: &ResultRecord) -> Result<Value, ApiError> {
    let list = attempts::for_result(&db(env)?, &r.id)
        .await
        .map_err(d1_failed)?;
    let mut v = json!(r);
    v["attempts"] = json!(list);
    Ok(v)
}

async fn load(env: &Env, id: &str) -> Result<ResultRecord, ApiError> {
    results::get(&db(env)?, id)
        .await
        .map_err(d1_failed)?
        .ok_or_else(|| ApiError::new(ErrorCode::UnknownResult, format!("no result has id {id:?}")))
}

/// `GET /results/{id}` (admin or publish key): the result with its attempts.
pub async fn show(c: Call<'_>) -> Result<Response, ApiError> {
    let (env, id) = (c.env, c.param("id"));
    require_publisher(&c.req, env, c.now_secs()).await?;
    let r = load(env, id).await?;
    Ok(json_response(200, &view(env, &r).await?))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ResultPatch {
    results: Map<String, Value>,
}

/// The subscription and opened secret of service account `jwt_key`, if it exists.
async fn account_secret(
    env: &Env,
    db: &worker::D1Database,
    jwt_key: &str,
) -> Result<Option<(String, Vec<u8>)>, ApiError> {
    let Some((owner, secret_enc)) = subscriptions::service_account(db, jwt_key)
        .await
        .map_err(d1_failed)?
    else {
        return Ok(None);
    };
    let secret = master_key(env)?
        .open(&secret_enc, &jwt_secret_context(jwt_key))
        .map_err(|e| ApiError::internal(e.0))?;
    Ok(Some((owner, secret)))
}

fn token_error(e: JwtError) -> ApiError {
    ApiError::from(e)
}

/// `PATCH /results/{id}` with `{"results":{...}}`, authenticated by the owning
/// subscription's service account: `Authorization: JWT <token>` (or `Bearer`), each token
/// once, or AShirt request signing (`Authorization: <jwt_key>:<base64 HMAC>` + `Date`)
/// under the same secret, each signature once.
pub async fn patch(c: Call<'_>) -> Result<Response, ApiError> {
    let (id, now_secs) = (c.param("id").to_string(), c.now_secs());
    let id = id.as_str();
    let Call { mut req, env, .. } = c;
    let header = req
        .headers()
        .get("authorization")
        .ok()
        .flatten()
        .ok_or_else(|| {
            ApiError::new(
                ErrorCode::MissingHeader,
                "send Authorization: JWT <service-account token>, or AShirt request signing",
            )
        })?;
    let credentials = service_token::patch_credentials(&header).ok_or_else(|| {
        ApiError::new(
            ErrorCode::MalformedToken,
            "expected Authorization: JWT <token> or <jwt_key>:<base64 HMAC> (AShirt)",
        )
    })?;
    let body = req.bytes().await.map_err(ApiError::unreadable_body)?;
    let db = db(env)?;
    // (account, the one-time id to record, how long to remember it)
    let (owner, once_id, issuer, remember_until) = match credentials {
        PatchCredentials::Jwt(token) => {
            let issuer = service_token::issuer(token).map_err(token_error)?;
            let (owner, secret) = account_secret(env, &db, &issuer).await?.ok_or_else(|| {
                ApiError::new(
                    ErrorCode::UnknownKey,
                    "the token's issuer is not a service account",
                )
            })?;
            let claims = service_token::verify(&WebCrypto, token, &issuer, &secret, now_secs)
                .await
                .map_err(token_error)?;
            (owner, claims.jti, issuer, claims.exp + jwt::LEEWAY_SECS)
        }
        PatchCredentials::Ashirt {
            access_key,
            signature,
        } => {
            let account = account_secret(env, &db, access_key).await?;
            // An unknown access key is checked against no secret: the same work and the
            // same answer as a wrong signature.
            let keys: Vec<(&str, Vec<u8>)> = account
                .iter()
                .map(|(_, secret)| (access_key, secret.clone()))
                .collect();
            let url = req.url().map_err(|e| ApiError::internal(e.to_string()))?;
            let uri = match url.query() {
                Some(q) => format!("{}?{q}", url.path()),
                None => url.path().to_string(),
            };
            let date = req.headers().get("date").ok().flatten();
            ashirt::verify(
                &WebCrypto,
                &keys,
                Some(&header),
                date.as_deref(),
                "PATCH",
                &uri,
                &body,
                now_secs,
            )
            .await
            .map_err(|e| match e {
                AuthError::InvalidSignature => ApiError::new(
                    ErrorCode::InvalidSignature,
                    "the AShirt signature does not match for the access key's service account",
                ),
                other => other.into(),
            })?;
            let Some((owner, _)) = account else {
                // verify refuses an unknown access key; this only keeps the types honest.
                return Err(ApiError::new(
                    ErrorCode::InvalidSignature,
                    "unknown access key",
                ));
            };
            (
                owner,
                format!("ashirt:{signature}"),
                access_key.to_string(),
                now_secs + ashirt::TOLERANCE_SECS,
            )
        }
    };
    let result = load(env, id).await?;
    if result.subscription_id != owner {
        return Err(ApiError::new(
            ErrorCode::NotResultOwner,
            "this service account's subscription does not own the result",
        ));
    }
    let input: ResultPatch = parse_json(&body)?;
    if !nonces::use_once(&db, &once_id, &issuer, remember_until)
        .await
        .map_err(d1_failed)?
    {
        return Err(ApiError::new(
            ErrorCode::ReplayedToken,
            "this token (jti) or AShirt signature was already used",
        ));
    }
    deliver::complete(env, &db, &result, Value::Object(input.results), now_secs)
        .await
        .map_err(ApiError::unavailable)?;
    let updated = load(env, id).await?;
    Ok(json_response(200, &view(env, &updated).await?))
}
