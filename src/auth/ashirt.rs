//! AShirt request signing: `Authorization: <accessKey>:<base64 HMAC-SHA256>` over
//! `METHOD\nURI\nDATE\n` followed by the raw SHA-256 of the body, under the base64 secret
//! key of that access key; `Date` is an HTTP date (RFC 1123's form in GMT, as AShirt's
//! clients send; RFC 9110's obsolete forms are read too) within ±1 h.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use subtle::{Choice, ConstantTimeEq};

use super::AuthError;
use crate::crypto::{Crypto, hmac_matches_any, hmac_sha256};
use crate::time::parse_http_date;

use super::{ApiKeyStore, AuthContext, InboundRequest, Scheme, Verified};
use super::{InvalidSecret, check_secret, validate_names};
use crate::error::ConfigError;
use crate::secrets::Secrets;

/// Largest accepted distance between `Date` and now.
pub const TOLERANCE_SECS: i64 = 3600;

/// The secret key bytes of a secret holding base64.
pub fn decode_secret(secret: &str) -> Result<Vec<u8>, InvalidSecret> {
    let key = STANDARD
        .decode(secret.trim())
        .map_err(|e| format!("not a base64 secret key ({e})"))?;
    if key.is_empty() {
        return Err("the secret key is empty".into());
    }
    Ok(key)
}

/// The signed message of a request.
pub fn message(method: &str, uri: &str, date: &str, body: &[u8]) -> Vec<u8> {
    let mut m = format!("{method}\n{uri}\n{date}\n").into_bytes();
    m.extend_from_slice(&Sha256::digest(body));
    m
}

/// The `Authorization` value AShirt's clients send.
pub fn authorization(access_key: &str, secret: &[u8], message: &[u8]) -> String {
    format!(
        "{access_key}:{}",
        STANDARD.encode(hmac_sha256(secret, message))
    )
}

/// Checks a request. `keys` are `(access key, secret key bytes)`. An unknown access key
/// costs the same HMAC and gets the same answer as a wrong signature, so the answers do
/// not tell which access keys exist.
#[allow(clippy::too_many_arguments)]
pub async fn verify<C: Crypto>(
    crypto: &C,
    keys: &[(&str, Vec<u8>)],
    authorization: Option<&str>,
    date: Option<&str>,
    method: &str,
    uri: &str,
    body: &[u8],
    now_secs: i64,
) -> Result<(), AuthError> {
    let authorization = authorization.ok_or(AuthError::MissingHeader("Authorization"))?;
    let date = date.ok_or(AuthError::MissingHeader("Date"))?;
    let malformed =
        || AuthError::Malformed("the Authorization header must be `<accessKey>:<base64>`".into());
    let (access_key, b64) = authorization
        .trim()
        .rsplit_once(':')
        .ok_or_else(malformed)?;
    let given = STANDARD
        .decode(b64)
        .ok()
        .filter(|g| !g.is_empty())
        .ok_or_else(malformed)?;
    let sent = parse_http_date(date).ok_or_else(|| {
        AuthError::Malformed("the Date header must be an HTTP date in GMT (RFC 1123)".into())
    })?;
    if (now_secs - sent).abs() > TOLERANCE_SECS {
        return Err(AuthError::TimestampOutOfTolerance);
    }
    // Every configured access key is compared (constant time, no early exit) and an
    // unknown one is checked against a throwaway secret of the usual length, so neither
    // the work done nor the answer tells which access keys exist.
    let unknown = [0u8; 64];
    let mut secret: &[u8] = &unknown;
    let mut known = Choice::from(0);
    for (k, s) in keys {
        let this = k.as_bytes().ct_eq(access_key.as_bytes());
        known |= this;
        if bool::from(this) {
            secret = s;
        }
    }
    let matches = hmac_matches_any(
        crypto,
        &[secret],
        &message(method, uri, date, body),
        &[&given],
    )
    .await?;
    if bool::from(known & Choice::from(u8::from(matches))) {
        Ok(())
    } else {
        Err(AuthError::InvalidSignature)
    }
}

/// AShirt request signing: `Authorization: <accessKey>:<base64>` and `Date`
/// (`scheme = "ashirt"`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Access keys and the secrets holding their base64 secret keys.
    pub keys: Vec<Key>,
}

/// One AShirt access key.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Key {
    /// The public access key, sent before the `:`.
    pub access_key: String,
    /// Name of the secret holding the base64 secret key.
    pub secret: String,
}

impl Scheme for Config {
    fn headers(&self) -> Vec<&str> {
        vec!["authorization", "date"]
    }

    fn validate(&mut self, path: &str) -> Result<(), ConfigError> {
        if self.keys.is_empty() {
            return Err(ConfigError(format!("{path}.keys: name at least one key")));
        }
        let mut seen = std::collections::HashSet::new();
        for (i, k) in self.keys.iter().enumerate() {
            if k.access_key.is_empty() || k.access_key.contains(':') {
                return Err(ConfigError(format!(
                    "{path}.keys[{i}].access_key: must be non-empty and without ':'"
                )));
            }
            if !seen.insert(k.access_key.as_str()) {
                return Err(ConfigError(format!(
                    "{path}.keys[{i}].access_key: {:?} is listed twice",
                    k.access_key
                )));
            }
            validate_names(
                &format!("{path}.keys[{i}].secret"),
                std::slice::from_ref(&k.secret),
            )
            .map_err(|e| ConfigError(e.0.replace(".secret[0]", ".secret")))?;
        }
        Ok(())
    }

    fn secret_refs(&self, path: &str) -> Vec<(String, String)> {
        self.keys
            .iter()
            .enumerate()
            .map(|(i, k)| (format!("{path}.keys[{i}].secret"), k.secret.clone()))
            .collect()
    }

    fn check_secrets(&self, path: &str, secrets: &Secrets) -> Result<(), ConfigError> {
        for (key, name) in self.secret_refs(path) {
            check_secret(&key, &name, secrets, |v| decode_secret(v).map(drop))?;
        }
        Ok(())
    }

    async fn authenticate<C: Crypto, K: ApiKeyStore>(
        &self,
        cx: &AuthContext<'_, C, K>,
        req: &InboundRequest,
    ) -> Result<Verified, AuthError> {
        let keys: Vec<(&str, Vec<u8>)> = self
            .keys
            .iter()
            .filter_map(|k| {
                let secret = cx.secrets.get(&k.secret)?;
                Some((k.access_key.as_str(), decode_secret(secret).ok()?))
            })
            .collect();
        verify(
            cx.crypto,
            &keys,
            req.headers.get("authorization"),
            req.headers.get("date"),
            &req.method,
            &req.uri,
            &req.body,
            cx.now_secs,
        )
        .await?;
        Ok(Verified::default())
    }
}
