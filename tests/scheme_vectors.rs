//! GitHub, Standard Webhooks, Stripe and AShirt over their published vectors (each
//! tests/vectors/<scheme>.json names its source), and the attacks each must refuse.

use edgehook::auth::{AuthError, ashirt, github, standard_webhooks, stripe};
use edgehook::crypto::native::NativeCrypto;
use edgehook::inbound::HeaderMap;
use futures_executor::block_on;
use serde_json::Value;

fn vector(name: &str) -> Value {
    let path = format!("{}/tests/vectors/{name}.json", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn s<'a>(v: &'a Value, k: &str) -> &'a str {
    v[k].as_str().unwrap()
}

// --- GitHub ---

fn gh(secret: &str, header: Option<&str>, body: &str) -> Result<(), AuthError> {
    block_on(github::verify(
        &NativeCrypto,
        &[secret.as_bytes()],
        header,
        body.as_bytes(),
    ))
}

#[test]
fn github_docs_example_verifies() {
    let v = vector("github");
    assert_eq!(
        github::signature(s(&v, "secret").as_bytes(), s(&v, "payload").as_bytes()),
        s(&v, "header")
    );
    assert_eq!(
        gh(s(&v, "secret"), Some(s(&v, "header")), s(&v, "payload")),
        Ok(())
    );
}

#[test]
fn github_refuses_tampering_and_bad_headers() {
    let v = vector("github");
    let (secret, header) = (s(&v, "secret"), s(&v, "header"));
    assert_eq!(
        gh(secret, Some(header), "Hello, World?"),
        Err(AuthError::InvalidSignature)
    );
    assert_eq!(
        gh("other", Some(header), s(&v, "payload")),
        Err(AuthError::InvalidSignature)
    );
    assert_eq!(
        gh(secret, None, "x"),
        Err(AuthError::MissingHeader(github::HEADER))
    );
    for bad in [
        "",
        "sha256=",
        &header[..header.len() - 2],
        &header.replace("sha256=", "sha1="),
    ] {
        assert!(
            matches!(
                gh(secret, Some(bad), s(&v, "payload")),
                Err(AuthError::Malformed(_))
            ),
            "{bad:?}"
        );
    }
}

// --- Standard Webhooks ---

fn sw_headers(id: &str, ts: &str, sig: &str) -> HeaderMap {
    HeaderMap::from_pairs([
        ("webhook-id", id),
        ("webhook-timestamp", ts),
        ("webhook-signature", sig),
    ])
}

fn sw(headers: &HeaderMap, body: &str, now: i64) -> Result<(), AuthError> {
    let v = vector("standard_webhooks");
    let key = standard_webhooks::decode_secret(s(&v, "secret")).unwrap();
    block_on(standard_webhooks::verify(
        &NativeCrypto,
        &[key],
        &[],
        headers,
        body.as_bytes(),
        now,
    ))
}

#[test]
fn standard_webhooks_published_vector_verifies() {
    let v = vector("standard_webhooks");
    let ts = v["timestamp"].as_i64().unwrap();
    let key = standard_webhooks::decode_secret(s(&v, "secret")).unwrap();
    assert_eq!(
        standard_webhooks::sign(&key, s(&v, "id"), ts, s(&v, "payload").as_bytes()),
        s(&v, "signature")
    );
    let h = sw_headers(s(&v, "id"), &ts.to_string(), s(&v, "signature"));
    assert_eq!(sw(&h, s(&v, "payload"), ts), Ok(()));
    // Among several signatures (rotation), one match is enough.
    let multi = format!("v1,bm90IHRoaXM= v1a,aWdub3JlZA== {}", s(&v, "signature"));
    assert_eq!(
        sw(
            &sw_headers(s(&v, "id"), &ts.to_string(), &multi),
            s(&v, "payload"),
            ts
        ),
        Ok(())
    );
}

#[test]
fn standard_webhooks_refuses_attacks() {
    let v = vector("standard_webhooks");
    let (id, sig, body) = (s(&v, "id"), s(&v, "signature"), s(&v, "payload"));
    let ts = v["timestamp"].as_i64().unwrap();
    let h = sw_headers(id, &ts.to_string(), sig);
    assert_eq!(
        sw(&h, "{\"test\": 2432232315}", ts),
        Err(AuthError::InvalidSignature)
    );
    assert_eq!(
        sw(&h, body, ts + 301),
        Err(AuthError::TimestampOutOfTolerance)
    );
    assert_eq!(
        sw(&h, body, ts - 301),
        Err(AuthError::TimestampOutOfTolerance)
    );
    assert_eq!(sw(&h, body, ts + 300), Ok(()));
    for bad_ts in [
        "1614265330.0",
        "+1614265330",
        " 1614265330",
        "1.6e9",
        "",
        "-5",
    ] {
        let r = sw(&sw_headers(id, bad_ts, sig), body, ts);
        assert!(
            matches!(r, Err(AuthError::Malformed(_))),
            "{bad_ts:?}: {r:?}"
        );
    }
    let truncated = &sig[..sig.len() - 4];
    assert_eq!(
        sw(&sw_headers(id, &ts.to_string(), truncated), body, ts),
        Err(AuthError::InvalidSignature)
    );
    for empty in ["", "v1,", " "] {
        assert!(
            matches!(
                sw(&sw_headers(id, &ts.to_string(), empty), body, ts),
                Err(AuthError::Malformed(_))
            ),
            "{empty:?}"
        );
    }
    // v1a entries are ignored when no public key is configured.
    let only_v1a = sig.replace("v1,", "v1a,");
    assert!(matches!(
        sw(&sw_headers(id, &ts.to_string(), &only_v1a), body, ts),
        Err(AuthError::Malformed(_))
    ));
    assert_eq!(
        sw(&sw_headers("msg_other", &ts.to_string(), sig), body, ts),
        Err(AuthError::InvalidSignature)
    );
    let missing = HeaderMap::from_pairs([("webhook-id", id)]);
    assert_eq!(
        sw(&missing, body, ts),
        Err(AuthError::MissingHeader("webhook-timestamp"))
    );
}

#[test]
fn standard_webhooks_v1a_verifies_when_a_public_key_is_configured() {
    use base64::Engine;
    use ed25519_dalek::Signer;
    let b64 = base64::engine::general_purpose::STANDARD;
    let signing = ed25519_dalek::SigningKey::from_bytes(&[7u8; 32]);
    let public = format!("whpk_{}", b64.encode(signing.verifying_key().to_bytes()));
    let key = standard_webhooks::decode_public_key(&public).unwrap();
    let content = b"msg_1.1700000000.{}";
    let sig = format!("v1a,{}", b64.encode(signing.sign(content).to_bytes()));
    let h = sw_headers("msg_1", "1700000000", &sig);
    let verify = |keys: &[edgehook::crypto::PublicKey]| {
        block_on(standard_webhooks::verify(
            &NativeCrypto,
            &[b"unused".to_vec()],
            keys,
            &h,
            b"{}",
            1_700_000_000,
        ))
    };
    assert_eq!(verify(std::slice::from_ref(&key)), Ok(()));
    assert!(matches!(verify(&[]), Err(AuthError::Malformed(_))));
}

// --- Stripe ---

fn st(secret: &str, header: Option<&str>, body: &str, now: i64) -> Result<(), AuthError> {
    block_on(stripe::verify(
        &NativeCrypto,
        &[secret.as_bytes()],
        header,
        body.as_bytes(),
        now,
    ))
}

#[test]
fn stripe_test_header_verifies_with_the_secret_as_is() {
    let v = vector("stripe");
    let now = v["timestamp"].as_i64().unwrap();
    assert_eq!(
        st(
            s(&v, "secret"),
            Some(s(&v, "header")),
            s(&v, "payload"),
            now
        ),
        Ok(())
    );
    // The whsec_ prefix is part of the key: stripping it must not verify.
    let stripped = s(&v, "secret").trim_start_matches("whsec_");
    assert_eq!(
        st(stripped, Some(s(&v, "header")), s(&v, "payload"), now),
        Err(AuthError::InvalidSignature)
    );
}

#[test]
fn stripe_refuses_attacks() {
    let v = vector("stripe");
    let (secret, header, body) = (s(&v, "secret"), s(&v, "header"), s(&v, "payload"));
    let now = v["timestamp"].as_i64().unwrap();
    assert_eq!(
        st(secret, Some(header), "{}", now),
        Err(AuthError::InvalidSignature)
    );
    assert_eq!(
        st(secret, Some(header), body, now + 301),
        Err(AuthError::TimestampOutOfTolerance)
    );
    assert_eq!(
        st(secret, Some(header), body, now - 301),
        Err(AuthError::TimestampOutOfTolerance)
    );
    let v0_only = header.replace("v1=", "v0=");
    assert!(matches!(
        st(secret, Some(&v0_only), body, now),
        Err(AuthError::Malformed(_))
    ));
    let truncated = &header[..header.len() - 2];
    assert!(matches!(
        st(secret, Some(truncated), body, now),
        Err(AuthError::Malformed(_))
    ));
    assert!(matches!(
        st(secret, Some(""), body, now),
        Err(AuthError::Malformed(_))
    ));
    assert_eq!(
        st(secret, None, body, now),
        Err(AuthError::MissingHeader(stripe::HEADER))
    );
    let float_t = header.replace("t=1700000000", "t=1700000000.5");
    assert!(matches!(
        st(secret, Some(&float_t), body, now),
        Err(AuthError::Malformed(_))
    ));
}

// --- AShirt ---

fn ash(authorization: &str, date: &str, body: &str, now: i64) -> Result<(), AuthError> {
    let v = vector("ashirt");
    let secret = ashirt::decode_secret(s(&v, "secret")).unwrap();
    let keys = [(s(&v, "access_key"), secret)];
    block_on(ashirt::verify(
        &NativeCrypto,
        &keys,
        Some(authorization),
        Some(date),
        s(&v, "method"),
        s(&v, "uri"),
        body.as_bytes(),
        now,
    ))
}

#[test]
fn ashirt_reference_example_verifies() {
    let v = vector("ashirt");
    let secret = ashirt::decode_secret(s(&v, "secret")).unwrap();
    let message = ashirt::message(
        s(&v, "method"),
        s(&v, "uri"),
        s(&v, "date"),
        s(&v, "body").as_bytes(),
    );
    assert_eq!(
        ashirt::authorization(s(&v, "access_key"), &secret, &message),
        s(&v, "authorization")
    );
    let now = edgehook::time::parse_rfc1123(s(&v, "date")).unwrap();
    assert_eq!(
        ash(s(&v, "authorization"), s(&v, "date"), s(&v, "body"), now),
        Ok(())
    );
}

#[test]
fn ashirt_refuses_attacks_without_revealing_access_keys() {
    let v = vector("ashirt");
    let (auth, date, body) = (s(&v, "authorization"), s(&v, "date"), s(&v, "body"));
    let now = edgehook::time::parse_rfc1123(date).unwrap();
    assert_eq!(ash(auth, date, "{}", now), Err(AuthError::InvalidSignature));
    assert_eq!(
        ash(auth, date, body, now + 3601),
        Err(AuthError::TimestampOutOfTolerance)
    );
    assert_eq!(
        ash(auth, date, body, now - 3601),
        Err(AuthError::TimestampOutOfTolerance)
    );
    // An unknown access key is answered exactly like a wrong signature.
    let unknown = auth.replace("P4qRS5sa346iHWZBB53qzzNm", "UnknownAccessKey0000000");
    assert_eq!(
        ash(&unknown, date, body, now),
        Err(AuthError::InvalidSignature)
    );
    assert!(matches!(
        ash(auth, &date.replace("GMT", "UTC"), body, now),
        Err(AuthError::Malformed(_))
    ));
    assert!(matches!(
        ash("no-colon", date, body, now),
        Err(AuthError::Malformed(_))
    ));
    let truncated = &auth[..auth.len() - 6];
    assert!(ash(truncated, date, body, now).is_err());
}
