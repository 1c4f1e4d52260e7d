//! JWT verification over published vectors (tests/vectors/jwt.json: RFC 7515 A.1–A.3 and
//! RFC 8037 A.4) and the attacks RFC 8725 warns about, through the pure-Rust backend.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use edgehook::auth::jwt::{self, JwtError, JwtRules};
use edgehook::auth::keys::{JwtKey, parse_keys};
use edgehook::crypto::native::NativeCrypto;
use futures_executor::block_on;
use serde_json::{Value, json};

fn vectors() -> Vec<Value> {
    let v: Value = serde_json::from_str(include_str!("vectors/jwt.json")).unwrap();
    v["cases"].as_array().unwrap().clone()
}

fn vector(name: &str) -> Value {
    vectors().into_iter().find(|c| c["name"] == name).unwrap()
}

fn key_of(case: &Value) -> Vec<JwtKey> {
    parse_keys(&case["key"].to_string()).unwrap()
}

fn field(case: &Value, name: &str) -> Vec<u8> {
    B64.decode(case["private"][name].as_str().unwrap()).unwrap()
}

/// Signs `header.claims` the way each RFC's private key would.
fn sign(alg: &str, header: &Value, claims: &Value) -> String {
    let input = format!(
        "{}.{}",
        B64.encode(header.to_string()),
        B64.encode(claims.to_string())
    );
    let sig: Vec<u8> = match alg {
        "HS256" => {
            let k = vector("rfc7515_a1_hs256")["key"]["k"]
                .as_str()
                .unwrap()
                .to_string();
            edgehook::crypto::hmac_sha256(&B64.decode(k).unwrap(), input.as_bytes()).to_vec()
        }
        "RS256" => {
            use rsa::signature::{SignatureEncoding, Signer};
            let c = vector("rfc7515_a2_rs256");
            let n = B64.decode(c["key"]["n"].as_str().unwrap()).unwrap();
            let big = rsa::BigUint::from_bytes_be;
            let key = rsa::RsaPrivateKey::from_components(
                big(&n),
                big(&[1, 0, 1]),
                big(&field(&c, "d")),
                vec![big(&field(&c, "p")), big(&field(&c, "q"))],
            )
            .unwrap();
            rsa::pkcs1v15::SigningKey::<sha2::Sha256>::new(key)
                .sign(input.as_bytes())
                .to_vec()
        }
        "ES256" => {
            use p256::ecdsa::signature::Signer;
            let c = vector("rfc7515_a3_es256");
            let key = p256::ecdsa::SigningKey::from_slice(&field(&c, "d")).unwrap();
            let sig: p256::ecdsa::Signature = key.sign(input.as_bytes());
            sig.to_bytes().to_vec()
        }
        "EdDSA" => {
            use ed25519_dalek::Signer;
            let c = vector("rfc8037_a4_eddsa");
            let d: [u8; 32] = field(&c, "d").try_into().unwrap();
            ed25519_dalek::SigningKey::from_bytes(&d)
                .sign(input.as_bytes())
                .to_bytes()
                .to_vec()
        }
        other => panic!("no signer for {other}"),
    };
    format!("{input}.{}", B64.encode(sig))
}

const NOW: i64 = 1_800_000_000;
const AUD: &str = "https://hooks.example.com/hooks/portal";

fn rules() -> JwtRules<'static> {
    JwtRules {
        issuer: Some(AUD),
        audience: Some(AUD),
        max_lifetime_secs: 3600,
    }
}

fn good_claims() -> Value {
    json!({"iss": AUD, "aud": AUD, "sub": "alice@example.com", "iat": NOW - 10, "exp": NOW + 600})
}

fn verify(keys: &[JwtKey], token: &str) -> Result<serde_json::Map<String, Value>, JwtError> {
    block_on(jwt::verify(&NativeCrypto, keys, &rules(), token, NOW))
}

fn all_keys() -> Vec<JwtKey> {
    vectors().iter().flat_map(key_of).collect()
}

#[test]
fn published_vectors_verify_with_their_keys_and_no_other() {
    for case in vectors() {
        let name = case["name"].as_str().unwrap();
        let token = case["token"].as_str().unwrap();
        let keys = key_of(&case);
        assert_eq!(keys[0].alg(), case["alg"].as_str().unwrap(), "{name}");
        let parsed = block_on(jwt::verify_signature(&NativeCrypto, &keys, token));
        assert!(parsed.is_ok(), "{name}: {parsed:?}");
        // Every key of the other vectors together does not verify it.
        let others: Vec<JwtKey> = vectors()
            .iter()
            .filter(|c| c["name"] != case["name"])
            .flat_map(key_of)
            .collect();
        assert!(
            block_on(jwt::verify_signature(&NativeCrypto, &others, token)).is_err(),
            "{name}"
        );
    }
}

#[test]
fn rfc_claims_are_checked_against_an_injected_clock() {
    let case = vector("rfc7515_a1_hs256");
    let keys = key_of(&case);
    let token = case["token"].as_str().unwrap();
    let parsed = block_on(jwt::verify_signature(&NativeCrypto, &keys, token)).unwrap();
    let lax = JwtRules {
        issuer: Some("joe"),
        audience: None,
        max_lifetime_secs: i64::MAX,
    };
    // exp = 1300819380; the vector has no iat, which edgehook requires.
    assert_eq!(
        jwt::check_claims(&parsed, &lax, 1_300_819_380 + 61),
        Err(JwtError::Expired)
    );
    assert_eq!(
        jwt::check_claims(&parsed, &lax, 1_300_819_000),
        Err(JwtError::MissingClaim("iat"))
    );
}

#[test]
fn tokens_signed_with_each_algorithm_are_accepted() {
    for alg in ["HS256", "RS256", "ES256", "EdDSA"] {
        let token = sign(alg, &json!({"alg": alg, "typ": "JWT"}), &good_claims());
        let claims = verify(&all_keys(), &token).unwrap_or_else(|e| panic!("{alg}: {e:?}"));
        assert_eq!(claims["sub"], "alice@example.com", "{alg}");
        assert_eq!(claims["exp"], NOW + 600, "{alg}");
    }
}

#[test]
fn rejects_alg_none() {
    let claims = B64.encode(good_claims().to_string());
    for alg in ["none", "None", "NONE"] {
        let header = B64.encode(json!({"alg": alg}).to_string());
        let token = format!("{header}.{claims}.");
        assert_eq!(
            verify(&all_keys(), &token),
            Err(JwtError::AlgorithmNotAllowed(alg.into()))
        );
    }
}

#[test]
fn rejects_tokens_naming_critical_extensions() {
    // RFC 7515 4.1.11: extensions listed in `crit` must be understood, and edgehook
    // implements none; a well-signed token is refused all the same, whatever the list holds.
    for alg in ["HS256", "RS256", "ES256", "EdDSA"] {
        for header in [
            json!({"alg": alg, "crit": ["urn:example:ext"], "urn:example:ext": 1}),
            json!({"alg": alg, "b64": false, "crit": ["b64"]}),
            json!({"alg": alg, "crit": []}),
            json!({"alg": alg, "crit": "exp"}),
        ] {
            let token = sign(alg, &header, &good_claims());
            assert_eq!(
                verify(&all_keys(), &token),
                Err(JwtError::CriticalHeader),
                "{header}"
            );
        }
    }
}

#[test]
fn malformed_signatures_are_invalid_not_errors() {
    // Signatures of the wrong length for their algorithm are bad signatures, never a
    // backend failure (which would answer 503).
    for alg in ["HS256", "RS256", "ES256", "EdDSA"] {
        let token = sign(alg, &json!({"alg": alg}), &good_claims());
        let (input, _) = token.rsplit_once('.').unwrap();
        for n in [0, 1, 10, 63, 65, 255, 257] {
            let bad = format!("{input}.{}", B64.encode(vec![7u8; n]));
            assert_eq!(
                verify(&all_keys(), &bad),
                Err(JwtError::InvalidSignature),
                "{alg} {n}"
            );
        }
    }
}

#[test]
fn rejects_hs256_signed_with_the_rsa_public_key() {
    // Key confusion: an attacker HMACs with the RSA public key's bytes, hoping the
    // verifier uses the configured (public) key as an HMAC secret.
    let rsa = key_of(&vector("rfc7515_a2_rs256"));
    let edgehook::auth::keys::KeyMaterial::Public(public) = &rsa[0].material else {
        panic!()
    };
    let input = format!(
        "{}.{}",
        B64.encode(json!({"alg": "HS256"}).to_string()),
        B64.encode(good_claims().to_string())
    );
    let pem = format!(
        "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
        base64::engine::general_purpose::STANDARD.encode(&public.spki_der)
    );
    for secret in [public.spki_der.clone(), pem.clone().into_bytes()] {
        let sig = edgehook::crypto::hmac_sha256(&secret, input.as_bytes());
        let token = format!("{input}.{}", B64.encode(sig));
        assert_eq!(
            verify(&rsa, &token),
            Err(JwtError::AlgorithmNotAllowed("HS256".into()))
        );
    }
    // The same key given as PEM is bound to RS256 too.
    assert_eq!(parse_keys(&pem).unwrap()[0].alg(), "RS256");
}

#[test]
fn rejects_bad_claims_with_the_check_that_failed() {
    let keys = all_keys();
    let with = |patch: Value| {
        let mut c = good_claims();
        for (k, v) in patch.as_object().unwrap() {
            if v.is_null() {
                c.as_object_mut().unwrap().remove(k);
            } else {
                c[k] = v.clone();
            }
        }
        verify(&keys, &sign("RS256", &json!({"alg": "RS256"}), &c))
    };
    assert_eq!(with(json!({"exp": NOW - 61})), Err(JwtError::Expired));
    assert!(with(json!({"exp": NOW - 59})).is_ok(), "60 s leeway");
    assert_eq!(
        with(json!({"iat": NOW + 61})),
        Err(JwtError::IssuedInFuture)
    );
    assert_eq!(
        with(json!({"iat": NOW - 100, "exp": NOW + 3501})),
        Err(JwtError::LifetimeTooLong(3600))
    );
    assert_eq!(with(json!({"nbf": NOW + 120})), Err(JwtError::NotYetValid));
    assert_eq!(
        with(json!({"aud": "https://elsewhere"})),
        Err(JwtError::WrongAudience)
    );
    assert!(with(json!({"aud": ["x", AUD]})).is_ok());
    assert_eq!(with(json!({"iss": "mallory"})), Err(JwtError::WrongIssuer));
    assert_eq!(
        with(json!({"exp": null})),
        Err(JwtError::MissingClaim("exp"))
    );
    assert_eq!(
        with(json!({"iat": null})),
        Err(JwtError::MissingClaim("iat"))
    );
}

#[test]
fn rejects_tampering_truncation_and_wrong_typ() {
    let keys = all_keys();
    let token = sign("ES256", &json!({"alg": "ES256"}), &good_claims());
    let (head, rest) = token.split_once('.').unwrap();
    let (_, sig) = rest.split_once('.').unwrap();
    let mut evil = good_claims();
    evil["sub"] = json!("mallory@example.com");
    let tampered = format!("{head}.{}.{sig}", B64.encode(evil.to_string()));
    assert_eq!(verify(&keys, &tampered), Err(JwtError::InvalidSignature));
    let truncated = &token[..token.len() - 4];
    assert_eq!(verify(&keys, truncated), Err(JwtError::InvalidSignature));
    let unsigned = format!("{}.", token.rsplit_once('.').unwrap().0);
    assert_eq!(verify(&keys, &unsigned), Err(JwtError::InvalidSignature));
    assert!(matches!(
        verify(&keys, "not.a.jwt!"),
        Err(JwtError::Malformed(_))
    ));
    assert!(matches!(verify(&keys, ""), Err(JwtError::Malformed(_))));
    let wrong_typ = sign(
        "ES256",
        &json!({"alg": "ES256", "typ": "at+jwt"}),
        &good_claims(),
    );
    assert_eq!(verify(&keys, &wrong_typ), Err(JwtError::WrongType));
}

#[test]
fn kid_must_name_a_configured_key_when_keys_have_ids() {
    let mut current = parse_keys(&json!({"kty":"OKP","crv":"Ed25519","kid":"current","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}).to_string()).unwrap();
    let set = json!({"keys": [
        {"kty":"EC","crv":"P-256","kid":"previous","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}
    ]});
    current.extend(parse_keys(&set.to_string()).unwrap());
    let good = sign(
        "EdDSA",
        &json!({"alg": "EdDSA", "kid": "current"}),
        &good_claims(),
    );
    assert!(verify(&current, &good).is_ok());
    let rotated = sign(
        "ES256",
        &json!({"alg": "ES256", "kid": "previous"}),
        &good_claims(),
    );
    assert!(verify(&current, &rotated).is_ok());
    let unknown = sign(
        "EdDSA",
        &json!({"alg": "EdDSA", "kid": "retired"}),
        &good_claims(),
    );
    assert_eq!(verify(&current, &unknown), Err(JwtError::UnknownKey));
    let missing = sign("EdDSA", &json!({"alg": "EdDSA"}), &good_claims());
    assert_eq!(verify(&current, &missing), Err(JwtError::UnknownKey));
    // A kid naming a key of another algorithm does not let it verify.
    let crossed = sign(
        "EdDSA",
        &json!({"alg": "EdDSA", "kid": "previous"}),
        &good_claims(),
    );
    assert_eq!(verify(&current, &crossed), Err(JwtError::UnknownKey));
}

#[test]
fn bearer_extracts_the_token() {
    assert_eq!(jwt::bearer("Bearer abc.def.ghi"), Some("abc.def.ghi"));
    assert_eq!(jwt::bearer("JWT abc"), Some("abc"));
    assert_eq!(jwt::bearer("Bearer "), None);
    assert_eq!(jwt::bearer("Basic abc"), None);
}
