//! `api-key`: server-issued keys (PTTH's scraper keys), stored only as SHA-256 hashes,
//! valid between `not_before` and `not_after` unless revoked, optionally scoped.
//!
//! A sender presents the key as `X-ApiKey: <key>` or `Authorization: Bearer <key>`.
//! Lookup is by hash, so the store never holds anything that would let a reader use a key.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{ApiError, ErrorCode};
use crate::inbound::HeaderMap;

use super::{AuthContext, AuthError, InboundRequest, Scheme, Verified};
use crate::crypto::Crypto;
use crate::error::ConfigError;

/// Every issued key starts with this.
pub const PREFIX: &str = "ehk_";
/// Default lifetime of a new key.
pub const DEFAULT_TTL_DAYS: u64 = 30;
/// Longest lifetime a key may be issued with.
pub const MAX_TTL_DAYS: u64 = 365;

/// A new key's plaintext from 32 random bytes: `ehk_` + base64url (43 characters).
pub fn format_key(random: [u8; 32]) -> String {
    format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(random))
}

/// The hex SHA-256 a key is stored and looked up by.
pub fn hash(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// The key a request presents: `X-ApiKey`, else `Authorization: Bearer`.
pub fn presented(headers: &HeaderMap) -> Option<&str> {
    if let Some(k) = headers.get("x-apikey") {
        return Some(k.trim());
    }
    let auth = headers.get("authorization")?;
    let (scheme, token) = auth.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// A stored key (never its plaintext or hash).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiKey {
    /// Public id (`key_<ulid>`), used by the admin API.
    pub id: String,
    /// Human-friendly name.
    pub name: String,
    /// Who the key was issued to.
    pub email: String,
    /// What the key may do (`publish`, a collector's scope, ...).
    pub scopes: Vec<String>,
    /// Valid from (Unix seconds).
    pub not_before: i64,
    /// Valid until, exclusive (Unix seconds).
    pub not_after: i64,
    /// When it was revoked.
    pub revoked_at: Option<i64>,
    /// When it was issued.
    pub created_at: i64,
    /// When it last authenticated a request.
    pub last_used_at: Option<i64>,
}

impl ApiKey {
    /// `active`, `revoked`, `expired` or `pending` at `now_secs`.
    pub fn status(&self, now_secs: i64) -> &'static str {
        if self.revoked_at.is_some() {
            "revoked"
        } else if now_secs >= self.not_after {
            "expired"
        } else if now_secs < self.not_before {
            "pending"
        } else {
            "active"
        }
    }
}

/// Why a presented key was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// No key was presented.
    #[error("send the API key as X-ApiKey: <key> or Authorization: Bearer <key>")]
    Missing,
    /// No key has that hash.
    #[error("the API key is not known")]
    Unknown,
    /// The key was revoked.
    #[error("the API key was revoked")]
    Revoked,
    /// `not_after` has passed.
    #[error("the API key has expired")]
    Expired,
    /// `not_before` is still ahead.
    #[error("the API key is not valid yet")]
    NotYetValid,
    /// The key lacks the scope the route requires.
    #[error("the API key lacks the `{0}` scope")]
    MissingScope(String),
    /// The key store failed: retryable, and never answered as a 401.
    #[error("key lookup failed: {0}")]
    Store(String),
}

impl KeyError {
    /// The stable error code.
    pub fn code(&self) -> ErrorCode {
        match self {
            KeyError::Missing => ErrorCode::MissingHeader,
            KeyError::Unknown => ErrorCode::UnknownKey,
            KeyError::Revoked => ErrorCode::RevokedKey,
            KeyError::Expired => ErrorCode::ExpiredKey,
            KeyError::NotYetValid => ErrorCode::KeyNotYetValid,
            KeyError::MissingScope(_) => ErrorCode::InsufficientScope,
            KeyError::Store(_) => ErrorCode::Unavailable,
        }
    }
}

impl From<KeyError> for ApiError {
    fn from(e: KeyError) -> ApiError {
        match e {
            // The store's own text goes to the log, not to the client.
            e @ KeyError::Store(_) => ApiError::unavailable(e),
            e => ApiError::new(e.code(), e.to_string()),
        }
    }
}

/// Where keys are looked up by hash.
#[allow(async_fn_in_trait)] // used through generics only
pub trait ApiKeyStore {
    /// Why the store could not answer (answered as `503 unavailable`, never as a 401).
    type Error: std::fmt::Display;
    /// The key stored under `hash`, if any.
    async fn find_by_hash(&self, hash: &str) -> Result<Option<ApiKey>, Self::Error>;
    /// Records that the key was used at `now_secs` (best effort).
    async fn touch(&self, hash: &str, now_secs: i64) -> Result<(), Self::Error>;
}

/// Checks a found key at `now_secs`, and that it holds `scope` when one is required.
pub fn check(key: Option<ApiKey>, now_secs: i64, scope: Option<&str>) -> Result<ApiKey, KeyError> {
    let key = key.ok_or(KeyError::Unknown)?;
    match key.status(now_secs) {
        "revoked" => return Err(KeyError::Revoked),
        "expired" => return Err(KeyError::Expired),
        "pending" => return Err(KeyError::NotYetValid),
        _ => {}
    }
    if let Some(scope) = scope
        && !key.scopes.iter().any(|s| s == scope)
    {
        return Err(KeyError::MissingScope(scope.to_string()));
    }
    Ok(key)
}

/// A key store that knows no keys, for places that never look one up (benches, fuzzing,
/// tests of other schemes): every lookup finds nothing.
pub struct NoKeys;

impl ApiKeyStore for NoKeys {
    type Error = std::convert::Infallible;
    async fn find_by_hash(&self, _hash: &str) -> Result<Option<ApiKey>, Self::Error> {
        Ok(None)
    }
    async fn touch(&self, _hash: &str, _now: i64) -> Result<(), Self::Error> {
        Ok(())
    }
}

/// Authenticates the key a request presents.
pub async fn authenticate<S: ApiKeyStore>(
    store: &S,
    headers: &HeaderMap,
    now_secs: i64,
    scope: Option<&str>,
) -> Result<ApiKey, KeyError> {
    let presented = presented(headers)
        .filter(|k| !k.is_empty())
        .ok_or(KeyError::Missing)?;
    if !presented.starts_with(PREFIX) {
        return Err(KeyError::Unknown);
    }
    let digest = hash(presented);
    let key = check(
        store
            .find_by_hash(&digest)
            .await
            .map_err(|e| KeyError::Store(e.to_string()))?,
        now_secs,
        scope,
    )?;
    // A failed last_used_at update must not refuse a valid key.
    let _ = store.touch(&digest, now_secs).await;
    Ok(key)
}

/// `POST /admin/keys` input.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewKey {
    /// Human-friendly name (required).
    pub name: String,
    /// Who the key is for.
    #[serde(default)]
    pub email: String,
    /// The scopes a collector's `scope` is checked against (none: no scoped collector takes
    /// it).
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Lifetime in days (default 30, at most 365).
    pub ttl_days: Option<u64>,
    /// Start of validity, Unix seconds (default now).
    pub not_before: Option<i64>,
}

impl NewKey {
    /// Validates the request; returns `(not_before, not_after)`.
    pub fn validity(&self, now_secs: i64) -> Result<(i64, i64), ApiError> {
        let bad = |m: String| ApiError::new(ErrorCode::InvalidRequest, m);
        let name = self.name.trim();
        if name.is_empty() || name.len() > 200 {
            return Err(bad("`name` must be 1 to 200 characters".into()));
        }
        if self.email.len() > 320 {
            return Err(bad("`email` is longer than 320 characters".into()));
        }
        for (i, s) in self.scopes.iter().enumerate() {
            let ok = (1..=64).contains(&s.len())
                && s.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_:.".contains(&b));
            if !ok {
                return Err(bad(format!(
                    "`scopes[{i}]` must be 1 to 64 of a-z 0-9 - _ : ."
                )));
            }
        }
        let ttl = self.ttl_days.unwrap_or(DEFAULT_TTL_DAYS);
        if !(1..=MAX_TTL_DAYS).contains(&ttl) {
            return Err(bad(format!(
                "`ttl_days` must be between 1 and {MAX_TTL_DAYS}"
            )));
        }
        let not_before = self.not_before.unwrap_or(now_secs);
        if not_before < 0 {
            return Err(bad("`not_before` must be a Unix time in seconds".into()));
        }
        Ok((not_before, not_before + ttl as i64 * 86_400))
    }
}

/// PTTH: a key issued by `POST /admin/keys`, as `X-ApiKey` or `Authorization: Bearer`
/// (`scheme = "api-key"`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// A scope the key must hold.
    #[serde(default)]
    pub scope: Option<String>,
}

impl Scheme for Config {
    fn headers(&self) -> Vec<&str> {
        vec!["x-apikey", "authorization"]
    }

    fn validate(&mut self, path: &str) -> Result<(), ConfigError> {
        match self.scope.as_deref() {
            Some("") => Err(ConfigError(format!("{path}.scope: must not be empty"))),
            _ => Ok(()),
        }
    }

    async fn authenticate<C: Crypto, K: ApiKeyStore>(
        &self,
        cx: &AuthContext<'_, C, K>,
        req: &InboundRequest,
    ) -> Result<Verified, AuthError> {
        let scope = self.scope.as_deref();
        let key = authenticate(cx.api_keys, &req.headers, cx.now_secs, scope).await?;
        Ok(Verified {
            key: Some(key),
            ..Verified::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failing_store_is_a_503_whose_answer_holds_no_runtime_text() {
        let runtime = "Error: injected D1 failure";
        for e in [
            ApiError::from(KeyError::Store(runtime.into())),
            ApiError::from(AuthError::Key(KeyError::Store(runtime.into()))),
        ] {
            assert_eq!(e.code, ErrorCode::Unavailable);
            assert!(!e.message.contains("injected"), "{}", e.message);
            assert!(e.detail.as_deref().is_some_and(|d| d.contains(runtime)));
        }
    }

    fn key(not_before: i64, not_after: i64, revoked_at: Option<i64>) -> ApiKey {
        ApiKey {
            id: "key_1".into(),
            name: "scraper".into(),
            email: "a@b.c".into(),
            scopes: vec!["publish".into()],
            not_before,
            not_after,
            revoked_at,
            created_at: 0,
            last_used_at: None,
        }
    }

    #[test]
    fn keys_look_like_ehk_and_43_base64url_chars() {
        let k = format_key([0xAB; 32]);
        assert!(k.starts_with("ehk_"));
        assert_eq!(k.len(), 4 + 43);
        assert_eq!(hash(&k).len(), 64);
        assert_ne!(hash(&k), hash(&format_key([0xAC; 32])));
    }

    #[test]
    fn check_refuses_revoked_expired_pending_and_unscoped() {
        assert_eq!(check(None, 5, None), Err(KeyError::Unknown));
        assert_eq!(
            check(Some(key(0, 10, Some(3))), 5, None),
            Err(KeyError::Revoked)
        );
        assert_eq!(
            check(Some(key(0, 10, None)), 10, None),
            Err(KeyError::Expired)
        );
        assert_eq!(
            check(Some(key(6, 10, None)), 5, None),
            Err(KeyError::NotYetValid)
        );
        assert_eq!(
            check(Some(key(0, 10, None)), 5, Some("admin")),
            Err(KeyError::MissingScope("admin".into()))
        );
        assert!(check(Some(key(0, 10, None)), 5, Some("publish")).is_ok());
        assert!(check(Some(key(5, 10, None)), 5, None).is_ok());
    }

    #[test]
    fn presented_reads_x_apikey_or_bearer() {
        let h = HeaderMap::from_pairs([("X-ApiKey", " ehk_a ")]);
        assert_eq!(presented(&h), Some("ehk_a"));
        let h = HeaderMap::from_pairs([("Authorization", "Bearer ehk_b")]);
        assert_eq!(presented(&h), Some("ehk_b"));
        let h = HeaderMap::from_pairs([("Authorization", "Basic ehk_b")]);
        assert_eq!(presented(&h), None);
    }

    #[test]
    fn new_key_validity_defaults_to_30_days_and_caps_at_365() {
        let nk = |ttl: Option<u64>| NewKey {
            name: "n".into(),
            email: String::new(),
            scopes: vec!["publish".into()],
            ttl_days: ttl,
            not_before: None,
        };
        assert_eq!(nk(None).validity(100).unwrap(), (100, 100 + 30 * 86_400));
        assert_eq!(nk(Some(365)).validity(0).unwrap().1, 365 * 86_400);
        assert_eq!(nk(Some(366)).validity(0).unwrap_err().status(), 422);
        assert_eq!(nk(Some(0)).validity(0).unwrap_err().status(), 422);
        let mut bad = nk(None);
        bad.scopes = vec!["Has Space".into()];
        assert!(bad.validity(0).unwrap_err().message.contains("scopes[0]"));
    }
}
