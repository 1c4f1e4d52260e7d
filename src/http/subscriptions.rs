//! `/admin/subscriptions`: register, list, show, change, delete, test and rotate
//! subscriptions. Secrets (the HMAC `api_key`, the service account's `jwt_secret`) are
//! shown once, at creation or rotation, and stored sealed under `MASTER_KEY`.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use serde_json::{Value, json};
use worker::{D1Database, Env, Response};

use super::admin::{d1_failed, db};
use super::call::Call;
use super::call::{json_response, read_json, read_optional_json};
use crate::app::App;
use crate::dispatch::deliver;
use crate::dispatch::destination::Destination;
use crate::dispatch::endpoint::Endpoint;
use crate::dispatch::keys::{self, api_key_context, jwt_secret_context, master_key, nonce};
use crate::dispatch::{
    self, NewSubscription, Subscription, SubscriptionPatch, service_token, sign,
};
use crate::dispatch::{endpoint_object, publish};
use crate::error::{ApiError, ErrorCode};
use crate::ids;
use crate::log;
use crate::store::results;
use crate::store::{attempts, subscriptions};

fn random_token(prefix: &str) -> Result<String, ApiError> {
    let bytes: [u8; 32] = ids::random_bytes()
        .map_err(|e| ApiError::internal(format!("no randomness available: {e}")))?;
    Ok(format!("{prefix}{}", URL_SAFE_NO_PAD.encode(bytes)))
}

/// The caller's key (checked) or a fresh `ehs_` one.
fn chosen_or_new_key(given: Option<String>) -> Result<String, ApiError> {
    match given {
        Some(k) => {
            dispatch::check_api_key(&k)?;
            Ok(k)
        }
        None => random_token("ehs_"),
    }
}

fn not_found(id: &str) -> ApiError {
    ApiError::new(
        ErrorCode::UnknownSubscription,
        format!("no subscription has id {id:?}"),
    )
}

/// Checks where deliveries go: a URL through the guard, or a destination the operator
/// lists.
fn check_target(
    app: &App,
    url: Option<&str>,
    destination: Option<&Destination>,
) -> Result<(), ApiError> {
    dispatch::check_target(
        url,
        destination,
        &keys::policy(app),
        &app.config.dispatch.destinations,
    )
}

pub(crate) async fn load(env: &Env, id: &str) -> Result<subscriptions::Stored, ApiError> {
    subscriptions::get(&db(env)?, id)
        .await
        .map_err(d1_failed)?
        .ok_or_else(|| not_found(id))
}

/// `POST /admin/subscriptions`: `201` with the subscription, its `api_key` (and the same
/// key as a Standard Webhooks `webhook_secret`) and its `service_account`, shown once.
pub async fn create(c: Call<'_>) -> Result<Response, ApiError> {
    let now_secs = c.now_secs();
    let Call {
        mut req, env, app, ..
    } = c;
    let input: NewSubscription = read_json(&mut req).await?;
    dispatch::check_name(&input.name)?;
    dispatch::check_events(&input.events)?;
    dispatch::check_headers(&input.headers)?;
    dispatch::check_transform(input.transform.as_deref())?;
    let flow = input.flow();
    flow.check()?;
    check_target(app, input.url.as_deref(), input.destination.as_ref())?;
    let api_key = chosen_or_new_key(input.api_key)?;
    let master = master_key(env)?;
    let id_random = ids::random_bytes()
        .map_err(|e| ApiError::internal(format!("no randomness available: {e}")))?;
    let id = format!("sub_{}", ids::ulid((now_secs as u64) * 1000, id_random));
    let jwt_key_bytes: [u8; 12] = nonce()?;
    let jwt_key = format!("sa_{}", hex::encode(jwt_key_bytes));
    let jwt_secret = random_token("")?;
    let seal_failed = |e: dispatch::sealed::SealError| ApiError::internal(e.0);
    let api_key_enc = master
        .seal(api_key.as_bytes(), &api_key_context(&id), nonce()?)
        .map_err(seal_failed)?;
    let jwt_secret_enc = master
        .seal(
            jwt_secret.as_bytes(),
            &jwt_secret_context(&jwt_key),
            nonce()?,
        )
        .map_err(seal_failed)?;
    let s = Subscription {
        id,
        name: input.name,
        url: input.url,
        destination: input.destination,
        events: input.events,
        headers: input.headers,
        enabled: true,
        disabled_reason: None,
        previous_valid_until: None,
        created_at: now_secs,
        updated_at: now_secs,
        transform: input.transform,
        flow,
        holding: false,
    };
    subscriptions::insert(&db(env)?, &s, &api_key_enc, &jwt_key, &jwt_secret_enc)
        .await
        .map_err(d1_failed)?;
    let mut body = json!(s);
    body["api_key"] = json!(api_key);
    body["webhook_secret"] = json!(sign::webhook_secret(&api_key));
    body["service_account"] = json!({"jwt_key": jwt_key, "jwt_secret": jwt_secret,
        "ashirt_secret_key": service_token::ashirt_secret_key(&jwt_secret)});
    Ok(json_response(201, &body))
}

/// `GET /admin/subscriptions`: every subscription with its latest attempt.
pub async fn list(c: Call<'_>) -> Result<Response, ApiError> {
    let db = db(c.env)?;
    let subs = subscriptions::list(&db).await.map_err(d1_failed)?;
    let latest = attempts::latest_by_subscription(&db)
        .await
        .map_err(d1_failed)?;
    let subs: Vec<Value> = subs
        .into_iter()
        .map(|s| {
            let mut v = json!(s);
            v["last_attempt"] = json!(latest.get(&s.id));
            v
        })
        .collect();
    Ok(json_response(200, &json!({ "subscriptions": subs })))
}

/// `GET /admin/subscriptions/{id}`, with its endpoint's flow state (`endpoint`: null when
/// its object cannot be reached).
pub async fn show(c: Call<'_>) -> Result<Response, ApiError> {
    let s = load(c.env, c.param("id")).await?.subscription;
    let state = endpoint_object::call::<Endpoint>(c.env, &s.id, "/state", None)
        .await
        .ok();
    let mut body = json!(s);
    body["endpoint"] = json!(state.map(|e| endpoint_view(&e, c.now_ms)));
    Ok(json_response(200, &body))
}

/// What the admin API shows of an endpoint's state.
fn endpoint_view(e: &Endpoint, now_ms: u64) -> Value {
    json!({
        "breaker": match e.open_until_ms {
            None => "closed",
            Some(t) if t > now_ms => "open",
            Some(_) => "probing",
        },
        "open_until_ms": e.open_until_ms,
        "paused_until_ms": (e.paused_until_ms > now_ms).then_some(e.paused_until_ms),
        "consecutive_failures": e.consecutive_failures,
        "failing_since_ms": e.failing_since_ms,
        "in_flight": e.leases.iter().filter(|l| l.until_ms > now_ms).count(),
        "ordering_keys": e.keys.len(),
        "ordering_waiting": e.keys.values().map(|l| l.len().saturating_sub(1)).sum::<usize>(),
    })
}

/// `PATCH /admin/subscriptions/{id}`: changes name, url or destination, events, headers,
/// enabled, transform or flow settings.
pub async fn update(c: Call<'_>) -> Result<Response, ApiError> {
    let (id, now_secs) = (c.param("id").to_string(), c.now_secs());
    let id = id.as_str();
    let Call {
        mut req, env, app, ..
    } = c;
    let patch: SubscriptionPatch = read_json(&mut req).await?;
    let mut s = load(env, id).await?.subscription;
    let flow = patch.apply_flow(&s.flow);
    flow.check()?;
    if let Some(name) = patch.name {
        dispatch::check_name(&name)?;
        s.name = name;
    }
    if patch.url.is_some() || patch.destination.is_some() {
        check_target(app, patch.url.as_deref(), patch.destination.as_ref())?;
        s.url = patch.url;
        s.destination = patch.destination;
    }
    if let Some(events) = patch.events {
        dispatch::check_events(&events)?;
        s.events = events;
    }
    if let Some(headers) = patch.headers {
        dispatch::check_headers(&headers)?;
        s.headers = headers;
    }
    if let Some(transform) = patch.transform {
        let transform = Some(transform).filter(|t| !t.is_empty());
        dispatch::check_transform(transform.as_deref())?;
        s.transform = transform;
    }
    s.flow = flow;
    let reenabled = patch.enabled == Some(true) && (!s.enabled || s.holding);
    match patch.enabled {
        Some(true) => {
            s.enabled = true;
            s.disabled_reason = None;
            s.holding = false;
        }
        Some(false) if s.enabled => {
            s.enabled = false;
            s.disabled_reason = Some("disabled by an operator".into());
        }
        _ => {}
    }
    s.updated_at = now_secs;
    let db = db(env)?;
    subscriptions::update(&db, &s).await.map_err(d1_failed)?;
    if reenabled {
        resume(env, &db, id, now_secs).await?;
    }
    Ok(json_response(200, &json!(s)))
}

/// Re-enabled: its endpoint starts afresh (breaker closed, no streak) and its held
/// deliveries are due now. If the queue refuses, they are due and the cron sends them.
async fn resume(env: &Env, db: &D1Database, id: &str, now_secs: i64) -> Result<(), ApiError> {
    endpoint_object::call::<Endpoint>(env, id, "/reset", Some(json!({})))
        .await
        .map_err(ApiError::unavailable)?;
    let released = results::release_held(db, id, now_secs)
        .await
        .map_err(d1_failed)?;
    if let Err(e) = publish::enqueue_next(env, &released).await {
        log::emit(
            json!({"event": "resume", "subscription": id, "held": released.len(),
            "outcome": "enqueue_failed", "error": e.to_string()}),
        );
    }
    Ok(())
}

/// `DELETE /admin/subscriptions/{id}`: its results stay; pending deliveries fail.
pub async fn delete(c: Call<'_>) -> Result<Response, ApiError> {
    let (env, id) = (c.env, c.param("id"));
    let s = load(env, id).await?.subscription;
    subscriptions::delete(&db(env)?, id)
        .await
        .map_err(d1_failed)?;
    Ok(json_response(200, &json!(s)))
}

/// `POST /admin/subscriptions/{id}/test`: AShirt's `{"type":"test"}`, and its answer.
pub async fn send_test(c: Call<'_>) -> Result<Response, ApiError> {
    let s = load(c.env, c.param("id")).await?;
    let answer = deliver::send_test_message(c.env, c.app, &s, c.now_secs()).await?;
    Ok(json_response(200, &answer))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Rotation {
    #[serde(default)]
    api_key: Option<String>,
    #[serde(default)]
    grace_secs: Option<u64>,
}

/// `POST /admin/subscriptions/{id}/rotate` (body optional: `{api_key?, grace_secs?}`):
/// a new key, shown once; the old one keeps signing until `previous_valid_until`.
pub async fn rotate(c: Call<'_>) -> Result<Response, ApiError> {
    let (id, now_secs) = (c.param("id").to_string(), c.now_secs());
    let Call {
        mut req, env, app, ..
    } = c;
    let input = read_optional_json(&mut req).await?;
    Ok(json_response(
        200,
        &rotate_key(env, app, &id, input, now_secs).await?,
    ))
}

/// Rotates subscription `id`'s key as `input` asks (also the portal's rotation); answers
/// the new key, shown once.
pub(crate) async fn rotate_key(
    env: &Env,
    app: &App,
    id: &str,
    input: Rotation,
    now_secs: i64,
) -> Result<Value, ApiError> {
    let grace = input
        .grace_secs
        .unwrap_or(app.config.dispatch.rotation_grace_secs);
    if grace > 30 * 86_400 {
        return Err(ApiError::new(
            ErrorCode::InvalidRequest,
            "grace_secs is at most 30 days",
        ));
    }
    let api_key = chosen_or_new_key(input.api_key)?;
    let s = load(env, id).await?;
    let master = master_key(env)?;
    let context = api_key_context(id);
    let previous = master
        .open(&s.api_key_enc, &context)
        .map_err(|e| ApiError::internal(e.0))?;
    let seal_failed = |e: dispatch::sealed::SealError| ApiError::internal(e.0);
    let new_enc = master
        .seal(api_key.as_bytes(), &context, nonce()?)
        .map_err(seal_failed)?;
    let old_enc = master
        .seal(&previous, &context, nonce()?)
        .map_err(seal_failed)?;
    let until = now_secs + grace as i64;
    subscriptions::rotate(&db(env)?, id, &new_enc, &old_enc, until, now_secs)
        .await
        .map_err(d1_failed)?;
    Ok(
        json!({"api_key": api_key, "webhook_secret": sign::webhook_secret(&api_key),
        "previous_valid_until": until}),
    )
}

/// `POST /admin/subscriptions/{id}/recover` `{"since": <Unix seconds>}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Recover {
    since: i64,
}

/// Resends every failed or held delivery of a subscription changed since `since`, each
/// with a fresh retry schedule → `202 {"recovered": n, "results": [ids]}`.
pub async fn recover(c: Call<'_>) -> Result<Response, ApiError> {
    let (id, now_secs) = (c.param("id").to_string(), c.now_secs());
    let Call { mut req, env, .. } = c;
    let input: Recover = read_json(&mut req).await?;
    if !(0..=now_secs).contains(&input.since) {
        return Err(ApiError::new(
            ErrorCode::InvalidRequest,
            "since must be Unix seconds, not in the future",
        ));
    }
    load(env, &id).await?;
    let db = db(env)?;
    let recovered = results::recover(&db, &id, input.since, now_secs)
        .await
        .map_err(d1_failed)?;
    // If the queue refuses, they are due now and the cron sends them.
    if let Err(e) = publish::enqueue_next(env, &recovered).await {
        log::emit(json!({"event": "recover", "subscription": id,
            "results": recovered.len(), "outcome": "enqueue_failed", "error": e.to_string()}));
    }
    let ids: Vec<&str> = recovered.iter().map(|(r, _)| r.as_str()).collect();
    Ok(json_response(
        202,
        &json!({"recovered": ids.len(), "results": ids}),
    ))
}
