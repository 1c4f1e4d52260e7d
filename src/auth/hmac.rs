//! AMO's scheme: `Authorization: HMAC-SHA256 <hex>`, the HMAC-SHA256 of the raw body
//! keyed by a shared secret used as-is.

use serde::Deserialize;

use super::{AuthError, hex_mac, require_hmac};
use crate::crypto::{Crypto, hmac_sha256};

use super::secret_bytes;
use super::{ApiKeyStore, AuthContext, InboundRequest, Scheme, Verified};

/// The `Authorization` scheme word.
pub const SCHEME: &str = "HMAC-SHA256";

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
    hex_mac(digest.trim()).ok_or_else(malformed)
}

/// Checks the `Authorization` header against every key (see [`hmac_matches_any`]).
pub async fn verify<C: Crypto>(
    crypto: &C,
    keys: &[&[u8]],
    authorization: Option<&str>,
    body: &[u8],
) -> Result<(), AuthError> {
    let given =
        parse_authorization(authorization.ok_or(AuthError::MissingHeader("Authorization"))?)?;
    require_hmac(crypto, keys, body, &[&given]).await
}

/// AMO: `Authorization: HMAC-SHA256 <hex>` over the raw body (`scheme = "hmac"`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Names of secrets holding the shared keys; any one of them verifies.
    pub secrets: Vec<String>,
}

impl Scheme for Config {
    fn headers(&self) -> Vec<&str> {
        vec!["authorization"]
    }

    fn secrets(&self) -> Option<&[String]> {
        Some(&self.secrets)
    }

    async fn authenticate<C: Crypto, K: ApiKeyStore>(
        &self,
        cx: &AuthContext<'_, C, K>,
        req: &InboundRequest,
    ) -> Result<Verified, AuthError> {
        let keys = secret_bytes(cx.secrets, &self.secrets);
        verify(
            cx.crypto,
            &keys,
            req.headers.get("authorization"),
            &req.body,
        )
        .await?;
        Ok(Verified::default())
    }
}
