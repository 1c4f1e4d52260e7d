//! The glue of replays: one step reads the next records of a replay's range from R2
//! (`collect::archived`, the record browser's reader), publishes each as an event
//! through the publish path of `POST /events` ([`super::publish`]) and moves the
//! replay's cursor, then asks for the next step with a `DELIVERIES` message to itself.
//! The decisions (what a step takes, the ids it derives) are [`super::replay`].
//!
//! A step writes its results and its cursor in one D1 batch (a transaction), and the
//! cursor moves only if it still holds what the step read: a step run twice (a message
//! delivered again, the cron resuming a replay that only looked stalled) counts and
//! publishes once. The results' ids are derived from (replay id, record), so even a
//! cursor rewound publishes nothing twice. A step that dies before its batch leaves the
//! replay as it was; the cron asks again for a step of every replay left `running`
//! and unchanged for [`STALLED_SECS`].

use serde_json::{Map, Value, json};
use worker::{D1Database, Env, MessageBuilder, MessageExt, RawMessage};

use super::publish::{Published, alert_slack, results_for, send_out};
use super::replay::{self, Cursor, REPLAY_MESSAGE_VERSION, ReplayMessage, Taken};
use super::{DispatchError, REPLAY_COMPLETED};
use crate::app::App;
use crate::collect::archived::{self, ArchiveError};
use crate::error::{BindingError, During};
use crate::log;
use crate::message::{decode_body, retry_later};
use crate::store::replays::{self, Replay, StepDone};
use crate::store::results::{self, NewResult};
use crate::store::subscriptions;

/// A running replay unchanged this long is asked for a step again by the cron.
pub const STALLED_SECS: i64 = 120;

/// Asks for the next step of replay `id`.
pub async fn request_step(env: &Env, id: &str) -> Result<(), BindingError> {
    let queue = env.queue("DELIVERIES").during("DELIVERIES")?;
    let message = ReplayMessage {
        v: REPLAY_MESSAGE_VERSION,
        replay: id.to_string(),
    };
    queue
        .send(MessageBuilder::new(message).build())
        .await
        .during("DELIVERIES send")
}

/// Whether a `DELIVERIES` message asks for a replay step (rather than a delivery).
pub fn is_step(m: &RawMessage) -> bool {
    decode_body::<ReplayMessage>(m).is_ok()
}

/// Runs the replay steps asked for by `messages`, one after another.
pub async fn consume(messages: Vec<RawMessage>, env: &Env, app: &App, now_ms: u64) {
    if messages.is_empty() {
        return;
    }
    let db = match env.d1("DB") {
        Ok(db) => db,
        Err(e) => {
            log::emit(
                json!({"event": "replay", "outcome": "binding_missing", "error": e.to_string()}),
            );
            messages.iter().for_each(|m| retry_later(m, now_ms));
            return;
        }
    };
    for m in &messages {
        let Ok(msg) = decode_body::<ReplayMessage>(m) else {
            retry_later(m, now_ms);
            continue;
        };
        match step(env, app, &db, &msg.replay, now_ms).await {
            Ok(outcome) => {
                m.ack();
                log::emit(json!({"event": "replay", "replay": msg.replay, "outcome": outcome}));
            }
            Err(e) => {
                let failed = note_failure(&db, &msg.replay, &e, now_ms).await;
                if failed {
                    m.ack();
                } else {
                    retry_later(m, now_ms);
                }
                log::emit(
                    json!({"event": "replay", "replay": msg.replay, "outcome": "error",
                    "failed": failed, "error": e.to_string()}),
                );
            }
        }
    }
}

// Records a failed step; true when the replay is now `failed`.
async fn note_failure(db: &D1Database, id: &str, e: &DispatchError, now_ms: u64) -> bool {
    let Ok(Some(r)) = replays::get(db, id).await else {
        return false;
    };
    let failures = r.failures + 1;
    let status = replay::status_after_failure(failures);
    let noted = replays::step_failed(
        db,
        id,
        failures,
        status,
        &e.to_string(),
        crate::time::secs(now_ms),
    )
    .await;
    noted.is_ok() && status == "failed"
}

// Unix seconds as the milliseconds a ULID's time holds (instants before 1970: 0).
fn ms_of(secs: i64) -> u64 {
    u64::try_from(secs).unwrap_or(0).saturating_mul(1000)
}

/// What a step read: its records (each with its batch's time, ms) and counts.
#[derive(Default)]
struct Read {
    records: Vec<(Taken, u64)>,
    done: StepDone,
}

/// Reads the next records of `r` from its cursor: at most `chunk` lines and
/// [`replay::MAX_OBJECTS_PER_STEP`] objects.
async fn read(env: &Env, db: &D1Database, r: &Replay, chunk: usize) -> Result<Read, BindingError> {
    let mut out = Read {
        done: StepDone {
            cursor: r.cursor.clone(),
            ..StepDone::default()
        },
        ..Read::default()
    };
    let (mut lines_taken, mut bytes) = (0usize, 0usize);
    for _ in 0..replay::MAX_OBJECTS_PER_STEP {
        if lines_taken >= chunk {
            return Ok(out);
        }
        let Some((at, key, records)) = replays::next_batch(db, r, out.done.cursor.as_ref())
            .await
            .during("D1 replay batches")?
        else {
            out.done.completed = true;
            return Ok(out);
        };
        let start = replay::start_line(out.done.cursor.as_ref(), at, &key);
        let records = usize::try_from(records).unwrap_or(usize::MAX);
        let end = match archived::open(env, db, &key).await {
            Ok(o) => {
                let (lines, ids) = o.lines();
                let t = replay::take(&key, &lines, &ids, start, chunk - lines_taken, bytes);
                lines_taken += t.next_line - start;
                out.done.skipped += t.skipped;
                for taken in t.records {
                    bytes += taken.bytes;
                    out.records.push((taken, ms_of(at)));
                }
                // Read to its end: past the line count `batches` records too, so a row
                // that counts more lines than the object has cannot hold the cursor.
                if t.next_line >= lines.len() {
                    t.next_line.max(records)
                } else {
                    t.next_line
                }
            }
            // Gone from R2 (a lifecycle rule), or not readable: its records are skipped.
            Err(
                ArchiveError::Gone(_) | ArchiveError::Unknown(_) | ArchiveError::Unreadable(..),
            ) => {
                out.done.skipped += records.saturating_sub(start) as u64;
                lines_taken += records.saturating_sub(start).max(1);
                records
            }
            Err(ArchiveError::Binding(e)) => return Err(e),
        };
        if end >= records {
            out.done.batches += 1;
        }
        out.done.cursor = Some(Cursor { at, key, line: end });
    }
    Ok(out)
}

/// Runs one step of replay `id`. Returns what happened, for the log.
pub async fn step(
    env: &Env,
    app: &App,
    db: &D1Database,
    id: &str,
    now_ms: u64,
) -> Result<&'static str, DispatchError> {
    let now_secs = crate::time::secs(now_ms);
    let Some(r) = replays::get(db, id).await.during("D1 replay")? else {
        return Ok("unknown_replay");
    };
    if r.status != "running" {
        return Ok("not_running");
    }
    let chunk = app.config.dispatch.replay_chunk as usize;
    let mut read = read(env, db, &r, chunk).await?;
    let subs: Vec<_> = subscriptions::for_event(db, &r.event_type)
        .await
        .during("D1 subscriptions")?
        .into_iter()
        .filter(|s| r.subscriptions.contains(&s.id))
        .collect();

    // Each record's event and results, ids derived from (replay, record).
    let mut events: Vec<(String, String, Vec<Published>)> = Vec::new();
    for (taken, at_ms) in &read.records {
        let event_id = replay::event_id(&r.id, &taken.record, *at_ms);
        let value = Value::Object(taken.payload.clone());
        let published = results_for(&subs, &value, &|_| None, |s| {
            Ok(replay::result_id(&event_id, &s.id, *at_ms))
        })
        .map_err(DispatchError::Publish)?;
        events.push((event_id, value.to_string(), published));
    }
    read.done.published = read.records.len() as u64;
    read.done.deliveries = events.iter().map(|e| e.2.len() as u64).sum();

    // The last step also publishes replay.completed, in the same transaction.
    let completed = read
        .done
        .completed
        .then(|| completed_payload(&r, &read.done, now_secs));
    let mut own: Option<(String, String, Vec<Published>)> = None;
    if let Some(payload) = &completed {
        let created_ms = ms_of(r.created_at);
        let event_id = replay::completed_event_id(&r.id, created_ms);
        let value = Value::Object(payload.clone());
        let listeners = subscriptions::for_event(db, REPLAY_COMPLETED)
            .await
            .during("D1 subscriptions")?;
        let published = results_for(&listeners, &value, &|_| None, |s| {
            Ok(replay::result_id(&event_id, &s.id, created_ms))
        })
        .map_err(DispatchError::Publish)?;
        own = Some((event_id, value.to_string(), published));
    }

    let rows: Vec<NewResult<'_>> = events
        .iter()
        .map(|e| (e, r.event_type.as_str()))
        .chain(own.iter().map(|e| (e, REPLAY_COMPLETED)))
        .flat_map(|((event_id, payload, published), event_type)| {
            published.iter().map(move |p| NewResult {
                id: &p.id,
                event_id,
                event_type,
                subscription_id: &p.subscription,
                payload,
                held: p.held,
                ordering_key: p.ordering_key.as_deref(),
            })
        })
        .collect();
    let mut statements =
        results::insert_new_statements(db, &rows, now_secs).during("D1 replay results")?;
    statements.push(
        replays::step_statement(db, &r.id, r.cursor.as_ref(), &read.done, now_secs)
            .during("D1 replay cursor")?,
    );
    let answers = db.batch(statements).await.during("D1 replay step")?;
    let moved = answers
        .last()
        .and_then(|a| a.meta().ok().flatten())
        .and_then(|m| m.changes)
        .unwrap_or(0)
        == 1;
    if !moved {
        // Another step moved the cursor first; it carries the replay on.
        return Ok("raced");
    }
    for (event_id, _, published) in events.iter().chain(own.iter()) {
        send_out(env, event_id, published).await;
    }
    if let Some(payload) = &completed {
        alert_slack(env, REPLAY_COMPLETED, payload).await;
        return Ok("completed");
    }
    // If the queue refuses, the cron asks for the step once the replay looks stalled.
    if let Err(e) = request_step(env, &r.id).await {
        log::emit(
            json!({"event": "replay", "replay": r.id, "outcome": "next_step_not_sent",
            "error": e.to_string()}),
        );
    }
    Ok("stepped")
}

/// `replay.completed`'s payload: the replay, its range and its final counts.
fn completed_payload(r: &Replay, last: &StepDone, now_secs: i64) -> Map<String, Value> {
    let v = json!({
        "replay": r.id,
        "collector": r.collector,
        "from": r.from,
        "to": r.to,
        "event_type": r.event_type,
        "subscriptions": r.subscriptions,
        "batches": r.batches + last.batches,
        "published": r.published + last.published,
        "skipped": r.skipped + last.skipped,
        "deliveries": r.deliveries + last.deliveries,
        "created_by": r.created_by,
        "created_at": r.created_at,
        "completed_at": now_secs,
    });
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

/// Asks for a step of every running replay unchanged for [`STALLED_SECS`] (for the cron):
/// a step that died, or whose next message was lost, is resumed from its saved cursor.
pub async fn resume_stalled(
    env: &Env,
    db: &D1Database,
    now_secs: i64,
) -> Result<usize, BindingError> {
    let ids = replays::stalled(db, now_secs - STALLED_SECS, 100)
        .await
        .during("D1 stalled replays")?;
    for id in &ids {
        request_step(env, id).await?;
    }
    Ok(ids.len())
}
