//! AShirt request signing: `Authorization: <accessKey>:<base64 HMAC-SHA256>` over
//! `METHOD\nURI\nDATE\n` followed by the raw SHA-256 of the body, under the base64 secret
//! key of that access key; `Date` is an HTTP date (RFC 1123's form in GMT, as AShirt's
//! clients send; RFC 9110's obsolete forms are read too) within ±1 h.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use sha2::{Digest, Sha256};
use subtle::{Choice, ConstantTimeEq};

use super::AuthError;
use crate::crypto::{Crypto, hmac_matches_any, hmac_sha256};
use crate::time::parse_http_date;

/// Largest accepted distance between `Date` and now.
pub const TOLERANCE_SECS: i64 = 3600;

/// The secret key bytes of a secret holding base64.
pub fn decode_secret(secret: &str) -> Result<Vec<u8>, String> {
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
    now: i64,
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
    if (now - sent).abs() > TOLERANCE_SECS {
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
