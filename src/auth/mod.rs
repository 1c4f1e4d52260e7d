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
    /// No authentication; must be written explicitly.
    None {},
}

impl AuthConfig {
    /// The scheme's name as written in the config.
    pub fn scheme(&self) -> &'static str {
        match self {
            AuthConfig::Hmac { .. } => "hmac",
            AuthConfig::None {} => "none",
        }
    }

    /// Checks what serde cannot; `path` is the key of this table (`collectors[0].auth`).
    pub fn validate(&self, path: &str) -> Result<(), ConfigError> {
        match self {
            AuthConfig::Hmac { secrets } => validate_secret_names(path, secrets),
            AuthConfig::None {} => Ok(()),
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
            AuthConfig::None {} => Vec::new(),
        }
    }
}

fn validate_secret_names(path: &str, names: &[String]) -> Result<(), ConfigError> {
    if names.is_empty() {
        return Err(ConfigError(format!(
            "{path}.secrets: name at least one secret"
        )));
    }
    for (i, name) in names.iter().enumerate() {
        let ok = !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !ok {
            return Err(ConfigError(format!(
                "{path}.secrets[{i}]: {name:?} is not a secret name (letters, digits, '_')"
            )));
        }
    }
    Ok(())
}

/// Who sent an accepted request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The scheme that accepted it.
    pub scheme: &'static str,
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
        }
    }
}

/// What verification needs from outside the request: the secrets, the crypto backend and
/// the clock.
pub struct AuthContext<'a, C: Crypto> {
    /// Resolved secrets (from [`crate::config::Config::resolve`]).
    pub secrets: &'a Secrets,
    /// Where signatures are checked.
    pub crypto: &'a C,
    /// Now, Unix seconds.
    pub now_secs: i64,
}

/// Verifies `req` against a collector's `auth`.
pub async fn verify<C: Crypto>(
    auth: &AuthConfig,
    cx: &AuthContext<'_, C>,
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
            Ok(Identity { scheme: "hmac" })
        }
        AuthConfig::None {} => Ok(Identity { scheme: "none" }),
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
