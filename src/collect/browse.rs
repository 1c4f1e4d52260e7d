//! Reading written NDJSON objects back for the operator (`GET /admin/batches/{key}/records`,
//! `GET /admin/records/{id}`): gunzipping `.gz` objects within a bound, paging lines by a
//! cursor, and naming each line's record id.
//!
//! A `payload`-format line holds only the sender's body, not its id. The ids are known
//! all the same: `written_records` maps each id to its object, and an object's lines are
//! in (received_at, id) order ([`super::batch::batch_of`]), which for ULIDs minted at
//! receipt is the ids' own order. So the i-th line is the i-th smallest id claimed for
//! the object, when the claims still number the lines (claims expire after 15 days).

use std::io::Read;

use serde::Serialize;
use serde_json::Value;

use crate::error::{ApiError, ErrorCode};

/// Most bytes a gzip object may inflate to when read back (a bomb stops here).
pub const MAX_INFLATED_BYTES: u64 = 64 * 1024 * 1024;
/// Most records one page answers.
pub const MAX_PAGE_RECORDS: usize = 100;
/// Records per page unless `limit` says otherwise.
pub const DEFAULT_PAGE_RECORDS: usize = 20;
/// Most bytes of line text one page answers; a page always holds at least one line.
pub const MAX_PAGE_BYTES: usize = 1024 * 1024;

/// Why an object could not be read back.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BrowseError {
    /// The `.gz` object is not gzip.
    #[error("the object is not valid gzip: {0}")]
    NotGzip(String),
    /// The `.gz` object inflates past [`MAX_INFLATED_BYTES`].
    #[error("the object inflates past {MAX_INFLATED_BYTES} bytes")]
    TooLarge,
}

/// The NDJSON text of a stored object: gunzipped when its key ends in `.gz`.
pub fn object_text(key: &str, bytes: Vec<u8>) -> Result<Vec<u8>, BrowseError> {
    if !key.ends_with(".gz") {
        return Ok(bytes);
    }
    let mut out = Vec::with_capacity(bytes.len() * 4);
    flate2::read::GzDecoder::new(bytes.as_slice())
        .take(MAX_INFLATED_BYTES + 1)
        .read_to_end(&mut out)
        .map_err(|e| BrowseError::NotGzip(e.to_string()))?;
    if out.len() as u64 > MAX_INFLATED_BYTES {
        return Err(BrowseError::TooLarge);
    }
    Ok(out)
}

/// One line of an object, as a page shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Line {
    /// 0-based line number in the object.
    pub line: usize,
    /// The record id, when known (from the line itself or from the object's claims).
    pub id: Option<String>,
    /// The line parsed as JSON; a line that is not JSON is shown as its text.
    pub record: Value,
}

/// A page of an object's lines.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Page {
    /// Lines in the object.
    pub total: usize,
    /// This page's lines.
    pub records: Vec<Line>,
    /// The cursor of the next page; `None` on the last.
    pub next_cursor: Option<usize>,
}

/// The lines of an NDJSON text (no empty trailing line).
pub fn lines(text: &[u8]) -> Vec<&[u8]> {
    let text = text.strip_suffix(b"\n").unwrap_or(text);
    if text.is_empty() {
        return Vec::new();
    }
    text.split(|&b| b == b'\n').collect()
}

/// The record id of each line: its own `id` member (`request` format), else the
/// object's claimed ids in order when there is exactly one per line.
pub fn line_ids(lines: &[&[u8]], claimed: &[String]) -> Vec<Option<String>> {
    let mut sorted: Vec<&String> = claimed.iter().collect();
    sorted.sort_unstable();
    let by_claims = sorted.len() == lines.len();
    lines
        .iter()
        .enumerate()
        .map(|(i, l)| own_id(l).or_else(|| by_claims.then(|| sorted[i].clone())))
        .collect()
}

// The `id` member of a `request`-format line, which always carries one first.
fn own_id(line: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Head {
        id: String,
        #[serde(rename = "timeReceived")]
        _time: Value,
    }
    serde_json::from_slice::<Head>(line).ok().map(|h| h.id)
}

fn shown(line: &[u8]) -> Value {
    serde_json::from_slice(line)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(line).into_owned()))
}

/// The page starting at line `cursor`: at most `limit` lines and [`MAX_PAGE_BYTES`] of
/// text (always at least one line, so a page moves forward).
pub fn page(lines: &[&[u8]], ids: &[Option<String>], cursor: usize, limit: usize) -> Page {
    let mut records = Vec::new();
    let mut bytes = 0;
    let mut i = cursor;
    while i < lines.len() && records.len() < limit {
        let l = lines[i];
        if !records.is_empty() && bytes + l.len() > MAX_PAGE_BYTES {
            break;
        }
        bytes += l.len();
        records.push(Line {
            line: i,
            id: ids.get(i).cloned().flatten(),
            record: shown(l),
        });
        i += 1;
    }
    Page {
        total: lines.len(),
        records,
        next_cursor: (i < lines.len()).then_some(i),
    }
}

/// The line of record `id`, if the object holds it.
pub fn find(lines: &[&[u8]], ids: &[Option<String>], id: &str) -> Option<Line> {
    let i = ids.iter().position(|x| x.as_deref() == Some(id))?;
    Some(Line {
        line: i,
        id: Some(id.to_string()),
        record: shown(lines[i]),
    })
}

/// Parses a page's `cursor` (a line number) and `limit` (1 to [`MAX_PAGE_RECORDS`]);
/// `400 invalid_query` saying which is wrong.
pub fn page_query(cursor: Option<&str>, limit: Option<&str>) -> Result<(usize, usize), ApiError> {
    let invalid = |m: String| ApiError::new(ErrorCode::InvalidQuery, m);
    let cursor = match cursor {
        None => 0,
        Some(c) => c.parse().map_err(|_| {
            invalid(format!(
                "cursor must be a line number from a next_cursor, not {c:?}"
            ))
        })?,
    };
    let limit = match limit {
        None => DEFAULT_PAGE_RECORDS,
        Some(l) => l
            .parse()
            .ok()
            .filter(|n| (1..=MAX_PAGE_RECORDS).contains(n))
            .ok_or_else(|| invalid(format!("limit must be 1 to {MAX_PAGE_RECORDS}, not {l:?}")))?,
    };
    Ok((cursor, limit))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::batch;

    #[test]
    fn gzip_objects_read_back_as_their_lines() {
        let body = batch::encode(["{\"a\":1}", "{\"b\":2}"]);
        let text = object_text("x/1.ndjson.gz", batch::gzip(&body)).unwrap();
        assert_eq!(lines(&text), vec![&b"{\"a\":1}"[..], b"{\"b\":2}"]);
        assert_eq!(object_text("x/1.ndjson", body.clone()).unwrap(), body);
        assert!(matches!(
            object_text("x/1.ndjson.gz", body),
            Err(BrowseError::NotGzip(_))
        ));
        assert!(lines(b"").is_empty());
    }

    #[test]
    fn a_gzip_bomb_stops_at_the_bound() {
        let zeros = vec![b'\n'; (MAX_INFLATED_BYTES + 1) as usize];
        let gz = batch::gzip(&zeros);
        assert_eq!(object_text("b.gz", gz), Err(BrowseError::TooLarge));
    }

    #[test]
    fn payload_lines_take_the_claimed_ids_in_order() {
        let ls: Vec<&[u8]> = vec![b"{\"n\":1}", b"{\"n\":2}"];
        let claimed = vec!["01B".to_string(), "01A".to_string()];
        assert_eq!(
            line_ids(&ls, &claimed),
            vec![Some("01A".into()), Some("01B".into())]
        );
        // Claims that no longer number the lines name nothing rather than a wrong id.
        assert_eq!(line_ids(&ls, &claimed[..1]), vec![None, None]);
        let req: Vec<&[u8]> =
            vec![br#"{"id":"01Z","timeReceived":"t","collector":"c","payload":{}}"#];
        assert_eq!(line_ids(&req, &[]), vec![Some("01Z".into())]);
    }

    #[test]
    fn pages_follow_the_cursor_to_the_end() {
        let owned: Vec<String> = (0..5).map(|i| format!("{{\"n\":{i}}}")).collect();
        let ls: Vec<&[u8]> = owned.iter().map(std::string::String::as_bytes).collect();
        let ids = vec![None; 5];
        let p = page(&ls, &ids, 0, 2);
        assert_eq!((p.total, p.records.len(), p.next_cursor), (5, 2, Some(2)));
        assert_eq!(p.records[1].record, serde_json::json!({"n": 1}));
        let p = page(&ls, &ids, 4, 2);
        assert_eq!((p.records.len(), p.next_cursor), (1, None));
        assert!(page(&ls, &ids, 9, 2).records.is_empty());
        let bad: Vec<&[u8]> = vec![b"not json"];
        assert_eq!(page(&bad, &[None], 0, 1).records[0].record, "not json");
    }

    #[test]
    fn a_page_stops_at_its_byte_bound_but_always_moves() {
        let big = "x".repeat(MAX_PAGE_BYTES);
        let ls: Vec<&[u8]> = vec![big.as_bytes(), big.as_bytes()];
        let p = page(&ls, &[None, None], 0, 10);
        assert_eq!((p.records.len(), p.next_cursor), (1, Some(1)));
    }

    #[test]
    fn finds_a_record_by_id() {
        let ls: Vec<&[u8]> = vec![b"{\"n\":1}", b"{\"n\":2}"];
        let ids = vec![Some("a".to_string()), Some("b".to_string())];
        assert_eq!(find(&ls, &ids, "b").unwrap().line, 1);
        assert!(find(&ls, &ids, "c").is_none());
    }

    #[test]
    fn page_query_bounds() {
        assert_eq!(page_query(None, None), Ok((0, DEFAULT_PAGE_RECORDS)));
        assert_eq!(page_query(Some("40"), Some("100")), Ok((40, 100)));
        assert!(page_query(Some("-1"), None).is_err());
        assert!(page_query(None, Some("0")).is_err());
        assert!(page_query(None, Some("101")).is_err());
    }
}
