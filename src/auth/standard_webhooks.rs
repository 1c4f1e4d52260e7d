//! Standard Webhooks (Svix): `webhook-id`, `webhook-timestamp`, `webhook-signature`
//! (space-separated `v1,<base64>` entries), HMAC-SHA256 of `<id>.<timestamp>.<raw body>`
//! under the base64 key of a `whsec_` secret; the timestamp a strict integer within
//! ±300 s. `v1a,<base64>` (Ed25519) entries count only when the collector names
//! `public_keys` (`whpk_<base64 of the 32-byte key>`).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;

use super::{AuthError, InvalidSecret, check_secret, parse_timestamp, require_hmac};
use crate::crypto::{Crypto, PublicKey, hmac_sha256};
use crate::inbound::HeaderMap;

use super::{ApiKeyStore, AuthContext, InboundRequest, Scheme, Verified};
use super::{named, secret_values, validate_names};
use crate::error::ConfigError;
use crate::secrets::Secrets;

/// Largest accepted distance between `webhook-timestamp` and now.
pub const TOLERANCE_SECS: i64 = 300;

/// The HMAC key of a secret: base64 after an optional `whsec_` prefix.
pub fn decode_secret(secret: &str) -> Result<Vec<u8>, InvalidSecret> {
    let b64 = secret.strip_prefix("whsec_").unwrap_or(secret);
    let key = STANDARD
        .decode(b64)
        .map_err(|e| format!("not a whsec_<base64> secret ({e})"))?;
    if key.is_empty() {
        return Err("the secret's key is empty".into());
    }
    Ok(key)
}

/// The Ed25519 key of a `whpk_<base64>` public key.
pub fn decode_public_key(key: &str) -> Result<PublicKey, InvalidSecret> {
    let b64 = key.strip_prefix("whpk_").unwrap_or(key);
    let raw = STANDARD
        .decode(b64)
        .map_err(|e| format!("not a whpk_<base64> public key ({e})"))?;
    super::keys::ed25519(&raw).map_err(|e| InvalidSecret(e.to_string()))
}

/// The `webhook-signature` entry for a message: `v1,<base64>`.
pub fn sign(key: &[u8], id: &str, timestamp: i64, body: &[u8]) -> String {
    let content = [format!("{id}.{timestamp}.").as_bytes(), body].concat();
    format!("v1,{}", STANDARD.encode(hmac_sha256(key, &content)))
}

/// Most signature entries a `webhook-signature` header may carry. Senders list one per
/// active secret (two during a rotation); the cap bounds the Ed25519 work a packed header
/// could cost, since each `v1a` entry is a full verify over the body.
pub const MAX_SIGNATURES: usize = 16;

/// Checks a request's headers against the keys at `now_secs`.
pub async fn verify<C: Crypto>(
    crypto: &C,
    keys: &[Vec<u8>],
    public_keys: &[PublicKey],
    headers: &HeaderMap,
    body: &[u8],
    now_secs: i64,
) -> Result<(), AuthError> {
    let id = headers
        .get("webhook-id")
        .ok_or(AuthError::MissingHeader("webhook-id"))?;
    let ts_text = headers
        .get("webhook-timestamp")
        .ok_or(AuthError::MissingHeader("webhook-timestamp"))?;
    let signatures = headers
        .get("webhook-signature")
        .ok_or(AuthError::MissingHeader("webhook-signature"))?;
    let ts = parse_timestamp(ts_text)?;
    if (now_secs - ts).abs() > TOLERANCE_SECS {
        return Err(AuthError::TimestampOutOfTolerance);
    }
    // The official libraries sign the parsed integer, not the header's text.
    let content = [format!("{id}.{ts}.").as_bytes(), body].concat();

    let entries: Vec<&str> = signatures.split(' ').filter(|e| !e.is_empty()).collect();
    if entries.len() > MAX_SIGNATURES {
        return Err(AuthError::Malformed(format!(
            "webhook-signature lists more than {MAX_SIGNATURES} signatures"
        )));
    }
    let mut v1 = Vec::new();
    let mut v1a = Vec::new();
    for entry in entries {
        let Some((version, b64)) = entry.split_once(',') else {
            continue;
        };
        let Ok(sig) = STANDARD.decode(b64) else {
            continue;
        };
        if sig.is_empty() {
            continue;
        }
        match version {
            "v1" => v1.push(sig),
            "v1a" if !public_keys.is_empty() => v1a.push(sig),
            _ => {} // unknown versions, and v1a when not configured, are ignored
        }
    }
    if v1.is_empty() && v1a.is_empty() {
        return Err(AuthError::Malformed(
            "webhook-signature holds no usable `v1,<base64>` entry".into(),
        ));
    }
    let keys: Vec<&[u8]> = keys.iter().map(Vec::as_slice).collect();
    let v1: Vec<&[u8]> = v1.iter().map(Vec::as_slice).collect();
    let hmac = require_hmac(crypto, &keys, &content, &v1).await;
    if !matches!(hmac, Err(AuthError::InvalidSignature)) {
        return hmac;
    }
    // Public keys and signatures are public, so stopping at the first match leaks nothing.
    for key in public_keys {
        for sig in &v1a {
            if crypto.verify(key, &content, sig).await? {
                return Ok(());
            }
        }
    }
    Err(AuthError::InvalidSignature)
}

/// Standard Webhooks: `webhook-id`, `webhook-timestamp`, `webhook-signature`
/// (`scheme = "standard-webhooks"`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Names of secrets holding `whsec_<base64>` keys.
    pub secrets: Vec<String>,
    /// Names of secrets holding `whpk_<base64>` Ed25519 keys; only then are `v1a`
    /// signatures accepted.
    #[serde(default)]
    pub public_keys: Vec<String>,
}

impl Scheme for Config {
    fn headers(&self) -> Vec<&str> {
        vec!["webhook-id", "webhook-timestamp", "webhook-signature"]
    }

    fn secrets(&self) -> Option<&[String]> {
        Some(&self.secrets)
    }

    fn validate(&mut self, path: &str) -> Result<(), ConfigError> {
        validate_names(&format!("{path}.secrets"), &self.secrets)?;
        if self.public_keys.is_empty() {
            Ok(())
        } else {
            validate_names(&format!("{path}.public_keys"), &self.public_keys)
        }
    }

    fn secret_refs(&self, path: &str) -> Vec<(String, String)> {
        let mut refs = named(&format!("{path}.secrets"), &self.secrets);
        refs.extend(named(&format!("{path}.public_keys"), &self.public_keys));
        refs
    }

    fn check_secrets(&self, path: &str, secrets: &Secrets) -> Result<(), ConfigError> {
        for (key, name) in named(&format!("{path}.secrets"), &self.secrets) {
            check_secret(&key, &name, secrets, |v| decode_secret(v).map(drop))?;
        }
        for (key, name) in named(&format!("{path}.public_keys"), &self.public_keys) {
            check_secret(&key, &name, secrets, |v| decode_public_key(v).map(drop))?;
        }
        Ok(())
    }

    async fn authenticate<C: Crypto, K: ApiKeyStore>(
        &self,
        cx: &AuthContext<'_, C, K>,
        req: &InboundRequest,
    ) -> Result<Verified, AuthError> {
        // Both were decoded once at load (check_secrets), so these cannot fail here.
        let keys: Vec<Vec<u8>> = secret_values(cx.secrets, &self.secrets)
            .filter_map(|s| decode_secret(s).ok())
            .collect();
        let public: Vec<_> = secret_values(cx.secrets, &self.public_keys)
            .filter_map(|s| decode_public_key(s).ok())
            .collect();
        verify(
            cx.crypto,
            &keys,
            &public,
            &req.headers,
            &req.body,
            cx.now_secs,
        )
        .await?;
        Ok(Verified::default())
    }
}
