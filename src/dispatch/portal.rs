//! The subscriber portal's links: `POST /admin/subscriptions/{id}/portal` mints a signed
//! link that expires (at most [`MAX_TTL_SECS`]) to a page showing that one subscription.
//!
//! The link carries an HS256 JWT in its fragment (never sent to a server, so it stays out
//! of access logs); the page sends it as `Authorization: Bearer`. Its key is derived from
//! `MASTER_KEY` (HMAC-SHA256 of [`KEY_LABEL`]), so no new secret is needed and rotating
//! the master key revokes every link. Claims: `sub` the subscription id, `aud`
//! [`AUDIENCE`], `iss` `<public_url>/portal`, `iat`, `exp`. A token names one subscription
//! and every portal route reads only what belongs to it.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::json;

use crate::auth::jwt::JwtRules;
use crate::auth::keys::{JwtKey, KeyMaterial};
use crate::crypto::hmac_sha256;
use crate::error::{ApiError, ErrorCode};

/// Longest a link lives.
pub const MAX_TTL_SECS: u64 = 86_400;
/// How long a link lives unless asked otherwise.
pub const DEFAULT_TTL_SECS: u64 = 3_600;
/// The tokens' `aud`.
pub const AUDIENCE: &str = "edgehook-portal";
/// What the portal key is derived with.
pub const KEY_LABEL: &[u8] = b"edgehook portal link v1";

/// The portal's signing key, from the master key's bytes.
pub fn key(master: &[u8; 32]) -> [u8; 32] {
    hmac_sha256(master, KEY_LABEL)
}

/// The key as the JWT verifier takes it.
pub fn verifying_key(master: &[u8; 32]) -> JwtKey {
    JwtKey {
        kid: None,
        material: KeyMaterial::Hs256(key(master).to_vec()),
    }
}

/// The claim rules of a portal token.
pub fn rules(issuer: &str) -> JwtRules<'_> {
    JwtRules {
        issuer: Some(issuer),
        audience: Some(AUDIENCE),
        max_lifetime_secs: MAX_TTL_SECS as i64,
    }
}

/// `<public_url>/portal`, the tokens' `iss` and the page's address.
pub fn issuer(public_url: &str) -> String {
    format!("{public_url}/portal")
}

/// A link's lifetime from `ttl_secs` (default [`DEFAULT_TTL_SECS`]), at most a day;
/// else `422 invalid_request`.
pub fn ttl(ttl_secs: Option<u64>) -> Result<u64, ApiError> {
    match ttl_secs {
        None => Ok(DEFAULT_TTL_SECS),
        Some(t) if (60..=MAX_TTL_SECS).contains(&t) => Ok(t),
        Some(t) => Err(ApiError::new(
            ErrorCode::InvalidRequest,
            format!(
                "ttl_secs must be 60 to {MAX_TTL_SECS} (a portal link lives at most a day), not {t}"
            ),
        )),
    }
}

/// A portal token for `subscription_id`, valid `ttl_secs` from `now_secs`.
pub fn mint(
    master: &[u8; 32],
    issuer: &str,
    subscription_id: &str,
    now_secs: i64,
    ttl_secs: u64,
) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let claims = json!({
        "sub": subscription_id,
        "aud": AUDIENCE,
        "iss": issuer,
        "iat": now_secs,
        "exp": now_secs + ttl_secs as i64,
    });
    let claims = URL_SAFE_NO_PAD.encode(claims.to_string());
    let signing_input = format!("{header}.{claims}");
    let signature = hmac_sha256(&key(master), signing_input.as_bytes());
    format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(signature))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::jwt::{self, JwtError};
    use crate::crypto::native::NativeCrypto;

    const MASTER: [u8; 32] = [7; 32];

    fn check(token: &str, iss: &str, now_secs: i64) -> Result<String, JwtError> {
        let keys = [verifying_key(&MASTER)];
        let claims = futures_executor::block_on(jwt::verify(
            &NativeCrypto,
            &keys,
            &rules(iss),
            token,
            now_secs,
        ))?;
        Ok(claims["sub"].as_str().unwrap().to_string())
    }

    #[test]
    fn a_minted_link_verifies_for_its_subscription_until_it_expires() {
        let t = mint(&MASTER, "https://h/portal", "sub_1", 1_000, 3_600);
        assert_eq!(check(&t, "https://h/portal", 1_000), Ok("sub_1".into()));
        assert_eq!(check(&t, "https://h/portal", 4_700), Err(JwtError::Expired));
        assert_eq!(
            check(&t, "https://other/portal", 1_000),
            Err(JwtError::WrongIssuer)
        );
        // Another master key (rotated) signs differently.
        let other = mint(&[8; 32], "https://h/portal", "sub_1", 1_000, 3_600);
        assert_eq!(
            check(&other, "https://h/portal", 1_000),
            Err(JwtError::InvalidSignature)
        );
        // A tampered sub no longer verifies.
        let parts: Vec<&str> = t.split('.').collect();
        let forged_claims = URL_SAFE_NO_PAD.encode(
            json!({"sub":"sub_2","aud":AUDIENCE,"iss":"https://h/portal","iat":1000,"exp":4600})
                .to_string(),
        );
        let forged = format!("{}.{forged_claims}.{}", parts[0], parts[2]);
        assert_eq!(
            check(&forged, "https://h/portal", 1_000),
            Err(JwtError::InvalidSignature)
        );
    }

    #[test]
    fn a_link_lives_at_most_a_day() {
        assert_eq!(ttl(None), Ok(DEFAULT_TTL_SECS));
        assert_eq!(ttl(Some(86_400)), Ok(86_400));
        assert!(ttl(Some(86_401)).is_err());
        assert!(ttl(Some(10)).is_err());
        // A token claiming more than a day is refused even if signed.
        let t = mint(&MASTER, "i", "sub_1", 0, 2 * 86_400);
        assert_eq!(check(&t, "i", 0), Err(JwtError::LifetimeTooLong(86_400)));
    }
}
