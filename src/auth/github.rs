//! GitHub: `X-Hub-Signature-256: sha256=<hex>`, HMAC-SHA256 of the raw body under the
//! webhook secret.

use serde::Deserialize;

use super::{AuthError, hex_mac, require_hmac};
use crate::crypto::{Crypto, hmac_sha256};

use super::secret_bytes;
use super::{ApiKeyStore, AuthContext, InboundRequest, Scheme, Verified};

/// The header GitHub signs with.
pub const HEADER: &str = "X-Hub-Signature-256";

/// The header value GitHub sends for `body` under `secret`.
pub fn signature(secret: &[u8], body: &[u8]) -> String {
    format!("sha256={}", hex::encode(hmac_sha256(secret, body)))
}

/// Parses `sha256=<64 hex digits>`.
pub fn parse(value: &str) -> Result<[u8; 32], AuthError> {
    let malformed = || AuthError::Malformed(format!("{HEADER} must be `sha256=<64 hex digits>`"));
    let digest = value.trim().strip_prefix("sha256=").ok_or_else(malformed)?;
    hex_mac(digest).ok_or_else(malformed)
}

/// Checks the header against every secret.
pub async fn verify<C: Crypto>(
    crypto: &C,
    secrets: &[&[u8]],
    header: Option<&str>,
    body: &[u8],
) -> Result<(), AuthError> {
    let given = parse(header.ok_or(AuthError::MissingHeader(HEADER))?)?;
    require_hmac(crypto, secrets, body, &[&given]).await
}

/// GitHub: `X-Hub-Signature-256: sha256=<hex>` over the raw body (`scheme = "github"`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Names of secrets holding webhook secrets; any one verifies.
    pub secrets: Vec<String>,
}

impl Scheme for Config {
    fn headers(&self) -> Vec<&str> {
        vec!["x-hub-signature-256"]
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
        verify(cx.crypto, &keys, req.headers.get(HEADER), &req.body).await?;
        Ok(Verified::default())
    }
}
