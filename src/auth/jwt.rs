//! `jwt`: `Authorization: Bearer <JWT>`, verified by the rules of RFC 8725 and Psoxy.
//!
//! jwt-compact parses the token and validates its time claims; the signature itself is
//! checked through [`Crypto`], so RS256 / ES256 / EdDSA run on WebCrypto in the worker.
//! Rules: the algorithm must be one a configured key is bound to (`none` never is, and a
//! key is never used with another algorithm, so HS256-with-the-RSA-key fails); `typ`, if
//! present, is `JWT`; when keys have ids the token's `kid` must name one; `iss` and `aud`
//! must match; `iat` and `exp` are required, `iat` not in the future, `exp` not past and
//! at most `max_lifetime_secs` after `iat`; `nbf` is honoured; a `crit` header is refused,
//! since edgehook implements no JWS extension (RFC 7515 §4.1.11). Clock leeway: 60 s.

use chrono::{DateTime, TimeZone, Utc};
use jwt_compact::{Claims, TimeOptions, UntrustedToken, ValidationError};
use serde::Deserialize;
use serde_json::{Map, Value};

use super::keys::{JwtKey, KeyMaterial};
use crate::crypto::{Crypto, CryptoError, hmac_matches_any};
use crate::error::{ApiError, ErrorCode};

use super::{ApiKeyStore, AuthContext, AuthError, InboundRequest, Scheme, Verified};
use super::{named, validate_names};
use crate::error::ConfigError;

/// Clock leeway for `iat`, `exp` and `nbf`.
pub const LEEWAY_SECS: i64 = 60;
/// Default `max_lifetime_secs`: 365 days.
pub const DEFAULT_MAX_LIFETIME_SECS: u64 = 365 * 86_400;

/// The claim rules of one collector (or one use, such as result PATCHes).
#[derive(Debug, Clone)]
pub struct JwtRules<'a> {
    /// Required `iss`; `None` skips the check (used where the issuer selects the key).
    pub issuer: Option<&'a str>,
    /// Required `aud` (a string equal to it, or an array containing it); `None` skips.
    pub audience: Option<&'a str>,
    /// Largest allowed `exp - iat`.
    pub max_lifetime_secs: i64,
}

/// Why a token was refused; each maps to a stable `401` code. The message never
/// contains a key or an expected value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwtError {
    /// Not a compact JWS, or its header or claims are not JSON.
    #[error("the token is not a valid JWT: {0}")]
    Malformed(String),
    /// `alg` is `none` or not bound to any configured key.
    #[error("algorithm {0:?} is not accepted by this collector")]
    AlgorithmNotAllowed(String),
    /// `typ` is present and not `JWT`.
    #[error("the token's `typ` must be JWT")]
    WrongType,
    /// The header has `crit`: it names extensions that must be understood, and edgehook
    /// implements none.
    #[error("the token's `crit` names extensions edgehook does not implement")]
    CriticalHeader,
    /// No configured key has the token's `kid` (or the token lacks one when keys have ids).
    #[error("the token's `kid` names no configured key")]
    UnknownKey,
    /// The signature does not verify.
    #[error("the token's signature does not verify")]
    InvalidSignature,
    /// A required claim (`exp`, `iat`) is missing.
    #[error("the token has no `{0}` claim")]
    MissingClaim(&'static str),
    /// `exp` has passed.
    #[error("the token has expired")]
    Expired,
    /// `nbf` is in the future.
    #[error("the token is not valid yet (`nbf`)")]
    NotYetValid,
    /// `iat` is in the future.
    #[error("the token's `iat` is in the future")]
    IssuedInFuture,
    /// `exp - iat` exceeds the maximum lifetime.
    #[error("the token lives longer than the allowed {0} seconds")]
    LifetimeTooLong(i64),
    /// `iss` does not match.
    #[error("the token's `iss` is not the expected issuer")]
    WrongIssuer,
    /// `aud` does not match.
    #[error("the token's `aud` is not this collector")]
    WrongAudience,
    /// The crypto backend failed.
    #[error("token verification is unavailable: {0}")]
    Backend(#[from] CryptoError),
}

impl JwtError {
    /// The stable error code.
    pub fn code(&self) -> ErrorCode {
        match self {
            JwtError::Malformed(_) => ErrorCode::MalformedToken,
            JwtError::AlgorithmNotAllowed(_) => ErrorCode::AlgorithmNotAllowed,
            JwtError::WrongType => ErrorCode::InvalidTokenType,
            JwtError::CriticalHeader => ErrorCode::UnsupportedCriticalHeader,
            JwtError::UnknownKey => ErrorCode::UnknownKey,
            JwtError::InvalidSignature => ErrorCode::InvalidSignature,
            JwtError::MissingClaim(_) => ErrorCode::MissingClaim,
            JwtError::Expired => ErrorCode::ExpiredToken,
            JwtError::NotYetValid => ErrorCode::TokenNotYetValid,
            JwtError::IssuedInFuture => ErrorCode::IssuedInFuture,
            JwtError::LifetimeTooLong(_) => ErrorCode::LifetimeTooLong,
            JwtError::WrongIssuer => ErrorCode::InvalidIssuer,
            JwtError::WrongAudience => ErrorCode::InvalidAudience,
            JwtError::Backend(_) => ErrorCode::Unavailable,
        }
    }
}

impl From<JwtError> for ApiError {
    fn from(e: JwtError) -> ApiError {
        match e {
            // The backend's own text goes to the log, not to the client.
            JwtError::Backend(e) => ApiError::unavailable(e),
            e => ApiError::new(e.code(), e.to_string()),
        }
    }
}

/// The algorithms edgehook can verify at all.
pub const ALLOWED_ALGS: [&str; 4] = ["RS256", "ES256", "EdDSA", "HS256"];

/// The header members jwt-compact leaves to its caller that edgehook looks at.
#[derive(Debug, Deserialize)]
pub struct Extensions {
    /// `crit` (RFC 7515 §4.1.11): kept as any JSON, since any value is refused.
    #[serde(default)]
    crit: Option<Value>,
}

/// Checks the token's header and signature against `keys`; returns the parsed token.
pub async fn verify_signature<'t, C: Crypto>(
    crypto: &C,
    keys: &[JwtKey],
    token: &'t str,
) -> Result<UntrustedToken<'t, Extensions>, JwtError> {
    let parsed = UntrustedToken::<Extensions>::try_from(token)
        .map_err(|e| JwtError::Malformed(e.to_string()))?;
    let alg = parsed.algorithm();
    if !ALLOWED_ALGS.contains(&alg) {
        return Err(JwtError::AlgorithmNotAllowed(alg.to_string()));
    }
    if parsed.header().other_fields.crit.is_some() {
        return Err(JwtError::CriticalHeader);
    }
    if let Some(typ) = &parsed.header().token_type
        && !typ.eq_ignore_ascii_case("JWT")
    {
        return Err(JwtError::WrongType);
    }
    let bound: Vec<&JwtKey> = keys.iter().filter(|k| k.alg() == alg).collect();
    if bound.is_empty() {
        return Err(JwtError::AlgorithmNotAllowed(alg.to_string()));
    }
    let candidates: Vec<&JwtKey> = if bound.iter().any(|k| k.kid.is_some()) {
        let kid = parsed
            .header()
            .key_id
            .as_deref()
            .ok_or(JwtError::UnknownKey)?;
        bound
            .into_iter()
            .filter(|k| k.kid.as_deref() == Some(kid))
            .collect()
    } else {
        bound
    };
    if candidates.is_empty() {
        return Err(JwtError::UnknownKey);
    }
    // The signing input is everything before the last dot, exactly as sent.
    let (signing_input, _) = token.rsplit_once('.').ok_or(JwtError::InvalidSignature)?;
    let signature = parsed.signature_bytes();
    let mut verified = false;
    let hmac_keys: Vec<&[u8]> = candidates
        .iter()
        .filter_map(|k| match &k.material {
            KeyMaterial::Hs256(secret) => Some(secret.as_slice()),
            KeyMaterial::Public(_) => None,
        })
        .collect();
    if !hmac_keys.is_empty() {
        verified |=
            hmac_matches_any(crypto, &hmac_keys, signing_input.as_bytes(), &[signature]).await?;
    }
    for key in &candidates {
        if let KeyMaterial::Public(public) = &key.material {
            verified |= crypto
                .verify(public, signing_input.as_bytes(), signature)
                .await?;
        }
    }
    if verified {
        Ok(parsed)
    } else {
        Err(JwtError::InvalidSignature)
    }
}

fn at(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(secs, 0)
        .single()
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// Validates the claims of a verified token at `now_secs`; returns all its claims.
pub fn check_claims<H>(
    token: &UntrustedToken<'_, H>,
    rules: &JwtRules<'_>,
    now_secs: i64,
) -> Result<Map<String, Value>, JwtError> {
    let claims: Claims<Map<String, Value>> = token
        .deserialize_claims_unchecked()
        .map_err(|e| JwtError::Malformed(e.to_string()))?;
    let options = TimeOptions::new(chrono::Duration::seconds(LEEWAY_SECS), move || at(now_secs));
    let exp = claims.expiration.ok_or(JwtError::MissingClaim("exp"))?;
    claims.validate_expiration(&options).map_err(|e| match e {
        ValidationError::Expired => JwtError::Expired,
        other => JwtError::Malformed(other.to_string()),
    })?;
    let iat = claims.issued_at.ok_or(JwtError::MissingClaim("iat"))?;
    if claims.not_before.is_some() {
        claims.validate_maturity(&options).map_err(|e| match e {
            ValidationError::NotMature => JwtError::NotYetValid,
            other => JwtError::Malformed(other.to_string()),
        })?;
    }
    if iat.timestamp() > now_secs + LEEWAY_SECS {
        return Err(JwtError::IssuedInFuture);
    }
    if exp.timestamp() - iat.timestamp() > rules.max_lifetime_secs {
        return Err(JwtError::LifetimeTooLong(rules.max_lifetime_secs));
    }
    let custom = &claims.custom;
    if let Some(issuer) = rules.issuer
        && custom.get("iss").and_then(Value::as_str) != Some(issuer)
    {
        return Err(JwtError::WrongIssuer);
    }
    if let Some(audience) = rules.audience {
        let ok = match custom.get("aud") {
            Some(Value::String(a)) => a == audience,
            Some(Value::Array(list)) => list.iter().any(|a| a.as_str() == Some(audience)),
            _ => false,
        };
        if !ok {
            return Err(JwtError::WrongAudience);
        }
    }
    let mut all = claims.custom;
    all.insert("exp".into(), exp.timestamp().into());
    all.insert("iat".into(), iat.timestamp().into());
    if let Some(nbf) = claims.not_before {
        all.insert("nbf".into(), nbf.timestamp().into());
    }
    Ok(all)
}

/// Verifies a token completely: header, signature, then claims.
pub async fn verify<C: Crypto>(
    crypto: &C,
    keys: &[JwtKey],
    rules: &JwtRules<'_>,
    token: &str,
    now_secs: i64,
) -> Result<Map<String, Value>, JwtError> {
    let parsed = verify_signature(crypto, keys, token).await?;
    check_claims(&parsed, rules, now_secs)
}

/// The token of an `Authorization: Bearer <token>` (or `JWT <token>`) header value.
pub fn bearer(authorization: &str) -> Option<&str> {
    let (scheme, token) = authorization.trim().split_once(' ')?;
    (scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("jwt"))
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// Psoxy: `Authorization: Bearer <JWT>` (RS256, ES256, EdDSA, HS256) (`scheme = "jwt"`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Names of secrets holding keys (`base64:<SPKI>`, PEM, JWK or JWK set).
    #[serde(default)]
    pub keys: Vec<String>,
    /// A JWK set to fetch keys from (an identity provider's `jwks_uri`), cached per
    /// isolate ([`super::jwks`]); besides `keys` or instead of them.
    #[serde(default)]
    pub jwks_url: Option<String>,
    /// Required `iss`; default `<public_url>/hooks/<name>`.
    #[serde(default)]
    pub issuer: Option<String>,
    /// Required `aud`; default `<public_url>/hooks/<name>`.
    #[serde(default)]
    pub audience: Option<String>,
    /// Largest `exp - iat` accepted; default 365 days.
    #[serde(default = "default_max_lifetime")]
    pub max_lifetime_secs: u64,
}

fn default_max_lifetime() -> u64 {
    DEFAULT_MAX_LIFETIME_SECS
}

impl Scheme for Config {
    fn headers(&self) -> Vec<&str> {
        vec!["authorization"]
    }

    fn validate(&mut self, path: &str) -> Result<(), ConfigError> {
        match &self.jwks_url {
            None => validate_names(&format!("{path}.keys"), &self.keys)?,
            Some(url) => {
                if !self.keys.is_empty() {
                    validate_names(&format!("{path}.keys"), &self.keys)?;
                }
                let ok = url::Url::parse(url)
                    .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some());
                if !ok {
                    return Err(ConfigError(format!(
                        "{path}.jwks_url: {url:?} is not an http(s) URL"
                    )));
                }
            }
        }
        for (key, value) in [("issuer", &self.issuer), ("audience", &self.audience)] {
            if value.as_deref() == Some("") {
                return Err(ConfigError(format!("{path}.{key}: must not be empty")));
            }
        }
        if self.max_lifetime_secs == 0 {
            return Err(ConfigError(format!(
                "{path}.max_lifetime_secs: must be at least 1"
            )));
        }
        Ok(())
    }

    fn fill_defaults(&mut self, url: &str) {
        self.issuer.get_or_insert_with(|| url.to_string());
        self.audience.get_or_insert_with(|| url.to_string());
    }

    fn secret_refs(&self, path: &str) -> Vec<(String, String)> {
        named(&format!("{path}.keys"), &self.keys)
    }

    async fn authenticate<C: Crypto, K: ApiKeyStore>(
        &self,
        cx: &AuthContext<'_, C, K>,
        req: &InboundRequest,
    ) -> Result<Verified, AuthError> {
        let header = req
            .headers
            .get("authorization")
            .ok_or(AuthError::MissingHeader("Authorization"))?;
        let token = bearer(header).ok_or_else(|| {
            AuthError::Malformed("the Authorization header must be `Bearer <JWT>`".into())
        })?;
        let rules = JwtRules {
            issuer: self.issuer.as_deref(),
            audience: self.audience.as_deref(),
            max_lifetime_secs: i64::try_from(self.max_lifetime_secs).unwrap_or(i64::MAX),
        };
        let mut keys = cx.keyring.keys(&self.keys);
        if let Some(url) = &self.jwks_url {
            keys.extend(super::jwks::cached(url));
            if keys.is_empty() {
                // Never fetched (the key server is down): not the sender's fault.
                return Err(AuthError::NoKeysYet(url.clone()));
            }
        }
        let claims = verify(cx.crypto, &keys, &rules, token, cx.now_secs).await?;
        Ok(Verified {
            claims: Some(claims),
            ..Verified::default()
        })
    }
}
