//! `GET /admin/whoami` (who the admin API takes the caller for) and `GET /admin/audit`
//! (the audit log: every change tried through the admin API, by whom, from where).

use serde_json::json;
use worker::Response;

use super::admin::{Actor, d1_failed, db};
use super::call::{Call, json_response};
use super::stats::query_param;
use crate::error::{ApiError, ErrorCode};
use crate::store::audit;

/// Largest `limit` of `/admin/audit`.
const MAX_AUDIT: u64 = 500;

/// `GET /admin/whoami` → `{who, role, via}`.
pub async fn whoami(c: Call<'_>) -> Result<Response, ApiError> {
    let Some(Actor { who, role, via }) = c.actor else {
        return Err(ApiError::internal("an admin route ran without an actor"));
    };
    Ok(json_response(
        200,
        &json!({ "who": who, "role": role.as_str(), "via": via }),
    ))
}

/// `GET /admin/audit[?limit=50&before=<id>]`, newest first.
pub async fn list(c: Call<'_>) -> Result<Response, ApiError> {
    let url = c.url()?;
    let known = ["limit", "before"];
    let number = |name: &str, max: u64| -> Result<Option<u64>, ApiError> {
        query_param(&url, name, &known)?
            .map(|v| {
                v.parse::<u64>()
                    .ok()
                    .filter(|n| (1..=max).contains(n))
                    .ok_or_else(|| {
                        ApiError::new(
                            ErrorCode::InvalidQuery,
                            format!("{name} must be a whole number from 1 to {max}, not {v:?}"),
                        )
                    })
            })
            .transpose()
    };
    let limit = number("limit", MAX_AUDIT)?.unwrap_or(50);
    let before = number("before", u64::MAX)?;
    let rows = audit::list(&db(c.env)?, before, limit)
        .await
        .map_err(d1_failed)?;
    let entries: Vec<_> = rows
        .into_iter()
        .map(|(id, e)| {
            let mut v = json!(e);
            v["id"] = json!(id);
            v
        })
        .collect();
    Ok(json_response(200, &json!({ "entries": entries })))
}
