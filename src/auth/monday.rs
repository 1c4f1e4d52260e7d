//! monday.com: `Authorization: <JWT>` (HS256 under the app's signing secret), as monday
//! sends to an app's integration and webhook endpoints. The token carries `exp` and `iat`
//! (five minutes apart), `accountId`, `userId` and a short-lived API token; it does not bind
//! the body, so a captured request can be replayed with another body until `exp`.

use serde::Deserialize;

use super::jwt::{self, JwtRules};
use super::keys::JwtKey;
use super::secret_bytes;
use super::{ApiKeyStore, AuthContext, AuthError, InboundRequest, Scheme, Verified};
use crate::crypto::Crypto;

/// The longest `exp - iat` accepted: monday's tokens live five minutes.
pub const MAX_LIFETIME_SECS: i64 = 3600;

/// monday.com: `Authorization: <JWT>` (`scheme = "monday"`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Names of secrets holding the app's signing secret; any one verifies (rotation).
    pub secrets: Vec<String>,
    /// Required `aud`, when set (monday puts the endpoint's URL there).
    #[serde(default)]
    pub audience: Option<String>,
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
        let header = req
            .headers
            .get("authorization")
            .ok_or(AuthError::MissingHeader("Authorization"))?;
        // monday sends the bare token; a `Bearer ` prefix is taken too.
        let token = jwt::bearer(header).unwrap_or_else(|| header.trim());
        let keys = JwtKey::hs256_all(&secret_bytes(cx.secrets, &self.secrets));
        let rules = JwtRules {
            issuer: None,
            audience: self.audience.as_deref(),
            max_lifetime_secs: MAX_LIFETIME_SECS,
        };
        let claims = jwt::verify(cx.crypto, &keys, &rules, token, cx.now_secs).await?;
        Ok(Verified {
            claims: Some(claims),
            ..Verified::default()
        })
    }
}
