//! NDJSON batches: grouping queued records by collector, naming the R2 object, encoding.
//!
//! An object's key is derived from the ids of the records in it, so a batch that is
//! delivered again (after a failed write, or a lost ack) overwrites the same object
//! instead of writing its records a second time.

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

use super::record::QueuedRecord;
use crate::time::Utc;

/// One NDJSON object to write: the records of one collector from one queue batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    /// The collector whose records these are (one object per collector).
    pub collector: String,
    /// R2 key: `collectors/<name>/dt=YYYY-MM-DD/hr=HH/<batch-id>.ndjson`.
    pub key: String,
    /// The batch id in `key`, from the records' ids.
    pub id: String,
    /// Receipt time of the earliest record, Unix ms; dates the key.
    pub earliest_ms: u64,
    /// Indexes (into the slice given to [`group`]) of the records in this batch, in line
    /// order.
    pub members: Vec<usize>,
}

/// A batch id: the first 128 bits of SHA-256 over the sorted ids, in hex.
pub fn batch_id<'a>(ids: impl IntoIterator<Item = &'a str>) -> String {
    let mut ids: Vec<&str> = ids.into_iter().collect();
    ids.sort_unstable();
    let mut h = Sha256::new();
    for id in ids {
        h.update(id.as_bytes());
        h.update(b"\n");
    }
    hex::encode(&h.finalize()[..16])
}

/// `<prefix>/dt=YYYY-MM-DD/hr=HH/<batch-id>.ndjson`, dated by `at_ms`.
pub fn object_key(prefix: &str, at_ms: u64, batch_id: &str) -> String {
    let t = Utc::from_millis(i64::try_from(at_ms).unwrap_or(i64::MAX));
    format!(
        "{prefix}/dt={}/hr={:02}/{batch_id}.ndjson",
        t.date(),
        t.hour
    )
}

/// Groups records by collector. Each group's lines are ordered by (received_at, id)
/// and its key is dated by its earliest record, so the same records always give the
/// same key and bytes, whatever order the queue delivered them in.
pub fn group(records: &[QueuedRecord]) -> Vec<Batch> {
    let mut by_collector: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, r) in records.iter().enumerate() {
        by_collector.entry(&r.collector).or_default().push(i);
    }
    by_collector
        .into_iter()
        .map(|(collector, members)| batch_of(records, collector, members))
        .collect()
}

/// The batch of `members` (indexes into `records`, all of `collector`, not empty).
pub fn batch_of(records: &[QueuedRecord], collector: &str, mut members: Vec<usize>) -> Batch {
    members.sort_by(|&a, &b| {
        let (a, b) = (&records[a], &records[b]);
        (a.received_at, &a.id).cmp(&(b.received_at, &b.id))
    });
    let earliest = members.first().map_or(0, |&i| records[i].received_at);
    let id = batch_id(members.iter().map(|&i| records[i].id.as_str()));
    Batch {
        collector: collector.to_string(),
        key: object_key(&format!("collectors/{collector}"), earliest, &id),
        id,
        earliest_ms: earliest,
        members,
    }
}

/// Joins lines into an NDJSON body: one line each, each ending in `\n`.
pub fn encode<'a>(lines: impl IntoIterator<Item = &'a str>) -> Vec<u8> {
    let mut out = Vec::new();
    for line in lines {
        out.extend_from_slice(line.as_bytes());
        out.push(b'\n');
    }
    out
}

/// Gzips an object body (`compress = true`). The header carries no time, so the same
/// lines always give the same bytes and a retried batch rewrites an identical object.
pub fn gzip(body: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut enc = flate2::write::GzEncoder::new(
        Vec::with_capacity(body.len() / 4 + 64),
        flate2::Compression::default(),
    );
    // Writing into a Vec cannot fail.
    let _ = enc.write_all(body);
    enc.finish().unwrap_or_default()
}

/// The line archiving one untouched body (`keep_original`): `{"id","timeReceived","body"}`
/// with the body as a JSON string, so any bytes the sender sent fit on one line.
pub fn original_line(id: &str, received_at_ms: u64, body: &str) -> String {
    serde_json::json!({
        "id": id,
        "timeReceived": Utc::from_millis(i64::try_from(received_at_ms).unwrap_or(i64::MAX)).rfc3339(),
        "body": body,
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(id: &str, collector: &str, at: u64) -> QueuedRecord {
        QueuedRecord {
            v: 1,
            id: id.into(),
            collector: collector.into(),
            received_at: at,
            line: format!("{{\"id\":\"{id}\"}}"),
            spill: None,
            original: None,
            original_spill: None,
            dedupe: None,
        }
    }

    #[test]
    fn groups_by_collector_in_time_order() {
        let rs = vec![
            rec("b", "amo", 1_614_265_330_000),
            rec("x", "open", 1_614_265_331_000),
            rec("a", "amo", 1_614_265_329_000),
        ];
        let batches = group(&rs);
        assert_eq!(batches.len(), 2);
        assert_eq!(batches[0].collector, "amo");
        assert_eq!(batches[0].members, vec![2, 0]);
        assert!(
            batches[0]
                .key
                .starts_with("collectors/amo/dt=2021-02-25/hr=15/"),
            "{}",
            batches[0].key
        );
        assert!(batches[0].key.ends_with(".ndjson"));
        assert_eq!(batches[1].members, vec![1]);
    }

    #[test]
    fn retried_batch_gets_the_same_key_in_any_order() {
        let rs = vec![rec("a", "amo", 5), rec("b", "amo", 6)];
        let reordered = vec![rs[1].clone(), rs[0].clone()];
        assert_eq!(group(&rs)[0].key, group(&reordered)[0].key);
        let other = vec![rec("a", "amo", 5), rec("c", "amo", 6)];
        assert_ne!(group(&rs)[0].key, group(&other)[0].key);
    }

    #[test]
    fn gzip_is_deterministic_and_gunzips_to_the_lines() {
        use std::io::Read;
        let body = encode(["{\"a\":1}", "{\"b\":2}"]);
        let gz = gzip(&body);
        assert_eq!(gz, gzip(&body));
        assert_eq!(&gz[..2], &[0x1f, 0x8b]);
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&gz[..])
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out, body);
    }

    #[test]
    fn original_lines_keep_any_body_on_one_line() {
        let l = original_line("01ID", 1_614_265_330_123, "{\n  \"a\": 1\n}");
        assert_eq!(
            l,
            r#"{"id":"01ID","timeReceived":"2021-02-25T15:02:10.123Z","body":"{\n  \"a\": 1\n}"}"#
        );
    }

    #[test]
    fn encodes_one_line_per_record() {
        assert_eq!(
            encode(["{\"a\":1}", "{\"b\":2}"]),
            b"{\"a\":1}\n{\"b\":2}\n"
        );
    }
}
