//! `POST /events/{type}` (publish), `GET /results/{id}` and `PATCH /results/{id}` (a
//! subscriber's asynchronous result, with its service-account JWT).

use serde::Deserialize;
use serde_json::{Map, Value, json};
use worker::{Env, Request, Response};

use super::admin::{self, d1_failed, db};
use super::{json_response, read_json};
use crate::app::App;
use crate::auth::api_key;
use crate::auth::jwt::{self, JwtError};
use crate::crypto::webcrypto::WebCrypto;
use crate::dispatch::deliver::{self, jwt_secret_context, master_key, result_url};
use crate::dispatch::{self, classify, service_token};
use crate::error::{ApiError, ErrorCode};
use crate::inbound::HeaderMap;
use crate::store::api_keys::D1Keys;
use crate::store::results::{self, ResultRecord, Update};
use crate::store::{attempts, nonces, subscriptions};

/// The scope an API key needs to publish events and read results.
pub const PUBLISH_SCOPE: &str = "publish";

/// Admin token or an API key with the `publish` scope.
async fn require_publisher(req: &Request, env: &Env, now: i64) -> Result<(), ApiError> {
    let headers = HeaderMap::from_pairs(req.headers().entries());
    match api_key::presented(&headers) {
        Some(k) if k.starts_with(api_key::PREFIX) => {
            api_key::authenticate(&D1Keys(&db(env)?), &headers, now, Some(PUBLISH_SCOPE))
                .await
                .map(|_| ())
                .map_err(ApiError::from)
        }
        _ => admin::require_admin(req, env),
    }
}

/// `POST /events/{type}` with a JSON object: one result and one delivery per enabled
/// subscription of the type → `202 {"event_id","results":[{id,subscription,result_url}]}`.
pub async fn publish(
    mut req: Request,
    env: &Env,
    app: &App,
    event_type: &str,
    now_ms: u64,
) -> Result<Response, ApiError> {
    require_publisher(&req, env, (now_ms / 1000) as i64).await?;
    if !dispatch::valid_event_type(event_type) {
        return Err(ApiError::new(
            ErrorCode::InvalidEventType,
            format!("{event_type:?} is not an event type (1-128 of A-Z a-z 0-9 . _ : -)"),
        ));
    }
    let payload: Value = read_json(&mut req).await?;
    let Value::Object(payload) = payload else {
        return Err(ErrorCode::InvalidEvent.into());
    };
    let (event_id, published) =
        deliver::publish(env, &db(env)?, event_type, &payload, now_ms).await?;
    let results: Vec<Value> = published
        .iter()
        .map(|p| json!({"id": p.id, "subscription": p.subscription, "result_url": result_url(app, &p.id)}))
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
pub async fn show(req: &Request, env: &Env, id: &str, now: i64) -> Result<Response, ApiError> {
    require_publisher(req, env, now).await?;
    let r = load(env, id).await?;
    Ok(json_response(200, &view(env, &r).await?))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ResultPatch {
    results: Map<String, Value>,
}

fn token_error(e: JwtError) -> ApiError {
    match e {
        JwtError::Backend(e) => ApiError::unavailable(e.0),
        other => other.into(),
    }
}

/// `PATCH /results/{id}` with `Authorization: JWT <token>` (or `Bearer`) and
/// `{"results":{...}}`: only the owning subscription's service account, each token once.
pub async fn patch(mut req: Request, env: &Env, id: &str, now: i64) -> Result<Response, ApiError> {
    let header = req
        .headers()
        .get("authorization")
        .ok()
        .flatten()
        .ok_or_else(|| {
            ApiError::new(
                ErrorCode::MissingHeader,
                "send Authorization: JWT <service-account token>",
            )
        })?;
    let token = jwt::bearer(&header)
        .ok_or_else(|| {
            ApiError::new(
                ErrorCode::MalformedToken,
                "expected Authorization: JWT <token>",
            )
        })?
        .to_string();
    let issuer = service_token::issuer(&token).map_err(token_error)?;
    let db = db(env)?;
    let (owner, secret_enc) = subscriptions::service_account(&db, &issuer)
        .await
        .map_err(d1_failed)?
        .ok_or_else(|| {
            ApiError::new(
                ErrorCode::UnknownKey,
                "the token's issuer is not a service account",
            )
        })?;
    let secret = master_key(env)?
        .open(&secret_enc, &jwt_secret_context(&issuer))
        .map_err(|e| ApiError::internal(e.0))?;
    let claims = service_token::verify(&WebCrypto, &token, &issuer, &secret, now)
        .await
        .map_err(token_error)?;
    let result = load(env, id).await?;
    if result.subscription_id != owner {
        return Err(ErrorCode::NotResultOwner.into());
    }
    let input: ResultPatch = read_json(&mut req).await?;
    if !nonces::use_once(&db, &claims.jti, &issuer, claims.exp + jwt::LEEWAY_SECS)
        .await
        .map_err(d1_failed)?
    {
        return Err(ErrorCode::ReplayedToken.into());
    }
    let results_value = Value::Object(input.results);
    let matched = classify::matched_rules(&results_value);
    let results_text = results_value.to_string();
    let matched_text = json!(matched).to_string();
    results::update(
        &db,
        id,
        &Update {
            status: "completed",
            results: Some(&results_text),
            matched_rules: Some(&matched_text),
            next_attempt_at: None,
            last_error: None,
        },
        now,
    )
    .await
    .map_err(d1_failed)?;
    deliver::apply_rules(
        env,
        &db,
        id,
        &result.event_id,
        &result.event_type,
        &matched,
        now,
    )
    .await
    .map_err(ApiError::unavailable)?;
    let updated = load(env, id).await?;
    Ok(json_response(200, &view(env, &updated).await?))
}
