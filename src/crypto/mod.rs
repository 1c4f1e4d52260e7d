//! Signature primitives behind one trait, so each runs where it is fastest.
//!
//! In the worker, [`webcrypto::WebCrypto`] uses the runtime's WebCrypto (`crypto.subtle`)
//! for RS256 / ES256 / EdDSA and for HMACs over large bodies, and Rust for small HMACs:
//! each is the faster side in workerd (figures in docs/PERFORMANCE.md, "Figures behind
//! choices in the code").
//! Natively, [`native::NativeCrypto`] does everything in pure Rust, so `cargo test` runs
//! the same vectors through both.

#[cfg(not(target_arch = "wasm32"))]
pub mod native;
pub mod webcrypto;

use subtle::{Choice, ConstantTimeEq};

/// An asymmetric signature algorithm a public key is bound to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SigAlg {
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    Rs256,
    /// ECDSA P-256 with SHA-256; signatures are the 64-byte `r || s` form of JWS.
    Es256,
    /// Ed25519.
    EdDsa,
}

/// A public key as SubjectPublicKeyInfo DER, bound to one algorithm.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey {
    /// The only algorithm this key verifies.
    pub alg: SigAlg,
    /// SPKI DER bytes.
    pub spki_der: Vec<u8>,
}

impl PublicKey {
    /// The length of every signature this key makes: 64 bytes for Ed25519 and for ES256
    /// (JWS's `r || s`), the modulus length for RS256; `None` if the key's DER does not
    /// say (keys are checked when loaded, so in practice never).
    pub fn signature_len(&self) -> Option<usize> {
        use spki::der::Decode;
        match self.alg {
            SigAlg::Es256 | SigAlg::EdDsa => Some(64),
            SigAlg::Rs256 => {
                let info = spki::SubjectPublicKeyInfoRef::from_der(&self.spki_der).ok()?;
                let rsa =
                    pkcs1::RsaPublicKey::from_der(info.subject_public_key.as_bytes()?).ok()?;
                Some(rsa.modulus.as_bytes().len())
            }
        }
    }
}

/// The hash an HMAC is built on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HmacHash {
    /// SHA-1 (Twilio, Intercom, Vercel, Segment, …: still what many providers sign with).
    Sha1,
    /// SHA-256.
    Sha256,
    /// SHA-512.
    Sha512,
}

/// A failure of the crypto backend itself (not a signature mismatch).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct CryptoError(pub String);

/// The signature operations edgehook needs.
#[allow(async_fn_in_trait)] // used through generics only, never `dyn`, and never sent across threads
pub trait Crypto {
    /// HMAC-SHA256 of `data` under `key`.
    async fn hmac_sha256(&self, key: &[u8], data: &[u8]) -> Result<[u8; 32], CryptoError>;

    /// HMAC of `data` under `key` with `hash` (SHA-256 as [`Crypto::hmac_sha256`]).
    async fn hmac(&self, hash: HmacHash, key: &[u8], data: &[u8]) -> Result<Vec<u8>, CryptoError>;

    /// Whether `signature` over `message` verifies under `key` (with `key.alg`).
    async fn verify(
        &self,
        key: &PublicKey,
        message: &[u8],
        signature: &[u8],
    ) -> Result<bool, CryptoError>;
}

/// Whether any of `givens` equals HMAC-SHA256(key, data) for any of `keys`, tried in
/// order. Each MAC is compared with every signature in constant time, so timing does not
/// tell how much of a MAC matched. It stops at the first key that matches: only a sender
/// holding a key can make one match, and a request no key verifies costs every key, so
/// the time saved tells an attacker nothing (the current key is listed first; the
/// rotated-out one costs only requests still signed with it). Each key's MAC is computed
/// once, however many signatures a header lists, so packing a header cannot multiply the
/// work over a body.
pub async fn hmac_matches_any<C: Crypto>(
    crypto: &C,
    keys: &[&[u8]],
    data: &[u8],
    givens: &[&[u8]],
) -> Result<bool, CryptoError> {
    hmac_matches_any_with(crypto, HmacHash::Sha256, keys, data, givens).await
}

/// [`hmac_matches_any`] with the HMAC built on `hash`.
pub async fn hmac_matches_any_with<C: Crypto>(
    crypto: &C,
    hash: HmacHash,
    keys: &[&[u8]],
    data: &[u8],
    givens: &[&[u8]],
) -> Result<bool, CryptoError> {
    for key in keys {
        let mac = crypto.hmac(hash, key, data).await?;
        let mut ok = Choice::from(0);
        for given in givens {
            ok |= mac.as_slice().ct_eq(given);
        }
        if bool::from(ok) {
            return Ok(true);
        }
    }
    Ok(false)
}

/// HMAC-SHA256 in pure Rust.
pub fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    use hmac::Mac;
    let mut mac = hmac_sha256_keyed(key);
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// An HMAC-SHA256 state keyed by `key`, of any length ([`hmac_keyed`]).
pub fn hmac_sha256_keyed(key: &[u8]) -> hmac::Hmac<sha2::Sha256> {
    hmac_keyed::<hmac::Hmac<sha2::Sha256>, sha2::Sha256>(key)
}

/// An HMAC state `M` over hash `D`, keyed by `key` of any length. RFC 2104 hashes a key
/// longer than the hash's block and zero-pads a shorter one; doing that here yields a
/// block-sized key, whose type carries its length, so construction has no error left to
/// handle (`new_from_slice` returns a `Result` that cannot be `Err` for HMAC).
pub fn hmac_keyed<M: hmac::digest::KeyInit, D: hmac::digest::Digest>(key: &[u8]) -> M {
    let mut block = hmac::digest::Key::<M>::default();
    if key.len() > block.len() {
        let digest = D::digest(key);
        block[..digest.len()].copy_from_slice(&digest);
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    M::new(&block)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    /// Pure-Rust HMACs that counts how many it computes.
    struct Counting(Cell<usize>);

    impl Crypto for Counting {
        async fn hmac_sha256(&self, key: &[u8], data: &[u8]) -> Result<[u8; 32], CryptoError> {
            self.0.set(self.0.get() + 1);
            Ok(hmac_sha256(key, data))
        }
        async fn hmac(
            &self,
            hash: HmacHash,
            key: &[u8],
            data: &[u8],
        ) -> Result<Vec<u8>, CryptoError> {
            assert_eq!(hash, HmacHash::Sha256);
            Ok(self.hmac_sha256(key, data).await?.to_vec())
        }
        async fn verify(&self, _: &PublicKey, _: &[u8], _: &[u8]) -> Result<bool, CryptoError> {
            Ok(false)
        }
    }

    fn matches(keys: &[&[u8]], given: [u8; 32]) -> (bool, usize) {
        let crypto = Counting(Cell::new(0));
        let ok = futures_executor::block_on(hmac_matches_any(&crypto, keys, b"body", &[&given]));
        (ok.unwrap(), crypto.0.get())
    }

    #[test]
    fn signature_lengths_follow_the_key() {
        use crate::auth::keys::parse_keys;
        let key = |jwk: &str| match parse_keys(jwk).unwrap().remove(0).material {
            crate::auth::keys::KeyMaterial::Public(p) => p,
            crate::auth::keys::KeyMaterial::Hs256(_) => panic!(),
        };
        let ed = key(
            r#"{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}"#,
        );
        assert_eq!(ed.signature_len(), Some(64));
        // A 2048-bit modulus with a leading zero octet in its DER INTEGER: 256 bytes.
        let n = format!("{}AQ", "w".repeat(340));
        let rsa = key(&format!(r#"{{"kty":"RSA","n":"{n}","e":"AQAB"}}"#));
        assert_eq!(rsa.signature_len(), Some(256));
        let broken = PublicKey {
            alg: SigAlg::Rs256,
            spki_der: vec![0x30, 0x00],
        };
        assert_eq!(broken.signature_len(), None);
    }

    #[test]
    fn hmac_check_stops_at_the_first_key_that_matches() {
        let keys: [&[u8]; 2] = [b"current", b"previous"];
        assert_eq!(matches(&keys, hmac_sha256(b"current", b"body")), (true, 1));
        assert_eq!(matches(&keys, hmac_sha256(b"previous", b"body")), (true, 2));
        // A signature no key makes costs every key, whichever it resembles.
        assert_eq!(matches(&keys, [0; 32]), (false, 2));
    }

    #[test]
    fn keyed_hmac_matches_rfc_4231_and_the_crate_for_every_key_length() {
        use hmac::Mac;
        // RFC 4231 test cases 1 (20-byte key) and 6 (131-byte key, hashed first).
        assert_eq!(
            hex::encode(hmac_sha256(&[0x0b; 20], b"Hi There")),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"
        );
        assert_eq!(
            hex::encode(hmac_sha256(
                &[0xaa; 131],
                b"Test Using Larger Than Block-Size Key - Hash Key First"
            )),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
        // hmac_keyed against the crate's own keying, around each hash's block size.
        fn agree<M: Mac + hmac::digest::KeyInit, D: hmac::digest::Digest>() {
            for len in 0..=260 {
                let key: Vec<u8> = (0..len).map(|i| i as u8).collect();
                let mut ours = hmac_keyed::<M, D>(&key);
                let mut theirs = <M as Mac>::new_from_slice(&key).expect("any length");
                ours.update(b"body");
                theirs.update(b"body");
                assert_eq!(
                    ours.finalize().into_bytes(),
                    theirs.finalize().into_bytes(),
                    "{len}"
                );
            }
        }
        agree::<hmac::Hmac<sha1::Sha1>, sha1::Sha1>();
        agree::<hmac::Hmac<sha2::Sha256>, sha2::Sha256>();
        agree::<hmac::Hmac<sha2::Sha512>, sha2::Sha512>();
    }
}
