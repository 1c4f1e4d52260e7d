//! Pure-Rust [`Crypto`] for native builds (`cargo test`, benches).

use super::{Crypto, CryptoError, HmacHash, PublicKey, SigAlg, hmac_sha256};

/// Everything in pure Rust: RSA (`rsa`), P-256 (`p256`), Ed25519 (`ed25519-dalek`).
#[derive(Debug, Default, Clone, Copy)]
pub struct NativeCrypto;

fn key_error(e: impl std::fmt::Display) -> CryptoError {
    CryptoError(format!("unusable public key: {e}"))
}

impl Crypto for NativeCrypto {
    async fn hmac_sha256(&self, key: &[u8], data: &[u8]) -> Result<[u8; 32], CryptoError> {
        Ok(hmac_sha256(key, data))
    }

    async fn hmac(&self, hash: HmacHash, key: &[u8], data: &[u8]) -> Result<Vec<u8>, CryptoError> {
        use hmac::{Hmac, Mac};
        fn run<M: Mac + hmac::digest::KeyInit, D: hmac::digest::Digest>(
            key: &[u8],
            data: &[u8],
        ) -> Vec<u8> {
            let mut mac = super::hmac_keyed::<M, D>(key);
            mac.update(data);
            mac.finalize().into_bytes().to_vec()
        }
        Ok(match hash {
            HmacHash::Sha1 => run::<Hmac<sha1::Sha1>, sha1::Sha1>(key, data),
            HmacHash::Sha256 => hmac_sha256(key, data).to_vec(),
            HmacHash::Sha512 => run::<Hmac<sha2::Sha512>, sha2::Sha512>(key, data),
        })
    }

    async fn verify(
        &self,
        key: &PublicKey,
        message: &[u8],
        signature: &[u8],
    ) -> Result<bool, CryptoError> {
        match key.alg {
            SigAlg::Rs256 => {
                use rsa::pkcs8::DecodePublicKey;
                use rsa::signature::Verifier;
                let key =
                    rsa::RsaPublicKey::from_public_key_der(&key.spki_der).map_err(key_error)?;
                let verifier = rsa::pkcs1v15::VerifyingKey::<sha2::Sha256>::new(key);
                let Ok(sig) = rsa::pkcs1v15::Signature::try_from(signature) else {
                    return Ok(false);
                };
                Ok(verifier.verify(message, &sig).is_ok())
            }
            SigAlg::Es256 => {
                use p256::ecdsa::signature::Verifier;
                use p256::pkcs8::DecodePublicKey;
                let key = p256::ecdsa::VerifyingKey::from_public_key_der(&key.spki_der)
                    .map_err(key_error)?;
                let Ok(sig) = p256::ecdsa::Signature::from_slice(signature) else {
                    return Ok(false);
                };
                Ok(key.verify(message, &sig).is_ok())
            }
            SigAlg::EdDsa => {
                use ed25519_dalek::pkcs8::DecodePublicKey;
                let key = ed25519_dalek::VerifyingKey::from_public_key_der(&key.spki_der)
                    .map_err(key_error)?;
                let Ok(sig) = ed25519_dalek::Signature::from_slice(signature) else {
                    return Ok(false);
                };
                Ok(key.verify_strict(message, &sig).is_ok())
            }
        }
    }
}
