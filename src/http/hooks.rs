//! `POST /hooks/{collector}[/{*rest}]`: read the request, accept it, queue the record.

use futures_util::{FutureExt, StreamExt};
use serde_json::{Value, json};
use worker::wasm_bindgen::JsValue;
use worker::wasm_bindgen_futures::JsFuture;
use worker::{D1Database, Env, Request, js_sys, web_sys};

use crate::app::App;
use crate::auth::AuthContext;
use crate::collect::accept::{Accepted, accept, body_budget, headers_read, too_large};
use crate::collect::enqueue::{Submitted, submit};
use crate::collect::handshake::{self, Provider, Reply};
use crate::config::Collector;
use crate::crypto::webcrypto::WebCrypto;
use crate::dispatch::keys::master_key;
use crate::error::{ApiError, ErrorCode};
use crate::ids;
use crate::inbound::{HeaderMap, InboundRequest};
use crate::outbound::plugins::WorkerPlugins;
use crate::store::api_keys::{CachedKeys, D1Keys};
use crate::store::handshakes;

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
/// (`accepted`, `duplicate`, `dropped` or `handshake`), which is logged and counted.
pub struct HookAnswer {
    /// HTTP status.
    pub status: u16,
    /// The JSON body.
    pub body: Value,
    /// What happened to the webhook.
    pub outcome: &'static str,
    /// A handshake's answer, in the provider's own form (then `status`/`body` are unused).
    pub reply: Option<Reply>,
}

fn answer(status: u16, body: Value, outcome: &'static str) -> HookAnswer {
    HookAnswer {
        status,
        body,
        outcome,
        reply: None,
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
    let provider = handshake::of_collector(collector.handshake.as_ref(), collector.auth.scheme());
    // A provider's handshake may come as GET or HEAD; anything else is for `accept`.
    if method != "POST" && !provider.is_some_and(|p| p.methods().contains(&method)) {
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
        api_keys: &CachedKeys::new(D1Keys(&db), now_ms),
        now_secs: crate::time::secs(now_ms),
    };
    // The awaited steps below are boxed: each a function of its own, not all inlined
    // into this one, which V8 compiled whole, slowly, on an isolate's first webhook
    // (docs/PERFORMANCE.md, cold start).
    // A `jwt` collector with `jwks_url`: its keys fetched first when they must be.
    crate::outbound::jwks::prepare(app, &collector.auth, &inbound, cx.now_secs)
        .boxed_local()
        .await;
    if let Some(found) = handshake::recognise(collector, &cx, &inbound)
        .boxed_local()
        .await?
    {
        if let Some(secret) = &found.secret {
            keep_secret(
                env,
                &db,
                &collector.name,
                found.provider,
                secret,
                crate::time::secs(now_ms),
            )
            .boxed_local()
            .await?;
        }
        return Ok(HookAnswer {
            status: found.reply.status,
            body: Value::Null,
            outcome: "handshake",
            reply: Some(found.reply),
        });
    }
    if let Some(p) = provider.filter(|p| p.stores_secret()) {
        let stored = stored_secret(env, &db, &collector.name)
            .boxed_local()
            .await?;
        handshake::verify_stored(p, stored.as_slice(), &inbound)?;
    }
    let plugins = WorkerPlugins {
        env,
        answer_limit: crate::steps::plugin::answer_limit(collector.max_body_bytes),
    };
    let (record, key, attachments) = match accept(collector, &cx, &plugins, &inbound, &id, now_ms)
        .boxed_local()
        .await?
    {
        Accepted::Dropped => return Ok(answer(202, json!({"status": "dropped"}), "dropped")),
        Accepted::Record {
            record,
            idempotency_key,
            attachments,
        } => (record, idempotency_key, attachments),
    };
    match submit(
        env,
        ctx,
        &db,
        &app.config,
        collector,
        record,
        key,
        attachments,
    )
    .boxed_local()
    .await?
    {
        Submitted::Duplicate { record_id } => Ok(answer(
            200,
            json!({"id": record_id, "status": "duplicate"}),
            "duplicate",
        )),
        Submitted::Accepted => Ok(answer(
            202,
            json!({"id": id, "status": "accepted"}),
            "accepted",
        )),
    }
}

/// Keeps the secret a provider's handshake gave, sealed; the first one wins
/// ([`handshake::check_kept`]).
async fn keep_secret(
    env: &Env,
    db: &D1Database,
    collector: &str,
    provider: Provider,
    secret: &str,
    now_secs: i64,
) -> Result<(), ApiError> {
    let key = master_key(env)?;
    let context = handshakes::seal_context(collector);
    let nonce = ids::random_bytes::<12>()
        .map_err(|e| ApiError::internal(format!("no randomness available: {e}")))?;
    let sealed = key
        .seal(secret.as_bytes(), &context, nonce)
        .map_err(|e| ApiError::internal(e.0))?;
    let unavailable = |e: worker::Error| ApiError::unavailable(format!("handshake secret: {e}"));
    let stored = handshakes::insert_first(db, collector, provider.name(), &sealed, now_secs)
        .await
        .map_err(unavailable)?
        .ok_or_else(|| ApiError::unavailable("the handshake secret was not stored"))?;
    let kept = key
        .open(&stored.secret_sealed, &context)
        .map_err(|e| ApiError::internal(e.0))?;
    handshake::check_kept(&String::from_utf8_lossy(&kept), secret)
}

/// The secret `collector`'s handshake gave, opened (none yet: empty).
async fn stored_secret(
    env: &Env,
    db: &D1Database,
    collector: &str,
) -> Result<Vec<String>, ApiError> {
    let row = handshakes::get(db, collector)
        .await
        .map_err(|e| ApiError::unavailable(format!("handshake secret: {e}")))?;
    let Some(row) = row else {
        return Ok(Vec::new());
    };
    let opened = master_key(env)?
        .open(&row.secret_sealed, &handshakes::seal_context(collector))
        .map_err(|e| ApiError::internal(e.0))?;
    Ok(vec![String::from_utf8_lossy(&opened).into_owned()])
}

/// Reads the body, refusing it as soon as it is known to exceed `limit`: from a declared
/// `Content-Length` before reading anything (then in one piece), else while streaming.
async fn read_body(
    req: &web_sys::Request,
    content_length: Option<String>,
    limit: u64,
    collector: &Collector,
) -> Result<Vec<u8>, ApiError> {
    let unreadable = |e: &dyn std::fmt::Debug| ApiError::unreadable_body(format!("{e:?}"));
    let declared = content_length.and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(too_large(collector));
    }
    if declared.is_some() {
        // The runtime holds a body to its declared length, so it is read in one piece:
        // one ArrayBuffer copy instead of a promise per stream chunk (docs/PERFORMANCE.md,
        // "Figures behind choices in the code"). The check after is belt and braces.
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
