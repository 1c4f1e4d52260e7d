//! The collector's checks in order, natively: nothing here touches a binding, so a
//! refused request can leave no trace.

use edgehook::auth::AuthContext;
use edgehook::auth::api_key::{self, ApiKey, ApiKeyStore};
use edgehook::auth::hmac;
use edgehook::auth::keys::{Keyring, parse_keys};
use edgehook::collect::accept;
use edgehook::collect::record::QueuedRecord;
use edgehook::config::{Collector, Config};
use edgehook::crypto::native::NativeCrypto;
use edgehook::error::ApiError;
use edgehook::inbound::{HeaderMap, InboundRequest};
use edgehook::secrets::Secrets;
use edgehook::steps::NoPlugins;

fn config() -> Config {
    Config::parse(
        r#"{"public_url": "https://hooks.example.com",
            "collectors": [
              {"name": "amo", "max_body_bytes": 64, "auth": {"scheme": "hmac", "secrets": ["K1", "K2"]}},
              {"name": "open", "format": "request", "auth": {"scheme": "none"}},
              {"name": "portal", "auth": {"scheme": "jwt", "keys": ["JWT_KEY"], "max_lifetime_secs": 3600}},
              {"name": "scraper", "auth": {"scheme": "api-key", "scope": "scrape"}},
              {"name": "tiny", "format": "request", "max_body_bytes": 64, "auth": {"scheme": "none"}},
              {"name": "checked", "auth": {"scheme": "none"},
               "steps": [{"kind": "filter", "when": {"payload": {"$.user_id": {"exists": true}}}}]}]}"#,
    )
    .unwrap()
}

const HS256_JWK: &str = r#"{"kty":"oct","k":"AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow"}"#;

fn secrets() -> Secrets {
    Secrets::from_pairs([("K1", "key-one"), ("K2", "key-two"), ("JWT_KEY", HS256_JWK)])
}

const KEY: &str = "ehk_test-key-plaintext-for-the-native-tests-000";

fn stored_key() -> ApiKey {
    ApiKey {
        id: "key_1".into(),
        name: "scraper".into(),
        email: "ops@example.com".into(),
        scopes: vec!["scrape".into()],
        not_before: 0,
        not_after: 10_000,
        revoked_at: None,
        created_at: 0,
        last_used_at: None,
    }
}

/// API keys in memory, by hash.
struct MemoryKeys(Vec<ApiKey>);

impl ApiKeyStore for MemoryKeys {
    type Error = std::convert::Infallible;
    async fn find_by_hash(&self, hash: &str) -> Result<Option<ApiKey>, Self::Error> {
        Ok((hash == api_key::hash(KEY)).then(|| self.0[0].clone()))
    }
    async fn touch(&self, _hash: &str, _now: i64) -> Result<(), Self::Error> {
        Ok(())
    }
}

fn accept(
    collector: &Collector,
    secrets: &Secrets,
    req: &InboundRequest,
    id: &str,
    now_ms: u64,
) -> Result<QueuedRecord, ApiError> {
    let keyring = Keyring::load(config().auth_tables(), secrets).unwrap();
    let cx = AuthContext {
        secrets,
        keyring: &keyring,
        crypto: &NativeCrypto,
        api_keys: &MemoryKeys(vec![stored_key()]),
        now_secs: (now_ms / 1000) as i64,
    };
    // Only the headers the worker copies out of the runtime's request.
    let req = InboundRequest {
        headers: HeaderMap::select(accept::headers_read(collector), |n| {
            req.headers.get(n).map(str::to_string)
        }),
        ..req.clone()
    };
    let accepted =
        futures_executor::block_on(accept::accept(collector, &cx, &NoPlugins, &req, id, now_ms))?;
    match accepted {
        accept::Accepted::Record { record, .. } => Ok(record),
        accept::Accepted::Dropped => panic!("no collector here filters"),
    }
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
    (e.status(), e.code.as_str())
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
        // No step changed it: the line is the sender's exact bytes.
        assert_eq!(r.line, "{\"a\": 1}");
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
        ..Default::default()
    };
    let r = accept(c.collector("open").unwrap(), &secrets(), &req, "01ID", 0).unwrap();
    assert_eq!(
        r.line,
        r#"{"id":"01ID","timeReceived":"1970-01-01T00:00:00.000Z","collector":"open","path":"/a/b","method":"POST","queryParameters":{"x":"1"},"payload":[1,2]}"#
    );
}

fn with_headers(pairs: &[(&str, &str)]) -> InboundRequest {
    let mut h = vec![("content-type".to_string(), "application/json".to_string())];
    h.extend(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    InboundRequest {
        method: "POST".into(),
        sub_path: "/".into(),
        headers: HeaderMap::from_pairs(h),
        body: b"{}".to_vec(),
        ..Default::default()
    }
}

fn hs256(claims: serde_json::Value) -> String {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
    let input = format!(
        "{}.{}",
        B64.encode(r#"{"alg":"HS256","typ":"JWT"}"#),
        B64.encode(claims.to_string())
    );
    let keys = parse_keys(HS256_JWK).unwrap();
    let edgehook::auth::keys::KeyMaterial::Hs256(key) = &keys[0].material else {
        panic!("the dev JWK is an HS256 key");
    };
    let sig = edgehook::crypto::hmac_sha256(key, input.as_bytes());
    format!("{input}.{}", B64.encode(sig))
}

#[test]
fn jwt_collector_defaults_iss_and_aud_to_its_url() {
    let url = "https://hooks.example.com/hooks/portal";
    let now_ms = 5_000_000;
    let claims = |iss: &str| serde_json::json!({"iss": iss, "aud": url, "sub": "alice", "iat": 4_990, "exp": 5_100});
    let ok = with_headers(&[("authorization", &format!("Bearer {}", hs256(claims(url))))]);
    let c = config();
    assert!(
        accept(
            c.collector("portal").unwrap(),
            &secrets(),
            &ok,
            "01ID",
            now_ms
        )
        .is_ok()
    );
    let bad = with_headers(&[(
        "authorization",
        &format!("Bearer {}", hs256(claims("https://evil"))),
    )]);
    let e = accept(
        c.collector("portal").unwrap(),
        &secrets(),
        &bad,
        "01ID",
        now_ms,
    )
    .unwrap_err();
    assert_eq!((e.status(), e.code.as_str()), (401, "invalid_issuer"));
    let none = with_headers(&[]);
    let e = accept(
        c.collector("portal").unwrap(),
        &secrets(),
        &none,
        "01ID",
        now_ms,
    )
    .unwrap_err();
    assert_eq!((e.status(), e.code.as_str()), (400, "missing_header"));
}

#[test]
fn api_key_collector_requires_a_valid_scoped_key() {
    let c = config();
    let scraper = c.collector("scraper").unwrap();
    let ok = with_headers(&[("x-apikey", KEY)]);
    assert!(accept(scraper, &secrets(), &ok, "01ID", 5_000_000).is_ok());
    let bearer = with_headers(&[("authorization", &format!("Bearer {KEY}"))]);
    assert!(accept(scraper, &secrets(), &bearer, "01ID", 5_000_000).is_ok());
    let expired = accept(scraper, &secrets(), &ok, "01ID", 10_000_000).unwrap_err();
    assert_eq!(
        (expired.status(), expired.code.as_str()),
        (401, "expired_key")
    );
    let unknown = with_headers(&[("x-apikey", "ehk_nope")]);
    let e = accept(scraper, &secrets(), &unknown, "01ID", 5_000_000).unwrap_err();
    assert_eq!((e.status(), e.code.as_str()), (401, "unknown_key"));
}

#[test]
fn json_nested_to_128_levels_is_read_and_deeper_is_refused_as_invalid_json() {
    let c = config();
    let nested = |depth: usize| {
        let mut req = with_headers(&[]);
        req.body = format!("{}{}", "[".repeat(depth), "]".repeat(depth)).into_bytes();
        req
    };
    // The limit bounds parsing (and every later walk of the payload); the whole tree is
    // at most 129 deep in a `request` record, which wraps the payload in one object.
    let open = c.collector("open").unwrap();
    for depth in [100, 128] {
        let r = accept(open, &secrets(), &nested(depth), "01ID", 0);
        assert!(r.is_ok(), "{depth}: {r:?}");
    }
    for depth in [129, 100_000] {
        let e = accept(open, &secrets(), &nested(depth), "01ID", 0).unwrap_err();
        assert_eq!(
            (e.status(), e.code.as_str()),
            (400, "invalid_json"),
            "{depth}"
        );
        assert!(
            e.message.contains("nested deeper than 128 levels"),
            "{}",
            e.message
        );
    }
}

#[test]
fn a_member_name_given_twice_is_refused_with_its_pointer_whatever_the_path() {
    let c = config();
    // One line and no steps: checked without a tree; over lines: parsed; with steps: parsed.
    for (collector, body) in [
        ("open", r#"{"user_id":"alice","user_id":"mallory"}"#),
        ("open", "{\"user_id\":\"alice\",\n\"user_id\":\"mallory\"}"),
        ("checked", r#"{"user_id":"alice","user_id":"mallory"}"#),
    ] {
        let mut req = with_headers(&[]);
        req.body = body.as_bytes().to_vec();
        let e = accept(c.collector(collector).unwrap(), &secrets(), &req, "01ID", 0).unwrap_err();
        assert_eq!(
            (e.status(), e.code.as_str()),
            (400, "duplicate_key"),
            "{collector} {body:?}"
        );
        assert!(e.message.contains("/user_id"), "{}", e.message);
    }
    let mut req = with_headers(&[]);
    req.body = br#"{"users":[{"id":1},{"id":2,"tags":{"a":1,"a":1}}]}"#.to_vec();
    let e = accept(c.collector("open").unwrap(), &secrets(), &req, "01ID", 0).unwrap_err();
    assert!(e.message.contains("/users/1/tags/a"), "{}", e.message);
}

#[test]
fn the_url_is_bounded_and_a_request_record_counts_it_against_the_limit() {
    let c = config();
    let with_url = |sub_path: &str, query: &str, body: &str| {
        let mut req = with_headers(&[]);
        req.sub_path = sub_path.to_string();
        req.query = query.to_string();
        req.uri = format!("/hooks/x{sub_path}?{query}");
        req.body = body.as_bytes().to_vec();
        req
    };
    // 414 before anything else is looked at: amo's missing signature would be a 400.
    let long = with_url(&format!("/{}", "p".repeat(accept::MAX_URL_BYTES)), "", "{}");
    assert_eq!(status_and_code(&long, "amo"), (414, "uri_too_long"));
    let long = with_url("/", &"q".repeat(accept::MAX_URL_BYTES), "{}");
    assert_eq!(status_and_code(&long, "open"), (414, "uri_too_long"));
    // tiny (request format) takes 64 bytes of body, sub-path and query together.
    let body = r#"{"data":"0123456789012345678"}"#; // 30 bytes
    let fits = with_url("/0123456789", "q=01234567890123456789", body);
    assert!(accept(c.collector("tiny").unwrap(), &secrets(), &fits, "01ID", 0).is_ok());
    for (sub_path, query) in [
        ("/0123456789", "q=0123456789012345678901"),
        ("/", &*"q".repeat(70)),
    ] {
        let over = with_url(sub_path, query, body);
        assert_eq!(
            status_and_code(&over, "tiny"),
            (413, "payload_too_large"),
            "{sub_path}?{query}"
        );
    }
    // A payload record carries only the body: its limit counts nothing else.
    let mut amo = signed(
        r#"{"data":"0123456789012345678901234567890123456789012"}"#,
        "key-one",
    );
    amo.query = "q=".repeat(100);
    amo.uri = format!("/hooks/amo?{}", amo.query);
    assert!(accept(c.collector("amo").unwrap(), &secrets(), &amo, "01ID", 0).is_ok());
}
