//! AMO's review queue: `GET /admin/results[?flagged=true&reviewed=false&limit=50]` and
//! `POST /admin/results/{id}/review {"decision":"approve"|"clear","reason","reviewer"?}`.

use serde_json::json;
use worker::Response;

use super::admin::{d1_failed, db};
use super::call::{Call, json_response, read_json};
use super::stats::query_param;
use crate::dispatch::review::{self, ReviewInput};
use crate::error::{ApiError, ErrorCode};
use crate::store::results;

fn invalid_query(message: &str) -> ApiError {
    ApiError::new(ErrorCode::InvalidQuery, message)
}

fn boolean(value: Option<String>, name: &str) -> Result<Option<bool>, ApiError> {
    match value.as_deref() {
        None => Ok(None),
        Some("true") => Ok(Some(true)),
        Some("false") => Ok(Some(false)),
        Some(_) => Err(invalid_query(&format!("{name} must be true or false"))),
    }
}

/// Lists results, newest change first: `flagged=true&reviewed=false` is the review queue.
pub async fn list(c: Call<'_>) -> Result<Response, ApiError> {
    let url = c.url()?;
    let known = ["flagged", "reviewed", "limit"];
    let flagged = boolean(query_param(&url, "flagged", &known)?, "flagged")?;
    let reviewed = boolean(query_param(&url, "reviewed", &known)?, "reviewed")?;
    let limit = match query_param(&url, "limit", &known)? {
        None => 50,
        Some(l) => l
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=500).contains(n))
            .ok_or_else(|| invalid_query("limit must be 1 to 500"))?,
    };
    let rows = results::list(&db(c.env)?, flagged, reviewed, limit)
        .await
        .map_err(d1_failed)?;
    Ok(json_response(200, &json!({ "results": rows })))
}

/// Reviews a flagged result → `200` with the result as reviewed.
pub async fn review(mut c: Call<'_>) -> Result<Response, ApiError> {
    let input: ReviewInput = read_json(&mut c.req).await?;
    input.check()?;
    let (id, now_secs) = (c.param("id").to_string(), c.now_secs());
    let db = db(c.env)?;
    let unknown = || ApiError::new(ErrorCode::UnknownResult, format!("no result has id {id:?}"));
    let result = results::get(&db, &id)
        .await
        .map_err(d1_failed)?
        .ok_or_else(unknown)?;
    if let Some(refused) = review::refusal(&result) {
        return Err(refused);
    }
    let by = input.reviewed_by();
    let reason = input.reason.trim();
    if !results::review(&db, &id, input.decision.as_str(), reason, &by, now_secs)
        .await
        .map_err(d1_failed)?
    {
        // Reviewed by someone else between the read and the write.
        let now_is = results::get(&db, &id)
            .await
            .map_err(d1_failed)?
            .ok_or_else(unknown)?;
        return Err(review::refusal(&now_is)
            .unwrap_or_else(|| ApiError::unavailable("the review was not recorded; retry")));
    }
    let reviewed = results::get(&db, &id)
        .await
        .map_err(d1_failed)?
        .ok_or_else(unknown)?;
    Ok(json_response(200, &json!(reviewed)))
}
