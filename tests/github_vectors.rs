//! GitHub's `X-Hub-Signature-256` over the docs' published example and the attacks on
//! it (tests/vectors/github.json), and the `github` collector config.

mod common;

use common::{Case, check_all, load_error, verify_with_config};
use edgehook::auth::{AuthError, github};
use edgehook::crypto::native::NativeCrypto;
use edgehook::inbound::{HeaderMap, InboundRequest};
use futures_executor::block_on;

fn verify(c: &Case) -> Result<(), AuthError> {
    block_on(github::verify(
        &NativeCrypto,
        &[c.str("secret").as_bytes()],
        c.opt("header"),
        c.str("payload").as_bytes(),
    ))
}

#[test]
fn vectors_verify_or_are_refused_with_the_expected_code() {
    assert!(check_all("github", &["secret"], verify) >= 10);
}

#[test]
fn signing_reproduces_the_docs_example() {
    let c = &common::cases("github")[0];
    assert_eq!(
        github::signature(c.str("secret").as_bytes(), c.str("payload").as_bytes()),
        c.str("header")
    );
}

#[test]
fn any_of_several_rotated_secrets_verifies() {
    let c = &common::cases("github")[0];
    let secrets: [&[u8]; 3] = [b"new", c.str("secret").as_bytes(), b"old"];
    let r = block_on(github::verify(
        &NativeCrypto,
        &secrets,
        c.opt("header"),
        c.str("payload").as_bytes(),
    ));
    assert_eq!(r, Ok(()));
}

#[test]
fn collector_config_verifies_through_auth_verify() {
    let c = &common::cases("github")[0];
    let auth = r#"{"scheme": "github", "secrets": ["GH_NEW", "GH"]}"#;
    let secrets = [("GH", c.str("secret")), ("GH_NEW", "rotated-in")];
    let req = |header: &str| InboundRequest {
        method: "POST".into(),
        headers: HeaderMap::from_pairs([("x-hub-signature-256", header)]),
        body: c.str("payload").as_bytes().to_vec(),
        ..Default::default()
    };
    assert_eq!(
        verify_with_config(auth, &secrets, &req(c.str("header")), 0),
        Ok(())
    );
    let forged = github::signature(b"guess", c.str("payload").as_bytes());
    assert_eq!(
        verify_with_config(auth, &secrets, &req(&forged), 0),
        Err(AuthError::InvalidSignature)
    );
}

#[test]
fn config_errors_name_the_key() {
    for (auth, secrets, expected) in [
        (
            r#"{"scheme": "github", "secrets": []}"#,
            &[][..],
            "collectors[0].auth.secrets: name at least one secret",
        ),
        (
            r#"{"scheme": "github", "secrets": ["OK", "not a name"]}"#,
            &[("OK", "x")][..],
            "collectors[0].auth.secrets[1]: \"not a name\" is not a secret name",
        ),
        (
            r#"{"scheme": "github", "secrets": ["GH"]}"#,
            &[][..],
            "collectors[0].auth.secrets[0]: secret GH is not set",
        ),
        (
            r#"{"scheme": "github", "secrets": ["GH"]}"#,
            &[("GH", "")][..],
            "collectors[0].auth.secrets[0]: secret GH is empty",
        ),
        (
            r#"{"scheme": "github"}"#,
            &[][..],
            "collectors[0].auth: missing field `secrets`",
        ),
        (
            r#"{"scheme": "github", "secrets": ["GH"], "secret": "GH"}"#,
            &[][..],
            "collectors[0].auth: unknown field `secret`",
        ),
    ] {
        let e = load_error(auth, secrets);
        assert!(e.starts_with(expected), "{auth}: {e}");
    }
}
