//! [`Crypto`] on the Workers runtime's WebCrypto (`crypto.subtle`), for the worker.
//!
//! Asymmetric verification always goes to WebCrypto; HMAC only when the input is large
//! enough for WebCrypto's speed to pay for the call across the JS boundary. Imported
//! keys are cached per isolate, keyed by their bytes.

use std::cell::RefCell;
use std::collections::HashMap;

use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{CryptoKey, SubtleCrypto};

use super::{Crypto, CryptoError, HmacHash, PublicKey, SigAlg, hmac_sha256};

/// Inputs at least this long are HMACed by WebCrypto, shorter ones in Rust, whichever
/// was faster in workerd (docs/PERFORMANCE.md, "Figures behind choices in the code").
pub const WEBCRYPTO_HMAC_MIN_BYTES: usize = 4096;

thread_local! {
    static KEYS: RefCell<HashMap<(u8, Vec<u8>), CryptoKey>> = RefCell::new(HashMap::new());
}

/// WebCrypto-backed crypto; construct one per request or batch.
#[derive(Debug, Default, Clone, Copy)]
pub struct WebCrypto;

fn js_err(what: &str) -> impl Fn(JsValue) -> CryptoError + '_ {
    move |e| CryptoError(format!("{what}: {}", js_error_text(&e)))
}

fn js_error_text(e: &JsValue) -> String {
    e.dyn_ref::<js_sys::Error>()
        .map(|e| String::from(e.message()))
        .or_else(|| e.as_string())
        .unwrap_or_else(|| "unknown error".into())
}

fn subtle() -> Result<SubtleCrypto, CryptoError> {
    let crypto = js_sys::Reflect::get(&js_sys::global(), &JsValue::from_str("crypto"))
        .map_err(js_err("globalThis.crypto"))?;
    let subtle = js_sys::Reflect::get(&crypto, &JsValue::from_str("subtle"))
        .map_err(js_err("crypto.subtle"))?;
    Ok(subtle.unchecked_into())
}

fn object(pairs: &[(&str, &str)]) -> js_sys::Object {
    let o = js_sys::Object::new();
    for (k, v) in pairs {
        // Setting a plain property on a fresh object cannot fail.
        let _ = js_sys::Reflect::set(&o, &JsValue::from_str(k), &JsValue::from_str(v));
    }
    o
}

/// `(importKey algorithm, sign/verify algorithm)` for an algorithm.
fn algorithms(alg: SigAlg) -> (js_sys::Object, js_sys::Object) {
    match alg {
        SigAlg::Rs256 => (
            object(&[("name", "RSASSA-PKCS1-v1_5"), ("hash", "SHA-256")]),
            object(&[("name", "RSASSA-PKCS1-v1_5")]),
        ),
        SigAlg::Es256 => (
            object(&[("name", "ECDSA"), ("namedCurve", "P-256")]),
            object(&[("name", "ECDSA"), ("hash", "SHA-256")]),
        ),
        SigAlg::EdDsa => (
            object(&[("name", "Ed25519")]),
            object(&[("name", "Ed25519")]),
        ),
    }
}

/// The key-cache tag and WebCrypto hash name of an HMAC.
fn hmac_params(hash: HmacHash) -> (u8, &'static str) {
    match hash {
        HmacHash::Sha256 => (255, "SHA-256"),
        HmacHash::Sha1 => (254, "SHA-1"),
        HmacHash::Sha512 => (253, "SHA-512"),
    }
}

fn tag(alg: SigAlg) -> u8 {
    match alg {
        SigAlg::Rs256 => 0,
        SigAlg::Es256 => 1,
        SigAlg::EdDsa => 2,
    }
}

async fn import(
    subtle: &SubtleCrypto,
    tag: u8,
    format: &str,
    bytes: &[u8],
    algorithm: &js_sys::Object,
    usage: &str,
) -> Result<CryptoKey, CryptoError> {
    let cache_key = (tag, bytes.to_vec());
    if let Some(k) = KEYS.with(|c| c.borrow().get(&cache_key).cloned()) {
        return Ok(k);
    }
    let data = js_sys::Uint8Array::from(bytes);
    let usages = js_sys::Array::of1(&JsValue::from_str(usage));
    let promise = subtle
        .import_key_with_object(format, &data, algorithm, false, &usages)
        .map_err(js_err("importKey"))?;
    let key: CryptoKey = JsFuture::from(promise)
        .await
        .map_err(js_err("importKey"))?
        .unchecked_into();
    KEYS.with(|c| c.borrow_mut().insert(cache_key, key.clone()));
    Ok(key)
}

/// HMAC-SHA256 through WebCrypto whatever the input's size (the trait method sends
/// small inputs to Rust instead); the key is imported once per isolate.
pub async fn subtle_hmac_sha256(key: &[u8], data: &[u8]) -> Result<[u8; 32], CryptoError> {
    let mac = subtle_hmac(HmacHash::Sha256, key, data).await?;
    mac.try_into()
        .map_err(|_| CryptoError("HMAC-SHA256 did not give 32 bytes".into()))
}

/// An HMAC through WebCrypto; the key is imported once per isolate.
async fn subtle_hmac(hash: HmacHash, key: &[u8], data: &[u8]) -> Result<Vec<u8>, CryptoError> {
    let subtle = subtle()?;
    let (tag, hash_name) = hmac_params(hash);
    let alg = object(&[("name", "HMAC"), ("hash", hash_name)]);
    let key = import(&subtle, tag, "raw", key, &alg, "sign").await?;
    let promise = subtle
        .sign_with_object_and_u8_array(&object(&[("name", "HMAC")]), &key, data)
        .map_err(js_err("sign"))?;
    let mac = JsFuture::from(promise).await.map_err(js_err("sign"))?;
    Ok(js_sys::Uint8Array::new(&mac).to_vec())
}

impl Crypto for WebCrypto {
    async fn hmac_sha256(&self, key: &[u8], data: &[u8]) -> Result<[u8; 32], CryptoError> {
        if data.len() < WEBCRYPTO_HMAC_MIN_BYTES {
            return Ok(hmac_sha256(key, data));
        }
        subtle_hmac_sha256(key, data).await
    }

    /// SHA-256 as [`Crypto::hmac_sha256`]; SHA-1 and SHA-512 always through WebCrypto,
    /// so the wasm carries no Rust implementation of them.
    async fn hmac(&self, hash: HmacHash, key: &[u8], data: &[u8]) -> Result<Vec<u8>, CryptoError> {
        match hash {
            HmacHash::Sha256 => Ok(self.hmac_sha256(key, data).await?.to_vec()),
            other => subtle_hmac(other, key, data).await,
        }
    }

    async fn verify(
        &self,
        key: &PublicKey,
        message: &[u8],
        signature: &[u8],
    ) -> Result<bool, CryptoError> {
        // WebCrypto throws on an Ed25519 signature of any other length instead of
        // answering false; a signature of the wrong length is simply not valid.
        if key.signature_len() != Some(signature.len()) {
            return Ok(false);
        }
        let subtle = subtle()?;
        let (import_alg, verify_alg) = algorithms(key.alg);
        let crypto_key = import(
            &subtle,
            tag(key.alg),
            "spki",
            &key.spki_der,
            &import_alg,
            "verify",
        )
        .await?;
        let promise = subtle
            .verify_with_object_and_u8_array_and_u8_array(
                &verify_alg,
                &crypto_key,
                signature,
                message,
            )
            .map_err(js_err("verify"))?;
        let ok = JsFuture::from(promise).await.map_err(js_err("verify"))?;
        Ok(ok.as_bool().unwrap_or(false))
    }
}
