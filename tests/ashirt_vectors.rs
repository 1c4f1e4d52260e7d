//! AShirt request signing over the reference example (shared/reference/003) and the
//! attacks on it (tests/vectors/ashirt.json), and the `ashirt` collector config.

mod common;

use common::{Case, check_all, load_error, verify_with_config};
use edgehook::auth::{AuthError, ashirt};
use edgehook::crypto::native::NativeCrypto;
use edgehook::inbound::{HeaderMap, InboundRequest};
use futures_executor::block_on;

fn verify(c: &Case) -> Result<(), AuthError> {
    let secret = ashirt::decode_secret(c.str("secret")).unwrap();
    let keys = [
        ("AnotherAccessKey00000000", b"another secret key".to_vec()),
        (c.str("access_key"), secret),
    ];
    block_on(ashirt::verify(
        &NativeCrypto,
        &keys,
        c.opt("authorization"),
        c.opt("date"),
        c.str("method"),
        c.str("uri"),
        c.str("body").as_bytes(),
        c.i64("now"),
    ))
}

#[test]
fn vectors_verify_or_are_refused_with_the_expected_code() {
    assert!(check_all("ashirt", &["secret"], verify) >= 20);
}

#[test]
fn signing_reproduces_the_reference_example() {
    let c = &common::cases("ashirt")[0];
    let secret = ashirt::decode_secret(c.str("secret")).unwrap();
    let message = ashirt::message(
        c.str("method"),
        c.str("uri"),
        c.str("date"),
        c.str("body").as_bytes(),
    );
    // `METHOD\nURI\nDATE\n` then the 32 raw bytes of the body's SHA-256, nothing more.
    let head = b"POST\n/api/operations\nSun, 21 Oct 2018 12:16:24 GMT\n";
    assert_eq!(&message[..head.len()], head);
    assert_eq!(message.len(), head.len() + 32);
    assert_eq!(
        ashirt::authorization(c.str("access_key"), &secret, &message),
        c.str("authorization")
    );
    assert_eq!(
        edgehook::time::parse_http_date(c.str("date")),
        Some(c.i64("now"))
    );
}

#[test]
fn collector_config_signs_path_and_query_through_auth_verify() {
    let c = &common::cases("ashirt")[0];
    let auth = format!(
        r#"{{"scheme": "ashirt", "keys": [
            {{"access_key": "other", "secret": "OTHER"}},
            {{"access_key": "{}", "secret": "ASHIRT"}}]}}"#,
        c.str("access_key")
    );
    let secrets = [("ASHIRT", c.str("secret")), ("OTHER", "b3RoZXI=")];
    let uri = "/hooks/c/evidence?op=1&x=a%20b";
    let secret = ashirt::decode_secret(c.str("secret")).unwrap();
    let sign = |uri: &str| {
        let m = ashirt::message("POST", uri, c.str("date"), c.str("body").as_bytes());
        ashirt::authorization(c.str("access_key"), &secret, &m)
    };
    let req = |authorization: &str| InboundRequest {
        method: "POST".into(),
        sub_path: "/evidence".into(),
        uri: uri.into(),
        query: "op=1&x=a%20b".into(),
        headers: HeaderMap::from_pairs([("authorization", authorization), ("date", c.str("date"))]),
        body: c.str("body").as_bytes().to_vec(),
    };
    let now = c.i64("now");
    assert_eq!(
        verify_with_config(&auth, &secrets, &req(&sign(uri)), now),
        Ok(())
    );
    // The path alone is not what was requested: the query is signed too.
    assert_eq!(
        verify_with_config(&auth, &secrets, &req(&sign("/hooks/c/evidence")), now),
        Err(AuthError::InvalidSignature)
    );
}

#[test]
fn config_errors_name_the_key() {
    let key = |access: &str, secret: &str| {
        format!(r#"{{"access_key": "{access}", "secret": "{secret}"}}"#)
    };
    let auth = |keys: &[String]| format!(r#"{{"scheme": "ashirt", "keys": [{}]}}"#, keys.join(","));
    for (auth, secrets, expected) in [
        (
            auth(&[]),
            &[][..],
            "collectors[0].auth.keys: name at least one key",
        ),
        (
            auth(&[key("", "S")]),
            &[][..],
            "collectors[0].auth.keys[0].access_key: must be non-empty",
        ),
        (
            auth(&[key("a:b", "S")]),
            &[][..],
            "collectors[0].auth.keys[0].access_key: must be non-empty and without ':'",
        ),
        (
            auth(&[key("a", "S"), key("a", "T")]),
            &[][..],
            "collectors[0].auth.keys[1].access_key: \"a\" is listed twice",
        ),
        (
            auth(&[key("a", "S"), key("b", "no good")]),
            &[][..],
            "collectors[0].auth.keys[1].secret: \"no good\" is not a secret name",
        ),
        (
            auth(&[key("a", "S")]),
            &[][..],
            "collectors[0].auth.keys[0].secret: secret S is not set",
        ),
        (
            auth(&[key("a", "S")]),
            &[("S", "not base64!")][..],
            "collectors[0].auth.keys[0].secret: secret S: not a base64 secret key",
        ),
        (
            r#"{"scheme": "ashirt", "keys": [{"access_key": "a"}]}"#.to_string(),
            &[][..],
            // serde buffers an internally tagged enum, so the path stops at `auth`.
            "collectors[0].auth: missing field `secret`",
        ),
        (
            r#"{"scheme": "ashirt", "secrets": ["S"]}"#.to_string(),
            &[][..],
            "collectors[0].auth: unknown field `secrets`",
        ),
    ] {
        let e = load_error(&auth, secrets);
        assert!(e.starts_with(expected), "{auth}: {e}");
    }
}
