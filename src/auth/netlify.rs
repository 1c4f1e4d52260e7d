//! Netlify: `X-Webhook-Signature`, a JWS (HS256) under the notification's secret token
//! whose claims are `iss = "netlify"` and `sha256`, the hex SHA-256 of the raw body: the
//! token signs the claims and the claims bind the body.

use serde::Deserialize;

use super::jwt::{self, JwtError};
use super::keys::JwtKey;
use super::secret_bytes;
use super::{ApiKeyStore, AuthContext, AuthError, InboundRequest, Scheme, Verified};
use crate::crypto::Crypto;

/// The header Netlify signs with.
pub const HEADER: &str = "X-Webhook-Signature";

/// The claims Netlify's token carries.
#[derive(Debug, Deserialize)]
struct Claims {
    iss: String,
    sha256: String,
}

/// Netlify: `X-Webhook-Signature: <JWS>` (`scheme = "netlify"`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Names of secrets holding the JWS secret tokens; any one verifies.
    pub secrets: Vec<String>,
}

impl Scheme for Config {
    fn headers(&self) -> Vec<&str> {
        vec!["x-webhook-signature"]
    }

    fn secrets(&self) -> Option<&[String]> {
        Some(&self.secrets)
    }

    async fn authenticate<C: Crypto, K: ApiKeyStore>(
        &self,
        cx: &AuthContext<'_, C, K>,
        req: &InboundRequest,
    ) -> Result<Verified, AuthError> {
        let token = req
            .headers
            .get(HEADER)
            .ok_or(AuthError::MissingHeader(HEADER))?;
        let keys = JwtKey::hs256_all(&secret_bytes(cx.secrets, &self.secrets));
        let parsed = jwt::verify_signature(cx.crypto, &keys, token.trim())
            .await
            .map_err(|e| match e {
                JwtError::InvalidSignature => AuthError::InvalidSignature,
                JwtError::Backend(m) => AuthError::Backend(m),
                other => AuthError::Malformed(format!("{HEADER}: {}", other)),
            })?;
        let claims = parsed
            .deserialize_claims_unchecked::<Claims>()
            .map_err(|e| AuthError::Malformed(format!("{HEADER}: claims: {e}")))?
            .custom;
        let digest = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&req.body));
        if claims.iss == "netlify" && claims.sha256.eq_ignore_ascii_case(&digest) {
            Ok(Verified::default())
        } else {
            Err(AuthError::InvalidSignature)
        }
    }
}
