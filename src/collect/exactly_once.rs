//! Exactly once into R2, across redeliveries in any grouping.
//!
//! A batch's object key comes from its records' ids, so the same batch delivered again
//! overwrites its object. But Queues may redeliver a record in a *different* batch (the
//! consumer died after the put, before the ack), which would give another key and write
//! the record twice. So before an object is put, each record is *claimed* for its key in
//! D1 `written_records`; a later batch skips records whose claimed object exists in R2,
//! and reclaims those whose object was never written.
//!
//! Before that, records that carry their sender's webhook id (`dedupe = "async"`,
//! [`super::idempotency`]) are settled against `seen_ids`: the consumer claims each
//! distinct id of a group for one of its records ([`candidates`]), all in one D1
//! statement that answers every id's holder, and [`settle_ids`] keeps the holder's record
//! and drops the rest as duplicates. An id stays held by its record across that record's
//! retries, so a record whose write failed is kept when it comes back, and a repeat that
//! comes with it, before or after, is dropped.

use std::collections::{BTreeMap, BTreeSet};

/// How a group's records split, given their earlier claims.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Split {
    /// Indexes of records already in an existing object: ack, do not write.
    pub done: Vec<usize>,
    /// Indexes of records to write now.
    pub todo: Vec<usize>,
}

/// Splits `ids` by their `claims` (record id → object key) and the set of claimed keys
/// that exist in R2.
pub fn split(
    ids: &[&str],
    claims: &BTreeMap<String, String>,
    existing: &BTreeSet<String>,
) -> Split {
    let mut s = Split::default();
    for (i, id) in ids.iter().enumerate() {
        match claims.get(*id) {
            Some(key) if existing.contains(key) => s.done.push(i),
            _ => s.todo.push(i),
        }
    }
    s
}

/// The distinct object keys of `claims`, to look up in R2.
pub fn claimed_keys(claims: &BTreeMap<String, String>) -> BTreeSet<String> {
    claims.values().cloned().collect()
}

/// A record of a group that carries its sender's webhook id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyedRecord<'a> {
    /// The record id.
    pub id: &'a str,
    /// When it was accepted, Unix ms.
    pub received_at: u64,
    /// The sender's webhook id.
    pub key: &'a str,
    /// The digest of its body.
    pub digest: &'a str,
}

/// The claim to make for one webhook id: the record that takes it if nobody holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// The sender's webhook id.
    pub key: String,
    /// The record claiming it.
    pub record_id: String,
    /// That record's body digest.
    pub digest: String,
}

/// One claim per distinct id of `records`, for the earliest of its records (by receipt
/// time, then id, as [`super::batch`] orders lines), in order of id.
pub fn candidates(records: &[KeyedRecord<'_>]) -> Vec<Candidate> {
    let mut first: BTreeMap<&str, &KeyedRecord<'_>> = BTreeMap::new();
    for r in records {
        let earlier =
            |held: &&KeyedRecord<'_>| (held.received_at, held.id) <= (r.received_at, r.id);
        if !first.get(r.key).is_some_and(earlier) {
            first.insert(r.key, r);
        }
    }
    first
        .into_values()
        .map(|r| Candidate {
            key: r.key.to_string(),
            record_id: r.id.to_string(),
            digest: r.digest.to_string(),
        })
        .collect()
}

/// Who holds a webhook id after the claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    /// The record the id belongs to.
    pub record_id: String,
    /// Its body digest (`None` for rows from before digests were kept).
    pub body_digest: Option<String>,
    /// Whether that record was queued; `false` only while a `sync` request is queueing it.
    pub accepted: bool,
}

/// What the consumer does with a keyed record once its id is claimed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The id is this record's: write it.
    Write,
    /// Another record holds the id with this body: drop it, count a duplicate.
    Duplicate,
    /// Another record holds the id with another body: the sender was answered `202`, so
    /// the record is written (and logged as `idempotency_key_reused`) rather than lost.
    Reused,
    /// A `sync` request is queueing the id's first webhook right now, or the id's row was
    /// purged in between: try the record again later.
    Wait,
}

/// Settles each of `records` by its id's holder (`holders` maps id → holder). The
/// holder's record is written once (a copy of it delivered twice is a duplicate); another
/// record with the holder's body is a duplicate; with another body it is written, once
/// per body in this batch (the id stays with its first body, so a later batch writes such
/// a body again).
pub fn settle_ids(records: &[KeyedRecord<'_>], holders: &BTreeMap<String, Holder>) -> Vec<Verdict> {
    let mut written: BTreeSet<(&str, &str)> = BTreeSet::new();
    records
        .iter()
        .map(|r| {
            let Some(h) = holders.get(r.key) else {
                return Verdict::Wait;
            };
            if h.record_id == r.id {
                return match written.insert((r.key, r.digest)) {
                    true => Verdict::Write,
                    false => Verdict::Duplicate,
                };
            }
            if !h.accepted {
                return Verdict::Wait;
            }
            match h.body_digest.as_deref() {
                Some(first) if first != r.digest => match written.insert((r.key, r.digest)) {
                    true => Verdict::Reused,
                    false => Verdict::Duplicate,
                },
                _ => Verdict::Duplicate,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_in_an_existing_object_are_done_the_rest_are_written() {
        let claims: BTreeMap<String, String> = [
            ("a".to_string(), "k1".to_string()),
            ("b".to_string(), "k1".to_string()),
            ("c".to_string(), "k2".to_string()),
        ]
        .into();
        let existing: BTreeSet<String> = ["k1".to_string()].into();
        // a, b were written in k1; c was claimed for k2, which was never put; d is new.
        let s = split(&["d", "a", "c", "b"], &claims, &existing);
        assert_eq!(
            s,
            Split {
                done: vec![1, 3],
                todo: vec![0, 2]
            }
        );
        assert_eq!(claimed_keys(&claims).len(), 2);
        assert_eq!(
            split(&["x"], &BTreeMap::new(), &BTreeSet::new()).todo,
            vec![0]
        );
    }

    fn keyed<'a>(id: &'a str, at: u64, key: &'a str, digest: &'a str) -> KeyedRecord<'a> {
        KeyedRecord {
            id,
            received_at: at,
            key,
            digest,
        }
    }

    fn holder(id: &str, digest: &str, accepted: bool) -> Holder {
        Holder {
            record_id: id.into(),
            body_digest: Some(digest.into()),
            accepted,
        }
    }

    #[test]
    fn each_distinct_id_is_claimed_for_its_earliest_record() {
        let rs = [
            keyed("r3", 30, "k1", "a"),
            keyed("r1", 10, "k2", "b"),
            keyed("r2", 10, "k1", "a"),
            keyed("r0", 10, "k1", "a"),
        ];
        let c = candidates(&rs);
        let got: Vec<(&str, &str)> = c
            .iter()
            .map(|c| (c.key.as_str(), c.record_id.as_str()))
            .collect();
        assert_eq!(got, [("k1", "r0"), ("k2", "r1")]);
        assert_eq!(c[0].digest, "a");
        assert!(candidates(&[]).is_empty());
    }

    #[test]
    fn a_repeat_in_the_same_batch_is_dropped_and_the_first_written() {
        let rs = [keyed("r2", 20, "k", "a"), keyed("r1", 10, "k", "a")];
        let holders = [("k".to_string(), holder("r1", "a", true))].into();
        assert_eq!(
            settle_ids(&rs, &holders),
            [Verdict::Duplicate, Verdict::Write]
        );
    }

    #[test]
    fn a_repeat_of_an_id_held_from_an_earlier_batch_is_dropped_even_with_its_first_record() {
        // r0 took the id in an earlier batch whose write failed: it comes back with a
        // repeat r5 that is earlier in this batch's order. r0 is written, r5 dropped.
        let rs = [keyed("r5", 5, "k", "a"), keyed("r0", 50, "k", "a")];
        let holders = [("k".to_string(), holder("r0", "a", true))].into();
        assert_eq!(
            settle_ids(&rs, &holders),
            [Verdict::Duplicate, Verdict::Write]
        );
        // Only the repeat, in a later batch: dropped.
        assert_eq!(settle_ids(&rs[..1], &holders), [Verdict::Duplicate]);
        // The same record delivered twice in one batch is written once.
        let twice = [keyed("r0", 50, "k", "a"), keyed("r0", 50, "k", "a")];
        assert_eq!(
            settle_ids(&twice, &holders),
            [Verdict::Write, Verdict::Duplicate]
        );
    }

    #[test]
    fn another_body_under_a_held_id_is_written_once_per_body() {
        let rs = [
            keyed("r1", 10, "k", "b"),
            keyed("r2", 20, "k", "b"),
            keyed("r3", 30, "k", "c"),
            keyed("r4", 40, "k", "a"),
        ];
        let holders = [("k".to_string(), holder("r0", "a", true))].into();
        assert_eq!(
            settle_ids(&rs, &holders),
            [
                Verdict::Reused,
                Verdict::Duplicate,
                Verdict::Reused,
                Verdict::Duplicate
            ]
        );
        // A row from before digests were kept: the same body, so a duplicate.
        let old = Holder {
            body_digest: None,
            ..holder("r0", "", true)
        };
        let holders = [("k".to_string(), old)].into();
        assert_eq!(settle_ids(&rs[..1], &holders), [Verdict::Duplicate]);
    }

    #[test]
    fn an_id_being_queued_by_a_sync_request_or_with_no_row_waits() {
        let rs = [keyed("r1", 10, "k", "a")];
        let holders = [("k".to_string(), holder("r0", "a", false))].into();
        assert_eq!(settle_ids(&rs, &holders), [Verdict::Wait]);
        assert_eq!(settle_ids(&rs, &BTreeMap::new()), [Verdict::Wait]);
        // Its own claim not yet confirmed (a sync request whose confirm failed): written.
        let holders = [("k".to_string(), holder("r1", "a", false))].into();
        assert_eq!(settle_ids(&rs, &holders), [Verdict::Write]);
    }
}
