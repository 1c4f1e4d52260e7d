//! Packed `INGEST` messages: the records one isolate gathers while a send is in flight
//! travel in one queue message (`group_send.mjs` packs them, up to the 128 KB a message
//! may hold), so a queue operation carries many webhooks. The consumer unpacks them here,
//! and settles each message by all of its records: a message is acked only once every
//! record in it is in R2, else retried whole (the records already written are then found
//! written by [`super::exactly_once`] and not written again).

use serde::Deserialize;

use super::record::QueuedRecord;

/// An `INGEST` message's body: one record (a lone webhook, or one sent before packing),
/// or the records packed together.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum IngestMessage {
    /// Several records in one message, in arrival order.
    Packed(Vec<QueuedRecord>),
    /// A message holding a single record (what producers sent before packing).
    One(QueuedRecord),
}

impl IngestMessage {
    /// The records the message carries.
    pub fn records(self) -> Vec<QueuedRecord> {
        match self {
            IngestMessage::Packed(records) => records,
            IngestMessage::One(record) => vec![record],
        }
    }
}

/// Which messages to ack: `owners[i]` is the message record `i` came in, `failed[i]`
/// whether that record still has to be tried again. A message is acked when none of its
/// records failed; one that carried no record (an empty pack) is acked too, as there is
/// nothing in it to keep.
pub fn acks(messages: usize, owners: &[usize], failed: &[bool]) -> Vec<bool> {
    let mut ack = vec![true; messages];
    for (&owner, &failed) in owners.iter().zip(failed) {
        if failed {
            ack[owner] = false;
        }
    }
    ack
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::record::QUEUED_RECORD_VERSION;

    fn record(id: &str) -> QueuedRecord {
        QueuedRecord {
            v: QUEUED_RECORD_VERSION,
            id: id.into(),
            collector: "amo".into(),
            received_at: 1_700_000_000_000,
            line: "{}".into(),
            spill: None,
            original: None,
            original_spill: None,
            dedupe: None,
        }
    }

    #[test]
    fn a_pack_and_a_lone_record_both_unpack_in_order() {
        let one = serde_json::to_value(record("a")).expect("serialises");
        let packed = serde_json::Value::Array(vec![
            serde_json::to_value(record("b")).expect("serialises"),
            serde_json::to_value(record("c")).expect("serialises"),
        ]);
        let ids = |v: serde_json::Value| -> Vec<String> {
            serde_json::from_value::<IngestMessage>(v)
                .expect("decodes")
                .records()
                .into_iter()
                .map(|r| r.id)
                .collect()
        };
        assert_eq!(ids(one), ["a"]);
        assert_eq!(ids(packed), ["b", "c"]);
        assert!(serde_json::from_value::<IngestMessage>(serde_json::json!({"v": 1})).is_err());
        assert!(serde_json::from_value::<IngestMessage>(serde_json::json!([{"v": 1}])).is_err());
    }

    #[test]
    fn a_message_is_acked_only_when_every_record_in_it_is_written() {
        // Message 0 carries records 0 and 1, message 1 record 2, message 2 records 3, 4;
        // message 3 was an empty pack.
        let owners = [0, 0, 1, 2, 2];
        assert_eq!(
            acks(4, &owners, &[false, true, false, false, false]),
            [false, true, true, true]
        );
        assert_eq!(acks(4, &owners, &[false; 5]), [true, true, true, true]);
        assert_eq!(
            acks(4, &owners, &[false, false, true, false, true]),
            [true, false, false, true]
        );
    }
}
