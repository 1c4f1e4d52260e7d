//! RFC 9535 JSONPath for steps: compiled when the config loads, evaluated with
//! `query_located`, and applied by walking owned locations, so rewriting a payload costs
//! time linear in its size.

use std::cmp::Ordering;

use serde::{Deserialize, Deserializer};
use serde_json::Value;
use serde_json_path::JsonPath;
use serde_json_path::{NormalizedPath, PathElement};

/// A compiled JSONPath that keeps its source text for messages.
#[derive(Debug, Clone)]
pub struct Path {
    /// The query as written in the config.
    pub text: String,
    compiled: JsonPath,
}

impl<'de> Deserialize<'de> for Path {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Path::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// A JSONPath that is not valid RFC 9535.
#[derive(Debug, thiserror::Error)]
#[error("{text:?} is not a valid JSONPath: {source}")]
pub struct InvalidPath {
    /// The path as written.
    pub text: String,
    /// Why the parser refused it.
    #[source]
    pub source: serde_json_path::ParseError,
}

/// One step of a location: an object member or an array index.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Segment {
    /// Object member name.
    Name(String),
    /// Array index.
    Index(usize),
}

/// Where a node is, from the root.
pub type Location = Vec<Segment>;

impl Path {
    /// Compiles `text`; the error says why it is not valid RFC 9535.
    pub fn parse(text: &str) -> Result<Path, InvalidPath> {
        let compiled = JsonPath::parse(text).map_err(|source| InvalidPath {
            text: text.to_string(),
            source,
        })?;
        Ok(Path {
            text: text.to_string(),
            compiled,
        })
    }

    /// The nodes `self` selects in `value`.
    pub fn nodes<'v>(&self, value: &'v Value) -> Vec<&'v Value> {
        self.compiled.query(value).all()
    }

    /// The locations of the nodes `self` selects in `value`, in document order.
    pub fn locate(&self, value: &Value) -> Vec<Location> {
        self.compiled
            .query_located(value)
            .locations()
            .map(owned)
            .collect()
    }
}

fn owned(path: &NormalizedPath<'_>) -> Location {
    path.iter()
        .map(|e| match e {
            PathElement::Name(n) => Segment::Name(n.to_string()),
            PathElement::Index(i) => Segment::Index(*i),
        })
        .collect()
}

/// The node at `loc`, if it is still there.
pub fn get_mut<'v>(value: &'v mut Value, loc: &[Segment]) -> Option<&'v mut Value> {
    let mut node = value;
    for seg in loc {
        node = match (seg, node) {
            (Segment::Name(n), Value::Object(map)) => map.get_mut(n.as_str())?,
            (Segment::Index(i), Value::Array(items)) => items.get_mut(*i)?,
            _ => return None,
        };
    }
    Some(node)
}

/// Removes the nodes at `locs` from `value`; returns how many were removed. Removals go
/// deepest and highest index first, so removing one never shifts another's location.
/// The root itself cannot be removed and is skipped.
pub fn remove_all(value: &mut Value, mut locs: Vec<Location>) -> usize {
    locs.sort_by(|a, b| compare(b, a));
    locs.dedup();
    let mut removed = 0;
    for loc in locs {
        let Some((last, parent)) = loc.split_last() else {
            continue;
        };
        let Some(parent) = get_mut(value, parent) else {
            continue;
        };
        let gone = match (last, parent) {
            // shift_remove keeps the other members' order (preserve_order).
            (Segment::Name(n), Value::Object(map)) => map.shift_remove(n.as_str()).is_some(),
            (Segment::Index(i), Value::Array(items)) if *i < items.len() => {
                items.remove(*i);
                true
            }
            _ => false,
        };
        removed += usize::from(gone);
    }
    removed
}

/// Orders locations segment by segment (indexes numerically); a location sorts after
/// its ancestors.
fn compare(a: &[Segment], b: &[Segment]) -> Ordering {
    for (x, y) in a.iter().zip(b) {
        let o = match (x, y) {
            (Segment::Index(i), Segment::Index(j)) => i.cmp(j),
            (Segment::Name(m), Segment::Name(n)) => m.cmp(n),
            (Segment::Index(_), Segment::Name(_)) => Ordering::Less,
            (Segment::Name(_), Segment::Index(_)) => Ordering::Greater,
        };
        if o != Ordering::Equal {
            return o;
        }
    }
    a.len().cmp(&b.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn invalid_paths_are_refused_with_their_text() {
        let e = Path::parse("$.a[").unwrap_err().to_string();
        assert!(e.starts_with("\"$.a[\" is not a valid JSONPath"), "{e}");
    }

    #[test]
    fn removes_deepest_and_highest_index_first() {
        let mut v = json!({"a": [0, 1, 2, 3, {"b": 1, "c": 2}], "d": {"e": 1}});
        let p = Path::parse("$.a[1,3,4].c").unwrap();
        assert_eq!(p.locate(&v).len(), 1);
        let p = Path::parse("$.a[1,3,4,0]").unwrap();
        let mut locs = p.locate(&v);
        locs.extend(Path::parse("$.a[4].b").unwrap().locate(&v));
        assert_eq!(remove_all(&mut v, locs), 5);
        assert_eq!(v, json!({"a": [2], "d": {"e": 1}}));
    }

    #[test]
    fn removal_keeps_member_order_and_skips_the_root() {
        let mut v = json!({"z": 1, "y": 2, "x": 3});
        let locs = Path::parse("$.y").unwrap().locate(&v);
        remove_all(&mut v, locs);
        assert_eq!(v.to_string(), r#"{"z":1,"x":3}"#);
        let locs = Path::parse("$").unwrap().locate(&v);
        assert_eq!(remove_all(&mut v, locs), 0);
    }
}
