//! Authentication of inbound webhooks: one module per scheme of SPEC.md.
//!
//! [`AuthConfig`] is a collector's `auth` table; [`verify`] checks a request against it
//! and either returns the sender's [`Identity`] or an [`AuthError`] that says which check
//! failed, without echoing secrets or expected signatures.

pub mod access;
pub mod api_key;
pub mod ashirt;
pub mod github;
pub mod hmac;
pub mod jwks;
pub mod jwt;
pub mod keys;
pub mod monday;
pub mod netlify;
pub mod none;
pub mod providers;
pub mod recipe;
pub mod standard_webhooks;
pub mod stripe;

use futures_util::FutureExt;
use serde::Deserialize;
use serde_json::{Map, Value};

use self::api_key::{ApiKey, ApiKeyStore, KeyError};
use self::jwt::JwtError;
use self::keys::Keyring;
use crate::crypto::{Crypto, CryptoError};
use crate::error::{ApiError, ConfigError, ErrorCode};
use crate::inbound::InboundRequest;
use crate::secrets::Secrets;

/// What a scheme is: its `auth` table (`Config`, one struct in the scheme's own file) and
/// how a request is checked against it. A new scheme is a file with its `Config`
/// implementing this, and one line in [`schemes!`]'s list below.
#[allow(async_fn_in_trait)] // used through generics only
pub trait Scheme {
    /// The request headers [`Scheme::authenticate`] reads, lower case. The worker copies
    /// only these (and [`crate::collect::accept::HEADERS`]) out of the runtime's request.
    fn headers(&self) -> Vec<&str>;

    /// The name the collector's `scheme` gave, when it is not the registry's (a provider
    /// preset is a recipe named after its provider).
    fn name(&self) -> Option<&'static str> {
        None
    }

    /// The `secrets = [...]` list of a scheme keyed by shared secrets (`hmac`, `github`,
    /// `stripe`, `standard-webhooks`); the defaults below check and name it.
    fn secrets(&self) -> Option<&[String]> {
        None
    }

    /// Checks what serde cannot, and compiles what the scheme keeps compiled; `path` is
    /// the key of this table (`collectors[0].auth`).
    fn validate(&mut self, path: &str) -> Result<(), ConfigError> {
        match self.secrets() {
            None => Ok(()),
            Some(names) => validate_names(&format!("{path}.secrets"), names),
        }
    }

    /// Fills defaults that depend on where the collector is served (`url` is
    /// `<public_url>/hooks/<name>`).
    fn fill_defaults(&mut self, _url: &str) {}

    /// `(key, secret name)` for every secret this table names.
    fn secret_refs(&self, path: &str) -> Vec<(String, String)> {
        named(
            &format!("{path}.secrets"),
            self.secrets().unwrap_or_default(),
        )
    }

    /// Checks once, when the config loads, that the named secrets hold what the scheme
    /// reads (a secret that does not decode is a config error naming its key).
    fn check_secrets(&self, _path: &str, _secrets: &Secrets) -> Result<(), ConfigError> {
        Ok(())
    }

    /// Checks a request.
    async fn authenticate<C: Crypto, K: ApiKeyStore>(
        &self,
        cx: &AuthContext<'_, C, K>,
        req: &InboundRequest,
    ) -> Result<Verified, AuthError>;
}

/// What a scheme learned about an accepted request's sender, beyond its name.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Verified {
    /// The verified token's claims (`jwt`).
    pub claims: Option<Map<String, Value>>,
    /// The API key that authenticated the request (`api-key`).
    pub key: Option<ApiKey>,
}

/// The registry: each line is a scheme's name in the config, its [`AuthConfig`] variant
/// and its module (whose `Config` implements [`Scheme`]).
macro_rules! schemes {
    ($($name:literal => $variant:ident($module:ident)),* $(,)?) => {
        /// A collector's `auth` table, tagged by `scheme`: a scheme of the list below, or
        /// a provider's name (`providers.json`), which is a [`recipe`].
        #[derive(Debug, Clone, Deserialize)]
        #[serde(tag = "scheme", remote = "Self")]
        // One per collector, built once per isolate: a recipe's size costs nothing.
        #[allow(clippy::large_enum_variant)]
        pub enum AuthConfig {
            $(
                #[doc = concat!("`scheme = \"", $name, "\"`: [`", stringify!($module), "::Config`].")]
                #[serde(rename = $name)]
                $variant($module::Config),
            )*
        }

        /// The names of the schemes of the registry.
        pub const SCHEMES: &[&str] = &[$($name),*];

        impl AuthConfig {
            /// The scheme's name as written in the config.
            pub fn scheme(&self) -> &'static str {
                match self {
                    $(AuthConfig::$variant(c) => c.name().unwrap_or($name),)*
                }
            }

            /// The request headers [`verify`] reads for this scheme, lower case.
            pub fn headers(&self) -> Vec<&str> {
                match self {
                    $(AuthConfig::$variant(c) => c.headers(),)*
                }
            }

            /// Checks what serde cannot; `path` is the key of this table
            /// (`collectors[0].auth`).
            pub fn validate(&mut self, path: &str) -> Result<(), ConfigError> {
                match self {
                    $(AuthConfig::$variant(c) => c.validate(path),)*
                }
            }

            /// Fills defaults that depend on where the collector is served (`url` is
            /// `<public_url>/hooks/<name>`).
            pub fn fill_defaults(&mut self, url: &str) {
                match self {
                    $(AuthConfig::$variant(c) => c.fill_defaults(url),)*
                }
            }

            /// `(key, secret name)` for every secret this table names.
            pub fn secret_refs(&self, path: &str) -> Vec<(String, String)> {
                match self {
                    $(AuthConfig::$variant(c) => c.secret_refs(path),)*
                }
            }

            /// Checks that the named secrets hold what the scheme reads; `path` as for
            /// [`AuthConfig::validate`].
            pub fn check_secrets(&self, path: &str, secrets: &Secrets) -> Result<(), ConfigError> {
                match self {
                    $(AuthConfig::$variant(c) => c.check_secrets(path, secrets),)*
                }
            }
        }

        /// Verifies `req` against a collector's `auth`.
        pub async fn verify<C: Crypto, K: ApiKeyStore>(
            auth: &AuthConfig,
            cx: &AuthContext<'_, C, K>,
            req: &InboundRequest,
        ) -> Result<Identity, AuthError> {
            // Each scheme's check boxed: a function of its own, not all of them inlined
            // into this one, which V8 compiled whole on an isolate's first webhook
            // (docs/PERFORMANCE.md, cold start).
            let verified = match auth {
                $(AuthConfig::$variant(c) => c.authenticate(cx, req).boxed_local().await?,)*
            };
            Ok(Identity {
                scheme: auth.scheme(),
                claims: verified.claims,
                key: verified.key,
            })
        }
    };
}

schemes! {
    "hmac" => Hmac(hmac),
    "github" => Github(github),
    "standard-webhooks" => StandardWebhooks(standard_webhooks),
    "stripe" => Stripe(stripe),
    "recipe" => Recipe(recipe),
    "netlify" => Netlify(netlify),
    "monday" => Monday(monday),
    "ashirt" => Ashirt(ashirt),
    "jwt" => Jwt(jwt),
    "api-key" => ApiKey(api_key),
    "none" => None(none),
}

impl<'de> Deserialize<'de> for AuthConfig {
    /// A scheme of the registry, or a provider's preset ([`providers::recipe`]).
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let value = Value::deserialize(d)?;
        let scheme = value.get("scheme").and_then(Value::as_str);
        if let (Some(name), Value::Object(table)) = (scheme, &value)
            && !SCHEMES.contains(&name)
        {
            return match providers::recipe(name, table) {
                Some(recipe) => recipe.map(AuthConfig::Recipe).map_err(D::Error::custom),
                None => Err(D::Error::custom(format!(
                    "unknown scheme `{name}`: one of {} or a provider of docs/PROVIDERS.md",
                    SCHEMES.join(", ")
                ))),
            };
        }
        AuthConfig::deserialize(value).map_err(D::Error::custom)
    }
}

crate::refusal! {
    /// Why a secret's text is not a usable key (its encoding, or an empty key).
    InvalidSecret
}

/// Checks that secret `name` (at config key `key`) decodes with `decode`.
fn check_secret(
    key: &str,
    name: &str,
    secrets: &Secrets,
    decode: impl FnOnce(&str) -> Result<(), InvalidSecret>,
) -> Result<(), ConfigError> {
    decode(secrets.get(name).unwrap_or_default())
        .map_err(|e| ConfigError(format!("{key}: secret {name}: {e}")))
}

/// `(list[i], name)` pairs for a list of secret names at key `list`.
fn named(list: &str, names: &[String]) -> Vec<(String, String)> {
    names
        .iter()
        .enumerate()
        .map(|(i, s)| (format!("{list}[{i}]"), s.clone()))
        .collect()
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
    /// A header or JSON member a recipe reads is absent (`400 missing_header`): a header
    /// name, or `json:<pointer>` for a member of the body.
    #[error("{}", missing_value_message(.0))]
    MissingValue(String),
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
    /// A `jwks_url`'s keys were never fetched (the key server is down): `503 unavailable`,
    /// not the sender's fault. Holds the URL.
    #[error("no key of {0} is known yet")]
    NoKeysYet(String),
    /// A JWT was refused; the code says which check failed.
    #[error(transparent)]
    Jwt(JwtError),
    /// An API key was refused; the code says why.
    #[error(transparent)]
    Key(#[from] KeyError),
}

/// The sentence for [`AuthError::MissingValue`]: a header's or a body member's.
fn missing_value_message(what: &str) -> String {
    match what.strip_prefix("json:") {
        Some(pointer) => format!("the body's member {pointer} is required"),
        None => format!("the {what} header is required"),
    }
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
            AuthError::MissingHeader(_) | AuthError::MissingValue(_) => ErrorCode::MissingHeader,
            AuthError::Malformed(_) => ErrorCode::MalformedSignature,
            AuthError::InvalidSignature => ErrorCode::InvalidSignature,
            AuthError::TimestampOutOfTolerance => ErrorCode::TimestampOutOfTolerance,
            AuthError::Backend(_) | AuthError::NoKeysYet(_) => ErrorCode::Unavailable,
            AuthError::Jwt(e) => e.code(),
            AuthError::Key(e) => e.code(),
        }
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> ApiError {
        match e {
            // The backend's own text goes to the log, not to the client.
            AuthError::Backend(m) => {
                ApiError::unavailable(format!("signature verification failed in the backend: {m}"))
            }
            e @ AuthError::NoKeysYet(_) => ApiError::unavailable(e),
            AuthError::Key(k) => k.into(),
            e => ApiError::new(e.code(), e.to_string()),
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

/// Parses a timestamp that must be a plain decimal integer: no sign, space, fraction or
/// exponent (Standard Webhooks' `webhook-timestamp`, Stripe's `t=`).
pub fn parse_timestamp(value: &str) -> Result<i64, AuthError> {
    let ok = (1..=18).contains(&value.len()) && value.bytes().all(|b| b.is_ascii_digit());
    ok.then(|| value.parse().ok()).flatten().ok_or_else(|| {
        AuthError::Malformed("the timestamp must be an integer number of seconds".into())
    })
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
