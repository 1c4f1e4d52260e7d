//! Secrets at rest: subscription API keys and service-account secrets must be read back
//! to sign, so D1 holds them sealed with AES-256-GCM under the `MASTER_KEY` secret
//! (base64 of 32 random bytes), never in clear.
//!
//! A sealed value is `v1:` + base64(nonce ‖ ciphertext ‖ tag) with a random 96-bit
//! nonce. The associated data names the row and column it belongs to, so a ciphertext
//! copied into another row does not open.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

const PREFIX: &str = "v1:";

/// A problem with the master key or a sealed value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SealError(pub String);

/// The master key, parsed from the `MASTER_KEY` secret.
pub struct MasterKey(Aes256Gcm);

// Never print key material.
impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(..)")
    }
}

/// The 32 bytes of `MASTER_KEY` (base64), for the keys derived from it.
pub fn key_bytes(secret: &str) -> Result<[u8; 32], SealError> {
    let bytes = STANDARD
        .decode(secret.trim())
        .map_err(|_| SealError("MASTER_KEY is not base64".into()))?;
    bytes.try_into().map_err(|_| {
        SealError("MASTER_KEY must be base64 of 32 bytes (openssl rand -base64 32)".into())
    })
}

impl MasterKey {
    /// Parses `MASTER_KEY`: base64 of exactly 32 bytes.
    pub fn parse(secret: &str) -> Result<MasterKey, SealError> {
        Ok(MasterKey(Aes256Gcm::new(&key_bytes(secret)?.into())))
    }

    /// Seals `plaintext` for the row and column `context` names, with a fresh `nonce`.
    pub fn seal(
        &self,
        plaintext: &[u8],
        context: &str,
        nonce: [u8; 12],
    ) -> Result<String, SealError> {
        let sealed = self
            .0
            .encrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: plaintext,
                    aad: context.as_bytes(),
                },
            )
            .map_err(|_| SealError("encryption failed".into()))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        Ok(format!("{PREFIX}{}", STANDARD.encode(out)))
    }

    /// Opens a value sealed for `context`.
    pub fn open(&self, sealed: &str, context: &str) -> Result<Vec<u8>, SealError> {
        let bad = || SealError(format!("the sealed value for {context} does not open"));
        let raw = sealed
            .strip_prefix(PREFIX)
            .and_then(|b| STANDARD.decode(b).ok())
            .ok_or_else(bad)?;
        if raw.len() < 12 + 16 {
            return Err(bad());
        }
        let (nonce, ciphertext) = raw.split_at(12);
        let nonce: [u8; 12] = nonce.try_into().map_err(|_| bad())?;
        self.0
            .decrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: ciphertext,
                    aad: context.as_bytes(),
                },
            )
            .map_err(|_| bad())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

    #[test]
    fn seals_and_opens_bound_to_its_context() {
        let k = MasterKey::parse(KEY).unwrap();
        let sealed = k
            .seal(b"ehs_secret", "subscriptions:s1:api_key", [7; 12])
            .unwrap();
        assert!(sealed.starts_with("v1:"));
        assert!(!sealed.contains("ehs_secret"));
        assert_eq!(
            k.open(&sealed, "subscriptions:s1:api_key").unwrap(),
            b"ehs_secret"
        );
        assert!(k.open(&sealed, "subscriptions:s2:api_key").is_err());
        let other = MasterKey::parse("HwEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=").unwrap();
        assert!(other.open(&sealed, "subscriptions:s1:api_key").is_err());
        let mut tampered = sealed.clone();
        tampered.pop();
        tampered.push('A');
        assert!(k.open(&tampered, "subscriptions:s1:api_key").is_err());
        assert!(k.open("plain", "x").is_err());
    }

    #[test]
    fn master_key_must_be_32_bytes_of_base64() {
        assert!(MasterKey::parse("not base64!").is_err());
        assert!(MasterKey::parse("AAECAw==").is_err());
        assert!(MasterKey::parse(KEY).is_ok());
    }
}
