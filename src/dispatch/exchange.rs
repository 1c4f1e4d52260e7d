//! What an attempt sent and what the subscriber answered, kept for the delivery
//! inspector (`GET /admin/deliveries/{id}`): the request's headers with every secret
//! masked, the answer's status, headers and first [`KEPT_ANSWER_BYTES`].
//!
//! A header's value is shown only when it is one of [`SHOWN_REQUEST_HEADERS`]: the
//! signatures (`authorization`, `webhook-signature`, the previous key's) and a
//! subscription's own headers (often a token) are masked, so the inspector never shows a
//! secret, whatever a subscription's headers are named.

use serde::{Deserialize, Serialize};

/// How much of the subscriber's answer is kept.
pub const KEPT_ANSWER_BYTES: usize = 4096;

/// Request headers whose values are shown; every other value is masked.
pub const SHOWN_REQUEST_HEADERS: [&str; 3] = ["content-type", "webhook-id", "webhook-timestamp"];

/// What stands in for a masked value.
pub const MASKED: &str = "[masked]";

/// One attempt's exchange.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Exchange {
    /// The URL the request went to; for a destination beyond HTTP its target
    /// (`queue:NAME`, `r2:NAME/prefix`, `service:NAME/path`).
    pub url: String,
    /// Headers sent, values masked but for [`SHOWN_REQUEST_HEADERS`].
    pub request_headers: Vec<(String, String)>,
    /// The answer's headers (none when no answer came).
    pub response_headers: Vec<(String, String)>,
    /// The first [`KEPT_ANSWER_BYTES`] of the answer, as UTF-8 (lossy).
    pub response_body: String,
    /// The answer went on past what is kept.
    pub response_cut: bool,
}

/// `headers` with every value masked but for [`SHOWN_REQUEST_HEADERS`].
pub fn masked(headers: &[(String, String)]) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(k, v)| {
            let shown = SHOWN_REQUEST_HEADERS.contains(&k.to_ascii_lowercase().as_str());
            (k.clone(), if shown { v.clone() } else { MASKED.into() })
        })
        .collect()
}

/// The subscriber's answer, as read.
#[derive(Debug, Clone, Copy, Default)]
pub struct Answered<'a> {
    /// The subscriber's answer headers, as received.
    pub headers: &'a [(String, String)],
    /// Its body, as much as was read.
    pub body: &'a [u8],
    /// The body was cut before it was read whole.
    pub cut: bool,
}

/// The exchange of a request to `url` with `sent` headers and, when one came, `answer`.
pub fn exchange(url: &str, sent: &[(String, String)], answer: Option<Answered<'_>>) -> Exchange {
    let a = answer.unwrap_or_default();
    let kept = &a.body[..a.body.len().min(KEPT_ANSWER_BYTES)];
    Exchange {
        url: url.to_string(),
        request_headers: masked(sent),
        response_headers: a.headers.to_vec(),
        response_body: String::from_utf8_lossy(kept).into_owned(),
        response_cut: a.cut || a.body.len() > KEPT_ANSWER_BYTES,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dispatch::sign;

    fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn signatures_and_subscription_headers_are_masked() {
        let extra = pairs(&[("X-Api-Token", "hunter2")]);
        let signed = sign::sign(
            "{}".into(),
            "res_1",
            1_700_000_000,
            "key",
            Some("old"),
            &extra,
        );
        let e = exchange("https://s.example/", &signed.headers, None);
        let text = serde_json::to_string(&e).unwrap();
        for secret in ["hunter2", "HMAC-SHA256 ", "v1,"] {
            assert!(!text.contains(secret), "{secret} shown in {text}");
        }
        let get = |name: &str| {
            e.request_headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(get("webhook-id"), Some("res_1"));
        assert_eq!(get("webhook-timestamp"), Some("1700000000"));
        assert_eq!(get("content-type"), Some("application/json"));
        assert_eq!(get("authorization"), Some(MASKED));
        assert_eq!(get("x-edgehook-previous-authorization"), Some(MASKED));
        assert_eq!(get("x-api-token"), Some(MASKED));
    }

    #[test]
    fn keeps_the_first_4_kib_of_the_answer() {
        let headers = pairs(&[("content-type", "text/plain")]);
        let body = vec![b'a'; KEPT_ANSWER_BYTES + 1];
        let answered = |body: &'static [u8], cut| {
            Some(Answered {
                headers: &headers,
                body,
                cut,
            })
        };
        let big = body.leak();
        let e = exchange("u", &[], answered(big, false));
        assert_eq!(e.response_body.len(), KEPT_ANSWER_BYTES);
        assert!(e.response_cut);
        assert_eq!(e.response_headers, headers);
        let e = exchange("u", &[], answered(b"nope", false));
        assert_eq!((e.response_body.as_str(), e.response_cut), ("nope", false));
        assert!(exchange("u", &[], answered(b"", true)).response_cut);
    }
}
