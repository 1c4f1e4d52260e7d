//! What a subscriber's answer means for its delivery (SPEC.md "Dispatch").
//!
//! | answer | outcome |
//! |---|---|
//! | 2xx `{"version", "matchedRules"?}` (AMO sync) or `{"action":"processed","content"}` | `completed` |
//! | 406, or `{"action":"rejected"}` | `rejected` |
//! | 202, or `{"action":"deferred"}` | `deferred` (waits for a PATCH) |
//! | 2xx `{"action":"error"}` | retry, like the 500 it stands for (AShirt) |
//! | other 2xx with an empty body or another JSON object | `delivered` |
//! | 2xx whose body is not a JSON object, or names an unknown `action` | `failed` (parsing failed) |
//! | 408, 429, 5xx, timeout, network error | retry per schedule (`Retry-After` honoured) |
//! | 410 | `failed`, and the subscription is disabled |
//! | 3xx (redirects are not followed), other 4xx | `failed` at once |
//!
//! Only the first 64 KiB of an answer is read ([`ANSWER_LIMIT`]). A 2xx
//! answer's body is what carries a result, and one cut at the bound cannot be read as
//! one: such an answer is `failed` at once (not retried: the same answer would come back),
//! like an AMO scanner answer that is not JSON; a larger result is sent with a PATCH.
//! Other statuses are classified by their status, whatever their body's length.

use serde_json::Value;

use super::schedule::parse_retry_after;

/// The most of a subscriber's answer edgehook reads (deliveries and tests): 64 KiB.
pub const ANSWER_LIMIT: usize = 64 * 1024;

/// The classification of one attempt.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// A result came back (AMO sync or AShirt processed).
    Completed {
        /// The result to store.
        results: Value,
        /// The `matchedRules` it names.
        matched_rules: Vec<String>,
    },
    /// The subscriber refused the event.
    Rejected,
    /// The subscriber will PATCH the result later.
    Deferred,
    /// Accepted without a result.
    Delivered,
    /// Try again later (at least `retry_after` seconds, when given).
    Retry {
        /// A sentence for the attempt's log: what the subscriber answered, or why it
        /// could not be reached.
        reason: String,
        /// The subscriber's `Retry-After`, in seconds.
        retry_after: Option<u64>,
    },
    /// Give up now.
    Failed {
        /// A sentence for the attempt's log: what the subscriber answered, or why it
        /// could not be reached.
        reason: String,
        /// The subscriber is gone (410): disable the subscription.
        disable: bool,
    },
}

impl Outcome {
    /// The result status this outcome leaves (`pending` while retrying).
    pub fn status(&self) -> &'static str {
        match self {
            Outcome::Completed { .. } => "completed",
            Outcome::Rejected => "rejected",
            Outcome::Deferred => "deferred",
            Outcome::Delivered => "delivered",
            Outcome::Retry { .. } => "pending",
            Outcome::Failed { .. } => "failed",
        }
    }
}

/// Why a 2xx answer whose body went past the bound (`limit` bytes) fails.
pub fn cut_reason(status: u16, limit: usize) -> String {
    format!(
        "the subscriber answered {status} with a body over {limit} bytes, more than edgehook reads; \
         a larger result is sent with PATCH /results/{{id}}"
    )
}

/// Classifies an HTTP answer: its status, its body as read, and whether the body was
/// `cut` at [`ANSWER_LIMIT`].
pub fn classify(
    status: u16,
    body: &[u8],
    cut: bool,
    retry_after: Option<&str>,
    now_secs: i64,
) -> Outcome {
    match status {
        200..=299 if cut => Outcome::Failed {
            reason: cut_reason(status, ANSWER_LIMIT),
            disable: false,
        },
        200..=299 => success(status, body),
        406 => Outcome::Rejected,
        408 | 429 | 500..=599 => Outcome::Retry {
            reason: format!("the subscriber answered {status}"),
            retry_after: retry_after.and_then(|v| parse_retry_after(v, now_secs)),
        },
        410 => Outcome::Failed {
            reason: "the subscriber answered 410 Gone; the subscription is disabled".into(),
            disable: true,
        },
        300..=399 => Outcome::Failed {
            reason: format!("the subscriber answered {status}; redirects are not followed"),
            disable: false,
        },
        _ => Outcome::Failed {
            reason: format!("the subscriber answered {status}"),
            disable: false,
        },
    }
}

/// A network error or timeout: always retried.
pub fn unreachable(reason: impl Into<String>) -> Outcome {
    Outcome::Retry {
        reason: reason.into(),
        retry_after: None,
    }
}

/// The longest part of a subscriber's own error text kept in `last_error`.
const ERROR_TEXT_LIMIT: usize = 500;

/// Why a 2xx answer whose body does not follow the contract fails (AShirt: "regarded as a
/// failure with a parsing failed error").
fn parse_failure(status: u16, what: &str) -> Outcome {
    Outcome::Failed {
        reason: format!(
            "parsing failed: the subscriber answered {status} with {what}; \
             answer an empty body to acknowledge only"
        ),
        disable: false,
    }
}

/// A 2xx answer. An empty body is read by its status (AShirt: "when responding with a
/// status code, leave the body empty"); any other body must be JSON: an object with an
/// `action` (AShirt) or a `version` (AMO), or another object (a plain acknowledgement,
/// `delivered`). A body that is not a JSON object, or an unknown `action`, is a parsing
/// failure; `{"action":"error"}` is an error, retried like the 500 it stands for.
fn success(status: u16, body: &[u8]) -> Outcome {
    if body.iter().all(u8::is_ascii_whitespace) {
        return if status == 202 {
            Outcome::Deferred
        } else {
            Outcome::Delivered
        };
    }
    let map = match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => map,
        Ok(_) => return parse_failure(status, "JSON that is not an object"),
        Err(_) => return parse_failure(status, "a body that is not JSON"),
    };
    match map.get("action") {
        Some(Value::String(a)) if a == "processed" => {
            let results = map.get("content").cloned().unwrap_or(Value::Null);
            let matched_rules = matched_rules(&results);
            Outcome::Completed {
                results,
                matched_rules,
            }
        }
        Some(Value::String(a)) if a == "rejected" => Outcome::Rejected,
        Some(Value::String(a)) if a == "deferred" => Outcome::Deferred,
        Some(Value::String(a)) if a == "error" => {
            let said = match map.get("content") {
                Some(Value::String(c)) if !c.is_empty() => {
                    format!(": {}", c.chars().take(ERROR_TEXT_LIMIT).collect::<String>())
                }
                _ => String::new(),
            };
            Outcome::Retry {
                reason: format!("the subscriber answered {status} with action \"error\"{said}"),
                retry_after: None,
            }
        }
        Some(other) => parse_failure(
            status,
            &format!(
                "an unknown action {}",
                other.to_string().chars().take(64).collect::<String>()
            ),
        ),
        None if map.contains_key("version") => {
            let results = Value::Object(map);
            let matched_rules = matched_rules(&results);
            Outcome::Completed {
                results,
                matched_rules,
            }
        }
        None if status == 202 => Outcome::Deferred,
        None => Outcome::Delivered,
    }
}

crate::refusal! {
    /// Why a subscriber's answer to the test message is not a pass.
    TestFailed
}

/// What the answer to AShirt's test message says: `Ok` for a 2xx whose body is empty or a
/// JSON object not saying `{"status":"error"}`; otherwise why not (the subscriber's own
/// `message` when it sent one).
pub fn test_answer(status: u16, body: &[u8], cut: bool) -> Result<(), TestFailed> {
    if !(200..300).contains(&status) {
        return Err(format!("the subscriber answered {status}").into());
    }
    if cut {
        return Err(cut_reason(status, ANSWER_LIMIT).into());
    }
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(());
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) if map.get("status").and_then(Value::as_str) == Some("error") => {
            Err(match map.get("message").and_then(Value::as_str) {
                Some(m) => format!(
                    "the subscriber reported an error: {}",
                    m.chars().take(ERROR_TEXT_LIMIT).collect::<String>()
                )
                .into(),
                None => "the subscriber reported an error".into(),
            })
        }
        Ok(Value::Object(_)) => Ok(()),
        _ => Err(format!(
            "parsing failed: the subscriber answered {status} with a body that is not a JSON object"
        )
        .into()),
    }
}

/// The rule names of a result's `matchedRules` (strings only).
pub fn matched_rules(results: &Value) -> Vec<String> {
    results
        .get("matchedRules")
        .and_then(Value::as_array)
        .map(|rules| {
            rules
                .iter()
                .filter_map(|r| r.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn c(status: u16, body: &str) -> Outcome {
        classify(status, body.as_bytes(), false, None, 0)
    }

    #[test]
    fn classifies_every_answer_of_the_spec() {
        assert_eq!(
            c(200, r#"{"version":"1.0.0","matchedRules":["r1",2]}"#),
            Outcome::Completed {
                results: json!({"version": "1.0.0", "matchedRules": ["r1", 2]}),
                matched_rules: vec!["r1".into()]
            }
        );
        assert_eq!(
            c(200, r#"{"version":"1.0.0"}"#).status(),
            "completed",
            "AMO's own example answers only a version"
        );
        assert_eq!(
            c(
                200,
                r#"{"action":"processed","content":{"matchedRules":["x"]}}"#
            ),
            Outcome::Completed {
                results: json!({"matchedRules": ["x"]}),
                matched_rules: vec!["x".into()]
            }
        );
        assert_eq!(c(200, r#"{"action":"rejected"}"#), Outcome::Rejected);
        assert_eq!(c(406, ""), Outcome::Rejected);
        assert_eq!(c(202, r#"{"message":"Scan started"}"#), Outcome::Deferred);
        assert_eq!(c(200, r#"{"action":"deferred"}"#), Outcome::Deferred);
        assert_eq!(c(204, ""), Outcome::Delivered);
        assert_eq!(c(200, " \n"), Outcome::Delivered);
        assert_eq!(c(202, ""), Outcome::Deferred);
        assert_eq!(c(200, r#"{"received":true}"#), Outcome::Delivered);
        for s in [408, 429, 500, 502, 503, 599] {
            assert!(matches!(c(s, ""), Outcome::Retry { .. }), "{s}");
        }
        assert!(matches!(c(410, ""), Outcome::Failed { disable: true, .. }));
        for s in [301, 302, 400, 401, 403, 404, 409, 422] {
            assert!(
                matches!(c(s, ""), Outcome::Failed { disable: false, .. }),
                "{s}"
            );
        }
    }

    #[test]
    fn a_2xx_answer_cut_at_the_bound_fails_and_other_statuses_keep_their_meaning() {
        let prefix = br#"{"version":"1.0.0","matchedRules":["r1"],"pad":"xxxx"#;
        for status in [200, 201, 202, 204] {
            let outcome = classify(status, prefix, true, None, 0);
            assert!(
                matches!(&outcome, Outcome::Failed { disable: false, reason } if reason.contains("65536 bytes")),
                "{status}: {outcome:?}"
            );
        }
        // The same bytes whole complete the result.
        assert_eq!(
            c(200, r#"{"version":"1.0.0","matchedRules":["r1"]}"#).status(),
            "completed"
        );
        assert!(matches!(
            classify(503, b"x", true, None, 0),
            Outcome::Retry { .. }
        ));
        assert_eq!(classify(406, b"x", true, None, 0), Outcome::Rejected);
        assert!(matches!(
            classify(410, b"x", true, None, 0),
            Outcome::Failed { disable: true, .. }
        ));
    }

    #[test]
    fn ashirt_error_actions_and_unparseable_2xx_answers_are_not_delivered() {
        assert_eq!(
            c(200, r#"{"action":"error","content":"scanner exploded"}"#),
            Outcome::Retry {
                reason: r#"the subscriber answered 200 with action "error": scanner exploded"#
                    .into(),
                retry_after: None
            }
        );
        assert_eq!(
            c(200, r#"{"action":"error"}"#),
            Outcome::Retry {
                reason: r#"the subscriber answered 200 with action "error""#.into(),
                retry_after: None
            }
        );
        for (body, what) in [
            ("ok", "not JSON"),
            ("<html>", "not JSON"),
            (r#"{"action":"processed""#, "not JSON"),
            ("[1]", "not an object"),
            (r#""done""#, "not an object"),
            (r#"{"action":"finished"}"#, "unknown action \"finished\""),
            (r#"{"action":7}"#, "unknown action 7"),
        ] {
            match c(200, body) {
                Outcome::Failed {
                    reason,
                    disable: false,
                } => assert!(
                    reason.starts_with("parsing failed") && reason.contains(what),
                    "{body}: {reason}"
                ),
                other => panic!("{body}: {other:?}"),
            }
        }
    }

    #[test]
    fn the_test_message_answer_is_ok_only_for_a_2xx_not_saying_error() {
        assert_eq!(test_answer(200, b"", false), Ok(()));
        assert_eq!(test_answer(204, b"", false), Ok(()));
        assert_eq!(test_answer(200, br#"{"status":"ok"}"#, false), Ok(()));
        assert_eq!(
            test_answer(200, br#"{"status":"error","message":"no disk"}"#, false),
            Err("the subscriber reported an error: no disk".into())
        );
        assert_eq!(
            test_answer(200, br#"{"status":"error"}"#, false),
            Err("the subscriber reported an error".into())
        );
        assert!(
            test_answer(200, b"fine", false)
                .unwrap_err()
                .0
                .starts_with("parsing failed")
        );
        assert_eq!(
            test_answer(500, b"", false),
            Err("the subscriber answered 500".into())
        );
        assert!(
            test_answer(200, b"{", true)
                .unwrap_err()
                .0
                .contains("65536")
        );
    }

    #[test]
    fn retry_after_is_read_from_the_answer() {
        assert_eq!(
            classify(429, b"", false, Some("30"), 0),
            Outcome::Retry {
                reason: "the subscriber answered 429".into(),
                retry_after: Some(30)
            }
        );
    }
}
