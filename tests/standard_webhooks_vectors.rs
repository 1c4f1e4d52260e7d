//! Standard Webhooks over the spec's shared test vector and the attacks on it, including
//! `v1a` (Ed25519) entries with and without configured public keys
//! (tests/vectors/standard_webhooks.json), and the `standard-webhooks` collector config.

mod common;

use common::{Case, check_all, load_error, verify_with_config};
use edgehook::auth::{AuthError, standard_webhooks};
use edgehook::crypto::native::NativeCrypto;
use edgehook::inbound::{HeaderMap, InboundRequest};
use futures_executor::block_on;

const HEADERS: [&str; 3] = ["webhook-id", "webhook-timestamp", "webhook-signature"];

fn headers(c: &Case) -> HeaderMap {
    HeaderMap::from_pairs(HEADERS.iter().filter_map(|h| Some((*h, c.opt(h)?))))
}

fn verify(c: &Case) -> Result<(), AuthError> {
    let key = standard_webhooks::decode_secret(c.str("secret")).unwrap();
    let public: Vec<_> = c
        .strs("public_keys")
        .into_iter()
        .map(|k| standard_webhooks::decode_public_key(k).unwrap())
        .collect();
    block_on(standard_webhooks::verify(
        &NativeCrypto,
        &[key],
        &public,
        &headers(c),
        c.str("payload").as_bytes(),
        c.i64("now"),
    ))
}

#[test]
fn vectors_verify_or_are_refused_with_the_expected_code() {
    assert!(
        check_all(
            "standard_webhooks",
            &["secret", "webhook-signature"],
            verify
        ) >= 30
    );
}

#[test]
fn signing_reproduces_the_published_vector() {
    let c = &common::cases("standard_webhooks")[0];
    let key = standard_webhooks::decode_secret(c.str("secret")).unwrap();
    let ts: i64 = c.str("webhook-timestamp").parse().unwrap();
    assert_eq!(
        standard_webhooks::sign(&key, c.str("webhook-id"), ts, c.str("payload").as_bytes()),
        c.str("webhook-signature")
    );
}

#[test]
fn timestamps_must_be_plain_integers() {
    for ok in ["0", "1614265330", "01614265330"] {
        assert!(edgehook::auth::parse_timestamp(ok).is_ok(), "{ok:?}");
    }
    for bad in [
        "",
        " 1",
        "1 ",
        "+1",
        "-1",
        "1.5",
        "1e9",
        "0x1f",
        "1_000",
        "١٢",
        "99999999999999999999",
    ] {
        assert!(
            matches!(
                edgehook::auth::parse_timestamp(bad),
                Err(AuthError::Malformed(_))
            ),
            "{bad:?}"
        );
    }
}

fn request(c: &Case) -> InboundRequest {
    InboundRequest {
        method: "POST".into(),
        headers: headers(c),
        body: c.str("payload").as_bytes().to_vec(),
        ..Default::default()
    }
}

#[test]
fn collector_config_verifies_v1_and_configured_v1a_through_auth_verify() {
    let cases = common::cases("standard_webhooks");
    let find = |name: &str| cases.iter().find(|c| c.name == name).unwrap();
    let v1 = find("published_vector_verifies");
    let v1a = find("v1a_verifies_with_a_configured_public_key");
    let now = v1.i64("now");
    let secret = v1.str("secret");
    let public = v1a.strs("public_keys")[0];

    let hmac_only = r#"{"scheme": "standard-webhooks", "secrets": ["SW"]}"#;
    let with_keys =
        r#"{"scheme": "standard-webhooks", "secrets": ["SW"], "public_keys": ["SW_PK"]}"#;
    let secrets = [("SW", secret), ("SW_PK", public)];
    assert_eq!(
        verify_with_config(hmac_only, &secrets, &request(v1), now),
        Ok(())
    );
    assert_eq!(
        verify_with_config(with_keys, &secrets, &request(v1), now),
        Ok(())
    );
    assert_eq!(
        verify_with_config(with_keys, &secrets, &request(v1a), now),
        Ok(())
    );
    assert!(matches!(
        verify_with_config(hmac_only, &secrets, &request(v1a), now),
        Err(AuthError::Malformed(_))
    ));
    assert_eq!(
        verify_with_config(hmac_only, &secrets, &request(v1), now + 301),
        Err(AuthError::TimestampOutOfTolerance)
    );
}

#[test]
fn config_errors_name_the_key() {
    let pk = "whpk_11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=";
    for (auth, secrets, expected) in [
        (
            r#"{"scheme": "standard-webhooks", "secrets": []}"#,
            &[][..],
            "collectors[0].auth.secrets: name at least one secret",
        ),
        (
            r#"{"scheme": "standard-webhooks", "secrets": ["SW"], "public_keys": ["bad-name"]}"#,
            &[("SW", "whsec_a2V5")][..],
            "collectors[0].auth.public_keys[0]: \"bad-name\" is not a secret name",
        ),
        (
            r#"{"scheme": "standard-webhooks", "secrets": ["SW"], "public_keys": ["PK"]}"#,
            &[("SW", "whsec_a2V5")][..],
            "collectors[0].auth.public_keys[0]: secret PK is not set",
        ),
        (
            r#"{"scheme": "standard-webhooks", "secrets": ["SW"]}"#,
            &[("SW", "whsec_not base64!")][..],
            "collectors[0].auth.secrets[0]: secret SW: not a whsec_<base64> secret",
        ),
        (
            r#"{"scheme": "standard-webhooks", "secrets": ["SW"]}"#,
            &[("SW", "whsec_")][..],
            "collectors[0].auth.secrets[0]: secret SW: the secret's key is empty",
        ),
        (
            r#"{"scheme": "standard-webhooks", "secrets": ["SW"], "public_keys": ["PK"]}"#,
            &[("SW", "whsec_a2V5"), ("PK", "whpk_a2V5")][..],
            "collectors[0].auth.public_keys[0]: secret PK: an Ed25519 public key is 32 bytes",
        ),
        (
            r#"{"scheme": "standard-webhooks", "secrets": ["SW"], "tolerance": 5}"#,
            &[][..],
            "collectors[0].auth: unknown field `tolerance`",
        ),
    ] {
        let e = load_error(auth, secrets);
        assert!(e.starts_with(expected), "{auth}: {e}");
        assert!(!e.contains("a2V5"), "{e}");
    }
    let ok = common::load(
        r#"{"scheme": "standard-webhooks", "secrets": ["SW"], "public_keys": ["PK"]}"#,
        &[("SW", "whsec_a2V5"), ("PK", pk)],
    );
    assert!(ok.is_ok());
}
