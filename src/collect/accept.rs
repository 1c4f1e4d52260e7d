//! Accepting one webhook: the checks and transformations between the raw request and the
//! record put on the queue, in SPEC.md's order.

use std::borrow::Cow;

use super::body::{self, Attachment, BodyKind};
use super::handshake;
use super::idempotency;
use super::record::{self, Format, LineRequest, QUEUED_RECORD_VERSION, QueuedRecord};
use crate::auth::api_key::ApiKeyStore;
use crate::auth::{self, AuthContext};
use crate::config::Collector;
use crate::crypto::Crypto;
use crate::error::{ApiError, ErrorCode};
use crate::inbound::InboundRequest;
use crate::steps::{Flow, PluginCaller, StepContext, Work};

/// The request headers [`accept`] reads itself, lower case: the content type and the
/// sender's webhook id. The scheme's own are [`crate::auth::AuthConfig::headers`].
pub const HEADERS: &[&str] = &["content-type", "webhook-id", "idempotency-key"];

/// Every request header [`accept`] reads for `collector`, each once: the worker copies
/// these out of the runtime's request and no others.
pub fn headers_read(collector: &Collector) -> Vec<&str> {
    let mut names = HEADERS.to_vec();
    let provider = handshake::of_collector(collector.handshake.as_ref(), collector.auth.scheme());
    let handshake_headers = provider.map_or(&[][..], handshake::Provider::headers);
    let auth_headers = collector.auth.headers();
    for name in auth_headers
        .into_iter()
        .chain(handshake_headers.iter().copied())
    {
        if !names.contains(&name) {
            names.push(name);
        }
    }
    names
}

/// Longest URL (path and query, as received) a webhook may have: `414` above. Common
/// servers stop near here too (nginx 8 KiB, Apache 8 190 bytes); Cloudflare's edge at 16 KB.
pub const MAX_URL_BYTES: usize = 8192;

/// How many body bytes `collector` takes for a request to `sub_path?query` whose URL is
/// `url_len` bytes: `414 uri_too_long` over [`MAX_URL_BYTES`], else `max_body_bytes` less
/// what the record carries of the URL besides the body (the sub-path and query, for a
/// `request` collector), `413` when that alone is over the limit. So the limit bounds
/// the whole record, and is known before the body is read.
pub fn body_budget(
    collector: &Collector,
    url_len: usize,
    sub_path: &str,
    query: &str,
) -> Result<u64, ApiError> {
    if url_len > MAX_URL_BYTES {
        return Err(ApiError::new(
            ErrorCode::UriTooLong,
            format!("the URL is longer than {MAX_URL_BYTES} bytes"),
        ));
    }
    let carried = match collector.format {
        Format::Payload => 0,
        Format::Request => (sub_path.len() + query.len()) as u64,
    };
    collector
        .max_body_bytes
        .checked_sub(carried)
        .ok_or_else(|| too_large(collector))
}

/// `413 payload_too_large` for a request over the collector's limit.
pub fn too_large(collector: &Collector) -> ApiError {
    let limit = collector.max_body_bytes;
    let what = match collector.format {
        Format::Payload => "the body is",
        Format::Request => "the body, path and query together are",
    };
    ApiError::new(
        ErrorCode::PayloadTooLarge,
        format!("{what} larger than this collector's limit of {limit} bytes"),
    )
}

/// What became of an acceptable webhook.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(clippy::large_enum_variant)] // one per request, returned once: no box needed
pub enum Accepted {
    /// Queue this record; remember `idempotency_key` once it is queued.
    Record {
        /// The record to queue, with its NDJSON line built.
        record: QueuedRecord,
        /// The sender's id for the webhook, if it gave one, with its body's digest.
        idempotency_key: Option<idempotency::Keyed>,
        /// Files of a multipart body, to store in R2 before the record is queued.
        attachments: Vec<Attachment>,
    },
    /// A `filter` step dropped it: answer `202`, store nothing.
    Dropped,
}

/// Checks `req` against `collector` and builds its record: method, URL and size, content type,
/// authentication, idempotency key, JSON, the collector's steps, then the record line.
/// Nothing here writes anything, so a request refused at any point leaves no trace
/// (a plugin step may call out, but only to ask).
pub async fn accept<C: Crypto, K: ApiKeyStore>(
    collector: &Collector,
    cx: &AuthContext<'_, C, K>,
    plugins: &dyn PluginCaller,
    req: &InboundRequest,
    id: &str,
    now_ms: u64,
) -> Result<Accepted, ApiError> {
    if req.method != "POST" {
        return Err(ApiError::method_not_allowed(&req.method, "POST"));
    }
    let budget = body_budget(collector, req.uri.len(), &req.sub_path, &req.query)?;
    if req.body.len() as u64 > budget {
        return Err(too_large(collector));
    }
    let content_type = req.headers.get("content-type");
    let kind = body::classify(content_type, &collector.accept)?;
    let identity = auth::verify(&collector.auth, cx, req).await?;
    let idempotency_key = idempotency::key(&req.headers)?;
    // A body that is not JSON becomes a JSON payload only once it is authenticated.
    let (decoded, attachments) = match kind {
        BodyKind::Json => (None, Vec::new()),
        kind => {
            let can_be_binary = collector.accept.contains(&BodyKind::Binary);
            let d = body::decode(
                kind,
                content_type,
                &req.body,
                can_be_binary,
                &collector.name,
                id,
            )
            .await?;
            (Some(d.payload), d.attachments)
        }
    };
    // An untouched JSON payload keeps the sender's exact bytes when they fit on one line;
    // with no steps to run it is only checked, not parsed into a tree nothing would read.
    let text = match decoded {
        None => simdutf8::basic::from_utf8(&req.body).ok(),
        Some(_) => None,
    };
    let raw_line = text.and_then(record::single_line);
    let (payload_text, query, path) = match (text, raw_line) {
        (Some(text), Some(raw)) if collector.chain.is_empty() => {
            record::check_payload(text)?;
            (Cow::Borrowed(raw), req.query_pairs(), None)
        }
        _ => {
            let payload = match decoded {
                Some(payload) => payload,
                None => record::parse_payload(&req.body)?,
            };
            let mut work = Work::new(payload, req.query_pairs());
            let steps = StepContext {
                collector: &collector.name,
                request: req,
                identity: &identity,
                secrets: cx.secrets,
                plugins,
            };
            if collector.chain.run(&steps, &mut work).await? == Flow::Drop {
                return Ok(Accepted::Dropped);
            }
            let payload_text = match (work.changed, raw_line) {
                (false, Some(raw)) => Cow::Borrowed(raw),
                _ => Cow::Owned(work.payload.to_string()),
            };
            (payload_text, work.query, work.path)
        }
    };
    let line = record::line(
        collector.format,
        id,
        &collector.name,
        now_ms,
        LineRequest {
            method: &req.method,
            sub_path: path.as_deref().unwrap_or(&req.sub_path),
            query: &query,
        },
        &payload_text,
    );
    // Digested last, so that a refused webhook costs nothing for it.
    let idempotency_key = match idempotency_key {
        None => None,
        Some(key) => Some(idempotency::Keyed {
            key,
            body_digest: idempotency::body_digest(cx.crypto, &req.body)
                .await
                .map_err(|_| ApiError::unavailable("could not digest the body"))?,
        }),
    };
    let original = collector
        .keep_original
        .then(|| String::from_utf8_lossy(&req.body).into_owned());
    Ok(Accepted::Record {
        record: QueuedRecord {
            v: QUEUED_RECORD_VERSION,
            id: id.to_string(),
            collector: collector.name.clone(),
            received_at: now_ms,
            line,
            spill: None,
            original,
            original_spill: None,
            dedupe: None,
        },
        idempotency_key,
        attachments,
    })
}
