//! Records: what one accepted webhook becomes, and its NDJSON line.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::ApiError;
use crate::json;
use crate::time::Utc;

/// What a collector's NDJSON lines hold.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// Each line is the sanitized JSON body.
    #[default]
    Payload,
    /// Each line is `{"id","timeReceived","collector","path","method","queryParameters","payload"}`.
    Request,
}

/// One accepted webhook on its way through the `INGEST` queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueuedRecord {
    /// Message layout version.
    pub v: u32,
    /// The record id answered to the sender (a ULID).
    pub id: String,
    /// The collector that accepted the record (its batch's prefix).
    pub collector: String,
    /// When edgehook accepted it, Unix milliseconds.
    pub received_at: u64,
    /// The NDJSON line, without the newline; empty when `spill` is set.
    #[serde(default)]
    pub line: String,
    /// R2 key holding the line when it was too big for a queue message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spill: Option<String>,
    /// The untouched body, for collectors with `keep_original`; empty when spilled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub original: Option<String>,
    /// R2 key holding `original` when the message would have been too big.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub original_spill: Option<String>,
    /// The sender's webhook id and its body's digest, for the consumer to drop repeats
    /// (`dedupe = "async"`); `None` without an id, or when the accept path checked it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dedupe: Option<super::idempotency::Keyed>,
}

/// Current [`QueuedRecord::v`].
pub const QUEUED_RECORD_VERSION: u32 = 1;

/// The R2 key a too-big line of record `id` is spilled to.
pub fn spill_key(collector: &str, id: &str) -> String {
    format!("spill/{collector}/{id}.json")
}

/// The R2 key a too-big original body of record `id` is spilled to.
pub fn original_spill_key(collector: &str, id: &str) -> String {
    format!("spill/{collector}/{id}.original")
}

/// The body's text as an NDJSON line exactly as sent, when that is possible: a JSON text
/// without line breaks (inside strings JSON forbids raw ones, so outside strings they
/// are only whitespace), minus surrounding whitespace. `None` when it spans lines.
pub fn single_line(text: &str) -> Option<&str> {
    // memchr looks at a word (or a SIMD vector) at a time; a byte loop was a large share
    // of `accept`'s time on big bodies in wasm (docs/PERFORMANCE.md).
    if memchr::memchr2(b'\n', b'\r', text.as_bytes()).is_some() {
        return None;
    }
    Some(text.trim_matches([' ', '\t']))
}

/// Parses the body as strict JSON ([`crate::json`]): `400 invalid_json` saying where it
/// broke, `400 duplicate_key` naming the member given twice.
pub fn parse_payload(body: &[u8]) -> Result<Value, ApiError> {
    json::parse(body).map_err(ApiError::from)
}

/// Checks a body that is UTF-8 `text` is strict JSON exactly as [`parse_payload`] does,
/// same errors included, without building the tree nor checking the UTF-8 again: for a
/// webhook whose line is the sender's own bytes, the tree would be thrown away.
pub fn check_payload(text: &str) -> Result<(), ApiError> {
    json::check(text).map_err(ApiError::from)
}

/// What a record line says about its request (`format = "request"`).
#[derive(Debug, Clone, Copy)]
pub struct LineRequest<'a> {
    /// HTTP method.
    pub method: &'a str,
    /// Sub-path after the collector name.
    pub sub_path: &'a str,
    /// Query parameters, after steps (pseudonymized ones replaced).
    pub query: &'a [(String, String)],
}

/// Builds the NDJSON line (no trailing newline) of an accepted webhook; `payload` is the
/// payload's JSON text, already on one line.
pub fn line(
    format: Format,
    id: &str,
    collector: &str,
    received_at_ms: u64,
    req: LineRequest<'_>,
    payload: &str,
) -> String {
    match format {
        Format::Payload => payload.to_string(),
        Format::Request => {
            let mut query = Map::new();
            for (k, v) in req.query {
                super::body::insert_repeated(&mut query, k, Value::String(v.clone()));
            }
            let received = i64::try_from(received_at_ms).unwrap_or(i64::MAX);
            let head = serde_json::json!({
                "id": id,
                "timeReceived": Utc::from_millis(received).rfc3339(),
                "collector": collector,
                "path": req.sub_path,
                "method": req.method,
                "queryParameters": query,
            })
            .to_string();
            // Splice the payload text in as the last member, keeping its exact bytes.
            let mut out = String::with_capacity(head.len() + payload.len() + 12);
            out.push_str(&head[..head.len() - 1]);
            out.push_str(",\"payload\":");
            out.push_str(payload);
            out.push('}');
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;
    use crate::inbound::InboundRequest;

    #[test]
    fn payload_lines_keep_order_and_numbers() {
        let body = br#"{"z": 1, "a": 12345678901234567890123, "f": 1.10}"#;
        let v = parse_payload(body).unwrap();
        let req = LineRequest {
            method: "POST",
            sub_path: "/",
            query: &[],
        };
        assert_eq!(
            line(Format::Payload, "id", "c", 0, req, &v.to_string()),
            r#"{"z":1,"a":12345678901234567890123,"f":1.10}"#
        );
        let text = std::str::from_utf8(body).unwrap();
        assert_eq!(single_line(text), Some(text));
        assert_eq!(
            single_line("  {\"a\":\"\\u00e9\"}\t"),
            Some("{\"a\":\"\\u00e9\"}")
        );
        assert_eq!(single_line("{\n\"a\": 1}"), None);
        assert_eq!(single_line("{\"a\":\r1}"), None);
    }

    #[test]
    fn request_lines_carry_the_request() {
        let req = InboundRequest {
            method: "POST".into(),
            sub_path: "/users/42".into(),
            query: "userId=42&tag=a&tag=b&tag=c".into(),
            ..Default::default()
        };
        let query = req.query_pairs();
        let lr = LineRequest {
            method: &req.method,
            sub_path: &req.sub_path,
            query: &query,
        };
        let l = line(
            Format::Request,
            "01ID",
            "portal",
            1_614_265_330_123,
            lr,
            r#"{"k":"v"}"#,
        );
        assert_eq!(
            l,
            r#"{"id":"01ID","timeReceived":"2021-02-25T15:02:10.123Z","collector":"portal","path":"/users/42","method":"POST","queryParameters":{"userId":"42","tag":["a","b","c"]},"payload":{"k":"v"}}"#
        );
    }

    #[test]
    fn malformed_json_is_400() {
        let e = parse_payload(b"{\"a\":").unwrap_err();
        assert_eq!((e.status(), e.code), (400, ErrorCode::InvalidJson));
    }
}
