//! Authentication of inbound webhooks: one module per scheme of SPEC.md.
//!
//! [`AuthConfig`] is a collector's `auth` table; [`verify`] checks a request against it
//! and either returns the sender's [`Identity`] or an [`AuthError`] that says which check
//! failed, without echoing secrets or expected signatures.

pub mod api_key;
pub mod ashirt;
pub mod github;
pub mod hmac;
pub mod jwt;
pub mod keys;
pub mod standard_webhooks;
pub mod stripe;

use serde::Deserialize;
use serde_json::{Map, Value};

use self::api_key::{ApiKey, ApiKeyStore, KeyError};
use self::jwt::{JwtError, JwtRules};
use self::keys::Keyring;
use crate::config::{ConfigError, Secrets};
use crate::crypto::{Crypto, CryptoError};
use crate::error::{ApiError, ErrorCode};
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
    /// GitHub: `X-Hub-Signature-256: sha256=<hex>` over the raw body.
    Github {
        /// Names of secrets holding webhook secrets; any one verifies.
        secrets: Vec<String>,
    },
    /// Standard Webhooks: `webhook-id`, `webhook-timestamp`, `webhook-signature`.
    StandardWebhooks {
        /// Names of secrets holding `whsec_<base64>` keys.
        secrets: Vec<String>,
        /// Names of secrets holding `whpk_<base64>` Ed25519 keys; only then are `v1a`
        /// signatures accepted.
        #[serde(default)]
        public_keys: Vec<String>,
    },
    /// Stripe: `Stripe-Signature: t=..,v1=..`; secrets used as-is.
    Stripe {
        /// Names of secrets holding endpoint secrets.
        secrets: Vec<String>,
    },
    /// AShirt request signing: `Authorization: <accessKey>:<base64>` and `Date`.
    Ashirt {
        /// Access keys and the secrets holding their base64 secret keys.
        keys: Vec<AshirtKey>,
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

/// One AShirt access key.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AshirtKey {
    /// The public access key, sent before the `:`.
    pub access_key: String,
    /// Name of the secret holding the base64 secret key.
    pub secret: String,
}

fn default_max_lifetime() -> u64 {
    jwt::DEFAULT_MAX_LIFETIME_SECS
}

impl AuthConfig {
    /// The request headers [`verify`] reads for this scheme, lower case. The worker copies
    /// only these (and [`crate::collect::accept::HEADERS`]) out of the runtime's request.
    pub fn headers(&self) -> &'static [&'static str] {
        match self {
            AuthConfig::Hmac { .. } | AuthConfig::Jwt { .. } => &["authorization"],
            AuthConfig::Github { .. } => &["x-hub-signature-256"],
            AuthConfig::StandardWebhooks { .. } => {
                &["webhook-id", "webhook-timestamp", "webhook-signature"]
            }
            AuthConfig::Stripe { .. } => &["stripe-signature"],
            AuthConfig::Ashirt { .. } => &["authorization", "date"],
            AuthConfig::ApiKey { .. } => &["x-apikey", "authorization"],
            AuthConfig::None {} => &[],
        }
    }

    /// The scheme's name as written in the config.
    pub fn scheme(&self) -> &'static str {
        match self {
            AuthConfig::Hmac { .. } => "hmac",
            AuthConfig::Github { .. } => "github",
            AuthConfig::StandardWebhooks { .. } => "standard-webhooks",
            AuthConfig::Stripe { .. } => "stripe",
            AuthConfig::Ashirt { .. } => "ashirt",
            AuthConfig::Jwt { .. } => "jwt",
            AuthConfig::ApiKey { .. } => "api-key",
            AuthConfig::None {} => "none",
        }
    }

    /// Checks what serde cannot; `path` is the key of this table (`collectors[0].auth`).
    pub fn validate(&self, path: &str) -> Result<(), ConfigError> {
        match self {
            AuthConfig::Hmac { secrets }
            | AuthConfig::Github { secrets }
            | AuthConfig::Stripe { secrets } => validate_secret_names(path, secrets),
            AuthConfig::StandardWebhooks {
                secrets,
                public_keys,
            } => {
                validate_secret_names(path, secrets)?;
                if public_keys.is_empty() {
                    Ok(())
                } else {
                    validate_names(&format!("{path}.public_keys"), public_keys)
                }
            }
            AuthConfig::Ashirt { keys } => {
                if keys.is_empty() {
                    return Err(ConfigError(format!("{path}.keys: name at least one key")));
                }
                let mut seen = std::collections::HashSet::new();
                for (i, k) in keys.iter().enumerate() {
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
            AuthConfig::Hmac { secrets }
            | AuthConfig::Github { secrets }
            | AuthConfig::Stripe { secrets } => named(&format!("{path}.secrets"), secrets),
            AuthConfig::StandardWebhooks {
                secrets,
                public_keys,
            } => {
                let mut refs = named(&format!("{path}.secrets"), secrets);
                refs.extend(named(&format!("{path}.public_keys"), public_keys));
                refs
            }
            AuthConfig::Ashirt { keys } => keys
                .iter()
                .enumerate()
                .map(|(i, k)| (format!("{path}.keys[{i}].secret"), k.secret.clone()))
                .collect(),
            AuthConfig::Jwt { keys, .. } => named(&format!("{path}.keys"), keys),
            AuthConfig::ApiKey { .. } | AuthConfig::None {} => Vec::new(),
        }
    }
}

/// `(list[i], name)` pairs for a list of secret names at key `list`.
fn named(list: &str, names: &[String]) -> Vec<(String, String)> {
    names
        .iter()
        .enumerate()
        .map(|(i, s)| (format!("{list}[{i}]"), s.clone()))
        .collect()
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
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// A required header is absent (`400 missing_header`).
    #[error("the {0} header is required")]
    MissingHeader(&'static str),
    /// A header is present but not in the scheme's format (`401 malformed_signature`).
    #[error("{0}")]
    Malformed(String),
    /// The signature matches none of the secrets (`401 invalid_signature`).
    #[error("the signature does not match the body for any of the collector's secrets")]
    InvalidSignature,
    /// The signed timestamp or date is too far from now (`401 timestamp_out_of_tolerance`).
    #[error("the signed timestamp is too far from the current time")]
    TimestampOutOfTolerance,
    /// The crypto backend failed (`503 unavailable`: retryable, not the sender's fault).
    #[error("authentication is unavailable: {0}")]
    Backend(#[from] CryptoError),
    /// A JWT was refused; the code says which check failed.
    #[error(transparent)]
    Jwt(JwtError),
    /// An API key was refused; the code says why.
    #[error(transparent)]
    Key(#[from] KeyError),
}

impl From<JwtError> for AuthError {
    /// A JWT backend failure is the backend's, not the token's.
    fn from(e: JwtError) -> Self {
        match e {
            JwtError::Backend(e) => AuthError::Backend(e),
            other => AuthError::Jwt(other),
        }
    }
}

impl AuthError {
    /// The stable error code.
    pub fn code(&self) -> ErrorCode {
        match self {
            AuthError::MissingHeader(_) => ErrorCode::MissingHeader,
            AuthError::Malformed(_) => ErrorCode::MalformedSignature,
            AuthError::InvalidSignature => ErrorCode::InvalidSignature,
            AuthError::TimestampOutOfTolerance => ErrorCode::TimestampOutOfTolerance,
            AuthError::Backend(_) => ErrorCode::Unavailable,
            AuthError::Jwt(e) => e.code(),
            AuthError::Key(e) => e.code(),
        }
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> ApiError {
        ApiError::new(e.code(), e.to_string())
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
        AuthConfig::Github { secrets } => {
            let keys = secret_bytes(cx.secrets, secrets);
            github::verify(cx.crypto, &keys, req.headers.get(github::HEADER), &req.body).await?;
            Ok(Identity::of("github"))
        }
        AuthConfig::Stripe { secrets } => {
            let keys = secret_bytes(cx.secrets, secrets);
            let header = req.headers.get(stripe::HEADER);
            stripe::verify(cx.crypto, &keys, header, &req.body, cx.now_secs).await?;
            Ok(Identity::of("stripe"))
        }
        AuthConfig::StandardWebhooks {
            secrets,
            public_keys,
        } => {
            // Both were decoded once at load (Keyring::load), so these cannot fail here.
            let keys: Vec<Vec<u8>> = secret_values(cx.secrets, secrets)
                .filter_map(|s| standard_webhooks::decode_secret(s).ok())
                .collect();
            let public: Vec<_> = secret_values(cx.secrets, public_keys)
                .filter_map(|s| standard_webhooks::decode_public_key(s).ok())
                .collect();
            standard_webhooks::verify(
                cx.crypto,
                &keys,
                &public,
                &req.headers,
                &req.body,
                cx.now_secs,
            )
            .await?;
            Ok(Identity::of("standard-webhooks"))
        }
        AuthConfig::Ashirt { keys } => {
            let keys: Vec<(&str, Vec<u8>)> = keys
                .iter()
                .filter_map(|k| {
                    let secret = cx.secrets.get(&k.secret)?;
                    Some((k.access_key.as_str(), ashirt::decode_secret(secret).ok()?))
                })
                .collect();
            ashirt::verify(
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
            Ok(Identity::of("ashirt"))
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

/// Decodes a MAC given as 64 hex digits.
pub(crate) fn hex_mac(hex: &str) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(hex, &mut out).ok()?;
    Some(out)
}

/// `Ok` when any of `givens` is the HMAC-SHA256 of `data` under any of `keys` (see
/// [`crate::crypto::hmac_matches_any`]), else `InvalidSignature`.
pub(crate) async fn require_hmac<C: Crypto>(
    crypto: &C,
    keys: &[&[u8]],
    data: &[u8],
    givens: &[&[u8]],
) -> Result<(), AuthError> {
    if crate::crypto::hmac_matches_any(crypto, keys, data, givens).await? {
        Ok(())
    } else {
        Err(AuthError::InvalidSignature)
    }
}

/// The values of the named secrets.
fn secret_values<'a>(secrets: &'a Secrets, names: &'a [String]) -> impl Iterator<Item = &'a str> {
    names.iter().filter_map(|n| secrets.get(n))
}

/// The values of the named secrets, as bytes.
pub fn secret_bytes<'a>(secrets: &'a Secrets, names: &[String]) -> Vec<&'a [u8]> {
    names
        .iter()
        .filter_map(|n| secrets.get(n))
        .map(str::as_bytes)
        .collect()
}
