//! Idempotency: the id a sender gives a webhook so that sending it again is harmless.
//!
//! Standard Webhooks' `webhook-id` names the message; otherwise an `Idempotency-Key`
//! header (Stripe's and the IETF draft's name) does. The same id seen again for the same
//! collector within `dedupe_window_secs` is not stored again. Where that is decided is
//! the collector's [`Dedupe`]:
//!
//! - `async` (default): the webhook is answered `202` at once, its record carries the id,
//!   and the ingest consumer claims a whole batch's ids in one D1 statement and drops the
//!   repeats ([`super::exactly_once::settle_ids`]). No D1 write on the accept path.
//! - `sync`: the id is claimed in D1 before the answer ([`admit_once`]); a repeat is
//!   answered `200 duplicate` provided it comes with the same body: the digest of the first
//!   body is kept with the id, and a different body under a used id is `422
//!   idempotency_key_reused` (Stripe's rule), since answering `duplicate` would tell the
//!   sender a body was stored that never was.

use std::future::Future;

use crate::crypto::{Crypto, CryptoError};
use crate::error::{ApiError, ErrorCode};
use crate::inbound::HeaderMap;

/// Where a collector catches repeated webhook ids (`collectors[].dedupe`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Dedupe {
    /// In the ingest consumer, one D1 statement per batch; every webhook is answered `202`.
    #[default]
    Async,
    /// Before the answer, two D1 writes per webhook; a repeat is answered `200 duplicate`.
    Sync,
}

/// Where a webhook's id goes under `mode`: `(carried, checked)`, the id the record carries
/// to the consumer (`async`) and the id to claim before answering (`sync`).
pub fn route(mode: Dedupe, key: Option<Keyed>) -> (Option<Keyed>, Option<Keyed>) {
    match mode {
        Dedupe::Async => (key, None),
        Dedupe::Sync => (None, key),
    }
}

/// Longest id accepted.
pub const MAX_KEY_LEN: usize = 255;

/// How long an id is held while its webhook is being queued. If the claim cannot be
/// released after a failure, it lapses after this, so the sender's retry goes through.
pub const CLAIM_SECS: i64 = 60;

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
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
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

/// What a claim found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// The id is ours now.
    Claimed,
    /// Another request holds it: its record, whether that one was queued, and the
    /// digest of its body.
    Seen {
        /// Record id answered to the first request.
        record_id: String,
        /// Whether the first request's record was queued (else it is still in flight).
        accepted: bool,
        /// The first request's body digest (`None` for rows from before digests).
        body_digest: Option<String>,
    },
}

/// Where a collector's webhook ids are remembered (`store::seen_ids::D1SeenIds`).
#[allow(async_fn_in_trait)] // used through generics only
pub trait SeenIds {
    /// Why the store could not answer (answered as `503 unavailable`).
    type Error: std::fmt::Display;
    /// Claims `key` (with its body's digest) for `record_id` until `hold_until`, unless
    /// a live claim holds it.
    async fn claim(
        &self,
        key: &Keyed,
        record_id: &str,
        now_secs: i64,
        hold_until: i64,
    ) -> Result<Claim, Self::Error>;
    /// Confirms the claim once the webhook is queued: remembered until `expires_at`.
    async fn confirm(
        &self,
        key: &str,
        record_id: &str,
        now_secs: i64,
        expires_at: i64,
    ) -> Result<(), Self::Error>;
    /// Releases the claim of a webhook that could not be queued.
    async fn release(&self, key: &str, record_id: &str) -> Result<(), Self::Error>;
}

/// What became of a webhook that [`admit_once`] let through or turned away.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admitted {
    /// Queued now. `unconfirmed` holds why its id could not be confirmed: the record is
    /// queued, only the duplicate check weakens (the claim lapses after [`CLAIM_SECS`]).
    Queued {
        /// The confirm's failure, for the log.
        unconfirmed: Option<String>,
    },
    /// The same id was accepted before, as `record_id`; nothing was queued.
    Duplicate {
        /// The record id answered to the first request.
        record_id: String,
    },
}

/// Queues a webhook once per idempotency `key`: claims the key for `record_id` (held
/// [`CLAIM_SECS`]), runs `enqueue` only if the claim is ours, then confirms the key for
/// `window_secs`, or releases it when `enqueue` failed so the sender's retry is taken.
/// Without a key, `enqueue` just runs. A key already held is answered by [`repeat`]:
/// `duplicate`, `409 duplicate_in_progress` with `Retry-After`, or `422
/// idempotency_key_reused`; the store unreachable is `503`.
pub async fn admit_once<S: SeenIds>(
    seen: &S,
    key: Option<&Keyed>,
    record_id: &str,
    now_secs: i64,
    window_secs: i64,
    enqueue: impl Future<Output = Result<(), ApiError>>,
) -> Result<Admitted, ApiError> {
    let Some(key) = key else {
        enqueue.await?;
        return Ok(Admitted::Queued { unconfirmed: None });
    };
    let claim = seen
        .claim(key, record_id, now_secs, now_secs + CLAIM_SECS)
        .await
        .map_err(|e| ApiError::unavailable(format!("could not check the webhook id: {e}")))?;
    if let Claim::Seen {
        record_id,
        accepted,
        body_digest,
    } = claim
    {
        return match repeat(body_digest.as_deref(), &key.body_digest, accepted) {
            Repeat::Duplicate => Ok(Admitted::Duplicate { record_id }),
            Repeat::Reused => Err(reused()),
            Repeat::InProgress => Err(ErrorCode::DuplicateInProgress.into()),
        };
    }
    if let Err(e) = enqueue.await {
        // If this fails too, the claim lapses after CLAIM_SECS.
        let _ = seen.release(&key.key, record_id).await;
        return Err(e);
    }
    let confirmed = seen
        .confirm(&key.key, record_id, now_secs, now_secs + window_secs)
        .await;
    Ok(Admitted::Queued {
        unconfirmed: confirmed.err().map(|e| e.to_string()),
    })
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::collections::BTreeMap;

    use futures_executor::block_on;

    use super::*;
    /// A store of claims in memory, recording every call; `fail` names calls that fail.
    #[derive(Default)]
    struct Seen {
        rows: RefCell<BTreeMap<String, (String, bool, String)>>,
        calls: RefCell<Vec<String>>,
        fail: &'static [&'static str],
    }

    impl Seen {
        fn call(&self, what: &str) -> Result<(), String> {
            self.calls.borrow_mut().push(what.to_string());
            match self.fail.contains(&what) {
                true => Err(format!("{what} failed")),
                false => Ok(()),
            }
        }
    }

    impl SeenIds for Seen {
        type Error = String;

        async fn claim(&self, key: &Keyed, id: &str, _: i64, _: i64) -> Result<Claim, String> {
            self.call("claim")?;
            let mut rows = self.rows.borrow_mut();
            Ok(match rows.get(&key.key) {
                Some((record_id, accepted, digest)) => Claim::Seen {
                    record_id: record_id.clone(),
                    accepted: *accepted,
                    body_digest: Some(digest.clone()),
                },
                None => {
                    let row = (id.into(), false, key.body_digest.clone());
                    rows.insert(key.key.clone(), row);
                    Claim::Claimed
                }
            })
        }
        async fn confirm(&self, key: &str, _: &str, _: i64, _: i64) -> Result<(), String> {
            self.call("confirm")?;
            if let Some(row) = self.rows.borrow_mut().get_mut(key) {
                row.1 = true;
            }
            Ok(())
        }
        async fn release(&self, key: &str, _: &str) -> Result<(), String> {
            self.call("release")?;
            self.rows.borrow_mut().remove(key);
            Ok(())
        }
    }

    fn keyed(key: &str, body: &str) -> Keyed {
        Keyed {
            key: key.into(),
            body_digest: format!("digest of {body}"),
        }
    }

    fn admit(
        seen: &Seen,
        key: Option<&Keyed>,
        id: &str,
        queued: &RefCell<Vec<String>>,
        queue_fails: bool,
    ) -> Result<Admitted, ApiError> {
        let enqueue = async {
            if queue_fails {
                return Err(ApiError::unavailable("the queue did not take the webhook"));
            }
            queued.borrow_mut().push(id.to_string());
            Ok(())
        };
        block_on(admit_once(seen, key, id, 1_000, 86_400, enqueue))
    }

    #[test]
    fn a_repeated_id_is_queued_once_and_answered_with_the_first_record() {
        let (seen, queued) = (Seen::default(), RefCell::default());
        let first = admit(&seen, Some(&keyed("msg_1", "a")), "rec_1", &queued, false);
        assert_eq!(first, Ok(Admitted::Queued { unconfirmed: None }));
        let again = admit(&seen, Some(&keyed("msg_1", "a")), "rec_2", &queued, false);
        assert_eq!(
            again,
            Ok(Admitted::Duplicate {
                record_id: "rec_1".into()
            })
        );
        assert_eq!(*queued.borrow(), vec!["rec_1".to_string()]);
        assert_eq!(*seen.calls.borrow(), ["claim", "confirm", "claim"]);
    }

    #[test]
    fn an_id_still_being_queued_is_409_with_retry_after() {
        let (seen, queued) = (Seen::default(), RefCell::default());
        seen.rows.borrow_mut().insert(
            "msg_1".into(),
            ("rec_1".into(), false, "digest of a".into()),
        );
        let e = admit(&seen, Some(&keyed("msg_1", "a")), "rec_2", &queued, false).unwrap_err();
        assert_eq!(
            (e.status(), e.code.as_str(), e.retry_after()),
            (409, "duplicate_in_progress", Some(5))
        );
        assert!(queued.borrow().is_empty());
    }

    #[test]
    fn a_used_id_with_another_body_is_422_and_nothing_is_queued() {
        let (seen, queued) = (Seen::default(), RefCell::default());
        admit(&seen, Some(&keyed("msg_1", "a")), "rec_1", &queued, false).unwrap();
        let e = admit(&seen, Some(&keyed("msg_1", "b")), "rec_2", &queued, false).unwrap_err();
        assert_eq!(
            (e.status(), e.code.as_str()),
            (422, "idempotency_key_reused")
        );
        assert_eq!(*queued.borrow(), vec!["rec_1".to_string()]);
    }

    #[test]
    fn a_refused_send_releases_the_id_so_the_retry_is_taken() {
        let (seen, queued) = (Seen::default(), RefCell::default());
        let e = admit(&seen, Some(&keyed("msg_1", "a")), "rec_1", &queued, true).unwrap_err();
        assert_eq!(e.status(), 503);
        assert_eq!(*seen.calls.borrow(), ["claim", "release"]);
        let retry = admit(&seen, Some(&keyed("msg_1", "a")), "rec_2", &queued, false);
        assert_eq!(retry, Ok(Admitted::Queued { unconfirmed: None }));
        assert_eq!(*queued.borrow(), vec!["rec_2".to_string()]);
    }

    #[test]
    fn an_unreachable_store_is_503_and_nothing_is_queued() {
        let (seen, queued) = (
            Seen {
                fail: &["claim"],
                ..Seen::default()
            },
            RefCell::default(),
        );
        let e = admit(&seen, Some(&keyed("msg_1", "a")), "rec_1", &queued, false).unwrap_err();
        assert_eq!((e.status(), e.code.as_str()), (503, "unavailable"));
        assert!(queued.borrow().is_empty());
    }

    #[test]
    fn a_failed_confirm_still_queues_and_says_why() {
        let (seen, queued) = (
            Seen {
                fail: &["confirm"],
                ..Seen::default()
            },
            RefCell::default(),
        );
        let ok = admit(&seen, Some(&keyed("msg_1", "a")), "rec_1", &queued, false);
        assert_eq!(
            ok,
            Ok(Admitted::Queued {
                unconfirmed: Some("confirm failed".into())
            })
        );
        assert_eq!(*queued.borrow(), vec!["rec_1".to_string()]);
    }

    #[test]
    fn without_a_key_the_webhook_is_queued_and_no_id_is_stored() {
        let (seen, queued) = (Seen::default(), RefCell::default());
        assert_eq!(
            admit(&seen, None, "rec_1", &queued, false),
            Ok(Admitted::Queued { unconfirmed: None })
        );
        assert!(seen.calls.borrow().is_empty());
        assert_eq!(
            admit(&seen, None, "rec_2", &queued, true)
                .unwrap_err()
                .status(),
            503
        );
    }

    #[test]
    fn async_ids_travel_with_the_record_sync_ids_are_checked_before_the_answer() {
        let k = keyed("msg_1", "a");
        assert_eq!(Dedupe::default(), Dedupe::Async);
        assert_eq!(
            route(Dedupe::Async, Some(k.clone())),
            (Some(k.clone()), None)
        );
        assert_eq!(route(Dedupe::Sync, Some(k.clone())), (None, Some(k)));
        assert_eq!(route(Dedupe::Sync, None), (None, None));
        let mode: Dedupe = serde_json::from_str("\"sync\"").expect("parses");
        assert_eq!(mode, Dedupe::Sync);
        assert!(serde_json::from_str::<Dedupe>("\"later\"").is_err());
    }

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
