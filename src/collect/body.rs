//! Bodies that are not JSON (`collectors[].accept`): which kind a request's
//! `Content-Type` names, and the JSON payload each kind becomes. The signature is checked
//! over the raw bytes before any of this runs; this only shapes what is recorded.
//!
//! - `form` (`application/x-www-form-urlencoded`): an object of the fields in order,
//!   a repeated name an array of its values; a `payload` field holding a JSON object or
//!   array (Slack's interactive messages) is that JSON, not a string.
//! - `multipart` (`multipart/form-data`): text fields as for `form`; each file is stored
//!   in R2 beside the record and referenced by `{"filename","contentType","size","key"}`.
//! - `text` (`text/*`, XML): `{"contentType","body"}` with the body as UTF-8 text.
//! - `binary` (anything else, or no `Content-Type`): `{"contentType","body","encoding":
//!   "base64"}`; a `text` body that is not UTF-8 goes this way too when `binary` is taken.

use base64::Engine;
use serde::Deserialize;
use serde_json::map::Entry;
use serde_json::{Map, Value, json};

use crate::error::{ApiError, ErrorCode};

/// A kind of body a collector takes (`accept = ["json", ...]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BodyKind {
    /// `application/json`, `application/*+json`: recorded as sent.
    Json,
    /// `application/x-www-form-urlencoded`.
    Form,
    /// `multipart/form-data`.
    Multipart,
    /// `text/*`, `application/xml`, `application/*+xml`.
    Text,
    /// Any other type, or none.
    Binary,
}

impl BodyKind {
    /// Its name in the config.
    pub fn name(self) -> &'static str {
        match self {
            BodyKind::Json => "json",
            BodyKind::Form => "form",
            BodyKind::Multipart => "multipart",
            BodyKind::Text => "text",
            BodyKind::Binary => "binary",
        }
    }

    /// The media types it stands for, as a `415` names them.
    fn media_types(self) -> &'static str {
        match self {
            BodyKind::Json => "application/json (or application/*+json)",
            BodyKind::Form => "application/x-www-form-urlencoded",
            BodyKind::Multipart => "multipart/form-data",
            BodyKind::Text => "text/* or XML",
            BodyKind::Binary => "any other type",
        }
    }
}

/// The default `accept`: JSON only.
pub fn default_accept() -> Vec<BodyKind> {
    vec![BodyKind::Json]
}

/// The media type of a `Content-Type` value, lower case, without parameters.
fn essence(content_type: &str) -> String {
    content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase()
}

/// Which of `accept` takes a body of `content_type`, else `415 unsupported_media_type`
/// naming the types the collector takes.
pub fn classify(content_type: Option<&str>, accept: &[BodyKind]) -> Result<BodyKind, ApiError> {
    let essence = content_type.map(essence).unwrap_or_default();
    let named = if essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
    {
        Some(BodyKind::Json)
    } else if essence == "application/x-www-form-urlencoded" {
        Some(BodyKind::Form)
    } else if essence == "multipart/form-data" {
        Some(BodyKind::Multipart)
    } else if essence.starts_with("text/")
        || essence == "application/xml"
        || (essence.starts_with("application/") && essence.ends_with("+xml"))
    {
        Some(BodyKind::Text)
    } else {
        None
    };
    // A type with a kind of its own goes there; any type the collector has no kind for
    // is `binary` when that is taken (a text type too: recorded exactly, in base64).
    match named {
        Some(kind) if accept.contains(&kind) => Ok(kind),
        _ if accept.contains(&BodyKind::Binary) => Ok(BodyKind::Binary),
        _ => Err(unsupported(accept)),
    }
}

fn unsupported(accept: &[BodyKind]) -> ApiError {
    let types: Vec<&str> = accept.iter().map(|k| k.media_types()).collect();
    let message = if accept == [BodyKind::Json] {
        "the body must be JSON sent with Content-Type: application/json".to_string()
    } else {
        format!("this collector takes bodies of type {}", types.join(", "))
    };
    ApiError::new(ErrorCode::UnsupportedMediaType, message)
}

/// A file of a `multipart` body, stored in R2 beside the record before it is queued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    /// Where it goes: `attachments/<collector>/<record id>/<n>`.
    pub key: String,
    /// The part's `Content-Type`, if it gave one.
    pub content_type: Option<String>,
    /// The file's bytes.
    pub bytes: Vec<u8>,
}

/// The R2 key of file `n` (from 0) of record `id`.
pub fn attachment_key(collector: &str, id: &str, n: usize) -> String {
    format!("{}{n}", attachments_prefix(collector, id))
}

/// The R2 prefix of record `id`'s files.
pub fn attachments_prefix(collector: &str, id: &str) -> String {
    format!("attachments/{collector}/{id}/")
}

/// A non-JSON body made JSON: the payload the steps and the record see, and the files
/// to store first.
#[derive(Debug, Clone, PartialEq)]
pub struct Decoded {
    /// The JSON object the record carries: fields, text or base64, file references.
    pub payload: Value,
    /// The files of a `multipart` body.
    pub attachments: Vec<Attachment>,
}

/// `400 invalid_body`: the body is not what its `Content-Type` says.
fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::new(ErrorCode::InvalidBody, message)
}

/// Makes a body of `kind` (not [`BodyKind::Json`]) a JSON payload; files of a multipart
/// body are keyed under `collector`/`id`. The work is linear in the body's size.
pub async fn decode(
    kind: BodyKind,
    content_type: Option<&str>,
    body: &[u8],
    can_be_binary: bool,
    collector: &str,
    id: &str,
) -> Result<Decoded, ApiError> {
    let payload = match kind {
        BodyKind::Json => return Err(ApiError::internal("decode called on a JSON body")),
        BodyKind::Form => form(body),
        BodyKind::Multipart => {
            return multipart(content_type.unwrap_or_default(), body, collector, id).await;
        }
        BodyKind::Text => match simdutf8::basic::from_utf8(body) {
            Ok(text) => json!({"contentType": content_type, "body": text}),
            Err(_) if can_be_binary => binary(content_type, body),
            Err(_) => return Err(invalid("a text body must be UTF-8")),
        },
        BodyKind::Binary => binary(content_type, body),
    };
    Ok(Decoded {
        payload,
        attachments: Vec::new(),
    })
}

fn binary(content_type: Option<&str>, body: &[u8]) -> Value {
    let encoded = base64::engine::general_purpose::STANDARD.encode(body);
    json!({"contentType": content_type, "body": encoded, "encoding": "base64"})
}

/// Adds `value` under `name`, making a repeated name an array of its values in order.
/// Shared with the `request` record's `queryParameters`.
pub fn insert_repeated(object: &mut Map<String, Value>, name: &str, value: Value) {
    match object.entry(name) {
        Entry::Vacant(slot) => {
            slot.insert(value);
        }
        Entry::Occupied(mut slot) => match slot.get_mut() {
            Value::Array(values) => values.push(value),
            first => *first = Value::Array(vec![first.take(), value]),
        },
    }
}

/// A form field's value: a `payload` field holding a JSON object or array is that JSON
/// (Slack sends interactive payloads so), anything else its text.
fn field_value(name: &str, value: String) -> Value {
    if name == "payload"
        && value.trim_start().starts_with(['{', '['])
        && let Ok(parsed) = crate::json::parse(value.as_bytes())
    {
        return parsed;
    }
    Value::String(value)
}

/// `application/x-www-form-urlencoded` as an object (names and values decoded, `+` a space).
fn form(body: &[u8]) -> Value {
    let mut object = Map::new();
    for (name, value) in url::form_urlencoded::parse(body) {
        let value = field_value(&name, value.into_owned());
        insert_repeated(&mut object, &name, value);
    }
    Value::Object(object)
}

async fn multipart(
    content_type: &str,
    body: &[u8],
    collector: &str,
    id: &str,
) -> Result<Decoded, ApiError> {
    let boundary = multer::parse_boundary(content_type)
        .map_err(|_| invalid("a multipart/form-data body needs a boundary parameter"))?;
    let chunk = bytes::Bytes::copy_from_slice(body);
    let stream =
        futures_util::stream::once(async move { Ok::<_, std::convert::Infallible>(chunk) });
    let mut parts = multer::Multipart::new(stream, boundary);
    let mut object = Map::new();
    let mut attachments = Vec::new();
    let broken = |e: multer::Error| invalid(format!("the multipart body is malformed: {e}"));
    while let Some(field) = parts.next_field().await.map_err(broken)? {
        let name = field.name().unwrap_or_default().to_string();
        let filename = field.file_name().map(str::to_string);
        let part_type = field.content_type().map(std::string::ToString::to_string);
        let data = field.bytes().await.map_err(broken)?;
        let value = match filename {
            None => match String::from_utf8(data.to_vec()) {
                Ok(text) => field_value(&name, text),
                Err(_) => {
                    return Err(invalid(format!(
                        "field {name:?} is not UTF-8 text and has no filename"
                    )));
                }
            },
            Some(filename) => {
                let key = attachment_key(collector, id, attachments.len());
                let reference = json!({
                    "filename": filename,
                    "contentType": part_type,
                    "size": data.len(),
                    "key": key,
                });
                attachments.push(Attachment {
                    key,
                    content_type: part_type,
                    bytes: data.to_vec(),
                });
                reference
            }
        };
        insert_repeated(&mut object, &name, value);
    }
    Ok(Decoded {
        payload: Value::Object(object),
        attachments,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use BodyKind::*;
    use futures_executor::block_on;

    #[test]
    fn json_only_by_default_with_todays_message() {
        let accept = default_accept();
        assert_eq!(classify(Some("application/json"), &accept), Ok(Json));
        assert_eq!(
            classify(Some("Application/JSON; charset=utf-8"), &accept),
            Ok(Json)
        );
        assert_eq!(
            classify(Some("application/cloudevents+json"), &accept),
            Ok(Json)
        );
        for bad in [
            None,
            Some("text/plain"),
            Some("application/x-www-form-urlencoded"),
        ] {
            let e = classify(bad, &accept).unwrap_err();
            assert_eq!((e.status(), e.code), (415, ErrorCode::UnsupportedMediaType));
            assert!(e.message.contains("application/json"), "{}", e.message);
        }
    }

    #[test]
    fn each_type_goes_to_its_kind_and_415_names_the_accepted_ones() {
        let accept = [Json, Form, Multipart, Text];
        let kind = |ct| classify(Some(ct), &accept);
        assert_eq!(kind("application/x-www-form-urlencoded"), Ok(Form));
        assert_eq!(kind("multipart/form-data; boundary=x"), Ok(Multipart));
        assert_eq!(kind("text/plain; charset=utf-8"), Ok(Text));
        assert_eq!(kind("application/xml"), Ok(Text));
        assert_eq!(kind("application/atom+xml"), Ok(Text));
        let e = kind("application/pdf").unwrap_err();
        assert_eq!(e.status(), 415);
        for named in [
            "application/json",
            "x-www-form-urlencoded",
            "multipart/form-data",
            "text/*",
        ] {
            assert!(e.message.contains(named), "{}", e.message);
        }
        let with_binary = [Form, Binary];
        assert_eq!(classify(Some("application/pdf"), &with_binary), Ok(Binary));
        assert_eq!(classify(None, &with_binary), Ok(Binary));
        assert_eq!(classify(Some("text/plain"), &with_binary), Ok(Binary));
        assert_eq!(classify(Some("application/json"), &with_binary), Ok(Binary));
    }

    fn decode_now(kind: BodyKind, ct: &str, body: &[u8]) -> Result<Decoded, ApiError> {
        block_on(decode(kind, Some(ct), body, false, "c", "ID"))
    }

    #[test]
    fn form_fields_become_an_object_repeated_names_arrays() {
        let d = decode_now(
            Form,
            "application/x-www-form-urlencoded",
            b"a=1&b=x+y&a=2&c=%E2%9C%93&a=3&e=",
        )
        .unwrap();
        assert_eq!(
            d.payload.to_string(),
            r#"{"a":["1","2","3"],"b":"x y","c":"✓","e":""}"#
        );
        assert!(d.attachments.is_empty());
    }

    #[test]
    fn slacks_payload_field_is_parsed_json() {
        let body = "payload=%7B%22type%22%3A%22block_actions%22%2C%22user%22%3A%7B%22id%22%3A%22U1%22%7D%7D&x=%7Bnot";
        let d = decode_now(Form, "application/x-www-form-urlencoded", body.as_bytes()).unwrap();
        assert_eq!(
            d.payload,
            json!({"payload": {"type": "block_actions", "user": {"id": "U1"}}, "x": "{not"})
        );
        // Not JSON after all: kept as the text it is.
        let d = decode_now(
            Form,
            "application/x-www-form-urlencoded",
            b"payload=%7Bnope",
        )
        .unwrap();
        assert_eq!(d.payload, json!({"payload": "{nope"}));
    }

    #[test]
    fn text_is_recorded_with_its_type_and_binary_in_base64() {
        let d = decode_now(Text, "application/xml", b"<a>\xc3\xa9</a>").unwrap();
        assert_eq!(
            d.payload,
            json!({"contentType": "application/xml", "body": "<a>é</a>"})
        );
        let d = decode_now(Binary, "application/octet-stream", &[0, 255, 1]).unwrap();
        assert_eq!(
            d.payload,
            json!({"contentType": "application/octet-stream", "body": "AP8B", "encoding": "base64"})
        );
        let e = decode_now(Text, "text/plain", &[0xff]).unwrap_err();
        assert_eq!((e.status(), e.code), (400, ErrorCode::InvalidBody));
        let d = block_on(decode(Text, Some("text/plain"), &[0xff], true, "c", "ID")).unwrap();
        assert_eq!(d.payload["encoding"], "base64");
        let d = block_on(decode(Binary, None, b"x", true, "c", "ID")).unwrap();
        assert_eq!(
            d.payload,
            json!({"contentType": null, "body": "eA==", "encoding": "base64"})
        );
    }

    #[test]
    fn multipart_text_fields_and_files_referenced() {
        let body = "--XyZ\r\n\
            Content-Disposition: form-data; name=\"from\"\r\n\r\n\
            a@example.com\r\n\
            --XyZ\r\n\
            Content-Disposition: form-data; name=\"to\"\r\n\r\n\
            b@example.com\r\n\
            --XyZ\r\n\
            Content-Disposition: form-data; name=\"to\"\r\n\r\n\
            c@example.com\r\n\
            --XyZ\r\n\
            Content-Disposition: form-data; name=\"attachment\"; filename=\"r.bin\"\r\n\
            Content-Type: application/octet-stream\r\n\r\n\
            \x00\x01\x02\r\n\
            --XyZ--\r\n";
        let d = decode_now(
            Multipart,
            "multipart/form-data; boundary=XyZ",
            body.as_bytes(),
        )
        .unwrap();
        assert_eq!(
            d.payload,
            json!({
                "from": "a@example.com",
                "to": ["b@example.com", "c@example.com"],
                "attachment": {"filename": "r.bin", "contentType": "application/octet-stream",
                    "size": 3, "key": "attachments/c/ID/0"},
            })
        );
        assert_eq!(
            d.attachments,
            vec![Attachment {
                key: "attachments/c/ID/0".into(),
                content_type: Some("application/octet-stream".into()),
                bytes: vec![0, 1, 2],
            }]
        );
    }

    #[test]
    fn malformed_multipart_is_400() {
        for (ct, body) in [
            ("multipart/form-data", "--x\r\n\r\n"),
            (
                "multipart/form-data; boundary=x",
                "--x\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nunterminated",
            ),
        ] {
            let e = decode_now(Multipart, ct, body.as_bytes()).unwrap_err();
            assert_eq!(
                (e.status(), e.code),
                (400, ErrorCode::InvalidBody),
                "{ct} {body:?}"
            );
        }
    }
}
