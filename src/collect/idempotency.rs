//! Idempotency: the id a sender gives a webhook so that sending it again is harmless.
//!
//! Standard Webhooks' `webhook-id` names the message; otherwise an `Idempotency-Key`
//! header (Stripe's and the IETF draft's name) does. The same id seen again for the same
//! collector within `dedupe_window_secs` is answered `200 duplicate` and not stored again.

use crate::error::ApiError;
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
            400,
            "invalid_idempotency_key",
            format!(
                "webhook-id / Idempotency-Key must be 1 to {MAX_KEY_LEN} printable ASCII characters"
            ),
        ));
    }
    Ok(Some(k.to_string()))
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
    fn refuses_empty_long_and_unprintable_keys() {
        let long = "x".repeat(MAX_KEY_LEN + 1);
        for bad in ["", "  ", "a b", "caf\u{e9}", long.as_str()] {
            let e = key(&headers(&[("idempotency-key", bad)])).unwrap_err();
            assert_eq!(
                (e.status, e.code),
                (400, "invalid_idempotency_key"),
                "{bad:?}"
            );
        }
    }
}
