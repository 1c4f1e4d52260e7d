//! The service-account JWT a subscriber PATCHes results with (AMO's scanner JWT).
//!
//! HS256 only, signed with the subscription's service-account secret; `iss` is the
//! account's `jwt_key` (that is how the secret is found); `iat` required and not in the
//! future (60 s leeway); `exp` required, not past, and at most 300 s after `iat`; `jti`
//! required, and accepted once (the caller records it until `exp`).
//!
//! A PATCH may instead carry AShirt request signing (`Authorization:
//! <accessKey>:<base64 HMAC>`, `Date`) with the same credential: the access key is the
//! account's `jwt_key` and the HMAC key the `jwt_secret`'s bytes, which an AShirt client
//! holds as the base64 secret key [`ashirt_secret_key`] gives.

use base64::Engine;
use jwt_compact::UntrustedToken;
use serde_json::{Map, Value};

use crate::auth::jwt::{self, JwtError, JwtRules};
use crate::auth::keys::{JwtKey, KeyMaterial};
use crate::crypto::Crypto;

/// Longest lifetime of a result token.
pub const MAX_LIFETIME_SECS: i64 = 300;

/// A verified token's claims that matter here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceClaims {
    /// The account key (`iss`).
    pub issuer: String,
    /// The token id, to be used once.
    pub jti: String,
    /// Expiry, Unix seconds: how long the `jti` must be remembered.
    pub exp: i64,
}

/// How a result PATCH is authenticated, told from its `Authorization` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PatchCredentials<'a> {
    /// `JWT <token>` or `Bearer <token>`: the service-account JWT (AMO).
    Jwt(&'a str),
    /// `<accessKey>:<base64 HMAC>`: AShirt request signing by the account `access_key`.
    Ashirt {
        /// The account's `jwt_key`.
        access_key: &'a str,
        /// The base64 signature, used once.
        signature: &'a str,
    },
}

/// Which credentials `authorization` carries; `None` when it is neither form.
pub fn patch_credentials(authorization: &str) -> Option<PatchCredentials<'_>> {
    if let Some(token) = jwt::bearer(authorization) {
        return Some(PatchCredentials::Jwt(token));
    }
    let (access_key, signature) = authorization.trim().rsplit_once(':')?;
    (!access_key.is_empty() && !signature.is_empty() && !access_key.contains(' ')).then_some(
        PatchCredentials::Ashirt {
            access_key,
            signature,
        },
    )
}

/// The account secret as AShirt clients hold a secret key: standard base64 of its bytes.
pub fn ashirt_secret_key(jwt_secret: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(jwt_secret.as_bytes())
}

/// The `iss` of a token, read before verification to find the account's secret.
pub fn issuer(token: &str) -> Result<String, JwtError> {
    let parsed = UntrustedToken::new(token).map_err(|e| JwtError::Malformed(e.to_string()))?;
    let claims = parsed
        .deserialize_claims_unchecked::<Map<String, Value>>()
        .map_err(|e| JwtError::Malformed(e.to_string()))?;
    claims
        .custom
        .get("iss")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .ok_or(JwtError::MissingClaim("iss"))
}

/// Verifies `token` with the account's HS256 `secret`.
pub async fn verify<C: Crypto>(
    crypto: &C,
    token: &str,
    jwt_key: &str,
    secret: &[u8],
    now_secs: i64,
) -> Result<ServiceClaims, JwtError> {
    let key = JwtKey {
        kid: None,
        material: KeyMaterial::Hs256(secret.to_vec()),
    };
    let rules = JwtRules {
        issuer: Some(jwt_key),
        audience: None,
        max_lifetime_secs: MAX_LIFETIME_SECS,
    };
    let claims = jwt::verify(crypto, std::slice::from_ref(&key), &rules, token, now_secs).await?;
    let jti = claims
        .get("jti")
        .and_then(Value::as_str)
        .filter(|j| !j.is_empty() && j.len() <= 255)
        .ok_or(JwtError::MissingClaim("jti"))?;
    Ok(ServiceClaims {
        issuer: jwt_key.to_string(),
        jti: jti.to_string(),
        exp: claims
            .get("exp")
            .and_then(Value::as_i64)
            .unwrap_or(now_secs),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::hmac_sha256;
    use crate::crypto::native::NativeCrypto;
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use serde_json::json;

    fn token(header: Value, claims: Value, secret: &[u8]) -> String {
        let h = URL_SAFE_NO_PAD.encode(header.to_string());
        let c = URL_SAFE_NO_PAD.encode(claims.to_string());
        let sig = URL_SAFE_NO_PAD.encode(hmac_sha256(secret, format!("{h}.{c}").as_bytes()));
        format!("{h}.{c}.{sig}")
    }

    fn check(claims: Value, secret: &[u8]) -> Result<ServiceClaims, JwtError> {
        let t = token(json!({"alg": "HS256", "typ": "JWT"}), claims, secret);
        futures_executor::block_on(verify(&NativeCrypto, &t, "sa_1", b"s3cret", 1_000))
    }

    #[test]
    fn accepts_an_amo_style_token() {
        let c = check(
            json!({"iss": "sa_1", "jti": "j1", "iat": 1_000, "exp": 1_060}),
            b"s3cret",
        )
        .unwrap();
        assert_eq!(
            (c.issuer.as_str(), c.jti.as_str(), c.exp),
            ("sa_1", "j1", 1_060)
        );
        let t = token(json!({"alg": "HS256"}), json!({"iss": "sa_1"}), b"x");
        assert_eq!(issuer(&t).unwrap(), "sa_1");
    }

    #[test]
    fn refuses_what_the_spec_refuses() {
        let cases = [
            (
                json!({"iss": "sa_1", "jti": "j", "iat": 1_000, "exp": 1_301}),
                "lifetime_too_long",
            ),
            (
                json!({"iss": "sa_1", "jti": "j", "iat": 500, "exp": 900}),
                "expired_token",
            ),
            (
                json!({"iss": "sa_1", "jti": "j", "iat": 1_100, "exp": 1_200}),
                "issued_in_future",
            ),
            (
                json!({"iss": "sa_1", "iat": 1_000, "exp": 1_060}),
                "missing_claim",
            ),
            (
                json!({"iss": "sa_1", "jti": "j", "exp": 1_060}),
                "missing_claim",
            ),
            (
                json!({"iss": "sa_2", "jti": "j", "iat": 1_000, "exp": 1_060}),
                "invalid_issuer",
            ),
        ];
        for (claims, code) in cases {
            assert_eq!(
                check(claims.clone(), b"s3cret")
                    .unwrap_err()
                    .code()
                    .as_str(),
                code,
                "{claims}"
            );
        }
        let good = json!({"iss": "sa_1", "jti": "j", "iat": 1_000, "exp": 1_060});
        assert_eq!(
            check(good.clone(), b"wrong").unwrap_err().code().as_str(),
            "invalid_signature"
        );
        let none = format!(
            "{}.{}.",
            URL_SAFE_NO_PAD.encode(json!({"alg": "none"}).to_string()),
            URL_SAFE_NO_PAD.encode(good.to_string())
        );
        let e = futures_executor::block_on(verify(&NativeCrypto, &none, "sa_1", b"s3cret", 1_000));
        assert_eq!(e.unwrap_err().code().as_str(), "algorithm_not_allowed");
        assert!(issuer("garbage").is_err());
    }

    #[test]
    fn patch_credentials_tell_jwt_from_ashirt_signing() {
        assert_eq!(
            patch_credentials("JWT a.b.c"),
            Some(PatchCredentials::Jwt("a.b.c"))
        );
        assert_eq!(
            patch_credentials("Bearer a.b.c"),
            Some(PatchCredentials::Jwt("a.b.c"))
        );
        assert_eq!(
            patch_credentials("sa_1:c2ln"),
            Some(PatchCredentials::Ashirt {
                access_key: "sa_1",
                signature: "c2ln"
            })
        );
        for bad in [
            "",
            "sa_1",
            "sa_1:",
            ":c2ln",
            "Basic dXNlcjpwYXNz",
            "Digest a:b",
        ] {
            assert_eq!(patch_credentials(bad), None, "{bad}");
        }
        // The AShirt form of a secret decodes back to the JWT secret's bytes.
        assert_eq!(ashirt_secret_key("abc_-"), "YWJjXy0=");
    }
}
