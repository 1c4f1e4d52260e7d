//! The `INGEST` consumer: queued records → one NDJSON object per collector in R2.
//!
//! A message may carry several records ([`pack`]). It is acked only after the objects of
//! all its records are written and recorded in D1; any failure retries it with a delay. The object key comes from the records' ids, so a
//! batch delivered again overwrites its object rather than duplicating records.

use serde_json::json;
use worker::{Bucket, D1Database, Env, MessageExt, RawMessage};

use super::batch::{self, Batch};
use super::body::{self, BodyKind};
use super::exactly_once::{self, Verdict};
use super::pack::{self, IngestMessage};
use super::record::QueuedRecord;
use crate::config::Config;
use crate::error::{BindingError, During};
use crate::log;
use crate::message::{decode_body, retry_later};
use crate::observe;
use crate::store::batches::{self, BatchRow};
use crate::store::{seen_ids, written};

/// Consumes one batch of `INGEST` messages from `queue` (the ingest queue or a shard).
pub async fn consume(
    queue: &str,
    messages: Vec<RawMessage>,
    env: &Env,
    config: &Config,
    now_ms: u64,
) {
    let (bucket, db) = match (env.bucket("ARCHIVE"), env.d1("DB")) {
        (Ok(b), Ok(d)) => (b, d),
        (b, d) => {
            log::emit(json!({"event": "ingest", "outcome": "binding_missing",
                "archive": b.is_ok(), "db": d.is_ok()}));
            messages.iter().for_each(|m| retry_later(m, now_ms));
            return;
        }
    };

    // Decode each message on its own: one bad message must not hold back the others.
    // `owners[i]`: the index in `messages` of record `i`'s message; `failed[i]`: record `i`
    // must be tried again, and so its whole message.
    let mut records: Vec<QueuedRecord> = Vec::with_capacity(messages.len());
    let mut owners: Vec<usize> = Vec::with_capacity(messages.len());
    let mut decoded = vec![false; messages.len()];
    for (at, m) in messages.iter().enumerate() {
        match decode_body::<IngestMessage>(m) {
            Ok(message) => {
                for r in message.records() {
                    records.push(r);
                    owners.push(at);
                }
                decoded[at] = true;
            }
            Err(error) => {
                log::emit(json!({"event": "ingest", "outcome": "undecodable",
                    "message_id": m.id(), "error": error.to_string()}));
                retry_later(m, now_ms);
            }
        }
    }
    let mut failed = vec![false; records.len()];
    log::emit(
        json!({"event": "ingest", "outcome": "received", "queue": queue,
        "messages": messages.len(), "records": records.len()}),
    );

    // Records dropped as repeats of a webhook id, counted once their message is acked.
    let mut repeats: Vec<usize> = Vec::new();
    for group in batch::group(&records) {
        let collector = config.collector(&group.collector);
        let compress = collector.is_some_and(|c| c.compress);
        // Repeats of a sender's webhook id (`dedupe = "async"`) go before anything else.
        let group = match drop_repeats(&db, config, &group, &records, now_ms).await {
            Ok(settled) => {
                settled.wait.iter().for_each(|&i| failed[i] = true);
                if !settled.duplicates.is_empty() {
                    log::emit(json!({"event": "ingest", "outcome": "duplicates_dropped",
                        "collector": group.collector, "records": settled.duplicates.len()}));
                    delete_spills(&bucket, &records, &settled.duplicates).await;
                    if collector.is_some_and(|c| c.accept.contains(&BodyKind::Multipart)) {
                        delete_attachments(&bucket, &records, &settled.duplicates).await;
                    }
                    repeats.extend(&settled.duplicates);
                }
                if settled.reused > 0 {
                    log::emit(
                        json!({"event": "ingest", "outcome": "idempotency_key_reused",
                        "collector": group.collector, "records": settled.reused}),
                    );
                }
                match settled.write.len() {
                    0 => continue,
                    n if n == group.members.len() => group,
                    _ => batch::batch_of(&records, &group.collector, settled.write),
                }
            }
            Err(e) => {
                group.members.iter().for_each(|&i| failed[i] = true);
                log::emit(json!({"event": "ingest", "outcome": "ids_unreadable",
                    "collector": group.collector, "records": group.members.len(), "error": e.to_string()}));
                continue;
            }
        };
        let group_key = stored_key(&group.key, compress);
        // `claimed_all`: every record of the group is claimed for the group's object.
        let (todo, claimed_all) = match unwritten(
            &bucket, &db, &group, &records, &group_key, now_ms,
        )
        .await
        {
            Ok((split, claimed_all)) => {
                if !split.done.is_empty() {
                    let done: Vec<usize> = split.done.iter().map(|&j| group.members[j]).collect();
                    log::emit(json!({"event": "ingest", "outcome": "already_written",
                        "collector": group.collector, "records": done.len()}));
                    delete_spills(&bucket, &records, &done).await;
                }
                let todo: Vec<usize> = split.todo.iter().map(|&j| group.members[j]).collect();
                (todo, claimed_all)
            }
            Err(e) => {
                group.members.iter().for_each(|&i| failed[i] = true);
                log::emit(json!({"event": "ingest", "outcome": "claims_unreadable",
                    "collector": group.collector, "records": group.members.len(), "error": e.to_string()}));
                continue;
            }
        };
        // Bring back spilled lines; a record whose spill is unreadable waits alone.
        let mut ready = Vec::with_capacity(todo.len());
        for i in todo {
            match restore(&bucket, &mut records[i]).await {
                Ok(()) => ready.push(i),
                Err(error) => {
                    log::emit(json!({"event": "ingest", "outcome": "spill_unreadable",
                        "message_id": messages[owners[i]].id(), "error": error.to_string()}));
                    failed[i] = true;
                }
            }
        }
        if ready.is_empty() {
            continue;
        }
        // When every record is written, their batch is the group and they are claimed.
        let claimed = claimed_all && ready.len() == group.members.len();
        let b = batch::batch_of(&records, &group.collector, ready);
        let written = write(&bucket, &db, &b, &records, compress, claimed, now_ms).await;
        match written {
            Ok((key, bytes)) => {
                log::emit(json!({"event": "ingest", "outcome": "written", "key": key,
                    "collector": b.collector, "records": b.members.len(), "bytes": bytes}));
                delete_spills(&bucket, &records, &b.members).await;
            }
            Err(e) => {
                b.members.iter().for_each(|&i| failed[i] = true);
                log::emit(
                    json!({"event": "ingest", "outcome": "write_failed", "key": b.key,
                    "collector": b.collector, "records": b.members.len(), "error": e.to_string()}),
                );
            }
        }
    }

    let acks = pack::acks(messages.len(), &owners, &failed);
    for (at, m) in messages.iter().enumerate() {
        match (decoded[at], acks[at]) {
            (false, _) => {} // retried above
            (true, true) => m.ack(),
            (true, false) => retry_later(m, now_ms),
        }
    }
    // A repeat is counted when its message is acked, so a retried message counts it once.
    let counted: Vec<usize> = repeats.into_iter().filter(|&i| acks[owners[i]]).collect();
    if !counted.is_empty() {
        for &i in &counted {
            observe::count_hook(&records[i].collector, "duplicate", now_ms);
        }
        if let Err(e) = observe::flush(env).await {
            log::emit(json!({"event": "counters", "outcome": "flush_failed", "error": e.message}));
        }
    }
}

/// How a group's records fared against their webhook ids: indexes into the records.
struct Settled {
    /// To write: the ids' holders, records with another body, and records without an id.
    write: Vec<usize>,
    /// Repeats: acked without being written.
    duplicates: Vec<usize>,
    /// To try again later (the id's first webhook is still being queued).
    wait: Vec<usize>,
    /// How many of `write` came with another body than their id's first.
    reused: usize,
}

/// Claims the webhook ids the group's records carry, in one D1 statement, and settles
/// each record by its id's holder ([`exactly_once::settle_ids`]). A group without ids
/// costs nothing.
async fn drop_repeats(
    db: &D1Database,
    config: &Config,
    group: &Batch,
    records: &[QueuedRecord],
    now_ms: u64,
) -> Result<Settled, BindingError> {
    let mut settled = Settled {
        write: Vec::with_capacity(group.members.len()),
        duplicates: Vec::new(),
        wait: Vec::new(),
        reused: 0,
    };
    let mut keyed = Vec::new();
    let mut keyed_at = Vec::new();
    for &i in &group.members {
        match &records[i].dedupe {
            Some(k) => {
                keyed.push(exactly_once::KeyedRecord {
                    id: &records[i].id,
                    received_at: records[i].received_at,
                    key: &k.key,
                    digest: &k.body_digest,
                });
                keyed_at.push(i);
            }
            None => settled.write.push(i),
        }
    }
    if keyed.is_empty() {
        return Ok(settled);
    }
    let now_secs = crate::time::secs(now_ms);
    let candidates = exactly_once::candidates(&keyed);
    let window = config.dedupe_window_secs;
    let holders = seen_ids::claim_batch(
        db,
        &group.collector,
        &candidates,
        now_secs,
        now_secs + window,
    )
    .await
    .during("D1 seen_ids")?;
    for (verdict, i) in exactly_once::settle_ids(&keyed, &holders)
        .into_iter()
        .zip(keyed_at)
    {
        match verdict {
            Verdict::Write => settled.write.push(i),
            Verdict::Reused => {
                settled.reused += 1;
                settled.write.push(i);
            }
            Verdict::Duplicate => settled.duplicates.push(i),
            Verdict::Wait => settled.wait.push(i),
        }
    }
    Ok(settled)
}

/// Best effort: the multipart files of records dropped as repeats (their holder's files
/// are under its own id).
async fn delete_attachments(bucket: &Bucket, records: &[QueuedRecord], members: &[usize]) {
    for &i in members {
        let prefix = body::attachments_prefix(&records[i].collector, &records[i].id);
        let Ok(listed) = bucket.list().prefix(prefix).execute().await else {
            continue;
        };
        let keys: Vec<String> = listed.objects().iter().map(worker::Object::key).collect();
        if !keys.is_empty() {
            let _ = bucket.delete_multiple(keys).await;
        }
    }
}

/// Which of a group's records still need writing: those not claimed by an object that
/// exists in R2 (see [`exactly_once`]). The records that had no claim are claimed for
/// `key`, the group's object, in the same D1 call; the flag says whether that was all of
/// them.
async fn unwritten(
    bucket: &Bucket,
    db: &D1Database,
    group: &Batch,
    records: &[QueuedRecord],
    key: &str,
    now_ms: u64,
) -> Result<(exactly_once::Split, bool), BindingError> {
    let ids: Vec<&str> = group
        .members
        .iter()
        .map(|&i| records[i].id.as_str())
        .collect();
    let claims = written::claims_then_claim_new(db, &ids, key, crate::time::secs(now_ms))
        .await
        .during("D1 claims")?;
    let mut existing = std::collections::BTreeSet::new();
    for key in exactly_once::claimed_keys(&claims) {
        let head = bucket.head(&key).await.during("R2 head")?;
        if head.is_some() {
            existing.insert(key);
        }
    }
    Ok((
        exactly_once::split(&ids, &claims, &existing),
        claims.is_empty(),
    ))
}

/// The key an object meant for `key` is stored under: `<key>.gz` when `compress`.
fn stored_key(key: &str, compress: bool) -> String {
    if compress {
        format!("{key}.gz")
    } else {
        key.to_string()
    }
}

/// Best effort: a record is safe in its batch; a leftover spill object is only garbage.
async fn delete_spills(bucket: &Bucket, records: &[QueuedRecord], members: &[usize]) {
    let spilled: Vec<String> = members
        .iter()
        .flat_map(|&i| [records[i].spill.clone(), records[i].original_spill.clone()])
        .flatten()
        .collect();
    if !spilled.is_empty() {
        let _ = bucket.delete_multiple(spilled).await;
    }
}

/// Brings back a line (and original) spilled to R2 because it was too big for the queue.
async fn restore(bucket: &Bucket, r: &mut QueuedRecord) -> Result<(), BindingError> {
    if let Some(key) = &r.spill {
        r.line = read_spill(bucket, key).await?;
    }
    if let Some(key) = &r.original_spill {
        r.original = Some(read_spill(bucket, key).await?);
    }
    Ok(())
}

async fn read_spill(bucket: &Bucket, key: &str) -> Result<String, BindingError> {
    let object = bucket
        .get(key)
        .execute()
        .await
        .during(format!("R2 get {key}"))?
        .ok_or_else(|| BindingError::Missing(format!("spilled object {key} is missing")))?;
    let body = object
        .body()
        .ok_or_else(|| BindingError::Missing("spilled object has no body".into()))?;
    body.text().await.during(format!("R2 read {key}"))
}

/// Writes one batch: its originals first (when kept), then its NDJSON object, then its
/// `batches` row. Every key comes from the batch id, so a retry rewrites the same objects.
/// `claimed`: its records are already claimed for its object ([`unwritten`]).
#[allow(clippy::too_many_arguments)]
async fn write(
    bucket: &Bucket,
    db: &D1Database,
    b: &Batch,
    records: &[QueuedRecord],
    compress: bool,
    claimed: bool,
    now_ms: u64,
) -> Result<(String, u64), BindingError> {
    let members = || b.members.iter().map(|&i| &records[i]);
    let originals: Vec<String> = members()
        .filter_map(|r| {
            let body = r.original.as_deref()?;
            Some(batch::original_line(&r.id, r.received_at, body))
        })
        .collect();
    if !originals.is_empty() {
        let prefix = format!("originals/{}", b.collector);
        let key = batch::object_key(&prefix, b.earliest_ms, &b.id);
        let body = batch::encode(originals.iter().map(String::as_str));
        put(bucket, &key, body, compress).await?;
    }
    // Claim the records for the object before putting it: a redelivery in another
    // grouping then finds them written (exactly_once).
    if !claimed {
        let ids: Vec<&str> = members().map(|r| r.id.as_str()).collect();
        written::claim(
            db,
            &ids,
            &stored_key(&b.key, compress),
            crate::time::secs(now_ms),
        )
        .await
        .during("D1 claims")?;
    }
    let body = batch::encode(members().map(|r| r.line.as_str()));
    let (key, bytes) = put(bucket, &b.key, body, compress).await?;
    batches::record(
        db,
        &BatchRow {
            key: &key,
            collector: &b.collector,
            records: b.members.len() as u64,
            bytes,
            created_at: crate::time::secs(now_ms),
        },
    )
    .await
    .during("D1 batches")?;
    Ok((key, bytes))
}

/// Puts an NDJSON object, gzipped under `<key>.gz` when `compress`; returns the key
/// written and its size.
async fn put(
    bucket: &Bucket,
    key: &str,
    body: Vec<u8>,
    compress: bool,
) -> Result<(String, u64), BindingError> {
    let (body, content_type) = if compress {
        (batch::gzip(&body), "application/gzip")
    } else {
        (body, "application/x-ndjson")
    };
    let key = stored_key(key, compress);
    let bytes = body.len() as u64;
    bucket
        .put(&key, body)
        .http_metadata(worker::HttpMetadata {
            content_type: Some(content_type.into()),
            ..Default::default()
        })
        .execute()
        .await
        .during(format!("R2 put {key}"))?;
    Ok((key, bytes))
}
