//! Pure-Rust [`Crypto`] for native builds (`cargo test`, benches).

use super::{Crypto, CryptoError, PublicKey, SigAlg, hmac_sha256};

/// Everything in pure Rust.
#[derive(Debug, Default, Clone, Copy)]
pub struct NativeCrypto;

impl Crypto for NativeCrypto {
    async fn hmac_sha256(&self, key: &[u8], data: &[u8]) -> Result<[u8; 32], CryptoError> {
        Ok(hmac_sha256(key, data))
    }

    async fn verify(
        &self,
        key: &PublicKey,
        _message: &[u8],
        _signature: &[u8],
    ) -> Result<bool, CryptoError> {
        match key.alg {
            SigAlg::Rs256 | SigAlg::Es256 | SigAlg::EdDsa => Err(CryptoError(format!(
                "{:?} verification is not built into the native backend",
                key.alg
            ))),
        }
    }
}
