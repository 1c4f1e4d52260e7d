//! Authentication of inbound webhooks: one module per scheme of SPEC.md.
//!
//! [`AuthConfig`] is a collector's `auth` table; [`verify`] checks a request against it
//! and either returns the sender's [`Identity`] or an [`AuthError`] that says which check
//! failed, without echoing secrets or expected signatures.

pub mod api_key;
pub mod hmac;
pub mod jwt;
pub mod keys;

use serde::Deserialize;
use serde_json::{Map, Value};

use self::api_key::{ApiKey, ApiKeyStore, KeyError};
use self::jwt::{JwtError, JwtRules};
use self::keys::Keyring;
use crate::config::{ConfigError, Secrets};
use crate::crypto::{Crypto, CryptoError};
use crate::error::ApiError;
use crate::inbound::InboundRequest;

/// A collector's `auth` table, tagged by `scheme`.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "scheme", rename_all = "kebab-case", deny_unknown_fields)]
pub enum AuthConfig {
    /// AMO: `Authorization: HMAC-SHA256 <hex>` over the raw body.
    Hmac {
        /// Names of secrets holding the shared keys; any one of them verifies.
        secrets: Vec<String>,
    },
    /// Psoxy: `Authorization: Bearer <JWT>` (RS256, ES256, EdDSA, HS256).
    Jwt {
        /// Names of secrets holding keys (`base64:<SPKI>`, PEM, JWK or JWK set).
        keys: Vec<String>,
        /// Required `iss`; default `<public_url>/hooks/<name>`.
        #[serde(default)]
        issuer: Option<String>,
        /// Required `aud`; default `<public_url>/hooks/<name>`.
        #[serde(default)]
        audience: Option<String>,
        /// Largest `exp - iat` accepted; default 365 days.
        #[serde(default = "default_max_lifetime")]
        max_lifetime_secs: u64,
    },
    /// PTTH: a key issued by `POST /admin/keys`, as `X-ApiKey` or `Authorization: Bearer`.
    ApiKey {
        /// A scope the key must hold.
        #[serde(default)]
        scope: Option<String>,
    },
    /// No authentication; must be written explicitly.
    None {},
}

fn default_max_lifetime() -> u64 {
    jwt::DEFAULT_MAX_LIFETIME_SECS
}

impl AuthConfig {
    /// The scheme's name as written in the config.
    pub fn scheme(&self) -> &'static str {
        match self {
            AuthConfig::Hmac { .. } => "hmac",
            AuthConfig::Jwt { .. } => "jwt",
            AuthConfig::ApiKey { .. } => "api-key",
            AuthConfig::None {} => "none",
        }
    }

    /// Checks what serde cannot; `path` is the key of this table (`collectors[0].auth`).
    pub fn validate(&self, path: &str) -> Result<(), ConfigError> {
        match self {
            AuthConfig::Hmac { secrets } => validate_secret_names(path, secrets),
            AuthConfig::Jwt {
                keys,
                issuer,
                audience,
                max_lifetime_secs,
            } => {
                validate_names(&format!("{path}.keys"), keys)?;
                for (key, value) in [("issuer", issuer), ("audience", audience)] {
                    if value.as_deref() == Some("") {
                        return Err(ConfigError(format!("{path}.{key}: must not be empty")));
                    }
                }
                if *max_lifetime_secs == 0 {
                    return Err(ConfigError(format!(
                        "{path}.max_lifetime_secs: must be at least 1"
                    )));
                }
                Ok(())
            }
            AuthConfig::ApiKey { scope } => match scope.as_deref() {
                Some("") => Err(ConfigError(format!("{path}.scope: must not be empty"))),
                _ => Ok(()),
            },
            AuthConfig::None {} => Ok(()),
        }
    }

    /// Fills defaults that depend on where the collector is served (`url` is
    /// `<public_url>/hooks/<name>`).
    pub fn fill_defaults(&mut self, url: &str) {
        if let AuthConfig::Jwt {
            issuer, audience, ..
        } = self
        {
            issuer.get_or_insert_with(|| url.to_string());
            audience.get_or_insert_with(|| url.to_string());
        }
    }

    /// `(key, secret name)` for every secret this table names.
    pub fn secret_refs(&self, path: &str) -> Vec<(String, String)> {
        match self {
            AuthConfig::Hmac { secrets } => secrets
                .iter()
                .enumerate()
                .map(|(i, s)| (format!("{path}.secrets[{i}]"), s.clone()))
                .collect(),
            AuthConfig::Jwt { keys, .. } => keys
                .iter()
                .enumerate()
                .map(|(i, s)| (format!("{path}.keys[{i}]"), s.clone()))
                .collect(),
            AuthConfig::ApiKey { .. } | AuthConfig::None {} => Vec::new(),
        }
    }
}

fn validate_secret_names(path: &str, names: &[String]) -> Result<(), ConfigError> {
    validate_names(&format!("{path}.secrets"), names)
}

/// Checks a list of secret names at key `list` (e.g. `collectors[0].auth.keys`).
fn validate_names(list: &str, names: &[String]) -> Result<(), ConfigError> {
    let path = list;
    if names.is_empty() {
        return Err(ConfigError(format!("{path}: name at least one secret")));
    }
    for (i, name) in names.iter().enumerate() {
        let ok = !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !ok {
            return Err(ConfigError(format!(
                "{path}[{i}]: {name:?} is not a secret name (letters, digits, '_')"
            )));
        }
    }
    Ok(())
}

/// Who sent an accepted request.
#[derive(Debug, Clone, PartialEq)]
pub struct Identity {
    /// The scheme that accepted it.
    pub scheme: &'static str,
    /// The verified token's claims (`jwt`), for steps such as `verify-claims`.
    pub claims: Option<Map<String, Value>>,
    /// The API key that authenticated the request (`api-key`).
    pub key: Option<ApiKey>,
}

impl Identity {
    /// An identity that carries nothing but the scheme's name.
    pub fn of(scheme: &'static str) -> Identity {
        Identity {
            scheme,
            claims: None,
            key: None,
        }
    }
}

/// Why authentication failed. Messages never contain secrets or expected signatures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthError {
    /// A required header is absent (`400 missing_header`).
    MissingHeader(&'static str),
    /// A header is present but not in the scheme's format (`401 malformed_signature`).
    Malformed(String),
    /// The signature matches none of the secrets (`401 invalid_signature`).
    InvalidSignature,
    /// The crypto backend failed (`503 unavailable`: retryable, not the sender's fault).
    Backend(String),
    /// A JWT was refused; the code says which check failed.
    Jwt(JwtError),
    /// An API key was refused; the code says why.
    Key(KeyError),
}

impl From<JwtError> for AuthError {
    fn from(e: JwtError) -> Self {
        match e {
            JwtError::Backend(m) => AuthError::Backend(m),
            other => AuthError::Jwt(other),
        }
    }
}

impl From<KeyError> for AuthError {
    fn from(e: KeyError) -> Self {
        AuthError::Key(e)
    }
}

impl From<CryptoError> for AuthError {
    fn from(e: CryptoError) -> Self {
        AuthError::Backend(e.0)
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> ApiError {
        match e {
            AuthError::MissingHeader(h) => {
                ApiError::new(400, "missing_header", format!("the {h} header is required"))
            }
            AuthError::Malformed(m) => ApiError::new(401, "malformed_signature", m),
            AuthError::InvalidSignature => ApiError::new(
                401,
                "invalid_signature",
                "the signature does not match the body for any of the collector's secrets",
            ),
            AuthError::Backend(m) => {
                ApiError::unavailable(format!("authentication is unavailable: {m}"))
            }
            AuthError::Jwt(e) => ApiError::new(401, e.code(), e.message()),
            AuthError::Key(e) => e.into(),
        }
    }
}

/// What verification needs from outside the request: secrets and keys, the crypto
/// backend, the API-key store and the clock.
pub struct AuthContext<'a, C: Crypto, K: ApiKeyStore> {
    /// Resolved secrets (from [`crate::config::Config::resolve`]).
    pub secrets: &'a Secrets,
    /// JWT keys parsed from those secrets.
    pub keyring: &'a Keyring,
    /// Where signatures are checked.
    pub crypto: &'a C,
    /// Where API keys are looked up.
    pub api_keys: &'a K,
    /// Now, Unix seconds.
    pub now_secs: i64,
}

/// Verifies `req` against a collector's `auth`.
pub async fn verify<C: Crypto, K: ApiKeyStore>(
    auth: &AuthConfig,
    cx: &AuthContext<'_, C, K>,
    req: &InboundRequest,
) -> Result<Identity, AuthError> {
    match auth {
        AuthConfig::Hmac { secrets } => {
            let keys = secret_bytes(cx.secrets, secrets);
            hmac::verify(
                cx.crypto,
                &keys,
                req.headers.get("authorization"),
                &req.body,
            )
            .await?;
            Ok(Identity::of("hmac"))
        }
        AuthConfig::Jwt {
            keys,
            issuer,
            audience,
            max_lifetime_secs,
        } => {
            let header = req
                .headers
                .get("authorization")
                .ok_or(AuthError::MissingHeader("Authorization"))?;
            let token = jwt::bearer(header).ok_or_else(|| {
                AuthError::Malformed("the Authorization header must be `Bearer <JWT>`".into())
            })?;
            let rules = JwtRules {
                issuer: issuer.as_deref(),
                audience: audience.as_deref(),
                max_lifetime_secs: i64::try_from(*max_lifetime_secs).unwrap_or(i64::MAX),
            };
            let keys = cx.keyring.keys(keys);
            let claims = jwt::verify(cx.crypto, &keys, &rules, token, cx.now_secs).await?;
            Ok(Identity {
                claims: Some(claims),
                ..Identity::of("jwt")
            })
        }
        AuthConfig::ApiKey { scope } => {
            let key =
                api_key::authenticate(cx.api_keys, &req.headers, cx.now_secs, scope.as_deref())
                    .await?;
            Ok(Identity {
                key: Some(key),
                ..Identity::of("api-key")
            })
        }
        AuthConfig::None {} => Ok(Identity::of("none")),
    }
}

/// The values of the named secrets, as bytes.
pub fn secret_bytes<'a>(secrets: &'a Secrets, names: &[String]) -> Vec<&'a [u8]> {
    names
        .iter()
        .filter_map(|n| secrets.get(n))
        .map(str::as_bytes)
        .collect()
}
