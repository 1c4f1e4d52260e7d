//! Idempotency: the id a sender gives a webhook so that sending it again is harmless.
//!
//! Standard Webhooks' `webhook-id` names the message; otherwise an `Idempotency-Key`
//! header (Stripe's and the IETF draft's name) does. The same id seen again for the same
//! collector within `dedupe_window_secs` is answered `200 duplicate` and not stored again,
//! provided it comes with the same body: the digest of the first body is kept with the id,
//! and a different body under a used id is `422 idempotency_key_reused` (Stripe's rule),
//! since answering `duplicate` would tell the sender a body was stored that never was.

use crate::crypto::{Crypto, CryptoError};
use crate::error::{ApiError, ErrorCode};
use crate::inbound::HeaderMap;

/// Longest id accepted.
pub const MAX_KEY_LEN: usize = 255;

/// How long an id is held while its webhook is being queued. If the claim cannot be
/// released after a failure, it lapses after this, so the sender's retry goes through.
pub const CLAIM_SECS: u64 = 60;

/// The webhook's idempotency key, if the sender gave one: `webhook-id`, else
/// `Idempotency-Key`. `400 invalid_idempotency_key` when it is empty, too long or not
/// printable ASCII.
pub fn key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(raw) = headers
        .get("webhook-id")
        .or_else(|| headers.get("idempotency-key"))
    else {
        return Ok(None);
    };
    let k = raw.trim();
    if k.is_empty() || k.len() > MAX_KEY_LEN || !k.bytes().all(|b| (0x21..0x7f).contains(&b)) {
        return Err(ApiError::new(
            ErrorCode::InvalidIdempotencyKey,
            format!(
                "webhook-id / Idempotency-Key must be 1 to {MAX_KEY_LEN} printable ASCII characters"
            ),
        ));
    }
    Ok(Some(k.to_string()))
}

/// A webhook's idempotency key with the digest of the body it came with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keyed {
    /// The sender's id ([`key`]).
    pub key: String,
    /// [`body_digest`] of the raw body.
    pub body_digest: String,
}

/// The digest kept beside a webhook id: hex SHA-256 of the raw body, as HMAC-SHA256
/// under a fixed label so that [`Crypto`] computes it (through WebCrypto for large bodies
/// in the worker). Only equality matters; the label keeps it apart from any other MAC.
pub async fn body_digest<C: Crypto>(crypto: &C, body: &[u8]) -> Result<String, CryptoError> {
    let mac = crypto
        .hmac_sha256(b"edgehook idempotency body", body)
        .await?;
    Ok(hex::encode(mac))
}

/// What a webhook whose id is already held gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Repeat {
    /// `200 duplicate`: the first one was queued, with this same body.
    Duplicate,
    /// `409 duplicate_in_progress`: the first one, with this same body, is being queued.
    InProgress,
    /// `422 idempotency_key_reused`: the id came first with another body.
    Reused,
}

/// Decides a repeat from what is held for the id: the first body's digest (`None` for a
/// claim written before digests were kept, which then counts as the same body) and
/// whether its record was queued.
pub fn repeat(first_digest: Option<&str>, body_digest: &str, queued: bool) -> Repeat {
    match first_digest {
        Some(first) if first != body_digest => Repeat::Reused,
        _ if queued => Repeat::Duplicate,
        _ => Repeat::InProgress,
    }
}

/// `422 idempotency_key_reused`.
pub fn reused() -> ApiError {
    ErrorCode::IdempotencyKeyReused.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        HeaderMap::from_pairs(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())))
    }

    #[test]
    fn webhook_id_wins_over_idempotency_key() {
        assert_eq!(key(&headers(&[])).unwrap(), None);
        assert_eq!(
            key(&headers(&[("Idempotency-Key", " k1 ")])).unwrap(),
            Some("k1".into())
        );
        assert_eq!(
            key(&headers(&[
                ("idempotency-key", "k1"),
                ("webhook-id", "msg_1")
            ]))
            .unwrap(),
            Some("msg_1".into())
        );
    }

    #[test]
    fn a_used_id_with_another_body_is_reused_whatever_became_of_the_first() {
        let digest = |body: &[u8]| {
            futures_executor::block_on(body_digest(&crate::crypto::native::NativeCrypto, body))
                .unwrap()
        };
        let (a, b) = (digest(b"{\"order\":7}"), digest(b"{\"order\":8}"));
        assert_eq!(a.len(), 64);
        assert_ne!(a, b);
        assert_eq!(a, digest(b"{\"order\":7}"));
        assert_eq!(repeat(Some(&a), &a, true), Repeat::Duplicate);
        assert_eq!(repeat(Some(&a), &a, false), Repeat::InProgress);
        assert_eq!(repeat(Some(&a), &b, true), Repeat::Reused);
        assert_eq!(repeat(Some(&a), &b, false), Repeat::Reused);
        // A claim from before digests were kept.
        assert_eq!(repeat(None, &b, true), Repeat::Duplicate);
        assert_eq!(repeat(None, &b, false), Repeat::InProgress);
        let e = reused();
        assert_eq!(
            (e.status(), e.code.as_str()),
            (422, "idempotency_key_reused")
        );
    }

    #[test]
    fn refuses_empty_long_and_unprintable_keys() {
        let long = "x".repeat(MAX_KEY_LEN + 1);
        for bad in ["", "  ", "a b", "caf\u{e9}", long.as_str()] {
            let e = key(&headers(&[("idempotency-key", bad)])).unwrap_err();
            assert_eq!(
                (e.status(), e.code.as_str()),
                (400, "invalid_idempotency_key"),
                "{bad:?}"
            );
        }
    }
}
