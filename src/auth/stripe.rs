//! Stripe: `Stripe-Signature: t=<unix>,v1=<hex>[,v1=<hex>][,v0=..]`, HMAC-SHA256 of
//! `<t>.<raw body>` under the endpoint secret used as-is (`whsec_...` included). Only
//! `v1` signatures count; `t` must be within 300 s of now.

use subtle::{Choice, ConstantTimeEq};

use super::AuthError;
use crate::crypto::Crypto;

/// The header Stripe signs with.
pub const HEADER: &str = "Stripe-Signature";
/// Largest accepted distance between `t` and now.
pub const TOLERANCE_SECS: i64 = 300;

/// A parsed header: the timestamp and every `v1` signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// `t`, Unix seconds, exactly as sent (it is part of the signed content).
    pub timestamp: String,
    /// The `v1` signatures.
    pub v1: Vec<[u8; 32]>,
}

/// Parses the header; entries other than `t` and `v1` are ignored, as Stripe's libraries do.
pub fn parse(value: &str) -> Result<Header, AuthError> {
    let mut timestamp = None;
    let mut v1 = Vec::new();
    for item in value.split(',') {
        let Some((k, v)) = item.trim().split_once('=') else {
            continue;
        };
        match k {
            "t" => timestamp = Some(v.to_string()),
            "v1" => {
                let mut sig = [0u8; 32];
                if hex::decode_to_slice(v, &mut sig).is_ok() {
                    v1.push(sig);
                }
            }
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
    Ok(Header { timestamp, v1 })
}

/// Checks the header against every secret at `now`.
pub async fn verify<C: Crypto>(
    crypto: &C,
    secrets: &[&[u8]],
    header: Option<&str>,
    body: &[u8],
    now: i64,
) -> Result<(), AuthError> {
    let h = parse(header.ok_or(AuthError::MissingHeader(HEADER))?)?;
    let t = super::standard_webhooks::parse_timestamp(&h.timestamp)?;
    if (now - t).abs() > TOLERANCE_SECS {
        return Err(AuthError::TimestampOutOfTolerance);
    }
    let mut content = Vec::with_capacity(h.timestamp.len() + 1 + body.len());
    content.extend_from_slice(h.timestamp.as_bytes());
    content.push(b'.');
    content.extend_from_slice(body);
    let mut ok = Choice::from(0);
    for secret in secrets {
        let mac = crypto.hmac_sha256(secret, &content).await?;
        for sig in &h.v1 {
            ok |= mac.ct_eq(sig);
        }
    }
    if bool::from(ok) {
        Ok(())
    } else {
        Err(AuthError::InvalidSignature)
    }
}
