//! The delivery request: AMO's body and headers plus Standard Webhooks' headers.
//!
//! Body: the event payload object with `"scanner_result_url": "<public_url>/results/<id>"`
//! added (AMO's field, so an unmodified AMO scanner works). Headers:
//! `Authorization: HMAC-SHA256 <hex of HMAC(api_key, body)>` (AMO), `webhook-id` (the
//! result id, stable across retries), `webhook-timestamp`, `webhook-signature: v1,<b64>`
//! over `id.timestamp.body` (Standard Webhooks; the secret is the api key's bytes, i.e.
//! `whsec_` + base64(api_key) for SW libraries), `Content-Type: application/json`, and the
//! subscription's own headers. During a rotation's grace period the previous key signs
//! too: `webhook-signature` carries both signatures and
//! `X-Edgehook-Previous-Authorization` the previous key's AMO signature.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Map, Value};

use crate::crypto::hmac_sha256;

/// Headers a subscription may not set itself: edgehook's signatures and framing, HTTP's
/// hop-by-hop and message-framing headers (RFC 9110 §7.6.1, RFC 9112), and the routing
/// headers proxies and Cloudflare set. Any of these would let a subscription break the
/// signature, the request's framing (`Expect: 100-continue` stalled a test for 6 s) or
/// what the subscriber believes about where the request came from.
pub const RESERVED_HEADERS: [&str; 16] = [
    "authorization",
    "content-type",
    "content-length",
    "content-encoding",
    "host",
    "connection",
    "keep-alive",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
    "expect",
    "forwarded",
    "via",
    "x-real-ip",
    "true-client-ip",
];

/// Prefixes of reserved header names: proxy credentials and hops, forwarding headers,
/// Cloudflare's own, Standard Webhooks' and edgehook's.
pub const RESERVED_HEADER_PREFIXES: [&str; 5] =
    ["proxy-", "x-forwarded-", "cf-", "webhook-", "x-edgehook-"];

/// Whether a subscription may not set header `name` (any case).
pub fn reserved_header(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    RESERVED_HEADERS.contains(&name.as_str())
        || RESERVED_HEADER_PREFIXES.iter().any(|p| name.starts_with(p))
}

/// A request ready to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signed {
    /// JSON body.
    pub body: String,
    /// Headers, in order.
    pub headers: Vec<(String, String)>,
}

/// The `whsec_` secret Standard Webhooks libraries take for `api_key`.
pub fn webhook_secret(api_key: &str) -> String {
    format!("whsec_{}", STANDARD.encode(api_key.as_bytes()))
}

/// The body of a delivery: `payload` (an object) with `scanner_result_url` added.
pub fn body(payload: &Map<String, Value>, result_url: &str) -> String {
    let mut body = payload.clone();
    body.insert(
        "scanner_result_url".into(),
        Value::String(result_url.into()),
    );
    Value::Object(body).to_string()
}

/// Signs `body` as message `id` at `timestamp` with `key` (and `previous`, during a
/// rotation), adding the subscription's `extra` headers except reserved ones (registration
/// refuses those; a subscription stored before a name was reserved still never sends it).
pub fn sign(
    body: String,
    id: &str,
    timestamp: i64,
    key: &str,
    previous: Option<&str>,
    extra: &[(String, String)],
) -> Signed {
    let amo = |k: &str| {
        format!(
            "HMAC-SHA256 {}",
            hex::encode(hmac_sha256(k.as_bytes(), body.as_bytes()))
        )
    };
    let content = format!("{id}.{timestamp}.{body}");
    let sw = |k: &str| {
        format!(
            "v1,{}",
            STANDARD.encode(hmac_sha256(k.as_bytes(), content.as_bytes()))
        )
    };
    let mut signatures = sw(key);
    let mut headers = vec![
        ("content-type".to_string(), "application/json".to_string()),
        ("authorization".to_string(), amo(key)),
    ];
    if let Some(old) = previous {
        signatures = format!("{signatures} {}", sw(old));
        headers.push(("x-edgehook-previous-authorization".into(), amo(old)));
    }
    headers.push(("webhook-id".into(), id.to_string()));
    headers.push(("webhook-timestamp".into(), timestamp.to_string()));
    headers.push(("webhook-signature".into(), signatures));
    headers.extend(extra.iter().filter(|(k, _)| !reserved_header(k)).cloned());
    Signed { body, headers }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn hop_by_hop_routing_and_signing_headers_are_reserved() {
        for name in [
            "Transfer-Encoding",
            "connection",
            "Expect",
            "HOST",
            "Keep-Alive",
            "TE",
            "Trailer",
            "Upgrade",
            "Proxy-Authorization",
            "Proxy-Connection",
            "Content-Length",
            "X-Forwarded-For",
            "x-forwarded-host",
            "Forwarded",
            "CF-Connecting-IP",
            "cf-worker",
            "Authorization",
            "webhook-id",
            "Webhook-Signature",
            "Content-Type",
            "X-Edgehook-Previous-Authorization",
        ] {
            assert!(reserved_header(name), "{name}");
        }
        for name in ["X-Team", "X-Api-Version", "Accept", "User-Agent", "Tenant"] {
            assert!(!reserved_header(name), "{name}");
        }
    }

    #[test]
    fn body_adds_the_result_url_after_the_payload() {
        let payload = json!({"download_url": "https://x/a.xpi", "n": 1});
        assert_eq!(
            body(
                payload.as_object().unwrap(),
                "https://hooks.example/results/r1"
            ),
            r#"{"download_url":"https://x/a.xpi","n":1,"scanner_result_url":"https://hooks.example/results/r1"}"#
        );
    }

    #[test]
    fn signs_amo_and_standard_webhooks_style() {
        let s = sign(
            "{}".into(),
            "msg_1",
            1_700_000_000,
            "k1",
            None,
            &[
                ("x-team".into(), "red".into()),
                ("Expect".into(), "100-continue".into()),
            ],
        );
        let h = |n: &str| {
            s.headers
                .iter()
                .find(|(k, _)| k == n)
                .map(|(_, v)| v.clone())
        };
        // echo -n '{}' | openssl dgst -sha256 -hmac k1
        assert_eq!(
            h("authorization").unwrap(),
            format!("HMAC-SHA256 {}", hex::encode(hmac_sha256(b"k1", b"{}")))
        );
        assert_eq!(h("webhook-id").unwrap(), "msg_1");
        assert_eq!(h("webhook-timestamp").unwrap(), "1700000000");
        let expected = STANDARD.encode(hmac_sha256(b"k1", b"msg_1.1700000000.{}"));
        assert_eq!(h("webhook-signature").unwrap(), format!("v1,{expected}"));
        assert_eq!(h("x-team").unwrap(), "red");
        assert!(
            !s.headers.iter().any(|(k, _)| k == "Expect"),
            "a reserved header stored before it was reserved is not sent"
        );
        assert_eq!(h("x-edgehook-previous-authorization"), None);
        assert_eq!(webhook_secret("k1"), "whsec_azE=");
    }

    #[test]
    fn a_rotation_signs_with_both_keys() {
        let s = sign("{}".into(), "m", 1, "new", Some("old"), &[]);
        let h = |n: &str| {
            s.headers
                .iter()
                .find(|(k, _)| k == n)
                .map(|(_, v)| v.clone())
                .unwrap()
        };
        assert_eq!(h("webhook-signature").split(' ').count(), 2);
        assert_eq!(
            h("x-edgehook-previous-authorization"),
            format!("HMAC-SHA256 {}", hex::encode(hmac_sha256(b"old", b"{}")))
        );
        assert!(h("authorization").ends_with(&hex::encode(hmac_sha256(b"new", b"{}"))));
    }
}
