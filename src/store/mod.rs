//! D1 access: one file per table; the SQL lives here and nowhere else.

pub mod api_keys;
pub mod attempts;
pub mod audit;
pub mod batches;
pub mod cache;
pub mod counters;
pub mod handshakes;
pub mod nonces;
pub mod plugins;
pub mod purge;
pub mod replays;
pub mod result_stats;
pub mod results;
pub mod rules;
pub mod seen_ids;
pub mod subscriptions;
pub mod written;

use worker::wasm_bindgen::JsValue;

/// A D1 bind value for an integer (a count, or an instant in Unix seconds). D1 numbers
/// cross as f64, exact up to 2^53.
pub fn int(n: impl Into<i128>) -> JsValue {
    JsValue::from_f64(n.into() as f64)
}

/// The most bytes one bound JSON list parameter may take: D1 refuses a string over 2 MB,
/// and a consumer batch of packed messages can carry over ten thousand records.
pub const MAX_LIST_PARAM_BYTES: usize = 1_000_000;

/// Splits items of the given serialised lengths into runs whose JSON arrays (the items,
/// a comma between each, brackets) stay within `max` bytes; an item longer than `max`
/// goes alone. Each run is a range of item indexes, in order.
pub fn list_chunks(lens: &[usize], max: usize) -> Vec<std::ops::Range<usize>> {
    let mut out = Vec::new();
    let (mut start, mut bytes) = (0, 2);
    for (i, &len) in lens.iter().enumerate() {
        if i > start && bytes + 1 + len > max {
            out.push(start..i);
            (start, bytes) = (i, 2);
        }
        bytes += len + usize::from(i > start);
    }
    if start < lens.len() {
        out.push(start..lens.len());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_are_cut_where_the_next_item_would_pass_the_limit() {
        // [a,b] is 2 + 3 + 1 + 3 = 9 bytes; a third 3-byte item would make 13.
        assert_eq!(list_chunks(&[3, 3, 3, 3], 12), [0..2, 2..4]);
        let whole = list_chunks(&[3, 3, 3], 13);
        assert_eq!((whole.len(), whole[0].clone()), (1, 0..3));
        assert_eq!(list_chunks(&[20, 1, 1], 10), [0..1, 1..3]);
        assert!(list_chunks(&[], 10).is_empty());
        let lens = vec![300; 12_800];
        let chunks = list_chunks(&lens, MAX_LIST_PARAM_BYTES);
        assert_eq!(chunks.len(), 4);
        assert!(
            chunks
                .iter()
                .all(|c| 2 + c.len() * 301 - 1 <= MAX_LIST_PARAM_BYTES)
        );
        assert_eq!(
            chunks.iter().map(ExactSizeIterator::len).sum::<usize>(),
            12_800
        );
    }
}
