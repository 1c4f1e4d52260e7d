//! Strict JSON: how edgehook reads every JSON text it accepts from outside (webhook
//! bodies, event payloads, result PATCHes, admin requests).
//!
//! The grammar is RFC 8259's, read by serde_json's parser; on top of it, I-JSON's rule
//! (RFC 7493 §2.3) that the member names of an object are unique, because readers
//! disagree on which of two equal names wins: a step checking the last value while the
//! archive keeps both members would let a sender smuggle a value past the step. Nesting
//! is limited to [`MAX_DEPTH`] levels, which bounds the stack of every later walk of the
//! tree.
//!
//! [`parse`] builds the tree; [`check`] applies the same rules without building it (for
//! a webhook archived as the sender's own bytes), so both accept and refuse the same
//! texts with the same error.

use std::borrow::Cow;
use std::collections::HashSet;
use std::fmt;

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::map::Entry;
use serde_json::{Map, Number, Value};

use crate::error::{ApiError, ErrorCode};

/// Deepest nesting of arrays and objects accepted: `[[…]]` 128 deep is read, 129 deep is
/// refused.
pub const MAX_DEPTH: usize = 128;

/// Why a text is not strict JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JsonError {
    /// Not JSON at all: serde_json's sentence, which says what and where.
    Syntax(String),
    /// An object repeats a member name; `pointer` is the RFC 6901 JSON pointer of the
    /// repeated member.
    DuplicateKey {
        /// JSON pointer of the member named twice (`/user/id` for `{"user":{"id":1,"id":2}}`).
        pointer: String,
        /// Where the second one is: `line L column C`.
        position: String,
    },
    /// Arrays and objects nested deeper than [`MAX_DEPTH`].
    TooDeep {
        /// Where the first container too deep starts: `line L column C`.
        position: String,
    },
}

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JsonError::Syntax(e) => f.write_str(e),
            JsonError::DuplicateKey { pointer, position } => write!(
                f,
                "member name repeated at {pointer} ({position}); the names in an object must be unique"
            ),
            JsonError::TooDeep { position } => write!(
                f,
                "arrays and objects nested deeper than {MAX_DEPTH} levels ({position})"
            ),
        }
    }
}

impl std::error::Error for JsonError {}

impl From<JsonError> for ApiError {
    /// `400 duplicate_key` for a repeated member name, else `400 invalid_json`.
    fn from(e: JsonError) -> Self {
        match e {
            JsonError::DuplicateKey { .. } => {
                ApiError::new(ErrorCode::DuplicateKey, format!("the body is refused: {e}"))
            }
            _ => ApiError::new(
                ErrorCode::InvalidJson,
                format!("the body is not valid JSON: {e}"),
            ),
        }
    }
}

/// Parses `bytes` as strict JSON into a tree.
pub fn parse(bytes: &[u8]) -> Result<Value, JsonError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    read(&mut de, bytes, true).map(|v| v.unwrap_or(Value::Null))
}

/// Checks that `text` is strict JSON exactly as [`parse`] would, same errors included,
/// without building the tree.
pub fn check(text: &str) -> Result<(), JsonError> {
    let mut de = serde_json::Deserializer::from_str(text);
    read(&mut de, text.as_bytes(), false).map(|_| ())
}

fn read<'de, R: serde_json::de::Read<'de>>(
    de: &mut serde_json::Deserializer<R>,
    input: &[u8],
    build: bool,
) -> Result<Option<Value>, JsonError> {
    // The depth is counted here instead, so that the limit is exactly MAX_DEPTH.
    de.disable_recursion_limit();
    let mut state = State {
        input: input.as_ptr_range().start as usize..input.as_ptr_range().end as usize,
        names: Vec::new(),
        failure: None,
    };
    let node = Node {
        state: &mut state,
        depth: 0,
        build,
    };
    let value = node
        .deserialize(&mut *de)
        .and_then(|v| de.end().map(|()| v));
    value.map_err(|e| {
        let position = format!("line {} column {}", e.line(), e.column());
        match state.failure {
            None => JsonError::Syntax(e.to_string()),
            Some(Failure::TooDeep) => JsonError::TooDeep { position },
            Some(Failure::Duplicate(reversed)) => JsonError::DuplicateKey {
                pointer: reversed.iter().rev().fold(String::new(), |mut p, segment| {
                    p.push('/');
                    p.push_str(&segment.replace('~', "~0").replace('/', "~1"));
                    p
                }),
                position,
            },
        }
    })
}

/// A rule of this module broken (as opposed to the grammar).
enum Failure {
    TooDeep,
    /// The pointer's segments, innermost first: each container the error passes on its
    /// way out adds its own.
    Duplicate(Vec<String>),
}

struct State<'de> {
    /// Where the input text is in memory: a member name borrowed from it is the
    /// sender's, anything else serde_json's own.
    input: std::ops::Range<usize>,
    /// The member names of the objects being read when not building, each object's
    /// after its enclosing objects' (an object's own start at the end of its loop).
    names: Vec<Cow<'de, str>>,
    failure: Option<Failure>,
}

impl State<'_> {
    /// Adds `segment` to the pointer of a duplicate on its way out.
    fn locate(&mut self, segment: impl FnOnce() -> String) {
        if let Some(Failure::Duplicate(segments)) = &mut self.failure {
            segments.push(segment());
        }
    }
}

/// Objects with more names than this are checked through a hash set, smaller ones by
/// comparing with each name before: either way linear in the object's size.
const LINEAR_NAMES: usize = 16;

/// serde_json (with `arbitrary_precision`) hands a number over as a one-member map with
/// this name holding the number's text, as `serde_json::Value` reads it.
const NUMBER_TOKEN: &str = "$serde_json::private::Number";

/// One JSON value to read: a tree when `build`, nothing otherwise.
struct Node<'s, 'de> {
    state: &'s mut State<'de>,
    depth: usize,
    build: bool,
}

impl<'de> DeserializeSeed<'de> for Node<'_, 'de> {
    type Value = Option<Value>;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Option<Value>, D::Error> {
        d.deserialize_any(self)
    }
}

impl Node<'_, '_> {
    fn leaf(&self, value: impl FnOnce() -> Value) -> Option<Value> {
        self.build.then(value)
    }

    /// The depth of a container opened here, or the error when it is one too many.
    fn enter<E: de::Error>(&mut self) -> Result<usize, E> {
        if self.depth >= MAX_DEPTH {
            self.state.failure = Some(Failure::TooDeep);
            return Err(E::custom(format!("nested deeper than {MAX_DEPTH} levels")));
        }
        Ok(self.depth + 1)
    }
}

impl<'de> Visitor<'de> for Node<'_, 'de> {
    type Value = Option<Value>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, b: bool) -> Result<Option<Value>, E> {
        Ok(self.leaf(|| Value::Bool(b)))
    }

    fn visit_i64<E>(self, n: i64) -> Result<Option<Value>, E> {
        Ok(self.leaf(|| Value::Number(n.into())))
    }

    fn visit_u64<E>(self, n: u64) -> Result<Option<Value>, E> {
        Ok(self.leaf(|| Value::Number(n.into())))
    }

    fn visit_f64<E>(self, n: f64) -> Result<Option<Value>, E> {
        Ok(self.leaf(|| Number::from_f64(n).map_or(Value::Null, Value::Number)))
    }

    fn visit_str<E>(self, s: &str) -> Result<Option<Value>, E> {
        Ok(self.leaf(|| Value::String(s.to_owned())))
    }

    fn visit_string<E>(self, s: String) -> Result<Option<Value>, E> {
        Ok(self.leaf(|| Value::String(s)))
    }

    fn visit_unit<E>(self) -> Result<Option<Value>, E> {
        Ok(self.leaf(|| Value::Null))
    }

    fn visit_seq<A: SeqAccess<'de>>(mut self, mut seq: A) -> Result<Option<Value>, A::Error> {
        let depth = self.enter()?;
        let mut items = Vec::new();
        let mut index = 0usize;
        loop {
            let item = Node {
                state: self.state,
                depth,
                build: self.build,
            };
            match seq.next_element_seed(item) {
                Ok(None) => break,
                Ok(Some(v)) => items.extend(v),
                Err(e) => {
                    self.state.locate(|| index.to_string());
                    return Err(e);
                }
            }
            index += 1;
        }
        Ok(self.build.then(|| Value::Array(items)))
    }

    fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<Option<Value>, A::Error> {
        let Some(first) = map.next_key_seed(Name)? else {
            self.enter()?;
            return Ok(self.leaf(|| Value::Object(Map::new())));
        };
        if first == NUMBER_TOKEN {
            // A number serde_json already checked needs no second look unless it is kept.
            let ours = match &first {
                Cow::Borrowed(s) => !self.state.input.contains(&(s.as_ptr() as usize)),
                Cow::Owned(_) => false,
            };
            if ours && !self.build {
                map.next_value::<de::IgnoredAny>()?;
                return Ok(None);
            }
            // Built, or an object that names its member so: read as `Value` reads it.
            let text: Cow<'de, str> = map.next_value_seed(Name)?;
            let number = text
                .parse::<Number>()
                .map_err(|_| de::Error::custom("invalid number"))?;
            return Ok(self.leaf(|| Value::Number(number)));
        }
        let depth = self.enter()?;
        if self.build {
            self.build_object(map, first, depth)
        } else {
            self.check_object(map, first, depth).map(|()| None)
        }
    }
}

impl<'s, 'de> Node<'s, 'de> {
    /// The error for member `name` given twice.
    fn repeated<E: de::Error>(&mut self, name: &str) -> E {
        self.state.failure = Some(Failure::Duplicate(vec![name.to_owned()]));
        E::custom("member name repeated")
    }

    fn build_object<A: MapAccess<'de>>(
        mut self,
        mut map: A,
        first: Cow<'de, str>,
        depth: usize,
    ) -> Result<Option<Value>, A::Error> {
        let mut object = Map::new();
        let mut name = first;
        loop {
            match object.entry(name.into_owned()) {
                Entry::Occupied(o) => return Err(self.repeated(o.key())),
                Entry::Vacant(slot) => {
                    let value = Node {
                        state: &mut *self.state,
                        depth,
                        build: true,
                    };
                    match map.next_value_seed(value) {
                        Ok(v) => {
                            slot.insert(v.unwrap_or(Value::Null));
                        }
                        Err(e) => {
                            self.state.locate(|| slot.key().clone());
                            return Err(e);
                        }
                    }
                }
            }
            match map.next_key_seed(Name)? {
                Some(next) => name = next,
                None => return Ok(Some(Value::Object(object))),
            }
        }
    }

    fn check_object<A: MapAccess<'de>>(
        mut self,
        mut map: A,
        first: Cow<'de, str>,
        depth: usize,
    ) -> Result<(), A::Error> {
        // This object's names go on the shared stack after its enclosing objects' (each
        // nested object takes its own off again), or past LINEAR_NAMES into a set.
        let start = self.state.names.len();
        let mut large: Option<HashSet<Cow<'de, str>>> = None;
        let mut name = first;
        loop {
            let new = match &mut large {
                Some(set) => set.insert(name.clone()),
                None if self.state.names[start..].contains(&name) => false,
                None => {
                    self.state.names.push(name.clone());
                    if self.state.names.len() - start > LINEAR_NAMES {
                        large = Some(self.state.names.drain(start..).collect());
                    }
                    true
                }
            };
            if !new {
                return Err(self.repeated(&name));
            }
            let value = Node {
                state: &mut *self.state,
                depth,
                build: false,
            };
            if let Err(e) = map.next_value_seed(value) {
                self.state.locate(|| name.into_owned());
                return Err(e);
            }
            match map.next_key_seed(Name)? {
                Some(next) => name = next,
                None => break,
            }
        }
        self.state.names.truncate(start);
        Ok(())
    }
}

/// A member name (or a number's text), borrowed from the input when it has no escapes.
struct Name;

impl<'de> DeserializeSeed<'de> for Name {
    type Value = Cow<'de, str>;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Cow<'de, str>, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for Name {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Cow<'de, str>, E> {
        Ok(Cow::Borrowed(s))
    }

    fn visit_str<E>(self, s: &str) -> Result<Cow<'de, str>, E> {
        Ok(Cow::Owned(s.to_owned()))
    }

    fn visit_string<E>(self, s: String) -> Result<Cow<'de, str>, E> {
        Ok(Cow::Owned(s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pointer(text: &str) -> String {
        match parse(text.as_bytes()) {
            Err(JsonError::DuplicateKey { pointer, .. }) => pointer,
            other => panic!("{text}: {other:?}"),
        }
    }

    #[test]
    fn a_repeated_member_name_is_refused_with_its_pointer() {
        assert_eq!(
            pointer(r#"{"user_id":"alice","user_id":"mallory"}"#),
            "/user_id"
        );
        assert_eq!(
            pointer(r#"{"a":[{"b":1},{"c":{"d":1,"d":2}}]}"#),
            "/a/1/c/d"
        );
        // Names are compared once unescaped.
        assert_eq!(pointer(r#"{"a":1,"\u0061":2}"#), "/a");
        // RFC 6901 escapes.
        assert_eq!(pointer(r#"{"a/b~":{"x":1,"x":2}}"#), "/a~1b~0/x");
        // Past the linear scan, through the set.
        let many: Vec<String> = (0..100).map(|i| format!(r#""k{i}":{i}"#)).collect();
        assert_eq!(
            pointer(&format!(r#"{{"o":{{{},"k50":0}}}}"#, many.join(","))),
            "/o/k50"
        );
        let e = parse(br#"{"user_id":"alice","user_id":"mallory"}"#).unwrap_err();
        assert_eq!(
            e.to_string(),
            "member name repeated at /user_id (line 1 column 28); the names in an object must be unique"
        );
        assert_eq!(check(r#"{"user_id":"alice","user_id":"mallory"}"#), Err(e));
    }

    #[test]
    fn equal_names_in_different_objects_are_fine() {
        for text in [
            r#"{"a":{"x":1},"b":{"x":1},"x":1}"#,
            r#"[{"a":1},{"a":1}]"#,
            r#"{"a":{"b":1},"b":2}"#,
        ] {
            assert!(parse(text.as_bytes()).is_ok(), "{text}");
            assert!(check(text).is_ok(), "{text}");
        }
    }

    #[test]
    fn nesting_is_read_to_128_levels_and_refused_at_129() {
        for (open, close) in [("[", "]"), ("{\"a\":", "}")] {
            let nested = |depth: usize| {
                let inner = if open == "[" { "" } else { "1" };
                format!("{}{inner}{}", open.repeat(depth), close.repeat(depth))
            };
            assert!(parse(nested(MAX_DEPTH).as_bytes()).is_ok());
            assert!(check(&nested(MAX_DEPTH)).is_ok());
            for depth in [MAX_DEPTH + 1, 100_000] {
                let e = parse(nested(depth).as_bytes()).unwrap_err();
                assert!(matches!(e, JsonError::TooDeep { .. }), "{e:?}");
                assert_eq!(check(&nested(depth)), Err(e));
            }
        }
    }

    #[test]
    fn malformed_json_is_a_syntax_error() {
        let e = parse(b"{\"a\":").unwrap_err();
        assert_eq!(
            e,
            JsonError::Syntax("EOF while parsing a value at line 1 column 5".into())
        );
    }

    /// `check` must accept exactly what `parse` accepts and refuse the rest with the same
    /// error, message and position included; and what `parse` builds is serde_json's own
    /// tree of the text. (`accept` checks only UTF-8 bodies; any other is parsed, and
    /// refused.)
    fn assert_checks_as_it_parses(body: &[u8]) {
        let parsed = parse(body);
        let shown = String::from_utf8_lossy(body);
        match std::str::from_utf8(body) {
            Ok(text) => assert_eq!(check(text), parsed.clone().map(|_| ()), "for {shown:?}"),
            Err(_) => assert!(parsed.is_err(), "for {shown:?}"),
        }
        if let Ok(tree) = parsed {
            // (serde_json's own limit stops one level short of ours.)
            let mut de = serde_json::Deserializer::from_slice(body);
            de.disable_recursion_limit();
            let theirs = <Value as serde::Deserialize>::deserialize(&mut de).unwrap();
            assert_eq!(tree, theirs, "for {shown:?}");
            assert_eq!(tree.to_string(), theirs.to_string(), "for {shown:?}");
        }
    }

    #[test]
    fn checking_agrees_with_parsing_on_edge_cases() {
        let nested = |depth: usize, open: &str, close: &str| {
            format!("{}{}", open.repeat(depth), close.repeat(depth))
        };
        let mut cases: Vec<Vec<u8>> = [
            "",
            " ",
            "{}",
            "[]",
            "null",
            "true",
            "fals",
            "0",
            "-0",
            "01",
            "1.",
            "1e",
            "-",
            "1e400",
            "-1e400",
            "12345678901234567890123",
            "1.10",
            "1E+2",
            "2.5e-3",
            "NaN",
            "\"s\"",
            "\"\\u00e9\"",
            "\"\\ud83d\\ude00\"",
            "\"\\ud83d\"",
            "\"\\ude00\"",
            "\"\\ud83dx\"",
            "\"\\u12\"",
            "\"\\x\"",
            "\"tab\there\"",
            "\"nl\nx\"",
            "\"\u{7f}\"",
            "{\"a\":1,\"a\":2}",
            "{\"a\" 1}",
            "{\"a\":1,}",
            "[1,]",
            "[1 2]",
            "{1:2}",
            "{\"a\":[1,{\"b\":null}]} ",
            "{} {}",
            "{}x",
            "\u{feff}{}",
            "[\"\u{e9}\"]",
            "{\"\\ud800\":1}",
            "{\"k\":\"v\"",
            "[[[]]",
            " \t\r\n[\n1\n]\n",
            "{\"a\":{\"b\":1},\"b\":{\"b\":2}}",
            "{\"a\":1,\"\\u0061\":2}",
            "[{\"a\":1},{\"a\":1,\"b\":[{\"c\":1,\"c\":1}]}]",
            "{\"$serde_json::private::Number\":\"12\"}",
            "{\"$serde_json::private::Number\":\"x\"}",
            "{\"$serde_json::private::Number\":1}",
            "{\"$serde_json::private::Number\":\"12\",\"a\":1}",
            "{\"$serde_json::private::Numbe\\u0072\":\"x\"}",
            "{\"$serde_json::private::Numbe\\u0072\":\"-1.50\"}",
            "[1.5e300, -0.0, 0.1, 18446744073709551616]",
        ]
        .iter()
        .map(|s| s.as_bytes().to_vec())
        .collect();
        let wide: Vec<String> = (0..40)
            .map(|i| format!("\"k{i}\":{{\"k{i}\":[]}}"))
            .collect();
        cases.push(format!("{{{}}}", wide.join(",")).into_bytes());
        cases.push(format!("{{{},\"k39\":0}}", wide.join(",")).into_bytes());
        cases.push(format!("{{{},\"k3\":0}}", wide.join(",")).into_bytes());
        for depth in [127, 128, 129, 500] {
            cases.push(nested(depth, "[", "]").into_bytes());
            cases.push(format!("{}1{}", "{\"a\":".repeat(depth), "}".repeat(depth)).into_bytes());
        }
        cases.push(b"\"\xff\"".to_vec());
        cases.push(b"{\"\xc3\":1}".to_vec());
        cases.push(b"\"\xed\xa0\x80\"".to_vec());
        for body in &cases {
            assert_checks_as_it_parses(body);
        }
    }

    #[test]
    fn checking_agrees_with_parsing_on_random_json_like_text() {
        // Short texts drawn from JSON's own alphabet (and a few bytes outside it), so
        // most are near-misses of valid JSON and both parsers' error paths are walked.
        const PIECES: &[&str] = &[
            "{", "}", "[", "]", ":", ",", "\"", "\"k\"", "\"\\u", "d83d", "dc00", "00e9", "\\",
            "n", "1", "0", "-", ".", "e", "E", "+", "9", "true", "null", " ", "\n", "\u{e9}",
            "\u{1}", "\t",
        ];
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut valid = 0;
        for _ in 0..50_000 {
            let len = (next() % 12) as usize;
            let text: String = (0..len)
                .map(|_| PIECES[(next() % PIECES.len() as u64) as usize])
                .collect();
            valid += usize::from(parse(text.as_bytes()).is_ok());
            assert_checks_as_it_parses(text.as_bytes());
        }
        // The draw must reach both sides, or agreement would mean little.
        assert!(valid > 500, "only {valid} valid texts were drawn");
    }
}
