//! The collector's checks in order, natively: nothing here touches a binding, so a
//! refused request can leave no trace.

use edgehook::auth::AuthContext;
use edgehook::auth::hmac;
use edgehook::collect::accept;
use edgehook::collect::record::QueuedRecord;
use edgehook::config::{Collector, Config, Secrets};
use edgehook::crypto::native::NativeCrypto;
use edgehook::error::ApiError;
use edgehook::inbound::{HeaderMap, InboundRequest};

fn config() -> Config {
    Config::parse(
        r#"{"public_url": "https://hooks.example.com",
            "collectors": [
              {"name": "amo", "max_body_bytes": 64, "auth": {"scheme": "hmac", "secrets": ["K1", "K2"]}},
              {"name": "open", "format": "request", "auth": {"scheme": "none"}}]}"#,
    )
    .unwrap()
}

fn secrets() -> Secrets {
    Secrets::from_pairs([("K1", "key-one"), ("K2", "key-two")])
}

fn accept(
    collector: &Collector,
    secrets: &Secrets,
    req: &InboundRequest,
    id: &str,
    now_ms: u64,
) -> Result<QueuedRecord, ApiError> {
    let cx = AuthContext {
        secrets,
        crypto: &NativeCrypto,
        now_secs: (now_ms / 1000) as i64,
    };
    futures_executor::block_on(accept::accept(collector, &cx, req, id, now_ms))
}

fn signed(body: &str, key: &str) -> InboundRequest {
    InboundRequest {
        method: "POST".into(),
        sub_path: "/".into(),
        headers: HeaderMap::from_pairs([
            ("Content-Type", "application/json".to_string()),
            (
                "Authorization",
                hmac::authorization(key.as_bytes(), body.as_bytes()),
            ),
        ]),
        body: body.as_bytes().to_vec(),
        ..Default::default()
    }
}

fn status_and_code(req: &InboundRequest, collector: &str) -> (u16, &'static str) {
    let c = config();
    let e = accept(c.collector(collector).unwrap(), &secrets(), req, "01ID", 0).unwrap_err();
    (e.status, e.code)
}

#[test]
fn accepts_a_body_signed_with_any_configured_key() {
    let c = config();
    for key in ["key-one", "key-two"] {
        let r = accept(
            c.collector("amo").unwrap(),
            &secrets(),
            &signed("{\"a\": 1}", key),
            "01ID",
            7,
        )
        .unwrap();
        assert_eq!(r.line, "{\"a\":1}");
        assert_eq!(
            (r.id.as_str(), r.collector.as_str(), r.received_at),
            ("01ID", "amo", 7)
        );
    }
}

#[test]
fn refusals_carry_the_spec_status_and_code() {
    assert_eq!(
        status_and_code(&signed("{}", "wrong"), "amo"),
        (401, "invalid_signature")
    );
    let mut r = signed("{}", "key-one");
    r.headers = HeaderMap::from_pairs([("content-type", "application/json")]);
    assert_eq!(status_and_code(&r, "amo"), (400, "missing_header"));
    assert_eq!(
        status_and_code(&signed("{\"a\":", "key-one"), "amo"),
        (400, "invalid_json")
    );
    let big = format!("{{\"a\":\"{}\"}}", "x".repeat(64));
    assert_eq!(
        status_and_code(&signed(&big, "key-one"), "amo"),
        (413, "payload_too_large")
    );
    let mut r = signed("{}", "key-one");
    r.headers = HeaderMap::from_pairs([
        ("content-type", "text/plain".to_string()),
        ("authorization", hmac::authorization(b"key-one", b"{}")),
    ]);
    assert_eq!(status_and_code(&r, "amo"), (415, "unsupported_media_type"));
    let mut r = signed("{}", "key-one");
    r.method = "PUT".into();
    assert_eq!(status_and_code(&r, "amo"), (405, "method_not_allowed"));
}

#[test]
fn refusal_messages_never_echo_the_expected_signature() {
    let c = config();
    let req = signed("{}", "wrong");
    let e = accept(c.collector("amo").unwrap(), &secrets(), &req, "01ID", 0).unwrap_err();
    for key in ["key-one", "key-two"] {
        let expected = hmac::authorization(key.as_bytes(), b"{}");
        let hex = expected.split_once(' ').unwrap().1;
        assert!(!e.message.contains(hex));
        assert!(!e.message.contains(key));
    }
}

#[test]
fn none_scheme_records_the_request() {
    let c = config();
    let req = InboundRequest {
        method: "POST".into(),
        sub_path: "/a/b".into(),
        query: "x=1".into(),
        headers: HeaderMap::from_pairs([("content-type", "application/json")]),
        body: b"[1,2]".to_vec(),
    };
    let r = accept(c.collector("open").unwrap(), &secrets(), &req, "01ID", 0).unwrap();
    assert_eq!(
        r.line,
        r#"{"id":"01ID","timeReceived":"1970-01-01T00:00:00.000Z","collector":"open","path":"/a/b","method":"POST","queryParameters":{"x":"1"},"payload":[1,2]}"#
    );
}
