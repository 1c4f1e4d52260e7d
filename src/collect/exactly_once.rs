//! Exactly once into R2, across redeliveries in any grouping.
//!
//! A batch's object key comes from its records' ids, so the same batch delivered again
//! overwrites its object. But Queues may redeliver a record in a *different* batch (the
//! consumer died after the put, before the ack), which would give another key and write
//! the record twice. So before an object is put, each record is *claimed* for its key in
//! D1 `written_records`; a later batch skips records whose claimed object exists in R2,
//! and reclaims those whose object was never written.

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
}
