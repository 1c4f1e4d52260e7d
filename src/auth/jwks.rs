//! Remote key sets (`jwt` collectors' `jwks_url`: Okta, Auth0, Google, Cloudflare Access):
//! the keys fetched from a URL, cached per isolate, and when to fetch them again.
//!
//! The worker glue (`crate::outbound::jwks`) asks [`plan`] before a token is verified,
//! fetches when told to and hands the answer to [`store`] or [`failed`]; `jwt` verifies
//! with [`cached`] keys and never fetches itself. The rules:
//! - the set is kept as long as its `Cache-Control: max-age` says, within
//!   [`MIN_MAX_AGE_SECS`]..=[`MAX_MAX_AGE_SECS`] ([`DEFAULT_MAX_AGE_SECS`] without one);
//! - a token whose `kid` is not in the set fetches it again, at most once a minute per URL
//!   ([`REFRESH_INTERVAL_SECS`]), so a flood of made-up `kid`s costs one fetch a minute;
//! - a failed fetch keeps the keys already known, so a token whose key is cached passes
//!   whatever the key server does; only when no key was ever fetched is it `503`.

use std::cell::RefCell;
use std::collections::BTreeMap;

use serde_json::Value;

use super::keys::{JwtKey, KeyMaterial, jwk};

/// Shortest time a fetched set is kept, whatever its `Cache-Control` says.
pub const MIN_MAX_AGE_SECS: u64 = 60;
/// Longest time a fetched set is kept.
pub const MAX_MAX_AGE_SECS: u64 = 86_400;
/// How long a set without `max-age` is kept.
pub const DEFAULT_MAX_AGE_SECS: u64 = 600;
/// Fewest seconds between two fetches of one URL started by an unknown `kid` or a failure.
pub const REFRESH_INTERVAL_SECS: i64 = 60;
/// Largest key set read, in bytes.
pub const MAX_SET_BYTES: usize = 256 * 1024;

/// One URL's cached set.
#[derive(Debug, Clone, Default)]
struct Entry {
    keys: Vec<JwtKey>,
    /// Until when the keys are fresh, Unix seconds (0: never fetched).
    fresh_until: i64,
    /// When a fetch was last started, Unix seconds.
    last_attempt: Option<i64>,
}

thread_local! {
    // Per isolate: the worker runs one thread, and a set is worth keeping across requests.
    static CACHE: RefCell<BTreeMap<String, Entry>> = const { RefCell::new(BTreeMap::new()) };
}

/// What to do before verifying a token against `url`'s keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plan {
    /// Verify with the cached keys.
    UseCached,
    /// Fetch the set first (then verify with whatever is cached).
    Fetch,
}

/// Decides whether `url`'s set must be fetched before a token with `kid` is verified at
/// `now_secs`: when nothing is cached, when the set is stale, or when `kid` is not in it; but
/// never twice within [`REFRESH_INTERVAL_SECS`] except for a first fetch.
pub fn plan(url: &str, kid: Option<&str>, now_secs: i64) -> Plan {
    CACHE.with(|c| {
        let cache = c.borrow();
        let Some(entry) = cache.get(url) else {
            return Plan::Fetch;
        };
        let recently = entry
            .last_attempt
            .is_some_and(|t| now_secs - t < REFRESH_INTERVAL_SECS);
        let stale = now_secs >= entry.fresh_until;
        let unknown_kid =
            kid.is_some_and(|k| !entry.keys.iter().any(|key| key.kid.as_deref() == Some(k)));
        if entry.keys.is_empty() && !recently {
            return Plan::Fetch;
        }
        if (stale || unknown_kid) && !recently {
            Plan::Fetch
        } else {
            Plan::UseCached
        }
    })
}

/// Notes that a fetch of `url` starts at `now_secs` (so concurrent requests do not start more).
pub fn started(url: &str, now_secs: i64) {
    CACHE.with(|c| {
        c.borrow_mut()
            .entry(url.to_string())
            .or_default()
            .last_attempt = Some(now_secs);
    });
}

/// Keeps the set fetched from `url` at `now_secs`, fresh for `max_age_secs`.
pub fn store(url: &str, keys: Vec<JwtKey>, now_secs: i64, max_age_secs: u64) {
    CACHE.with(|c| {
        let mut cache = c.borrow_mut();
        let entry = cache.entry(url.to_string()).or_default();
        entry.keys = keys;
        entry.fresh_until =
            now_secs.saturating_add(i64::try_from(max_age_secs).unwrap_or(i64::MAX));
    });
}

/// The keys cached for `url` (empty when none was ever fetched).
pub fn cached(url: &str) -> Vec<JwtKey> {
    CACHE.with(|c| {
        c.borrow()
            .get(url)
            .map(|e| e.keys.clone())
            .unwrap_or_default()
    })
}

/// Forgets every cached set (tests).
pub fn clear() {
    CACHE.with(|c| c.borrow_mut().clear());
}

/// How long a set may be kept, from its answer's `Cache-Control`: `max-age` (or
/// `s-maxage`) within the bounds; `no-store`/`no-cache` the shortest; none the default.
pub fn max_age(cache_control: Option<&str>) -> u64 {
    let Some(value) = cache_control else {
        return DEFAULT_MAX_AGE_SECS;
    };
    let mut age = None;
    for directive in value.split(',').map(str::trim) {
        let lower = directive.to_ascii_lowercase();
        if lower == "no-store" || lower == "no-cache" {
            return MIN_MAX_AGE_SECS;
        }
        if let Some(n) = lower
            .strip_prefix("s-maxage=")
            .or_else(|| lower.strip_prefix("max-age="))
            .and_then(|n| n.trim_matches('"').parse::<u64>().ok())
        {
            age = Some(age.map_or(n, |a: u64| a.max(n)));
        }
    }
    age.unwrap_or(DEFAULT_MAX_AGE_SECS)
        .clamp(MIN_MAX_AGE_SECS, MAX_MAX_AGE_SECS)
}

/// The public signing keys of a JWK set fetched from a URL. Keys edgehook cannot use
/// (encryption keys, other curves, symmetric `oct` keys, which a URL must never serve)
/// are skipped, so a provider adding one does not break the rest; a set with no usable
/// key is an error.
pub fn parse_set(text: &[u8]) -> Result<Vec<JwtKey>, SetError> {
    let v: Value = serde_json::from_slice(text)?;
    let Some(Value::Array(keys)) = v.get("keys") else {
        return Err(SetError::NoKeys);
    };
    let usable: Vec<JwtKey> = keys
        .iter()
        .filter_map(|k| jwk(k).ok())
        .filter(|k| matches!(k.material, KeyMaterial::Public(_)))
        .collect();
    if usable.is_empty() {
        return Err(SetError::NoUsableKey);
    }
    Ok(usable)
}

/// Why a fetched JWK set cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SetError {
    /// The body is not JSON.
    #[error("not JSON: {0}")]
    NotJson(#[from] serde_json::Error),
    /// The JSON has no `keys` array.
    #[error("not a JWK set (no `keys` array)")]
    NoKeys,
    /// Every key is of a kind edgehook skips.
    #[error("the set holds no RS256, ES256 or EdDSA signing key")]
    NoUsableKey,
}

/// The `kid` of a compact JWS's header, if it names one (read without verifying, only to
/// decide whether to fetch).
pub fn token_kid(token: &str) -> Option<String> {
    let header = token.split('.').next()?;
    let bytes = base64::Engine::decode(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        header.trim_end_matches('='),
    )
    .ok()?;
    let v: Value = serde_json::from_slice(&bytes).ok()?;
    v.get("kid").and_then(Value::as_str).map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 7515 A.3's P-256 key and RFC 8037's Ed25519 key, public halves.
    const EC: &str = r#"{"kty":"EC","crv":"P-256","kid":"ec-1","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}"#;
    const OKP: &str = r#"{"kty":"OKP","crv":"Ed25519","kid":"ed-1","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}"#;

    fn set(keys: &[&str]) -> Vec<u8> {
        format!(r#"{{"keys":[{}]}}"#, keys.join(",")).into_bytes()
    }

    #[test]
    fn unusable_keys_are_skipped_and_symmetric_ones_refused() {
        let enc = r#"{"kty":"RSA","use":"enc","n":"AQAB","e":"AQAB","kid":"enc"}"#;
        let oct = r#"{"kty":"oct","k":"NgAxtOB2ClPklNt1i2tUvkk-Wm-Wds0uItd0-MVxEKo","kid":"hs"}"#;
        let p384 = r#"{"kty":"EC","crv":"P-384","x":"AA","y":"AA"}"#;
        let keys = parse_set(&set(&[enc, EC, oct, p384, OKP])).unwrap();
        let kids: Vec<_> = keys
            .iter()
            .map(|k| k.kid.clone().unwrap_or_default())
            .collect();
        assert_eq!(kids, ["ec-1", "ed-1"]);
        assert!(parse_set(&set(&[oct])).is_err());
        assert!(parse_set(b"{\"keys\":{}}").is_err());
        assert!(parse_set(b"<html>").is_err());
    }

    #[test]
    fn cache_control_is_honoured_within_bounds() {
        assert_eq!(max_age(None), DEFAULT_MAX_AGE_SECS);
        assert_eq!(max_age(Some("public, max-age=3600, must-revalidate")), 3600);
        assert_eq!(max_age(Some("max-age=5")), MIN_MAX_AGE_SECS);
        assert_eq!(max_age(Some("max-age=99999999")), MAX_MAX_AGE_SECS);
        assert_eq!(max_age(Some("no-store")), MIN_MAX_AGE_SECS);
        assert_eq!(max_age(Some("private")), DEFAULT_MAX_AGE_SECS);
        assert_eq!(max_age(Some("max-age=120, s-maxage=900")), 900);
    }

    #[test]
    fn fetches_when_empty_stale_or_kid_unknown_at_most_once_a_minute() {
        let url = "https://idp.example/jwks-plan";
        clear();
        assert_eq!(plan(url, Some("ec-1"), 1000), Plan::Fetch);
        started(url, 1000);
        store(url, parse_set(&set(&[EC])).unwrap(), 1000, 300);
        assert_eq!(plan(url, Some("ec-1"), 1010), Plan::UseCached);
        assert_eq!(plan(url, None, 1010), Plan::UseCached);
        // Unknown kid: not within a minute of the last fetch, then yes.
        assert_eq!(plan(url, Some("new"), 1030), Plan::UseCached);
        assert_eq!(plan(url, Some("new"), 1060), Plan::Fetch);
        started(url, 1060);
        assert_eq!(plan(url, Some("new"), 1100), Plan::UseCached);
        // Stale: fetched again (the keys stay until a fetch succeeds).
        assert_eq!(plan(url, Some("ec-1"), 1300), Plan::Fetch);
        started(url, 1300);
        assert_eq!(cached(url).len(), 1);
        assert_eq!(plan(url, Some("ec-1"), 1301), Plan::UseCached);
        // A first fetch that failed is retried, but not more than once a minute.
        let other = "https://idp.example/jwks-down";
        started(other, 2000);
        assert_eq!(plan(other, None, 2001), Plan::UseCached);
        assert!(cached(other).is_empty());
        assert_eq!(plan(other, None, 2060), Plan::Fetch);
    }

    #[test]
    fn the_kid_is_read_from_the_header() {
        // {"alg":"ES256","kid":"ec-1"}
        let header = base64::Engine::encode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            br#"{"alg":"ES256","kid":"ec-1"}"#,
        );
        assert_eq!(
            token_kid(&format!("{header}.e30.sig")).as_deref(),
            Some("ec-1")
        );
        assert_eq!(token_kid("garbage"), None);
    }
}
