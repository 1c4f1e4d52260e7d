//! AMO's `Authorization: HMAC-SHA256 <hex>` scheme over published vectors
//! (tests/vectors/hmac.json says where each comes from).

use edgehook::auth::{AuthError, hmac};
use edgehook::crypto::native::NativeCrypto;
use futures_executor::block_on;

fn verify(keys: &[&[u8]], header: Option<&str>, body: &[u8]) -> Result<(), AuthError> {
    block_on(hmac::verify(&NativeCrypto, keys, header, body))
}
use serde::Deserialize;

#[derive(Deserialize)]
struct Vectors {
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    name: String,
    key: String,
    body: String,
    authorization: String,
    valid: bool,
}

fn vectors() -> Vec<Case> {
    let text = include_str!("vectors/hmac.json");
    serde_json::from_str::<Vectors>(text).unwrap().cases
}

#[test]
fn published_vectors_verify_or_not_as_expected() {
    for c in vectors() {
        let got = verify(
            &[c.key.as_bytes()],
            Some(&c.authorization),
            c.body.as_bytes(),
        );
        assert_eq!(got.is_ok(), c.valid, "{}: {got:?}", c.name);
        if !c.valid {
            assert_eq!(got, Err(AuthError::InvalidSignature), "{}", c.name);
        }
    }
}

#[test]
fn signing_reproduces_the_amo_vector() {
    let amo = &vectors()[0];
    assert_eq!(
        hmac::authorization(amo.key.as_bytes(), amo.body.as_bytes()),
        amo.authorization
    );
}

#[test]
fn any_of_several_rotated_keys_verifies() {
    let amo = &vectors()[0];
    let keys: [&[u8]; 3] = [b"new-key", amo.key.as_bytes(), b"other"];
    assert!(verify(&keys, Some(&amo.authorization), amo.body.as_bytes()).is_ok());
}

#[test]
fn missing_and_malformed_headers_are_refused() {
    let keys: [&[u8]; 1] = [b"api-key"];
    assert_eq!(
        verify(&keys, None, b"{}"),
        Err(AuthError::MissingHeader("Authorization"))
    );
    let sig = hmac::authorization(b"api-key", b"{}");
    let hex = sig.split_once(' ').unwrap().1;
    for bad in [
        String::new(),
        "HMAC-SHA256".into(),
        "HMAC-SHA256 ".into(),
        format!("HMAC {hex}"),
        format!("Bearer {hex}"),
        format!("HMAC-SHA256 {}", &hex[..62]),
        format!("HMAC-SHA256 {hex}00"),
        format!("HMAC-SHA256 {}zz", &hex[..62]),
    ] {
        assert!(
            matches!(
                verify(&keys, Some(&bad), b"{}"),
                Err(AuthError::Malformed(_))
            ),
            "{bad:?}"
        );
    }
    assert!(verify(&keys, Some(&sig), b"{}").is_ok());
}
