//! Replay (`POST /admin/replay`): archived records of a collector published again as
//! events. This module is the pure part: the request's checks, the replay's id, the ids
//! derived for what it publishes, and what one step takes from a batch's lines. The
//! glue that reads D1 and R2 and publishes is [`super::replay_step`]; the routes are in
//! `http/replays.rs`.
//!
//! A record's time is the time its batch was archived (`batches.created_at`, what
//! `GET /admin/batches` lists), so a replay of `[from, to)` reads whole batches and a
//! batch is in or out as a whole. Ids derived from (replay id, record) make a step that
//! runs twice publish nothing new the second time.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::{reserved_event_type, valid_event_type};
use crate::error::{ApiError, ErrorCode};
use crate::ids;

/// The longest range one replay may cover: a mistaken `from = 0` should not read an
/// archive's whole history.
pub const MAX_RANGE_SECS: i64 = 31 * 86_400;

/// Records one step publishes unless `dispatch.replay_chunk` says otherwise.
pub const DEFAULT_CHUNK: u32 = 100;

/// The largest `dispatch.replay_chunk`.
pub const MAX_CHUNK: u32 = 1000;

/// Most batch objects one step opens, whatever their size: a step stays one bounded
/// queue invocation even when batches hold a record each.
pub const MAX_OBJECTS_PER_STEP: usize = 20;

/// Most JSON bytes of records one step publishes (it always publishes at least one).
pub const MAX_STEP_BYTES: usize = 4 * 1024 * 1024;

/// A record whose JSON is longer than this is skipped and counted: a result's payload
/// crosses to D1 inside a JSON list parameter, where escaping can double it, and D1
/// refuses a string or a row over 2 MB.
pub const MAX_RECORD_BYTES: usize = 512 * 1024;

/// Steps that fail in a row before the replay is `failed`.
pub const MAX_FAILURES: u32 = 10;

/// Most subscriptions a replay may list.
pub const MAX_SUBSCRIPTIONS: usize = 100;

/// `POST /admin/replay`'s body.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ReplayRequest {
    /// The collector whose archive is read.
    pub collector: String,
    /// Start of the range (batches archived at or after), Unix seconds.
    pub from: i64,
    /// End of the range (batches archived before), Unix seconds.
    pub to: i64,
    /// The type of the events published.
    pub event_type: String,
    /// Only these subscriptions (each must subscribe to `event_type`); every subscriber
    /// of `event_type` when absent.
    #[serde(default)]
    pub subscriptions: Option<Vec<String>>,
    /// The replay's id, chosen by the client: the same id again answers that replay.
    #[serde(default)]
    pub id: Option<String>,
}

fn range_error(message: impl Into<String>) -> ApiError {
    ApiError::new(ErrorCode::InvalidReplayRange, message)
}

impl ReplayRequest {
    /// Checks what can be checked without D1: the range, the event type, the list's
    /// shape and the id's.
    pub fn check(&self, now_secs: i64) -> Result<(), ApiError> {
        if !valid_event_type(&self.event_type) {
            return Err(ApiError::new(
                ErrorCode::InvalidRequest,
                format!(
                    "event_type {:?} is not an event type (1-128 of A-Z a-z 0-9 . _ : -)",
                    self.event_type
                ),
            ));
        }
        if reserved_event_type(&self.event_type) {
            return Err(ApiError::new(
                ErrorCode::ReservedEventType,
                format!(
                    "{} is an event type edgehook publishes itself; a replay cannot",
                    self.event_type
                ),
            ));
        }
        if self.from < 0 || self.from >= self.to {
            return Err(range_error(format!(
                "from ({}) must be Unix seconds before to ({})",
                self.from, self.to
            )));
        }
        if self.to > now_secs + 60 {
            return Err(range_error(format!(
                "to ({}) is in the future: a replay reads what is already archived",
                self.to
            )));
        }
        if self.to - self.from > MAX_RANGE_SECS {
            return Err(range_error(format!(
                "the range is {} s; a replay covers at most {MAX_RANGE_SECS} s (31 days): split it",
                self.to - self.from
            )));
        }
        if let Some(list) = &self.subscriptions {
            if list.is_empty() || list.len() > MAX_SUBSCRIPTIONS {
                return Err(ApiError::new(
                    ErrorCode::InvalidRequest,
                    format!(
                        "subscriptions must list 1 to {MAX_SUBSCRIPTIONS} ids, or be left out for every subscriber"
                    ),
                ));
            }
            if let Some(dup) = list
                .iter()
                .enumerate()
                .find(|(i, s)| list[..*i].contains(s))
            {
                return Err(ApiError::new(
                    ErrorCode::InvalidRequest,
                    format!("subscriptions lists {:?} twice", dup.1),
                ));
            }
        }
        if let Some(id) = &self.id {
            check_id(id)?;
        }
        Ok(())
    }
}

/// A client-chosen replay id: 1–64 of `A-Z a-z 0-9 _ -`.
fn check_id(id: &str) -> Result<(), ApiError> {
    let ok = (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(ApiError::new(
            ErrorCode::InvalidRequest,
            format!("id {id:?} must be 1 to 64 of A-Z a-z 0-9 _ -"),
        ))
    }
}

/// The first 10 bytes of SHA-256 over `parts`, each followed by a NUL (so `("ab","c")`
/// and `("a","bc")` differ).
fn digest10(parts: &[&str]) -> [u8; 10] {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0]);
    }
    let d = h.finalize();
    let mut out = [0u8; 10];
    out.copy_from_slice(&d[..10]);
    out
}

/// The replay's id: the client's `id`; else one derived from its `Idempotency-Key`
/// (the same key always names the same replay); else a new one from `random`.
pub fn replay_id(
    id: Option<&str>,
    idempotency_key: Option<&str>,
    now_ms: u64,
    random: [u8; 10],
) -> String {
    match (id, idempotency_key) {
        (Some(id), _) => id.to_string(),
        (None, Some(key)) => format!("rpl_{}", ids::ulid(0, digest10(&["idempotency", key]))),
        (None, None) => format!("rpl_{}", ids::ulid(now_ms, random)),
    }
}

/// The id of the event replay `replay` publishes for record `record` (its id, or
/// `<batch key>#<line>` when the record's id is not known), archived at `at_ms`: a
/// ULID of that time whose random part is a digest of both, so the same record in the
/// same replay is always the same event.
pub fn event_id(replay: &str, record: &str, at_ms: u64) -> String {
    format!(
        "evt_{}",
        ids::ulid(at_ms, digest10(&["replay", replay, record]))
    )
}

/// The id of the result of event `event` for subscription `subscription`.
pub fn result_id(event: &str, subscription: &str, at_ms: u64) -> String {
    format!(
        "res_{}",
        ids::ulid(at_ms, digest10(&["result", event, subscription]))
    )
}

/// The id of the `replay.completed` event of replay `replay`.
pub fn completed_event_id(replay: &str, created_ms: u64) -> String {
    format!(
        "evt_{}",
        ids::ulid(created_ms, digest10(&["replay.completed", replay]))
    )
}

/// How far a replay got: the batch it is in (its write time and key) and the next
/// line to read there. Batches are read in (created_at, key) order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    /// The batch's `created_at`, Unix seconds.
    pub at: i64,
    /// The batch's key.
    pub key: String,
    /// The next line to read (the batch's line count once it is read to its end).
    pub line: usize,
}

/// One record a step publishes.
#[derive(Debug, Clone, PartialEq)]
pub struct Taken {
    /// Its id, or `<batch key>#<line>`.
    pub record: String,
    /// The event's payload.
    pub payload: Map<String, Value>,
    /// Its JSON text's length.
    pub bytes: usize,
}

/// What a step takes from one batch.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Take {
    /// The records to publish, in line order.
    pub records: Vec<Taken>,
    /// Lines that cannot be published: not a JSON object, or over [`MAX_RECORD_BYTES`].
    pub skipped: u64,
    /// The next line to read.
    pub next_line: usize,
}

/// Takes lines of a batch from `from_line`: at most `budget` lines (published or
/// skipped) and [`MAX_STEP_BYTES`] less `bytes_used` of records, but always at least
/// one line, so a step moves forward. `ids` are the lines' record ids
/// ([`crate::collect::browse::line_ids`]).
pub fn take(
    key: &str,
    lines: &[&[u8]],
    ids: &[Option<String>],
    from_line: usize,
    budget: usize,
    bytes_used: usize,
) -> Take {
    let mut out = Take {
        next_line: from_line,
        ..Take::default()
    };
    let mut bytes = bytes_used;
    while out.next_line < lines.len() && out.next_line - from_line < budget {
        let i = out.next_line;
        let line = lines[i];
        if out.next_line > from_line && bytes + line.len() > MAX_STEP_BYTES {
            break;
        }
        out.next_line += 1;
        let payload = (line.len() <= MAX_RECORD_BYTES)
            .then(|| serde_json::from_slice::<Value>(line).ok())
            .flatten();
        match payload {
            Some(Value::Object(payload)) => {
                bytes += line.len();
                out.records.push(Taken {
                    record: ids
                        .get(i)
                        .cloned()
                        .flatten()
                        .unwrap_or_else(|| format!("{key}#{i}")),
                    payload,
                    bytes: line.len(),
                });
            }
            _ => out.skipped += 1,
        }
    }
    out
}

/// What the cursor says of a batch about to be read: the line to start from.
pub fn start_line(cursor: Option<&Cursor>, at: i64, key: &str) -> usize {
    match cursor {
        Some(c) if c.at == at && c.key == key => c.line,
        _ => 0,
    }
}

/// A replay's status after a step failed: `failed` once [`MAX_FAILURES`] failed in a row.
pub fn status_after_failure(failures: u32) -> &'static str {
    if failures >= MAX_FAILURES {
        "failed"
    } else {
        "running"
    }
}

/// Current [`ReplayMessage::v`].
pub const REPLAY_MESSAGE_VERSION: u32 = 1;

/// A `DELIVERIES` message asking for the next step of a replay (the queue carries
/// deliveries and replay steps; a step's message has `replay`, a delivery's
/// `result_id`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplayMessage {
    /// The layout's version ([`REPLAY_MESSAGE_VERSION`]).
    pub v: u32,
    /// The replay's id.
    pub replay: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn request(from: i64, to: i64, event_type: &str) -> ReplayRequest {
        ReplayRequest {
            collector: "amo".into(),
            from,
            to,
            event_type: event_type.into(),
            subscriptions: None,
            id: None,
        }
    }

    #[test]
    fn checks_the_range_the_type_and_the_list() {
        let now = 1_800_000_000;
        assert!(
            request(now - 3600, now, "order.replayed")
                .check(now)
                .is_ok()
        );
        for (r, code) in [
            (request(now, now, "a"), ErrorCode::InvalidReplayRange),
            (request(now, now - 1, "a"), ErrorCode::InvalidReplayRange),
            (request(-5, now, "a"), ErrorCode::InvalidReplayRange),
            (
                request(now - 10, now + 3600, "a"),
                ErrorCode::InvalidReplayRange,
            ),
            (
                request(now - MAX_RANGE_SECS - 1, now, "a"),
                ErrorCode::InvalidReplayRange,
            ),
            (
                request(now - 10, now, "no spaces"),
                ErrorCode::InvalidRequest,
            ),
            (request(now - 10, now, ""), ErrorCode::InvalidRequest),
            (
                request(now - 10, now, "replay.completed"),
                ErrorCode::ReservedEventType,
            ),
            (
                request(now - 10, now, "Rule.Matched"),
                ErrorCode::ReservedEventType,
            ),
        ] {
            assert_eq!(r.check(now).unwrap_err().code, code, "{r:?}");
        }
        assert!(request(now - MAX_RANGE_SECS, now, "a").check(now).is_ok());
        let mut r = request(now - 10, now, "a");
        r.subscriptions = Some(vec![]);
        assert!(r.check(now).is_err());
        r.subscriptions = Some(vec!["sub_a".into(), "sub_b".into(), "sub_a".into()]);
        assert!(r.check(now).unwrap_err().message.contains("twice"));
        r.subscriptions = Some(vec!["sub_a".into()]);
        assert!(r.check(now).is_ok());
        r.id = Some("nightly/2026".into());
        assert!(r.check(now).is_err());
        r.id = Some("nightly-2026_12".into());
        assert!(r.check(now).is_ok());
    }

    #[test]
    fn the_same_key_names_the_same_replay() {
        let a = replay_id(None, Some("k1"), 1, [1; 10]);
        assert_eq!(a, replay_id(None, Some("k1"), 2, [2; 10]));
        assert_ne!(a, replay_id(None, Some("k2"), 1, [1; 10]));
        assert!(a.starts_with("rpl_") && a.len() == 30);
        assert_eq!(replay_id(Some("mine"), Some("k1"), 1, [1; 10]), "mine");
        assert_ne!(
            replay_id(None, None, 1, [1; 10]),
            replay_id(None, None, 1, [2; 10])
        );
    }

    #[test]
    fn derived_ids_are_stable_distinct_and_dated() {
        let e = event_id("rpl_1", "01REC", 1_700_000_000_000);
        assert_eq!(e, event_id("rpl_1", "01REC", 1_700_000_000_000));
        assert_ne!(e, event_id("rpl_2", "01REC", 1_700_000_000_000));
        assert_ne!(e, event_id("rpl_1", "01REC2", 1_700_000_000_000));
        // Parts are separated: ("rpl_1", "2x") is not ("rpl_12", "x").
        assert_ne!(event_id("rpl_1", "2x", 0), event_id("rpl_12", "x", 0));
        assert!(e.starts_with(&format!(
            "evt_{}",
            &ids::ulid(1_700_000_000_000, [0; 10])[..10]
        )));
        let r = result_id(&e, "sub_a", 1);
        assert_eq!(r, result_id(&e, "sub_a", 1));
        assert_ne!(r, result_id(&e, "sub_b", 1));
        assert_ne!(
            completed_event_id("rpl_1", 5),
            completed_event_id("rpl_2", 5)
        );
        assert_ne!(completed_event_id("rpl_1", 5), event_id("rpl_1", "", 5));
    }

    #[test]
    fn a_step_takes_at_most_its_budget_and_skips_what_is_not_an_object() {
        let owned = [r#"{"n":0}"#, "[1]", r#"{"n":2}"#, "not json", r#"{"n":4}"#];
        let lines: Vec<&[u8]> = owned.iter().map(|l| l.as_bytes()).collect();
        let ids = vec![
            Some("A".to_string()),
            None,
            None,
            None,
            Some("E".to_string()),
        ];
        let t = take("k", &lines, &ids, 0, 3, 0);
        assert_eq!(t.next_line, 3);
        assert_eq!(t.skipped, 1);
        let records: Vec<&str> = t.records.iter().map(|r| r.record.as_str()).collect();
        assert_eq!(records, ["A", "k#2"]);
        assert_eq!(
            t.records[1].payload,
            json!({"n": 2}).as_object().unwrap().clone()
        );
        let t = take("k", &lines, &ids, 3, 3, 0);
        assert_eq!((t.next_line, t.skipped, t.records.len()), (5, 1, 1));
        assert_eq!(t.records[0].record, "E");
        let t = take("k", &lines, &ids, 5, 3, 0);
        assert_eq!((t.next_line, t.records.len()), (5, 0));
    }

    #[test]
    fn a_step_stops_at_its_byte_bound_but_always_moves() {
        let big = format!("{{\"x\":\"{}\"}}", "a".repeat(MAX_RECORD_BYTES - 10));
        let lines: Vec<&[u8]> = vec![big.as_bytes(); 10];
        let ids = vec![None; 10];
        let t = take("k", &lines, &ids, 0, 100, 0);
        assert_eq!(t.records.len(), MAX_STEP_BYTES / MAX_RECORD_BYTES);
        // Full already: still one line, so the replay never stalls.
        let t = take("k", &lines, &ids, 8, 100, MAX_STEP_BYTES);
        assert_eq!((t.records.len(), t.next_line), (1, 9));
        let huge = format!("{{\"x\":\"{}\"}}", "a".repeat(MAX_RECORD_BYTES));
        let t = take("k", &[huge.as_bytes()], &[None], 0, 100, 0);
        assert_eq!((t.records.len(), t.skipped), (0, 1));
    }

    #[test]
    fn the_cursor_resumes_its_own_batch_only() {
        let c = Cursor {
            at: 10,
            key: "b".into(),
            line: 7,
        };
        assert_eq!(start_line(Some(&c), 10, "b"), 7);
        assert_eq!(start_line(Some(&c), 10, "c"), 0);
        assert_eq!(start_line(None, 10, "b"), 0);
    }

    #[test]
    fn ten_failures_in_a_row_fail_the_replay() {
        assert_eq!(status_after_failure(1), "running");
        assert_eq!(status_after_failure(MAX_FAILURES - 1), "running");
        assert_eq!(status_after_failure(MAX_FAILURES), "failed");
    }

    #[test]
    fn step_messages_are_told_from_deliveries() {
        let step: Result<ReplayMessage, _> =
            serde_json::from_value(json!({"v": 1, "replay": "rpl_1"}));
        assert!(step.is_ok());
        let delivery: Result<ReplayMessage, _> =
            serde_json::from_value(json!({"v": 1, "result_id": "res_1", "attempt": 1}));
        assert!(delivery.is_err());
    }
}
