//! `scheme = "recipe"` and the provider presets built on it: published examples (Slack's
//! and GitHub's docs), signatures made by independent crates (RustCrypto's HMAC, P-256,
//! ed25519-dalek), and config errors naming the key.

mod common;

use common::{load_error, verify_with_config};
use edgehook::auth::AuthError;
use edgehook::inbound::{HeaderMap, InboundRequest};
use hmac::Mac;

fn post(headers: &[(&str, &str)], body: &str) -> InboundRequest {
    InboundRequest {
        method: "POST".into(),
        uri: "/hooks/c".into(),
        sub_path: "/".into(),
        headers: HeaderMap::from_pairs(headers.iter().copied()),
        body: body.as_bytes().to_vec(),
        ..Default::default()
    }
}

fn code(r: Result<(), AuthError>) -> &'static str {
    common::outcome(&r)
}

fn hmac256_hex(key: &[u8], data: &[u8]) -> String {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(key).unwrap();
    mac.update(data);
    hex::encode(mac.finalize().into_bytes())
}

/// Slack's docs ("Verifying requests from Slack"): signing secret, timestamp, body and
/// the `X-Slack-Signature` they give.
const SLACK_SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
const SLACK_TS: i64 = 1531420618;
const SLACK_BODY: &str = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
const SLACK_SIG: &str = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";

#[test]
fn slack_preset_verifies_the_docs_example() {
    let auth = r#"{"scheme": "slack", "secrets": ["NEW", "SLACK"]}"#;
    let secrets = [("SLACK", SLACK_SECRET), ("NEW", "rotated-in")];
    let ts = SLACK_TS.to_string();
    let req = |sig: &str, body: &str| {
        post(
            &[
                ("X-Slack-Signature", sig),
                ("X-Slack-Request-Timestamp", &ts),
            ],
            body,
        )
    };
    let now = SLACK_TS + 60;
    assert_eq!(
        code(verify_with_config(
            auth,
            &secrets,
            &req(SLACK_SIG, SLACK_BODY),
            now
        )),
        "ok"
    );
    let tampered = SLACK_BODY.replace("roadrunner", "coyote");
    assert_eq!(
        code(verify_with_config(
            auth,
            &secrets,
            &req(SLACK_SIG, &tampered),
            now
        )),
        "invalid_signature"
    );
    assert_eq!(
        code(verify_with_config(
            auth,
            &secrets,
            &req(SLACK_SIG, SLACK_BODY),
            now + 600
        )),
        "timestamp_out_of_tolerance"
    );
    assert_eq!(
        code(verify_with_config(
            auth,
            &secrets,
            &post(&[("X-Slack-Signature", SLACK_SIG)], SLACK_BODY),
            now
        )),
        "missing_header"
    );
    // The same recipe written out by hand verifies the same example.
    let recipe = r#"{"scheme": "recipe", "secrets": ["SLACK"], "header": "X-Slack-Signature",
        "prefix": "v0=", "template": "v0:{timestamp}:{body}", "algorithm": "hmac-sha256",
        "encoding": "hex", "timestamp_header": "X-Slack-Request-Timestamp", "tolerance_secs": 300}"#;
    assert_eq!(
        code(verify_with_config(
            recipe,
            &secrets,
            &req(SLACK_SIG, SLACK_BODY),
            now
        )),
        "ok"
    );
}

#[test]
fn meta_preset_verifies_githubs_docs_example() {
    // The same scheme as GitHub's X-Hub-Signature-256 (GitHub Docs, "Validating webhook
    // deliveries"): secret, payload and signature from there.
    let auth = r#"{"scheme": "whatsapp", "secrets": ["APP_SECRET"]}"#;
    let secrets = [("APP_SECRET", "It's a Secret to Everybody")];
    let sig = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
    let req = |body| post(&[("X-Hub-Signature-256", sig)], body);
    assert_eq!(
        code(verify_with_config(auth, &secrets, &req("Hello, World!"), 0)),
        "ok"
    );
    assert_eq!(
        code(verify_with_config(auth, &secrets, &req("Hello, World?"), 0)),
        "invalid_signature"
    );
}

#[test]
fn a_recipe_takes_several_signatures_and_rotated_secrets() {
    // Stripe-like: `t=<ts>,v1=<hex>,v1=<hex>` in one header, the timestamp its entry.
    let auth = r#"{"scheme": "recipe", "secrets": ["CURRENT", "OLD"], "header": "X-Sig",
        "separator": ",", "prefix": "v1=", "template": "{timestamp}.{method}.{url}.{body}",
        "algorithm": "hmac-sha256", "timestamp_header": "X-Sig", "timestamp_prefix": "t="}"#;
    let secrets = [("CURRENT", "k-current"), ("OLD", "k-old")];
    let body = r#"{"a":1}"#;
    let signed = format!("100.POST.https://hooks.example.com/hooks/c/x?y=1.{body}");
    let sig = |key: &str| hmac256_hex(key.as_bytes(), signed.as_bytes());
    let mut req = post(&[], body);
    req.uri = "/hooks/c/x?y=1".into();
    let with = |header: String| {
        let mut r = req.clone();
        r.headers = HeaderMap::from_pairs([("x-sig", header)]);
        r
    };
    for header in [
        format!("t=100,v1={}", sig("k-old")),
        format!("t=100,v0=zz,v1={},v1={}", sig("other"), sig("k-current")),
    ] {
        assert_eq!(
            code(verify_with_config(auth, &secrets, &with(header), 110)),
            "ok"
        );
    }
    assert_eq!(
        code(verify_with_config(
            auth,
            &secrets,
            &with(format!("t=100,v1={}", sig("other"))),
            110
        )),
        "invalid_signature"
    );
    assert_eq!(
        code(verify_with_config(
            auth,
            &secrets,
            &with(format!("v1={}", sig("k-old"))),
            110
        )),
        "malformed_signature"
    );
    let many = (0..17)
        .map(|_| format!("v1={}", sig("other")))
        .collect::<Vec<_>>()
        .join(",");
    assert_eq!(
        code(verify_with_config(
            auth,
            &secrets,
            &with(format!("t=100,{many}")),
            110
        )),
        "malformed_signature"
    );
}

#[test]
fn sha1_and_sha512_and_base64url_recipes_verify() {
    for (alg, encoding) in [("hmac-sha1", "base64"), ("hmac-sha512", "base64url")] {
        let auth = format!(
            r#"{{"scheme": "recipe", "secrets": ["K"], "header": "X-Sig", "algorithm": "{alg}", "encoding": "{encoding}"}}"#
        );
        let mac = match alg {
            "hmac-sha1" => {
                let mut m = hmac::Hmac::<sha1::Sha1>::new_from_slice(b"key").unwrap();
                m.update(b"payload");
                m.finalize().into_bytes().to_vec()
            }
            _ => {
                let mut m = hmac::Hmac::<sha2::Sha512>::new_from_slice(b"key").unwrap();
                m.update(b"payload");
                m.finalize().into_bytes().to_vec()
            }
        };
        use base64::Engine;
        let sig = match encoding {
            "base64" => base64::engine::general_purpose::STANDARD.encode(&mac),
            _ => base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&mac),
        };
        let secrets = [("K", "key")];
        assert_eq!(
            code(verify_with_config(
                &auth,
                &secrets,
                &post(&[("x-sig", &sig)], "payload"),
                0
            )),
            "ok",
            "{alg}"
        );
        assert_eq!(
            code(verify_with_config(
                &auth,
                &secrets,
                &post(&[("x-sig", &sig)], "payloaD"),
                0
            )),
            "invalid_signature",
            "{alg}"
        );
    }
}

#[test]
fn discord_preset_verifies_ed25519_signatures() {
    use ed25519_dalek::{Signer, SigningKey};
    let key = SigningKey::from_bytes(&[9u8; 32]);
    let public = hex::encode(key.verifying_key().to_bytes());
    let body = r#"{"type":1}"#;
    let sig = hex::encode(key.sign(format!("1000{body}").as_bytes()).to_bytes());
    let auth = r#"{"scheme": "discord", "secrets": ["DISCORD_PUBLIC_KEY"]}"#;
    let secrets = [("DISCORD_PUBLIC_KEY", public.as_str())];
    let req = |sig: &str, body| {
        post(
            &[
                ("X-Signature-Ed25519", sig),
                ("X-Signature-Timestamp", "1000"),
            ],
            body,
        )
    };
    assert_eq!(
        code(verify_with_config(auth, &secrets, &req(&sig, body), 1000)),
        "ok"
    );
    assert_eq!(
        code(verify_with_config(
            auth,
            &secrets,
            &req(&sig, r#"{"type":2}"#),
            1000
        )),
        "invalid_signature"
    );
}

#[test]
fn sendgrid_preset_verifies_der_ecdsa_signatures() {
    use base64::Engine;
    use p256::ecdsa::{Signature, SigningKey, signature::Signer};
    let b64 = base64::engine::general_purpose::STANDARD;
    let key = SigningKey::from_slice(&[5u8; 32]).unwrap();
    // SubjectPublicKeyInfo of a P-256 key: the fixed DER header, then the point.
    let point = key.verifying_key().to_encoded_point(false);
    let spki = [
        hex::decode("3059301306072a8648ce3d020106082a8648ce3d030107034200").unwrap(),
        point.as_bytes().to_vec(),
    ]
    .concat();
    let public = b64.encode(spki);
    let body = r#"[{"event":"delivered"}]"#;
    let sig: Signature = key.sign(format!("1700000000{body}").as_bytes());
    let sig = b64.encode(sig.to_der().as_bytes());
    let auth = r#"{"scheme": "sendgrid", "secrets": ["SG_KEY"]}"#;
    let secrets = [("SG_KEY", public.as_str())];
    let req = |body| {
        post(
            &[
                ("X-Twilio-Email-Event-Webhook-Signature", sig.as_str()),
                ("X-Twilio-Email-Event-Webhook-Timestamp", "1700000000"),
            ],
            body,
        )
    };
    assert_eq!(
        code(verify_with_config(auth, &secrets, &req(body), 5)),
        "ok"
    );
    assert_eq!(
        code(verify_with_config(auth, &secrets, &req("[]"), 5)),
        "invalid_signature"
    );
}

#[test]
fn token_presets_compare_the_header_with_the_secret() {
    let secrets = [("T", "s3cret")];
    let gitlab = r#"{"scheme": "gitlab", "secrets": ["T"]}"#;
    assert_eq!(
        code(verify_with_config(
            gitlab,
            &secrets,
            &post(&[("X-Gitlab-Token", "s3cret")], "{}"),
            0
        )),
        "ok"
    );
    assert_eq!(
        code(verify_with_config(
            gitlab,
            &secrets,
            &post(&[("X-Gitlab-Token", "s3cre")], "{}"),
            0
        )),
        "invalid_signature"
    );
    // Postmark: HTTP Basic credentials, the secret holding `user:password`.
    let postmark = r#"{"scheme": "postmark", "secrets": ["T"]}"#;
    let secrets = [("T", "hook:pa55")];
    let basic = "Basic aG9vazpwYTU1"; // base64("hook:pa55")
    assert_eq!(
        code(verify_with_config(
            postmark,
            &secrets,
            &post(&[("Authorization", basic)], "{}"),
            0
        )),
        "ok"
    );
    assert_eq!(
        code(verify_with_config(
            postmark,
            &secrets,
            &post(&[("Authorization", "Basic aG9vazpwYTU2")], "{}"),
            0
        )),
        "invalid_signature"
    );
}

#[test]
fn mailgun_preset_reads_the_signature_from_the_json_body() {
    let key = "key-signing";
    let sig = hmac256_hex(
        key.as_bytes(),
        b"1529006854a8ce0edb2dd8301dee6c2405235584e45aa91d1e9f979f3de0",
    );
    let body = format!(
        r#"{{"signature":{{"timestamp":"1529006854","token":"a8ce0edb2dd8301dee6c2405235584e45aa91d1e9f979f3de0","signature":"{sig}"}},"event-data":{{}}}}"#
    );
    let auth = r#"{"scheme": "mailgun", "secrets": ["MG"]}"#;
    let secrets = [("MG", key)];
    assert_eq!(
        code(verify_with_config(auth, &secrets, &post(&[], &body), 0)),
        "ok"
    );
    let forged = body.replace("1529006854", "1529006855");
    assert_eq!(
        code(verify_with_config(auth, &secrets, &post(&[], &forged), 0)),
        "invalid_signature"
    );
    assert_eq!(
        code(verify_with_config(
            auth,
            &secrets,
            &post(&[], r#"{"event-data":{}}"#),
            0
        )),
        "missing_header"
    );
}

#[test]
fn config_errors_name_the_key() {
    let base = r#""scheme": "recipe", "secrets": ["K"], "header": "X-Sig""#;
    for (auth, secrets, expected) in [
        (
            format!(r#"{{{base}, "algorithm": "hmac-sha256", "template": "{{body}}{{nope}}"}}"#),
            &[("K", "k")][..],
            "collectors[0].auth.template: unknown placeholder {nope}",
        ),
        (
            format!(r#"{{{base}, "algorithm": "hmac-sha256", "template": "{{timestamp}}.{{body}}"}}"#),
            &[("K", "k")][..],
            "collectors[0].auth.template: {timestamp} needs a timestamp_header",
        ),
        (
            format!(r#"{{{base}, "algorithm": "hmac-md5"}}"#),
            &[("K", "k")][..],
            "collectors[0].auth: unknown variant `hmac-md5`",
        ),
        (
            r#"{"scheme": "recipe", "secrets": ["K"], "header": "bad header", "algorithm": "hmac-sha1"}"#.to_string(),
            &[("K", "k")][..],
            "collectors[0].auth.header: \"bad header\" is not a header name",
        ),
        (
            format!(r#"{{{base}, "algorithm": "ed25519", "key_encoding": "hex"}}"#),
            &[("K", "abcd")][..],
            "collectors[0].auth.secrets[0]: secret K: ",
        ),
        (
            format!(r#"{{{base}, "algorithm": "token", "template": "{{body}}"}}"#),
            &[("K", "k")][..],
            "collectors[0].auth.template: a token is compared with the secret",
        ),
        (
            r#"{"scheme": "discord", "secrets": ["K"]}"#.to_string(),
            &[("K", "not hex")][..],
            "collectors[0].auth.secrets[0]: secret K: not hex",
        ),
        (
            r#"{"scheme": "slack", "secrets": ["K"], "tolerance": 5}"#.to_string(),
            &[("K", "k")][..],
            "collectors[0].auth: unknown field `tolerance`",
        ),
        (
            r#"{"scheme": "no-such-provider", "secrets": ["K"]}"#.to_string(),
            &[("K", "k")][..],
            "collectors[0].auth: unknown scheme `no-such-provider`",
        ),
    ] {
        let e = load_error(&auth, secrets);
        assert!(e.starts_with(expected), "{auth}: {e}");
    }
}

#[test]
fn worked_example_three_signs_method_url_and_body_with_ed25519() {
    // docs/CONFIG.md, "Recipes", example 3.
    use base64::Engine;
    use ed25519_dalek::{Signer, SigningKey};
    let key = SigningKey::from_bytes(&[3u8; 32]);
    let public = hex::encode(key.verifying_key().to_bytes());
    let auth = r#"{"scheme": "recipe", "secrets": ["ACME_PUBLIC_KEY"], "header": "X-Sig",
        "algorithm": "ed25519", "encoding": "base64url", "key_encoding": "hex",
        "template": "{method} {url}\n{body}", "timestamp_header": "X-Sig-Time",
        "timestamp_format": "unix-ms"}"#;
    let body = r#"{"order":7}"#;
    let signed = format!("POST https://hooks.example.com/hooks/c/orders?x=1\n{body}");
    let sig = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(key.sign(signed.as_bytes()).to_bytes());
    let secrets = [("ACME_PUBLIC_KEY", public.as_str())];
    let mut req = post(&[("X-Sig", &sig), ("X-Sig-Time", "1733190000123")], body);
    req.uri = "/hooks/c/orders?x=1".into();
    assert_eq!(
        code(verify_with_config(auth, &secrets, &req, 1733190001)),
        "ok"
    );
    req.uri = "/hooks/c/orders?x=2".into();
    assert_eq!(
        code(verify_with_config(auth, &secrets, &req, 1733190001)),
        "invalid_signature"
    );
}

#[test]
fn providers_md_has_a_row_per_preset() {
    let root = env!("CARGO_MANIFEST_DIR");
    let doc = std::fs::read_to_string(format!("{root}/docs/PROVIDERS.md")).unwrap();
    let presets: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(edgehook::auth::providers::PRESETS_JSON).unwrap();
    for name in presets.keys() {
        assert!(
            doc.contains(&format!("\n| `{name}` ")),
            "docs/PROVIDERS.md has no row for {name}"
        );
    }
}

/// A JWS as Netlify's docs describe it: HS256 over `{"iss":"netlify","sha256":<hex>}`.
fn netlify_jws(secret: &str, iss: &str, body: &str) -> String {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let digest = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(body.as_bytes()));
    let input = format!(
        "{}.{}",
        b64.encode(r#"{"alg":"HS256","typ":"JWT"}"#),
        b64.encode(format!(r#"{{"iss":"{iss}","sha256":"{digest}"}}"#))
    );
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(input.as_bytes());
    format!("{input}.{}", b64.encode(mac.finalize().into_bytes()))
}

#[test]
fn netlify_verifies_the_jws_and_the_body_it_binds() {
    let auth = r#"{"scheme": "netlify", "secrets": ["NETLIFY"]}"#;
    let secrets = [("NETLIFY", "netlify-jws-secret")];
    let body = r#"{"state":"ready"}"#;
    let req = |jws: &str, body| post(&[("X-Webhook-Signature", jws)], body);
    let good = netlify_jws("netlify-jws-secret", "netlify", body);
    assert_eq!(
        code(verify_with_config(auth, &secrets, &req(&good, body), 0)),
        "ok"
    );
    assert_eq!(
        code(verify_with_config(
            auth,
            &secrets,
            &req(&good, r#"{"state":"error"}"#),
            0
        )),
        "invalid_signature"
    );
    let other_key = netlify_jws("another-secret", "netlify", body);
    assert_eq!(
        code(verify_with_config(
            auth,
            &secrets,
            &req(&other_key, body),
            0
        )),
        "invalid_signature"
    );
    let other_issuer = netlify_jws("netlify-jws-secret", "someone", body);
    assert_eq!(
        code(verify_with_config(
            auth,
            &secrets,
            &req(&other_issuer, body),
            0
        )),
        "invalid_signature"
    );
    assert_eq!(
        code(verify_with_config(
            auth,
            &secrets,
            &req("not a jws", body),
            0
        )),
        "malformed_signature"
    );
    assert_eq!(
        code(verify_with_config(auth, &secrets, &post(&[], body), 0)),
        "missing_header"
    );
}

/// A token as monday.com's docs show one (HS256; `accountId`, `userId`, `aud`,
/// `shortLivedToken`, `iat`, `exp` five minutes later), signed with RustCrypto's HMAC.
fn monday_jwt(secret: &str, iat: i64, aud: &str) -> String {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let claims = format!(
        r#"{{"accountId":5,"userId":7,"aud":"{aud}","shortLivedToken":"eyJ...","iat":{iat},"exp":{}}}"#,
        iat + 300
    );
    let input = format!(
        "{}.{}",
        b64.encode(r#"{"alg":"HS256","typ":"JWT"}"#),
        b64.encode(claims)
    );
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(input.as_bytes());
    format!("{input}.{}", b64.encode(mac.finalize().into_bytes()))
}

#[test]
fn monday_verifies_the_bare_token_its_expiry_and_audience() {
    let auth = r#"{"scheme": "monday", "secrets": ["OLD", "MONDAY"], "audience": "https://edge.example/hooks/c"}"#;
    let secrets = [("MONDAY", "monday-signing-secret"), ("OLD", "rotated-out")];
    let aud = "https://edge.example/hooks/c";
    let now = 1_700_000_000;
    let req = |token: &str| post(&[("Authorization", token)], "{}");
    let good = monday_jwt("monday-signing-secret", now - 10, aud);
    assert_eq!(
        code(verify_with_config(auth, &secrets, &req(&good), now)),
        "ok"
    );
    let bearer = format!("Bearer {good}");
    assert_eq!(
        code(verify_with_config(auth, &secrets, &req(&bearer), now)),
        "ok"
    );
    let other_key = monday_jwt("another-secret", now - 10, aud);
    assert_eq!(
        code(verify_with_config(auth, &secrets, &req(&other_key), now)),
        "invalid_signature"
    );
    assert_eq!(
        code(verify_with_config(auth, &secrets, &req(&good), now + 3600)),
        "expired_token"
    );
    let elsewhere = monday_jwt("monday-signing-secret", now - 10, "https://other.example/");
    assert_eq!(
        code(verify_with_config(auth, &secrets, &req(&elsewhere), now)),
        "invalid_audience"
    );
    assert_eq!(
        code(verify_with_config(auth, &secrets, &post(&[], "{}"), now)),
        "missing_header"
    );
}
