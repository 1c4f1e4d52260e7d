//! Stripe: `Stripe-Signature: t=<unix>,v1=<hex>[,v1=<hex>][,v0=..]`, HMAC-SHA256 of
//! `<t>.<raw body>` under the endpoint secret used as-is (`whsec_...` included). Only
//! `v1` signatures count; `t` must be within 300 s of now.

use serde::Deserialize;

use super::{AuthError, hex_mac, parse_timestamp, require_hmac};
use crate::crypto::{Crypto, hmac_sha256};

use super::secret_bytes;
use super::{ApiKeyStore, AuthContext, InboundRequest, Scheme, Verified};

/// The header Stripe signs with.
pub const HEADER: &str = "Stripe-Signature";
/// Largest accepted distance between `t` and now.
pub const TOLERANCE_SECS: i64 = 300;

/// A parsed header: the timestamp and every `v1` signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// `t`, Unix seconds.
    pub timestamp: i64,
    /// The `v1` signatures.
    pub v1: Vec<[u8; 32]>,
}

/// The header value Stripe sends for `body` under `secret` at `timestamp`.
pub fn signature(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    let mac = hmac_sha256(secret, &signed_content(timestamp, body));
    format!("t={timestamp},v1={}", hex::encode(mac))
}

/// Parses the header. Entries other than `t` and `v1`, and `v1` values that are not 64
/// hex digits, are ignored, as Stripe's libraries do; a header left with no `t` or no
/// `v1` is malformed.
pub fn parse(value: &str) -> Result<Header, AuthError> {
    let mut timestamp = None;
    let mut v1 = Vec::new();
    for item in value.split(',') {
        match item.trim().split_once('=') {
            Some(("t", t)) => timestamp = Some(t),
            Some(("v1", hex)) => v1.extend(hex_mac(hex)),
            _ => {}
        }
    }
    let timestamp =
        timestamp.ok_or_else(|| AuthError::Malformed(format!("{HEADER} has no `t=` timestamp")))?;
    if v1.is_empty() {
        return Err(AuthError::Malformed(format!(
            "{HEADER} has no `v1=` signature"
        )));
    }
    Ok(Header {
        timestamp: parse_timestamp(timestamp)?,
        v1,
    })
}

/// `<t>.<body>`, as Stripe signs it (the parsed integer, as its libraries do).
fn signed_content(timestamp: i64, body: &[u8]) -> Vec<u8> {
    [format!("{timestamp}.").as_bytes(), body].concat()
}

/// Checks the header against every secret at `now_secs`.
pub async fn verify<C: Crypto>(
    crypto: &C,
    secrets: &[&[u8]],
    header: Option<&str>,
    body: &[u8],
    now_secs: i64,
) -> Result<(), AuthError> {
    let h = parse(header.ok_or(AuthError::MissingHeader(HEADER))?)?;
    if (now_secs - h.timestamp).abs() > TOLERANCE_SECS {
        return Err(AuthError::TimestampOutOfTolerance);
    }
    let given: Vec<&[u8]> = h.v1.iter().map(<[u8; 32]>::as_slice).collect();
    require_hmac(crypto, secrets, &signed_content(h.timestamp, body), &given).await
}

/// Stripe: `Stripe-Signature: t=..,v1=..`; secrets used as-is (`scheme = "stripe"`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Names of secrets holding endpoint secrets.
    pub secrets: Vec<String>,
}

impl Scheme for Config {
    fn headers(&self) -> Vec<&str> {
        vec!["stripe-signature"]
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
        let header = req.headers.get(HEADER);
        verify(cx.crypto, &keys, header, &req.body, cx.now_secs).await?;
        Ok(Verified::default())
    }
}
