//! The record browser: `GET /admin/batches/{key}/records[?cursor=&limit=&id=]` pages
//! through one written object (gzip ones included), `GET /admin/records/{id}` finds a
//! record by its id. Reading is `collect::archived` (only objects listed in `batches`).

use serde_json::json;
use worker::{Env, Response};

use super::admin::{d1_failed, db};
use super::call::{Call, json_response};
use super::stats::query_param;
use crate::collect::archived::{self, ArchiveError, Archived};
use crate::collect::browse;
use crate::error::{ApiError, ErrorCode};
use crate::store::written;

fn open_error(e: ArchiveError) -> ApiError {
    let message = e.to_string();
    match e {
        ArchiveError::Unknown(_) => ApiError::new(ErrorCode::UnknownBatch, message),
        ArchiveError::Gone(_) => ApiError::new(ErrorCode::BatchGone, message),
        ArchiveError::Unreadable(..) => ApiError::new(ErrorCode::UnreadableBatch, message),
        ArchiveError::Binding(e) => ApiError::from(e),
    }
}

async fn open(env: &Env, key: &str) -> Result<Archived, ApiError> {
    archived::open(env, &db(env)?, key)
        .await
        .map_err(open_error)
}

fn unknown_record(id: &str) -> ApiError {
    ApiError::new(
        ErrorCode::UnknownRecord,
        format!("no written record has id {id:?} (ids are kept 15 days after writing)"),
    )
}

/// `GET /admin/batches/{key}/records`: `key` percent-encoded as one path segment.
pub async fn list(c: Call<'_>) -> Result<Response, ApiError> {
    let url = c.url()?;
    let known = ["cursor", "limit", "id"];
    let (cursor, limit) = browse::page_query(
        query_param(&url, "cursor", &known)?.as_deref(),
        query_param(&url, "limit", &known)?.as_deref(),
    )?;
    let id = query_param(&url, "id", &known)?;
    let key = percent_encoding::percent_decode_str(c.param("key"))
        .decode_utf8()
        .map_err(|_| ApiError::new(ErrorCode::UnknownBatch, "the batch key is not UTF-8"))?;
    let o = open(c.env, &key).await?;
    let (lines, ids) = o.lines();
    if let Some(id) = id {
        let line = browse::find(&lines, &ids, &id).ok_or_else(|| unknown_record(&id))?;
        return Ok(json_response(
            200,
            &json!({ "batch": o.batch, "total": lines.len(), "records": [line], "next_cursor": null }),
        ));
    }
    let page = browse::page(&lines, &ids, cursor, limit);
    Ok(json_response(
        200,
        &json!({ "batch": o.batch, "total": page.total, "records": page.records,
            "next_cursor": page.next_cursor }),
    ))
}

/// `GET /admin/records/{id}`: the record and the batch it was written to.
pub async fn find(c: Call<'_>) -> Result<Response, ApiError> {
    let id = c.param("id");
    let key = written::object_of(&db(c.env)?, id)
        .await
        .map_err(d1_failed)?
        .ok_or_else(|| unknown_record(id))?;
    let o = open(c.env, &key).await?;
    let (lines, ids) = o.lines();
    let line = browse::find(&lines, &ids, id).ok_or_else(|| unknown_record(id))?;
    Ok(json_response(
        200,
        &json!({ "batch": o.batch, "record": line }),
    ))
}
