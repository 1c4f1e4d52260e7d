//! `GET /admin/deliveries[?status=failed&limit=50]` and `POST /admin/deliveries/{id}/retry`.

use serde_json::json;
use worker::Response;

use super::admin::{d1_failed, db};
use super::call::Call;
use super::call::json_response;
use super::stats::query_param;
use crate::dispatch::deliver::MESSAGE_VERSION;
use crate::dispatch::{DeliveryMessage, STATUSES};
use crate::error::{ApiError, ErrorCode};
use crate::store::results;

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

/// Sends a failed delivery again, restarting the retry schedule → `202`.
pub async fn retry(c: Call<'_>) -> Result<Response, ApiError> {
    let (env, id, now) = (c.env, c.param("id"), c.now_secs());
    let db = db(env)?;
    let result = results::get(&db, id)
        .await
        .map_err(d1_failed)?
        .ok_or_else(|| {
            ApiError::new(
                ErrorCode::UnknownResult,
                format!("no delivery has id {id:?}"),
            )
        })?;
    if !results::retry_now(&db, id, now).await.map_err(d1_failed)? {
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
    Ok(json_response(202, &json!(row)))
}
