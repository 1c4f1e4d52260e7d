//! `POST /hooks/{collector}[/{*rest}]`: read the request, accept it, queue the record.

use futures_util::StreamExt;
use serde_json::{Value, json};
use worker::wasm_bindgen::JsValue;
use worker::wasm_bindgen_futures::JsFuture;
use worker::{Bucket, Env, Request, js_sys, web_sys};

use super::group_send;
use super::plugins::WorkerPlugins;
use crate::app::App;
use crate::auth::AuthContext;
use crate::collect::accept::{Accepted, accept, body_budget, headers_read, too_large};
use crate::collect::idempotency::{self, CLAIM_SECS, Repeat};
use crate::collect::record::{QueuedRecord, original_spill_key, spill_key};
use crate::config::Collector;
use crate::crypto::webcrypto::WebCrypto;
use crate::error::{ApiError, ErrorCode};
use crate::ids;
use crate::inbound::{HeaderMap, InboundRequest};
use crate::log;
use crate::store::api_keys::D1Keys;
use crate::store::seen_ids::{self, Claim};

/// Where a webhook was sent: the collector's name and the rest of the URL.
pub struct Target<'a> {
    /// The `{collector}` segment.
    pub collector: &'a str,
    /// The path after `/hooks/<collector>`, starting with `/`.
    pub sub_path: String,
    /// The whole path.
    pub path: &'a str,
    /// The raw query string, without `?`.
    pub query: &'a str,
}

/// What the collector route answers: status, JSON body and what happened to the webhook
/// (`accepted`, `duplicate` or `dropped`), which is logged and counted.
pub struct HookAnswer {
    /// HTTP status.
    pub status: u16,
    /// The JSON body.
    pub body: Value,
    /// What happened to the webhook.
    pub outcome: &'static str,
}

fn answer(status: u16, body: Value, outcome: &'static str) -> HookAnswer {
    HookAnswer {
        status,
        body,
        outcome,
    }
}

/// Handles one webhook. It reads the runtime's request directly: only the headers the
/// collector's checks read ([`headers_read`]), the body in one piece when its length is
/// declared.
pub async fn handle(
    req: &web_sys::Request,
    env: &Env,
    ctx: &JsValue,
    app: &App,
    method: &str,
    target: Target<'_>,
    now_ms: u64,
) -> Result<HookAnswer, ApiError> {
    let collector = app.config.collector(target.collector).ok_or_else(|| {
        ApiError::new(
            ErrorCode::UnknownCollector,
            format!("no collector is named {:?}", target.collector),
        )
    })?;
    if method != "POST" {
        return Err(ApiError::method_not_allowed(method, "POST"));
    }
    let url_len = target.path.len() + target.query.len() + usize::from(!target.query.is_empty());
    let budget = body_budget(collector, url_len, &target.sub_path, target.query)?;
    let headers = req.headers();
    let header = |name: &str| headers.get(name).ok().flatten();
    let body = read_body(req, header("content-length"), budget, collector).await?;
    let inbound = InboundRequest {
        method: method.to_string(),
        sub_path: target.sub_path,
        query: target.query.to_string(),
        uri: match target.query {
            "" => target.path.to_string(),
            q => format!("{}?{q}", target.path),
        },
        headers: HeaderMap::select(headers_read(collector), header),
        body,
    };
    let random = ids::random_bytes()
        .map_err(|e| ApiError::internal(format!("no randomness available: {e}")))?;
    let id = ids::ulid(now_ms, random);
    let db = env
        .d1("DB")
        .map_err(|e| ApiError::internal(format!("DB binding: {e}")))?;
    let cx = AuthContext {
        secrets: &app.secrets,
        keyring: &app.keyring,
        crypto: &WebCrypto,
        api_keys: &D1Keys(&db),
        now_secs: (now_ms / 1000) as i64,
    };
    let plugins = WorkerPlugins(env);
    let (mut record, key) = match accept(collector, &cx, &plugins, &inbound, &id, now_ms).await? {
        Accepted::Dropped => return Ok(answer(202, json!({"status": "dropped"}), "dropped")),
        Accepted::Record {
            record,
            idempotency_key,
        } => (record, idempotency_key),
    };
    let now_secs = now_ms / 1000;
    let claimed = match key {
        None => None,
        Some(key) => {
            let claim = seen_ids::claim(
                &db,
                &collector.name,
                &key.key,
                &key.body_digest,
                &id,
                now_secs,
                now_secs + CLAIM_SECS,
            )
            .await
            .map_err(|e| ApiError::unavailable(format!("could not check the webhook id: {e}")))?;
            if let Claim::Seen {
                record_id,
                accepted,
                body_digest,
            } = claim
            {
                return match idempotency::repeat(body_digest.as_deref(), &key.body_digest, accepted)
                {
                    Repeat::Duplicate => Ok(answer(
                        200,
                        json!({"id": record_id, "status": "duplicate"}),
                        "duplicate",
                    )),
                    Repeat::Reused => Err(idempotency::reused()),
                    Repeat::InProgress => Err(ErrorCode::DuplicateInProgress.into()),
                };
            }
            Some(key.key)
        }
    };
    if let Err(e) = enqueue(env, ctx, &mut record).await {
        if let Some(key) = &claimed {
            // If this fails too, the claim lapses after CLAIM_SECS.
            let _ = seen_ids::release(&db, &collector.name, key, &id).await;
        }
        return Err(e);
    }
    if let Some(key) = &claimed {
        let expires = now_secs + app.config.dedupe_window_secs;
        if let Err(e) = seen_ids::confirm(&db, &collector.name, key, &id, now_secs, expires).await {
            // The record is queued; only the duplicate check weakens (the claim lapses).
            log::emit(json!({"event": "dedupe", "outcome": "confirm_failed",
                "collector": collector.name, "error": e.to_string()}));
        }
    }
    Ok(answer(
        202,
        json!({"id": id, "status": "accepted"}),
        "accepted",
    ))
}

/// Puts the record on the INGEST queue (grouped with the isolate's concurrent webhooks,
/// [`group_send`]), spilling a line (and original) too big for a queue message to R2
/// first. Any failure is `503` with `Retry-After`.
async fn enqueue(env: &Env, ctx: &JsValue, record: &mut QueuedRecord) -> Result<(), ApiError> {
    let mut spilled = Vec::new();
    let mut bytes = group_send::message_bytes_bound(record);
    if bytes > group_send::MAX_MESSAGE_BYTES {
        let bucket = env
            .bucket("ARCHIVE")
            .map_err(|e| ApiError::internal(format!("ARCHIVE binding: {e}")))?;
        let line_key = spill_key(&record.collector, &record.id);
        put_spill(&bucket, &line_key, std::mem::take(&mut record.line)).await?;
        spilled.push(line_key.clone());
        record.spill = Some(line_key);
        if let Some(original) = record.original.take() {
            let key = original_spill_key(&record.collector, &record.id);
            put_spill(&bucket, &key, original).await?;
            spilled.push(key.clone());
            record.original_spill = Some(key);
        }
        bytes = group_send::message_bytes_bound(record);
    }
    let queue = group_send::binding(env, "INGEST")
        .ok_or_else(|| ApiError::internal("INGEST binding: no queue producer is bound"))?;
    if let Err(e) = group_send::send(&queue, "INGEST", ctx, record, bytes).await {
        if let Ok(bucket) = env.bucket("ARCHIVE")
            && !spilled.is_empty()
        {
            let _ = bucket.delete_multiple(spilled).await;
        }
        return Err(ApiError::unavailable(format!(
            "the queue did not take the webhook: {e}"
        )));
    }
    Ok(())
}

async fn put_spill(bucket: &Bucket, key: &str, text: String) -> Result<(), ApiError> {
    bucket
        .put(key, text.into_bytes())
        .execute()
        .await
        .map(|_| ())
        .map_err(|e| ApiError::unavailable(format!("could not store the body: {e}")))
}

/// Reads the body, refusing it as soon as it is known to exceed `limit` (the collector's
/// [`body_budget`]): from a declared `Content-Length` before reading anything (then in one
/// piece), else while streaming.
async fn read_body(
    req: &web_sys::Request,
    content_length: Option<String>,
    limit: u64,
    collector: &Collector,
) -> Result<Vec<u8>, ApiError> {
    let unreadable = |e: &dyn std::fmt::Debug| {
        ApiError::new(ErrorCode::BadRequest, format!("unreadable body: {e:?}"))
    };
    let declared = content_length.and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(too_large(collector));
    }
    if declared.is_some() {
        // The runtime holds a body to its declared length, so it is read in one piece:
        // one ArrayBuffer copy instead of a promise per stream chunk (bench/: 64 KiB
        // bodies cost 0.6 ms less per request). The check after is belt and braces.
        let buffer = req.array_buffer().map_err(|e| unreadable(&e))?;
        let buffer = JsFuture::from(buffer).await.map_err(|e| unreadable(&e))?;
        let body = js_sys::Uint8Array::new(&buffer).to_vec();
        if body.len() as u64 > limit {
            return Err(too_large(collector));
        }
        return Ok(body);
    }
    // Streamed (no Content-Length): through workers-rs' byte stream.
    // (`Clone::clone` copies the handle; `web_sys::Request::clone` would tee the body.)
    let Ok(mut stream) = Request::from(<web_sys::Request as Clone>::clone(req)).stream() else {
        return Ok(Vec::new()); // no body at all
    };
    let mut body = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| unreadable(&e))?;
        if (body.len() + chunk.len()) as u64 > limit {
            return Err(too_large(collector));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}
