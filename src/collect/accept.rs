//! Accepting one webhook: the checks and transformations between the raw request and the
//! record put on the queue, in SPEC.md's order.

use super::record::{self, QUEUED_RECORD_VERSION, QueuedRecord};
use crate::auth::api_key::ApiKeyStore;
use crate::auth::{self, AuthContext};
use crate::config::Collector;
use crate::crypto::Crypto;
use crate::error::ApiError;
use crate::inbound::InboundRequest;

/// `413 payload_too_large` for a body over the collector's limit.
pub fn too_large(limit: u64) -> ApiError {
    ApiError::new(
        413,
        "payload_too_large",
        format!("the body is larger than this collector's limit of {limit} bytes"),
    )
}

/// Checks `req` against `collector` and builds its record: method, size, content type,
/// authentication, JSON, then the record line. Nothing here has side effects, so a
/// request refused at any step leaves no trace.
pub async fn accept<C: Crypto, K: ApiKeyStore>(
    collector: &Collector,
    cx: &AuthContext<'_, C, K>,
    req: &InboundRequest,
    id: &str,
    now_ms: u64,
) -> Result<QueuedRecord, ApiError> {
    if req.method != "POST" {
        return Err(ApiError::method_not_allowed(&req.method, "POST"));
    }
    if req.body.len() as u64 > collector.max_body_bytes {
        return Err(too_large(collector.max_body_bytes));
    }
    record::require_json_content_type(req.headers.get("content-type"))?;
    auth::verify(&collector.auth, cx, req).await?;
    let payload = record::parse_payload(&req.body)?;
    let line = record::line(collector.format, id, &collector.name, now_ms, req, &payload);
    Ok(QueuedRecord {
        v: QUEUED_RECORD_VERSION,
        id: id.to_string(),
        collector: collector.name.clone(),
        received_at: now_ms,
        line,
        spill: None,
    })
}
