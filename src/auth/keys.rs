//! Public and shared keys for JWT verification, from the forms operators paste into a
//! secret: `base64:<SPKI DER>`, PEM (`PUBLIC KEY` or `RSA PUBLIC KEY`, several blocks
//! allowed), a JWK, or a JWK set. Every key comes out bound to exactly one algorithm.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use pkcs1::UintRef;
use serde_json::Value;
use spki::der::asn1::{AnyRef, BitStringRef};
use spki::der::{self, Decode, Encode, pem};
use spki::{AlgorithmIdentifierRef, ObjectIdentifier, SubjectPublicKeyInfoRef};

use crate::crypto::{PublicKey, SigAlg};

/// A key a token may be verified with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwtKey {
    /// The JWK `kid`, if the key has one.
    pub kid: Option<String>,
    /// The key and the one algorithm it is bound to.
    pub material: KeyMaterial,
}

impl JwtKey {
    /// An HS256 key without `kid` for each shared secret (schemes whose tokens are signed
    /// with a collector's `secrets`, such as `netlify` and `monday`).
    pub fn hs256_all(secrets: &[&[u8]]) -> Vec<JwtKey> {
        secrets
            .iter()
            .map(|k| JwtKey {
                kid: None,
                material: KeyMaterial::Hs256(k.to_vec()),
            })
            .collect()
    }
}

/// Key bytes with their algorithm.
#[derive(Clone, PartialEq, Eq)]
pub enum KeyMaterial {
    /// RS256, ES256 or EdDSA public key.
    Public(PublicKey),
    /// HS256 shared secret.
    Hs256(Vec<u8>),
}

// Never print an HS256 secret.
impl std::fmt::Debug for KeyMaterial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeyMaterial::Public(k) => write!(f, "Public({:?})", k.alg),
            KeyMaterial::Hs256(_) => f.write_str("Hs256(..)"),
        }
    }
}

impl JwtKey {
    /// The JWS `alg` this key verifies.
    pub fn alg(&self) -> &'static str {
        match &self.material {
            KeyMaterial::Public(k) => alg_name(k.alg),
            KeyMaterial::Hs256(_) => "HS256",
        }
    }
}

/// The JWS name of an asymmetric algorithm.
pub fn alg_name(alg: SigAlg) -> &'static str {
    match alg {
        SigAlg::Rs256 => "RS256",
        SigAlg::Es256 => "ES256",
        SigAlg::EdDsa => "EdDSA",
    }
}

/// Why a secret's text holds no usable key; the config error names the secret around it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyParseError {
    /// None of the accepted forms.
    #[error("expected `base64:<SPKI DER>`, a PEM public key, a JWK or a JWK set")]
    UnknownForm,
    /// `base64:` followed by something that is not base64.
    #[error("base64: not valid base64 ({0})")]
    Base64(base64::DecodeError),
    /// Starts with `{` but is not JSON.
    #[error("not valid JSON: {0}")]
    Json(String),
    /// `{"keys": []}`.
    #[error("the JWK set has no keys")]
    EmptySet,
    /// `keys` is there but is not an array.
    #[error("`keys` must be an array of JWKs")]
    KeysNotArray,
    /// One key of a JWK set is unusable.
    #[error("keys[{index}]: {error}")]
    InSet {
        /// Its position in `keys`.
        index: usize,
        /// What is wrong with it.
        error: Box<KeyParseError>,
    },
    /// Starts like PEM, but no block could be read.
    #[error("malformed PEM: {0}")]
    Pem(pem::Error),
    /// A PEM block that is not a public key (a private key, a certificate, ...).
    #[error("PEM `{0}` is not a public key (use PUBLIC KEY or RSA PUBLIC KEY)")]
    PemLabel(String),
    /// The DER is not a SubjectPublicKeyInfo (or, for `RSA PUBLIC KEY`, a PKCS#1 key).
    #[error("malformed DER: {0}")]
    Der(der::Error),
    /// An SPKI of an algorithm edgehook does not verify.
    #[error("unsupported key type {0} (RSA, P-256 EC or Ed25519 only)")]
    UnsupportedAlgorithm(ObjectIdentifier),
    /// An EC or OKP key on another curve.
    #[error("only the {curve} curve is supported for {kind} keys")]
    UnsupportedCurve {
        /// The one supported curve.
        curve: &'static str,
        /// `EC` or `OKP`.
        kind: &'static str,
    },
    /// The algorithm identifier's parameters are not the ones its algorithm requires.
    #[error("the {0} algorithm identifier has the wrong parameters")]
    BadParameters(&'static str),
    /// Key bytes of the wrong size or form for their algorithm.
    #[error("{0}")]
    BadKey(&'static str),
    /// A JWK without `kty`.
    #[error("JWK has no `kty`")]
    NoKty,
    /// A JWK of a `kty` edgehook does not verify.
    #[error("unsupported JWK kty {0:?}")]
    UnsupportedKty(String),
    /// A JWK member the key type requires is absent.
    #[error("JWK is missing `{0}`")]
    MissingMember(&'static str),
    /// A JWK member that is not base64url.
    #[error("JWK `{0}` is not base64url ({1})")]
    NotBase64Url(&'static str, base64::DecodeError),
    /// A JWK whose `use` is not `sig`.
    #[error("JWK `use` is {0:?}, not \"sig\"")]
    NotForSignatures(String),
    /// An `oct` JWK shorter than HS256 allows.
    #[error("HS256 keys must be at least 32 bytes (RFC 7518 §3.2)")]
    ShortHmacKey,
    /// A JWK whose `alg` is not the one its key type verifies.
    #[error("JWK `alg` {given:?} does not fit its key type ({fits})")]
    AlgMismatch {
        /// The JWK's `alg`.
        given: String,
        /// The algorithm its key is bound to.
        fits: &'static str,
    },
}

impl From<der::Error> for KeyParseError {
    fn from(e: der::Error) -> Self {
        KeyParseError::Der(e)
    }
}

/// rsaEncryption (RFC 8017 A.1).
const OID_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
/// id-ecPublicKey (RFC 5480 §2.1.1).
const OID_EC: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
/// secp256r1, the named curve of P-256 (RFC 5480 §2.1.1.1).
const OID_P256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
/// id-Ed25519 (RFC 8410 §3).
const OID_ED25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");

/// Parses every key in a secret's text.
pub fn parse_keys(text: &str) -> Result<Vec<JwtKey>, KeyParseError> {
    let text = text.trim();
    if let Some(b64) = text.strip_prefix("base64:") {
        let der = STANDARD.decode(b64.trim()).map_err(KeyParseError::Base64)?;
        return Ok(vec![public(spki(der)?)]);
    }
    if text.starts_with("-----BEGIN") {
        return pem_blocks(text)
            .map(|block| parse_pem(block).map(public))
            .collect();
    }
    if text.starts_with('{') {
        let v: Value =
            serde_json::from_str(text).map_err(|e| KeyParseError::Json(e.to_string()))?;
        return match v.get("keys") {
            Some(Value::Array(keys)) => {
                if keys.is_empty() {
                    return Err(KeyParseError::EmptySet);
                }
                keys.iter()
                    .enumerate()
                    .map(|(index, k)| {
                        jwk(k).map_err(|e| KeyParseError::InSet {
                            index,
                            error: Box::new(e),
                        })
                    })
                    .collect()
            }
            Some(_) => Err(KeyParseError::KeysNotArray),
            None => Ok(vec![jwk(&v)?]),
        };
    }
    Err(KeyParseError::UnknownForm)
}

fn public(key: PublicKey) -> JwtKey {
    JwtKey {
        kid: None,
        material: KeyMaterial::Public(key),
    }
}

/// The PEM blocks of a text that holds one or more, each up to its `-----END …-----`
/// line (pem-rfc7468 reads one block at a time).
fn pem_blocks(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = text;
    std::iter::from_fn(move || {
        let rest_now = rest.trim_start();
        if rest_now.is_empty() {
            return None;
        }
        let end = rest_now
            .find("-----END ")
            .and_then(|at| {
                let after = at + "-----END ".len();
                rest_now[after..].find("-----").map(|e| after + e + 5)
            })
            .unwrap_or(rest_now.len());
        rest = &rest_now[end..];
        Some(&rest_now[..end])
    })
}

/// One PEM block: `PUBLIC KEY` (SPKI) or `RSA PUBLIC KEY` (PKCS#1, wrapped into SPKI).
fn parse_pem(block: &str) -> Result<PublicKey, KeyParseError> {
    // RFC 7468 wraps base64 at 64 characters; keys are also pasted wrapped at 76 or on one
    // line, so the decoder takes the width of the block's first line.
    let width = block
        .lines()
        .nth(1)
        .map_or(64, |line| line.trim_end().len())
        .max(4);
    let mut decoder =
        pem::Decoder::new_wrapped(block.as_bytes(), width).map_err(KeyParseError::Pem)?;
    let label = decoder.type_label();
    let mut der = Vec::new();
    decoder
        .decode_to_end(&mut der)
        .map_err(KeyParseError::Pem)?;
    match label {
        "PUBLIC KEY" => spki(der),
        "RSA PUBLIC KEY" => {
            pkcs1::RsaPublicKey::from_der(&der)?;
            Ok(PublicKey {
                alg: SigAlg::Rs256,
                spki_der: spki_der(OID_RSA, Some(AnyRef::NULL), &der)?,
            })
        }
        other => Err(KeyParseError::PemLabel(other.to_string())),
    }
}

/// Binds an SPKI DER key to its algorithm by its algorithm identifier, after checking
/// the key inside has the form that algorithm needs.
pub fn spki(der_bytes: Vec<u8>) -> Result<PublicKey, KeyParseError> {
    let info = SubjectPublicKeyInfoRef::from_der(&der_bytes)?;
    let key = info
        .subject_public_key
        .as_bytes()
        .ok_or(KeyParseError::BadKey(
            "the public key is not a whole number of bytes",
        ))?;
    let params = info.algorithm.parameters;
    let alg = match info.algorithm.oid {
        OID_RSA => {
            if params.is_some_and(|p| p != AnyRef::NULL) {
                return Err(KeyParseError::BadParameters("RSA"));
            }
            pkcs1::RsaPublicKey::from_der(key)?;
            SigAlg::Rs256
        }
        OID_EC => {
            let curve = params
                .ok_or(KeyParseError::BadParameters("EC"))?
                .decode_as::<ObjectIdentifier>()
                .map_err(|_| KeyParseError::BadParameters("EC"))?;
            if curve != OID_P256 {
                return Err(KeyParseError::UnsupportedCurve {
                    curve: "P-256",
                    kind: "EC",
                });
            }
            if !matches!((key.len(), key.first()), (65, Some(4)) | (33, Some(2 | 3))) {
                return Err(KeyParseError::BadKey(
                    "a P-256 key is a 65-byte uncompressed or 33-byte compressed point",
                ));
            }
            SigAlg::Es256
        }
        OID_ED25519 => {
            if params.is_some() {
                return Err(KeyParseError::BadParameters("Ed25519"));
            }
            if key.len() != 32 {
                return Err(KeyParseError::BadKey("an Ed25519 public key is 32 bytes"));
            }
            SigAlg::EdDsa
        }
        other => return Err(KeyParseError::UnsupportedAlgorithm(other)),
    };
    Ok(PublicKey {
        alg,
        spki_der: der_bytes,
    })
}

/// SubjectPublicKeyInfo DER of a key's bytes under an algorithm identifier.
fn spki_der(
    oid: ObjectIdentifier,
    parameters: Option<AnyRef<'_>>,
    key: &[u8],
) -> Result<Vec<u8>, KeyParseError> {
    let info = SubjectPublicKeyInfoRef {
        algorithm: AlgorithmIdentifierRef { oid, parameters },
        subject_public_key: BitStringRef::from_bytes(key)?,
    };
    Ok(info.to_der()?)
}

/// An Ed25519 public key from its 32 raw bytes (JWK `x`, Standard Webhooks `whpk_`).
pub fn ed25519(raw: &[u8]) -> Result<PublicKey, KeyParseError> {
    if raw.len() != 32 {
        return Err(KeyParseError::BadKey("an Ed25519 public key is 32 bytes"));
    }
    Ok(PublicKey {
        alg: SigAlg::EdDsa,
        spki_der: spki_der(OID_ED25519, None, raw)?,
    })
}

fn b64_field(jwk: &Value, name: &'static str) -> Result<Vec<u8>, KeyParseError> {
    let s = jwk
        .get(name)
        .and_then(Value::as_str)
        .ok_or(KeyParseError::MissingMember(name))?;
    URL_SAFE_NO_PAD
        .decode(s.trim_end_matches('='))
        .map_err(|e| KeyParseError::NotBase64Url(name, e))
}

/// Parses one JWK.
pub(crate) fn jwk(v: &Value) -> Result<JwtKey, KeyParseError> {
    let kty = v
        .get("kty")
        .and_then(Value::as_str)
        .ok_or(KeyParseError::NoKty)?;
    if let Some(u) = v.get("use").and_then(Value::as_str)
        && u != "sig"
    {
        return Err(KeyParseError::NotForSignatures(u.to_string()));
    }
    let crv = v.get("crv").and_then(Value::as_str);
    let material = match kty {
        "RSA" => {
            let (n, e) = (b64_field(v, "n")?, b64_field(v, "e")?);
            let pkcs1 = pkcs1::RsaPublicKey {
                modulus: UintRef::new(&n)?,
                public_exponent: UintRef::new(&e)?,
            }
            .to_der()?;
            KeyMaterial::Public(PublicKey {
                alg: SigAlg::Rs256,
                spki_der: spki_der(OID_RSA, Some(AnyRef::NULL), &pkcs1)?,
            })
        }
        "EC" => {
            if crv != Some("P-256") {
                return Err(KeyParseError::UnsupportedCurve {
                    curve: "P-256",
                    kind: "EC",
                });
            }
            let (x, y) = (b64_field(v, "x")?, b64_field(v, "y")?);
            if x.len() != 32 || y.len() != 32 {
                return Err(KeyParseError::BadKey(
                    "P-256 `x` and `y` must be 32 bytes each",
                ));
            }
            let point = [&[4u8][..], &x, &y].concat();
            KeyMaterial::Public(PublicKey {
                alg: SigAlg::Es256,
                spki_der: spki_der(OID_EC, Some(AnyRef::from(&OID_P256)), &point)?,
            })
        }
        "OKP" => {
            if crv != Some("Ed25519") {
                return Err(KeyParseError::UnsupportedCurve {
                    curve: "Ed25519",
                    kind: "OKP",
                });
            }
            KeyMaterial::Public(ed25519(&b64_field(v, "x")?)?)
        }
        "oct" => {
            let k = b64_field(v, "k")?;
            if k.len() < 32 {
                return Err(KeyParseError::ShortHmacKey);
            }
            KeyMaterial::Hs256(k)
        }
        other => return Err(KeyParseError::UnsupportedKty(other.to_string())),
    };
    let key = JwtKey {
        kid: v.get("kid").and_then(Value::as_str).map(str::to_string),
        material,
    };
    if let Some(alg) = v.get("alg").and_then(Value::as_str)
        && alg != key.alg()
    {
        return Err(KeyParseError::AlgMismatch {
            given: alg.to_string(),
            fits: key.alg(),
        });
    }
    Ok(key)
}

/// Every JWT key the config names, parsed once per isolate, by secret name.
#[derive(Debug, Clone, Default)]
pub struct Keyring(std::collections::BTreeMap<String, Vec<JwtKey>>);

impl Keyring {
    /// Checks the secrets of every `auth` table (`(key, table)` pairs, as
    /// [`crate::config::Config::auth_tables`] gives them) decode as its scheme reads them
    /// ([`crate::auth::AuthConfig::check_secrets`]) and parses the key secrets of every
    /// `jwt` collector; a secret that holds no usable key is a config error naming the
    /// key that refers to it.
    #[inline(never)] // compiled apart from the config load (see Config::parse)
    pub fn load<'a>(
        auths: impl IntoIterator<Item = (String, &'a crate::auth::AuthConfig)>,
        secrets: &crate::secrets::Secrets,
    ) -> Result<Keyring, crate::error::ConfigError> {
        let mut ring = std::collections::BTreeMap::new();
        for (path, auth) in auths {
            auth.check_secrets(&path, secrets)?;
            if let crate::auth::AuthConfig::Jwt(jwt) = auth {
                for (j, name) in jwt.keys.iter().enumerate() {
                    let text = secrets.get(name).unwrap_or_default();
                    let parsed = parse_keys(text).map_err(|e| {
                        crate::error::ConfigError(format!("{path}.keys[{j}]: secret {name}: {e}"))
                    })?;
                    ring.insert(name.clone(), parsed);
                }
            }
        }
        Ok(Keyring(ring))
    }

    /// Builds a keyring from parsed keys; for tests and benches.
    pub fn from_keys(keys: impl IntoIterator<Item = (String, Vec<JwtKey>)>) -> Keyring {
        Keyring(keys.into_iter().collect())
    }

    /// The keys held by the named secrets, in order.
    pub fn keys(&self, names: &[String]) -> Vec<JwtKey> {
        names
            .iter()
            .filter_map(|n| self.0.get(n))
            .flatten()
            .cloned()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ED25519_JWK: &str =
        r#"{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}"#;

    fn ed25519_spki() -> Vec<u8> {
        match parse_keys(ED25519_JWK).unwrap().remove(0).material {
            KeyMaterial::Public(p) => p.spki_der,
            KeyMaterial::Hs256(_) => panic!(),
        }
    }

    fn pem(label: &str, der: &[u8]) -> String {
        pem::encode_string(label, pem::LineEnding::LF, der).unwrap()
    }

    /// A small PKCS#1 RSAPublicKey (n = 0xC30102, e = 65537).
    fn pkcs1_der() -> Vec<u8> {
        pkcs1::RsaPublicKey {
            modulus: UintRef::new(&[0xC3, 0x01, 0x02]).unwrap(),
            public_exponent: UintRef::new(&[1, 0, 1]).unwrap(),
        }
        .to_der()
        .unwrap()
    }

    #[test]
    fn rejects_non_keys_with_a_reason() {
        assert_eq!(parse_keys("hello"), Err(KeyParseError::UnknownForm));
        assert!(matches!(
            parse_keys("base64:!!"),
            Err(KeyParseError::Base64(_))
        ));
        assert_eq!(parse_keys(r#"{"keys": []}"#), Err(KeyParseError::EmptySet));
        assert_eq!(
            parse_keys(r#"{"keys": {}}"#),
            Err(KeyParseError::KeysNotArray)
        );
        assert_eq!(
            parse_keys(r#"{"kty":"oct","k":"c2hvcnQ"}"#),
            Err(KeyParseError::ShortHmacKey)
        );
        assert_eq!(
            parse_keys(r#"{"kty":"EC","crv":"P-384","x":"","y":""}"#),
            Err(KeyParseError::UnsupportedCurve {
                curve: "P-256",
                kind: "EC"
            })
        );
        assert_eq!(
            parse_keys(r#"{"kty":"EC","crv":"P-256","x":"AAAA","y":"AAAA"}"#),
            Err(KeyParseError::BadKey(
                "P-256 `x` and `y` must be 32 bytes each"
            ))
        );
        assert_eq!(
            parse_keys(r#"{"kty":"OKP","crv":"Ed25519","x":"AAAA"}"#),
            Err(KeyParseError::BadKey("an Ed25519 public key is 32 bytes"))
        );
        assert_eq!(
            parse_keys(r#"{"kty":"RSA","e":"AQAB"}"#),
            Err(KeyParseError::MissingMember("n"))
        );
        assert!(matches!(
            parse_keys(r#"{"kty":"RSA","n":"*","e":"AQAB"}"#),
            Err(KeyParseError::NotBase64Url("n", _))
        ));
        assert_eq!(
            parse_keys(r#"{"kty":"dir"}"#),
            Err(KeyParseError::UnsupportedKty("dir".into()))
        );
        let in_set = parse_keys(&format!(r#"{{"keys": [{ED25519_JWK}, {{"kty":"EC"}}]}}"#));
        assert_eq!(
            in_set.unwrap_err().to_string(),
            "keys[1]: only the P-256 curve is supported for EC keys"
        );
    }

    #[test]
    fn malformed_der_is_a_typed_error() {
        let good = ed25519_spki();
        let b64 = |der: &[u8]| format!("base64:{}", STANDARD.encode(der));
        let der_kind = |text: String| match parse_keys(&text) {
            Err(KeyParseError::Der(e)) => e.kind(),
            other => panic!("{other:?}"),
        };
        // Cut short, and with bytes after the SubjectPublicKeyInfo.
        assert!(matches!(
            der_kind(b64(&good[..20])),
            der::ErrorKind::Incomplete { .. }
        ));
        assert!(matches!(
            der_kind(b64(&[good.as_slice(), &[0]].concat())),
            der::ErrorKind::TrailingData { .. }
        ));
        // A length field claiming more than the input holds, and an empty input.
        assert!(matches!(
            der_kind(b64(&[0x30, 0x84, 0xff, 0xff, 0xff, 0xff])),
            der::ErrorKind::Incomplete { .. } | der::ErrorKind::Overflow
        ));
        assert!(matches!(parse_keys("base64:"), Err(KeyParseError::Der(_))));
        // Not a SEQUENCE at all.
        assert!(matches!(
            der_kind(b64(&[0x04, 0x02, 0x00, 0x00])),
            der::ErrorKind::TagUnexpected { .. }
        ));
        // An Ed25519 key of 31 bytes, and one with parameters RFC 8410 forbids.
        let short = spki_der(OID_ED25519, None, &[7; 31]).unwrap();
        assert_eq!(
            parse_keys(&b64(&short)),
            Err(KeyParseError::BadKey("an Ed25519 public key is 32 bytes"))
        );
        let with_params = spki_der(OID_ED25519, Some(AnyRef::NULL), &[7; 32]).unwrap();
        assert_eq!(
            parse_keys(&b64(&with_params)),
            Err(KeyParseError::BadParameters("Ed25519"))
        );
        // A bit string with unused bits.
        let mut odd = good.clone();
        let at = odd.len() - 33; // the unused-bits byte before the 32 key bytes
        odd[at] = 1;
        assert!(matches!(
            parse_keys(&b64(&odd)),
            Err(KeyParseError::BadKey(_) | KeyParseError::Der(_))
        ));
        // RSA whose key is not a PKCS#1 RSAPublicKey, and EC on another curve or point.
        let rsa_garbage = spki_der(OID_RSA, Some(AnyRef::NULL), &[1, 2, 3]).unwrap();
        assert!(matches!(
            parse_keys(&b64(&rsa_garbage)),
            Err(KeyParseError::Der(_))
        ));
        let p384 = ObjectIdentifier::new_unwrap("1.3.132.0.34");
        let ec384 = spki_der(OID_EC, Some(AnyRef::from(&p384)), &[4; 97]).unwrap();
        assert_eq!(
            parse_keys(&b64(&ec384)),
            Err(KeyParseError::UnsupportedCurve {
                curve: "P-256",
                kind: "EC"
            })
        );
        let ec_no_curve = spki_der(OID_EC, None, &[4; 65]).unwrap();
        assert_eq!(
            parse_keys(&b64(&ec_no_curve)),
            Err(KeyParseError::BadParameters("EC"))
        );
        let ec_bad_point = spki_der(OID_EC, Some(AnyRef::from(&OID_P256)), &[4; 64]).unwrap();
        assert!(matches!(
            parse_keys(&b64(&ec_bad_point)),
            Err(KeyParseError::BadKey(_))
        ));
        // RSA-PSS keys are not RS256 keys.
        let pss = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.10");
        assert_eq!(
            parse_keys(&b64(&spki_der(pss, None, &pkcs1_der()).unwrap())),
            Err(KeyParseError::UnsupportedAlgorithm(pss))
        );
    }

    #[test]
    fn malformed_pem_is_a_typed_error() {
        let good = pem("PUBLIC KEY", &ed25519_spki());
        let pem_err = |text: &str| match parse_keys(text) {
            Err(KeyParseError::Pem(e)) => e,
            other => panic!("{text:?}: {other:?}"),
        };
        // No END line; a different label on the END line; base64 that is not.
        pem_err("-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA\n");
        pem_err(&good.replace("END PUBLIC KEY", "END PRIVATE KEY"));
        assert!(matches!(
            pem_err(&good.replacen("MC", "!!", 1)),
            pem::Error::Base64(_)
        ));
        // A header line (RFC 1421 style), which RFC 7468 does not allow.
        pem_err(&good.replacen('\n', "\nProc-Type: 4,ENCRYPTED\n", 1));
        // Text after the last block that is not a block.
        pem_err(&format!("{good}trailing words"));
        // Well-formed PEM that holds no public key, or bad DER inside.
        assert_eq!(
            parse_keys(&pem("PRIVATE KEY", &[0x30, 0x00])),
            Err(KeyParseError::PemLabel("PRIVATE KEY".into()))
        );
        assert_eq!(
            parse_keys(&pem("CERTIFICATE", &[0x30, 0x00])),
            Err(KeyParseError::PemLabel("CERTIFICATE".into()))
        );
        assert!(matches!(
            parse_keys(&pem("PUBLIC KEY", &[0x30, 0x03, 0x02, 0x01, 0x00])),
            Err(KeyParseError::Der(_))
        ));
        assert!(matches!(
            parse_keys(&pem("RSA PUBLIC KEY", &[0x30, 0x03, 0x02, 0x01, 0x00])),
            Err(KeyParseError::Der(_))
        ));
        // One good block does not excuse a bad one after it.
        assert!(matches!(
            parse_keys(&format!("{good}{}", pem("PRIVATE KEY", &[0x30, 0x00]))),
            Err(KeyParseError::PemLabel(_))
        ));
    }

    #[test]
    fn the_same_key_parses_from_jwk_base64_spki_and_pem() {
        // RFC 8037 A.4's Ed25519 public key, and a P-256 key from RFC 7515 A.3.
        let from_jwk = parse_keys(ED25519_JWK).unwrap().remove(0);
        let KeyMaterial::Public(public) = &from_jwk.material else {
            panic!()
        };
        let b64 = STANDARD.encode(&public.spki_der);
        let from_b64 = parse_keys(&format!("base64:{b64}")).unwrap().remove(0);
        assert_eq!(from_b64, from_jwk);
        let ec = r#"{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}"#;
        let KeyMaterial::Public(ec_public) = parse_keys(ec).unwrap().remove(0).material else {
            panic!()
        };
        let ec_b64 = STANDARD.encode(&ec_public.spki_der);
        // Several blocks; base64 wrapped at 64 (RFC 7468), at 76, or on one line.
        let wrapped = |width: usize| {
            let lines: Vec<&str> = ec_b64
                .as_bytes()
                .chunks(width)
                .map(|c| std::str::from_utf8(c).unwrap())
                .collect();
            lines.join("\r\n")
        };
        for body in [wrapped(64), wrapped(76), ec_b64.clone()] {
            let text = format!(
                "-----BEGIN PUBLIC KEY-----\n{b64}\n-----END PUBLIC KEY-----\n\n-----BEGIN PUBLIC KEY-----\r\n{body}\r\n-----END PUBLIC KEY-----\n",
            );
            let both = parse_keys(&text).unwrap();
            assert_eq!(
                both.iter().map(JwtKey::alg).collect::<Vec<_>>(),
                ["EdDSA", "ES256"]
            );
            assert_eq!(both[1].material, KeyMaterial::Public(ec_public.clone()));
        }
        // PKCS#1 "RSA PUBLIC KEY" is wrapped into SPKI and bound to RS256, the same SPKI
        // a JWK of that key makes.
        let parsed = parse_keys(&pem("RSA PUBLIC KEY", &pkcs1_der()))
            .unwrap()
            .remove(0);
        assert_eq!(parsed.alg(), "RS256");
        let KeyMaterial::Public(p) = parsed.material else {
            panic!()
        };
        assert_eq!(spki(p.spki_der.clone()).unwrap().alg, SigAlg::Rs256);
        let jwk = parse_keys(r#"{"kty":"RSA","n":"wwEC","e":"AQAB"}"#)
            .unwrap()
            .remove(0);
        assert_eq!(jwk.material, KeyMaterial::Public(p));
    }

    #[test]
    fn a_jwk_alg_must_fit_its_key_type() {
        let k = r#"{"kty":"oct","alg":"RS256","k":"AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow"}"#;
        assert_eq!(
            parse_keys(k),
            Err(KeyParseError::AlgMismatch {
                given: "RS256".into(),
                fits: "HS256"
            })
        );
    }

    #[test]
    fn keyring_errors_name_the_key_and_secret() {
        let config = crate::config::Config::parse(
            r#"{"public_url": "https://h.example", "collectors": [
                {"name": "p", "auth": {"scheme": "jwt", "keys": ["GOOD", "BAD"]}}]}"#,
        )
        .unwrap();
        let good = ED25519_JWK;
        let secrets = crate::secrets::Secrets::from_pairs([("GOOD", good), ("BAD", "not a key")]);
        let e = Keyring::load(config.auth_tables(), &secrets).unwrap_err();
        assert!(
            e.0.starts_with("collectors[0].auth.keys[1]: secret BAD: expected"),
            "{e}"
        );
        let secrets = crate::secrets::Secrets::from_pairs([("GOOD", good), ("BAD", good)]);
        let ring = Keyring::load(config.auth_tables(), &secrets).unwrap();
        assert_eq!(ring.keys(&["GOOD".into(), "BAD".into()]).len(), 2);
        // The default issuer and audience are the collector's URL.
        match &config.collectors[0].auth {
            crate::auth::AuthConfig::Jwt(crate::auth::jwt::Config {
                issuer, audience, ..
            }) => {
                assert_eq!(issuer.as_deref(), Some("https://h.example/hooks/p"));
                assert_eq!(audience.as_deref(), Some("https://h.example/hooks/p"));
            }
            other => panic!("{other:?}"),
        }
    }
}
