//! AMO's scheme: `Authorization: HMAC-SHA256 <hex>`, the HMAC-SHA256 of the raw body
//! keyed by a shared secret used as-is.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::{Choice, ConstantTimeEq};

use super::AuthError;

/// The `Authorization` scheme word.
pub const SCHEME: &str = "HMAC-SHA256";

/// HMAC-SHA256 of `data` keyed by `key`.
pub fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    // An HMAC key may have any length, so new_from_slice cannot fail.
    let mut mac = <Hmac<Sha256>>::new_from_slice(key).unwrap_or_else(|_| unreachable!());
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// The header value AMO sends for `body` under `key`: `HMAC-SHA256 <hex>`.
pub fn authorization(key: &[u8], body: &[u8]) -> String {
    format!("{SCHEME} {}", hex::encode(hmac_sha256(key, body)))
}

/// Parses `HMAC-SHA256 <64 hex digits>` into the 32-byte MAC.
pub fn parse_authorization(value: &str) -> Result<[u8; 32], AuthError> {
    let malformed = || {
        AuthError::Malformed(format!(
            "the Authorization header must be `{SCHEME} <64 hex digits>`"
        ))
    };
    let (scheme, digest) = value.trim().split_once(' ').ok_or_else(malformed)?;
    if !scheme.eq_ignore_ascii_case(SCHEME) {
        return Err(malformed());
    }
    let mut out = [0u8; 32];
    hex::decode_to_slice(digest.trim(), &mut out).map_err(|_| malformed())?;
    Ok(out)
}

/// Checks the `Authorization` header against every key, in constant time per key and
/// without stopping at the first match (so timing does not tell which key matched).
pub fn verify(keys: &[&[u8]], authorization: Option<&str>, body: &[u8]) -> Result<(), AuthError> {
    let given =
        parse_authorization(authorization.ok_or(AuthError::MissingHeader("Authorization"))?)?;
    let mut ok = Choice::from(0);
    for key in keys {
        ok |= hmac_sha256(key, body).ct_eq(&given);
    }
    if bool::from(ok) {
        Ok(())
    } else {
        Err(AuthError::InvalidSignature)
    }
}
