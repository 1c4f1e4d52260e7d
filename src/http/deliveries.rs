//! `GET /admin/deliveries[?status=failed&limit=50]`, the inspector's
//! `GET /admin/deliveries/{id}` and `POST /admin/deliveries/{id}/retry`.

use serde_json::{Value, json};
use worker::{Env, Response};

use super::admin::{d1_failed, db};
use super::call::Call;
use super::call::json_response;
use super::stats::query_param;

use crate::dispatch::{DeliveryMessage, MESSAGE_VERSION, STATUSES};
use crate::error::{ApiError, ErrorCode};
use crate::json;
use crate::store::{attempts, results};

/// Lists deliveries (results), newest change first.
pub async fn list(c: Call<'_>) -> Result<Response, ApiError> {
    let (url, env) = (&c.url()?, c.env);
    let known = ["status", "limit"];
    let status = query_param(url, "status", &known)?;
    if let Some(s) = &status
        && !STATUSES.contains(&s.as_str())
    {
        return Err(ApiError::new(
            ErrorCode::InvalidQuery,
            format!("status must be one of {}", STATUSES.join(", ")),
        ));
    }
    let limit = match query_param(url, "limit", &known)? {
        None => 50,
        Some(l) => l
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=500).contains(n))
            .ok_or_else(|| ApiError::new(ErrorCode::InvalidQuery, "limit must be 1 to 500"))?,
    };
    let rows = results::deliveries(&db(env)?, status.as_deref(), limit)
        .await
        .map_err(d1_failed)?;
    Ok(json_response(200, &json!({ "deliveries": rows })))
}

pub(crate) fn unknown_result(id: &str) -> ApiError {
    ApiError::new(
        ErrorCode::UnknownResult,
        format!("no delivery has id {id:?}"),
    )
}

/// The inspector: a delivery (result) with its payload and every attempt, each with the
/// request headers sent (secrets masked), the subscriber's status, headers and first
/// 4 KiB of its answer, its duration and the retry it scheduled.
pub async fn show(c: Call<'_>) -> Result<Response, ApiError> {
    Ok(json_response(200, &inspected(c.env, c.param("id")).await?))
}

/// The inspector's view of delivery `id` (also the portal's).
pub(crate) async fn inspected(env: &Env, id: &str) -> Result<Value, ApiError> {
    let db = db(env)?;
    let result = results::get(&db, id)
        .await
        .map_err(d1_failed)?
        .ok_or_else(|| unknown_result(id))?;
    let row = results::delivery(&db, id).await.map_err(d1_failed)?;
    let list = attempts::inspect(&db, id).await.map_err(d1_failed)?;
    let mut body = json!(result);
    // As accepted (json::parse keeps big numbers); a payload that no longer parses is
    // shown as its text.
    body["payload"] =
        json::parse(result.payload.as_bytes()).unwrap_or_else(|_| json!(result.payload));
    body["attempts"] = json!(list);
    body["attempt_count"] = json!(result.attempts);
    body["subscription_name"] = json!(row.and_then(|r| r.subscription_name));
    Ok(body)
}

/// Sends a failed delivery again, restarting the retry schedule → `202`.
pub async fn retry(c: Call<'_>) -> Result<Response, ApiError> {
    Ok(json_response(
        202,
        &retry_now(c.env, c.param("id"), c.now_secs()).await?,
    ))
}

/// Sends failed delivery `id` again (also the portal's retry); answers its row.
pub(crate) async fn retry_now(env: &Env, id: &str, now_secs: i64) -> Result<Value, ApiError> {
    let db = db(env)?;
    let result = results::get(&db, id)
        .await
        .map_err(d1_failed)?
        .ok_or_else(|| unknown_result(id))?;
    if !results::retry_now(&db, id, now_secs)
        .await
        .map_err(d1_failed)?
    {
        return Err(ApiError::new(
            ErrorCode::NotFailed,
            format!(
                "only failed deliveries are retried; this one is {}",
                result.status
            ),
        ));
    }
    let message = DeliveryMessage {
        v: MESSAGE_VERSION,
        result_id: id.to_string(),
        attempt: result.attempts + 1,
    };
    // If the queue refuses, the delivery is due now and the cron trigger enqueues it.
    if let Ok(queue) = env.queue("DELIVERIES") {
        let _ = queue.send(message).await;
    }
    let row = results::delivery(&db, id).await.map_err(d1_failed)?;
    Ok(json!(row))
}
