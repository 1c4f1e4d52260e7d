//! The subscriber portal: `POST /admin/subscriptions/{id}/portal` mints a link (see
//! [`crate::dispatch::portal`]); the page it opens (`GET /portal/`, script
//! `/portal/page.js`) calls `/portal/api/…` with the link's token as
//! `Authorization: Bearer`, and every one of those routes answers for the token's
//! subscription alone: its deliveries and their attempts, a retry of a failed one, a test
//! message, a new secret. A delivery of another subscription answers `404 unknown_result`
//! as if it did not exist.

use serde::Deserialize;
use serde_json::{Value, json};
use worker::Response;

use super::admin::{d1_failed, db};
use super::call::{Call, json_response, read_optional_json};
use super::page::{self, PORTAL_PAGE, PORTAL_SCRIPT};
use super::{deliveries, subscriptions};
use crate::auth::jwt::{self, JwtError, bearer};
use crate::crypto::webcrypto::WebCrypto;
use crate::dispatch::exchange;
use crate::dispatch::{deliver, keys, portal};
use crate::error::{ApiError, ErrorCode};
use crate::store::results;

/// The subscription the request's portal token names.
async fn subscription_of(c: &Call<'_>) -> Result<String, ApiError> {
    let header = c.req.headers().get("authorization").ok().flatten();
    let token = header.as_deref().and_then(bearer).ok_or_else(|| {
        ApiError::new(ErrorCode::MissingPortalToken,
            "open the portal from its link; the page sends the link's token as Authorization: Bearer",
        )
    })?;
    let master = keys::master_key_bytes(c.env)?;
    let issuer = portal::issuer(&c.app.config.public_url);
    let claims = jwt::verify(
        &WebCrypto,
        &[portal::verifying_key(&master)],
        &portal::rules(&issuer),
        token,
        c.now_secs(),
    )
    .await
    .map_err(|e| match e {
        // The backend's own text goes to the log, not to the client.
        JwtError::Backend(detail) => ApiError::unavailable(detail),
        e => ApiError::new(
            ErrorCode::InvalidPortalToken,
            format!("the portal link is not valid: {e} (ask for a new link)"),
        ),
    })?;
    claims
        .get("sub")
        .and_then(Value::as_str)
        .map(String::from)
        .ok_or_else(|| {
            ApiError::new(
                ErrorCode::InvalidPortalToken,
                "the portal link names no subscription",
            )
        })
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct LinkRequest {
    #[serde(default)]
    ttl_secs: Option<u64>,
}

/// `POST /admin/subscriptions/{id}/portal` (body optional: `{ttl_secs}`, 60 to 86400,
/// default 3600) → `201 {url, token, expires_at}`.
pub async fn create_link(c: Call<'_>) -> Result<Response, ApiError> {
    let (id, now_secs) = (c.param("id").to_string(), c.now_secs());
    let Call {
        mut req, env, app, ..
    } = c;
    let input: LinkRequest = read_optional_json(&mut req).await?;
    let ttl = portal::ttl(input.ttl_secs)?;
    subscriptions::load(env, &id).await?;
    let master = keys::master_key_bytes(env)?;
    let issuer = portal::issuer(&app.config.public_url);
    let token = portal::mint(&master, &issuer, &id, now_secs, ttl);
    Ok(json_response(
        201,
        &json!({ "url": format!("{issuer}/#{token}"), "token": token, "expires_at": now_secs + ttl as i64 }),
    ))
}

/// `GET /portal/`.
pub async fn page(_: Call<'_>) -> Result<Response, ApiError> {
    page::static_file(PORTAL_PAGE, "text/html; charset=utf-8")
}

/// `GET /portal/page.js`.
pub async fn script(_: Call<'_>) -> Result<Response, ApiError> {
    page::static_file(PORTAL_SCRIPT, "text/javascript; charset=utf-8")
}

/// `GET /portal/api`: the subscription (its own headers' values masked) and its latest
/// deliveries.
pub async fn overview(c: Call<'_>) -> Result<Response, ApiError> {
    let id = subscription_of(&c).await?;
    let s = subscriptions::load(c.env, &id).await?.subscription;
    let list = results::deliveries_of(&db(c.env)?, &id, 50)
        .await
        .map_err(d1_failed)?;
    let mut view = json!(s);
    let headers: Vec<(String, String)> = s.headers.into_iter().collect();
    view["headers"] = json!(
        exchange::masked(&headers)
            .into_iter()
            .collect::<std::collections::BTreeMap<_, _>>()
    );
    Ok(json_response(
        200,
        &json!({ "subscription": view, "deliveries": list }),
    ))
}

/// The delivery `{id}` if it is the token's subscription's, else `404 unknown_result`.
async fn owned(c: &Call<'_>) -> Result<String, ApiError> {
    let sub = subscription_of(c).await?;
    let id = c.param("id");
    match results::get(&db(c.env)?, id).await.map_err(d1_failed)? {
        Some(r) if r.subscription_id == sub => Ok(id.to_string()),
        _ => Err(deliveries::unknown_result(id)),
    }
}

/// `GET /portal/api/deliveries/{id}`: the inspector's view of one of its deliveries.
pub async fn delivery(c: Call<'_>) -> Result<Response, ApiError> {
    let id = owned(&c).await?;
    Ok(json_response(
        200,
        &deliveries::inspected(c.env, &id).await?,
    ))
}

/// `POST /portal/api/deliveries/{id}/retry`: sends a failed delivery again.
pub async fn retry(c: Call<'_>) -> Result<Response, ApiError> {
    let id = owned(&c).await?;
    Ok(json_response(
        202,
        &deliveries::retry_now(c.env, &id, c.now_secs()).await?,
    ))
}

/// `POST /portal/api/test`: AShirt's `{"type":"test"}` to the subscription.
pub async fn send_test(c: Call<'_>) -> Result<Response, ApiError> {
    let id = subscription_of(&c).await?;
    let s = subscriptions::load(c.env, &id).await?;
    Ok(json_response(
        200,
        &deliver::send_test_message(c.env, c.app, &s, c.now_secs()).await?,
    ))
}

/// `POST /portal/api/rotate` (body optional: `{grace_secs}`): a new secret, shown once.
pub async fn rotate(c: Call<'_>) -> Result<Response, ApiError> {
    let id = subscription_of(&c).await?;
    let now_secs = c.now_secs();
    let Call {
        mut req, env, app, ..
    } = c;
    let input = read_optional_json(&mut req).await?;
    Ok(json_response(
        200,
        &subscriptions::rotate_key(env, app, &id, input, now_secs).await?,
    ))
}
