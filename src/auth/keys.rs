//! Public and shared keys for JWT verification, from the forms operators paste into a
//! secret: `base64:<SPKI DER>`, PEM (`PUBLIC KEY` or `RSA PUBLIC KEY`, several blocks
//! allowed), a JWK, or a JWK set. Every key comes out bound to exactly one algorithm.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::Value;

use crate::crypto::{PublicKey, SigAlg};

/// A key a token may be verified with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwtKey {
    /// The JWK `kid`, if the key has one.
    pub kid: Option<String>,
    /// The key and the one algorithm it is bound to.
    pub material: KeyMaterial,
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

const OID_RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
const OID_EC: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
const OID_P256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
const OID_ED25519: &[u8] = &[0x2b, 0x65, 0x70];
/// SPKI prefix of a P-256 key, followed by the 65-byte uncompressed point.
const P256_SPKI_PREFIX: &[u8] = &[
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];
/// SPKI prefix of an Ed25519 key, followed by the 32 raw bytes.
pub const ED25519_SPKI_PREFIX: &[u8] = &[
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];

/// Parses every key in a secret's text.
pub fn parse_keys(text: &str) -> Result<Vec<JwtKey>, String> {
    let text = text.trim();
    if let Some(b64) = text.strip_prefix("base64:") {
        let der = STANDARD
            .decode(b64.trim())
            .map_err(|e| format!("base64: not valid base64 ({e})"))?;
        return Ok(vec![JwtKey {
            kid: None,
            material: KeyMaterial::Public(spki(der)?),
        }]);
    }
    if text.starts_with("-----BEGIN") {
        return parse_pem(text);
    }
    if text.starts_with('{') {
        let v: Value = serde_json::from_str(text).map_err(|e| format!("not valid JSON: {e}"))?;
        return match v.get("keys") {
            Some(Value::Array(keys)) => {
                if keys.is_empty() {
                    return Err("the JWK set has no keys".into());
                }
                keys.iter()
                    .enumerate()
                    .map(|(i, k)| jwk(k).map_err(|e| format!("keys[{i}]: {e}")))
                    .collect()
            }
            Some(_) => Err("`keys` must be an array of JWKs".into()),
            None => Ok(vec![jwk(&v)?]),
        };
    }
    Err("expected `base64:<SPKI DER>`, a PEM public key, a JWK or a JWK set".into())
}

fn parse_pem(text: &str) -> Result<Vec<JwtKey>, String> {
    let mut keys = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("-----BEGIN ") {
        let after = &rest[start + 11..];
        let label_end = after.find("-----").ok_or("unterminated PEM header")?;
        let label = &after[..label_end];
        let body_start = &after[label_end + 5..];
        let footer = format!("-----END {label}-----");
        let end = body_start
            .find(&footer)
            .ok_or("PEM block without its END line")?;
        let b64: String = body_start[..end]
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        let der = STANDARD
            .decode(b64)
            .map_err(|e| format!("PEM body is not valid base64 ({e})"))?;
        let public = match label {
            "PUBLIC KEY" => spki(der)?,
            "RSA PUBLIC KEY" => PublicKey {
                alg: SigAlg::Rs256,
                spki_der: rsa_spki_from_pkcs1(&der),
            },
            other => {
                return Err(format!(
                    "PEM `{other}` is not a public key (use PUBLIC KEY or RSA PUBLIC KEY)"
                ));
            }
        };
        keys.push(JwtKey {
            kid: None,
            material: KeyMaterial::Public(public),
        });
        rest = &body_start[end + footer.len()..];
    }
    if keys.is_empty() {
        return Err("no PEM block found".into());
    }
    Ok(keys)
}

/// Reads one DER element: `(tag, content, rest)`.
fn der(input: &[u8]) -> Result<(u8, &[u8], &[u8]), String> {
    let bad = || "malformed DER".to_string();
    let (&tag, rest) = input.split_first().ok_or_else(bad)?;
    let (&first, mut rest) = rest.split_first().ok_or_else(bad)?;
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return Err(bad());
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |a, &b| (a << 8) | usize::from(b));
        rest = &rest[n..];
        len
    };
    if rest.len() < len {
        return Err(bad());
    }
    Ok((tag, &rest[..len], &rest[len..]))
}

/// Binds an SPKI DER key to its algorithm by its algorithm identifier.
pub fn spki(der_bytes: Vec<u8>) -> Result<PublicKey, String> {
    let (tag, body, _) = der(&der_bytes)?;
    if tag != 0x30 {
        return Err("not a SubjectPublicKeyInfo".into());
    }
    let (tag, alg_id, _) = der(body)?;
    if tag != 0x30 {
        return Err("not a SubjectPublicKeyInfo".into());
    }
    let (tag, oid, params) = der(alg_id)?;
    if tag != 0x06 {
        return Err("not a SubjectPublicKeyInfo".into());
    }
    let alg = if oid == OID_RSA {
        SigAlg::Rs256
    } else if oid == OID_ED25519 {
        SigAlg::EdDsa
    } else if oid == OID_EC {
        let (_, curve, _) = der(params)?;
        if curve != OID_P256 {
            return Err("only the P-256 curve is supported for EC keys".into());
        }
        SigAlg::Es256
    } else {
        return Err("unsupported key type (RSA, P-256 EC or Ed25519 only)".into());
    };
    Ok(PublicKey {
        alg,
        spki_der: der_bytes,
    })
}

fn der_write(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes: Vec<u8> = len
            .to_be_bytes()
            .into_iter()
            .skip_while(|&b| b == 0)
            .collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend(bytes);
    }
    out.extend_from_slice(content);
    out
}

fn der_uint(bytes: &[u8]) -> Vec<u8> {
    let trimmed: Vec<u8> = bytes.iter().copied().skip_while(|&b| b == 0).collect();
    let mut content = Vec::with_capacity(trimmed.len() + 1);
    if trimmed.first().is_none_or(|&b| b & 0x80 != 0) {
        content.push(0);
    }
    content.extend(trimmed);
    der_write(0x02, &content)
}

fn rsa_spki_from_pkcs1(pkcs1: &[u8]) -> Vec<u8> {
    let mut alg_id = der_write(0x06, OID_RSA);
    alg_id.extend([0x05, 0x00]);
    let mut bits = vec![0u8];
    bits.extend_from_slice(pkcs1);
    let mut body = der_write(0x30, &alg_id);
    body.extend(der_write(0x03, &bits));
    der_write(0x30, &body)
}

fn b64_field(jwk: &Value, name: &str) -> Result<Vec<u8>, String> {
    let s = jwk
        .get(name)
        .and_then(Value::as_str)
        .ok_or_else(|| format!("JWK is missing `{name}`"))?;
    URL_SAFE_NO_PAD
        .decode(s.trim_end_matches('='))
        .map_err(|e| format!("JWK `{name}` is not base64url ({e})"))
}

fn jwk(v: &Value) -> Result<JwtKey, String> {
    let kty = v
        .get("kty")
        .and_then(Value::as_str)
        .ok_or("JWK has no `kty`")?;
    if let Some(u) = v.get("use").and_then(Value::as_str)
        && u != "sig"
    {
        return Err(format!("JWK `use` is {u:?}, not \"sig\""));
    }
    let material = match kty {
        "RSA" => {
            let mut pkcs1 = der_uint(&b64_field(v, "n")?);
            pkcs1.extend(der_uint(&b64_field(v, "e")?));
            KeyMaterial::Public(PublicKey {
                alg: SigAlg::Rs256,
                spki_der: rsa_spki_from_pkcs1(&der_write(0x30, &pkcs1)),
            })
        }
        "EC" => {
            if v.get("crv").and_then(Value::as_str) != Some("P-256") {
                return Err("only the P-256 curve is supported for EC JWKs".into());
            }
            let (x, y) = (b64_field(v, "x")?, b64_field(v, "y")?);
            if x.len() != 32 || y.len() != 32 {
                return Err("P-256 `x` and `y` must be 32 bytes each".into());
            }
            let mut der = P256_SPKI_PREFIX.to_vec();
            der.push(0x04);
            der.extend(x);
            der.extend(y);
            KeyMaterial::Public(PublicKey {
                alg: SigAlg::Es256,
                spki_der: der,
            })
        }
        "OKP" => {
            if v.get("crv").and_then(Value::as_str) != Some("Ed25519") {
                return Err("only the Ed25519 curve is supported for OKP JWKs".into());
            }
            let x = b64_field(v, "x")?;
            if x.len() != 32 {
                return Err("Ed25519 `x` must be 32 bytes".into());
            }
            let mut der = ED25519_SPKI_PREFIX.to_vec();
            der.extend(x);
            KeyMaterial::Public(PublicKey {
                alg: SigAlg::EdDsa,
                spki_der: der,
            })
        }
        "oct" => {
            let k = b64_field(v, "k")?;
            if k.len() < 32 {
                return Err("HS256 keys must be at least 32 bytes (RFC 7518 §3.2)".into());
            }
            KeyMaterial::Hs256(k)
        }
        other => return Err(format!("unsupported JWK kty {other:?}")),
    };
    let key = JwtKey {
        kid: v.get("kid").and_then(Value::as_str).map(str::to_string),
        material,
    };
    if let Some(alg) = v.get("alg").and_then(Value::as_str)
        && alg != key.alg()
    {
        return Err(format!(
            "JWK `alg` {alg:?} does not fit its key type ({})",
            key.alg()
        ));
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

    #[test]
    fn rejects_non_keys_with_a_reason() {
        assert!(parse_keys("hello").unwrap_err().contains("expected"));
        assert!(parse_keys("base64:!!").unwrap_err().contains("base64"));
        assert!(
            parse_keys(r#"{"keys": []}"#)
                .unwrap_err()
                .contains("no keys")
        );
        assert!(
            parse_keys(r#"{"kty":"oct","k":"c2hvcnQ"}"#)
                .unwrap_err()
                .contains("32 bytes")
        );
        assert!(parse_keys(r#"{"kty":"EC","crv":"P-384","x":"","y":""}"#).is_err());
        assert!(
            parse_keys("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----").is_err()
        );
    }

    #[test]
    fn the_same_key_parses_from_jwk_base64_spki_and_pem() {
        // RFC 8037 A.4's Ed25519 public key, and a P-256 key from RFC 7515 A.3.
        let jwk =
            r#"{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}"#;
        let from_jwk = parse_keys(jwk).unwrap().remove(0);
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
        let pem = format!(
            "-----BEGIN PUBLIC KEY-----\n{b64}\n-----END PUBLIC KEY-----\n-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
            STANDARD.encode(&ec_public.spki_der)
        );
        let both = parse_keys(&pem).unwrap();
        assert_eq!(
            both.iter().map(JwtKey::alg).collect::<Vec<_>>(),
            ["EdDSA", "ES256"]
        );
        // PKCS#1 "RSA PUBLIC KEY" is wrapped into SPKI and bound to RS256.
        let pkcs1 = {
            let mut body = der_uint(&[0xC3, 0x01, 0x02]);
            body.extend(der_uint(&[1, 0, 1]));
            der_write(0x30, &body)
        };
        let rsa = format!(
            "-----BEGIN RSA PUBLIC KEY-----\n{}\n-----END RSA PUBLIC KEY-----",
            STANDARD.encode(&pkcs1)
        );
        let parsed = parse_keys(&rsa).unwrap().remove(0);
        assert_eq!(parsed.alg(), "RS256");
        let KeyMaterial::Public(p) = parsed.material else {
            panic!()
        };
        assert_eq!(spki(p.spki_der).unwrap().alg, SigAlg::Rs256);
    }

    #[test]
    fn a_jwk_alg_must_fit_its_key_type() {
        let k = r#"{"kty":"oct","alg":"RS256","k":"AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow"}"#;
        assert!(parse_keys(k).unwrap_err().contains("does not fit"));
    }

    #[test]
    fn keyring_errors_name_the_key_and_secret() {
        let config = crate::config::Config::parse(
            r#"{"public_url": "https://h.example", "collectors": [
                {"name": "p", "auth": {"scheme": "jwt", "keys": ["GOOD", "BAD"]}}]}"#,
        )
        .unwrap();
        let good =
            r#"{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}"#;
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

    #[test]
    fn der_round_trips_lengths() {
        let long = vec![7u8; 300];
        let enc = der_write(0x04, &long);
        let (tag, content, rest) = der(&enc).unwrap();
        assert_eq!((tag, content, rest.len()), (0x04, &long[..], 0));
        assert_eq!(der_uint(&[0x80]), vec![0x02, 0x02, 0x00, 0x80]);
        assert_eq!(der_uint(&[0x00, 0x01]), vec![0x02, 0x01, 0x01]);
    }
}
