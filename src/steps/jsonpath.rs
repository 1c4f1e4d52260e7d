//! RFC 9535 JSONPath for steps, evaluated in one walk of the payload.
//!
//! serde_json_path checks a path's syntax when the config loads and evaluates filter
//! expressions (`[?…]`); the segments are evaluated here, as an automaton whose states
//! count how many segments of a path hold so far. One walk down the payload carries the
//! set of live states to each node (a descendant segment's state stays live all the way
//! down), so each node is looked at once per path whatever the nesting, and a node that
//! several routes lead to (`$..user..email` under nested users, or two paths) is
//! selected once. Nothing is located by lists of member names: steps read, rewrite or
//! remove the selected nodes during the walk.
//!
//! Inside a filter, the root `$` and descendant segments `..` are refused: each test would
//! read the whole payload, or a whole subtree, again, so the work would grow with the
//! square of the payload.

use serde::{Deserialize, Deserializer};
use serde_json::Value;
use serde_json_path::JsonPath;

/// A path has one automaton state per segment plus one; a step's paths share this many.
const MAX_STATES: usize = 128;

/// A compiled JSONPath that keeps its source text for messages.
#[derive(Debug, Clone)]
pub struct Path {
    /// The query as written in the config.
    pub text: String,
    matcher: Matcher,
}

impl<'de> Deserialize<'de> for Path {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Path::parse(&text).map_err(serde::de::Error::custom)
    }
}

crate::refusal! {
    /// Why a JSONPath (or a step's set of them) is refused: the path's text and the reason.
    InvalidPath
}

impl Path {
    /// Compiles `text`; the message says why it is not valid RFC 9535, or which part
    /// edgehook refuses.
    pub fn parse(text: &str) -> Result<Path, InvalidPath> {
        JsonPath::parse(text).map_err(|e| format!("{text:?} is not a valid JSONPath: {e}"))?;
        let segments = Parser { rest: text }
            .query()
            .map_err(|why| format!("{text:?}: {why}"))?;
        if segments.len() >= MAX_STATES {
            return Err(format!(
                "{text:?} has {} segments; at most {} are evaluated",
                segments.len(),
                MAX_STATES - 1
            )
            .into());
        }
        let mut next: Vec<Option<Segment>> = segments.into_iter().map(Some).collect();
        next.push(None);
        let accept = 1 << (next.len() - 1);
        Ok(Path {
            text: text.to_string(),
            matcher: Matcher {
                next,
                start: 1,
                accept,
            },
        })
    }

    /// The nodes `self` selects in `value`, each once, in document order.
    pub fn nodes<'v>(&self, value: &'v Value) -> Vec<&'v Value> {
        self.matcher.select(value)
    }

    /// Whether the path is `$` alone: the payload itself.
    pub fn is_root(&self) -> bool {
        self.matcher.next.len() == 1
    }
}

/// One segment: `[selectors]` of the current node's children, or `..[selectors]` of
/// the children of the current node and of all its descendants.
#[derive(Debug, Clone)]
struct Segment {
    descendant: bool,
    selectors: Vec<Selector>,
}

#[derive(Debug, Clone)]
enum Selector {
    Name(String),
    Wildcard,
    Index(i64),
    Slice(Slice),
    /// `$[?expr]`: applied to a node, it yields the node's children the test holds for.
    Filter(JsonPath),
}

#[derive(Debug, Clone, Copy)]
struct Slice {
    start: Option<i64>,
    end: Option<i64>,
    step: i64,
}

/// What to do with a node a [`Matcher::rewrite`] selected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Leave it in place (the callback may have changed it).
    Keep,
    /// Remove it from its parent.
    Remove,
}

/// One or more paths compiled into one automaton: a node is selected when any path
/// selects it, and is selected once.
#[derive(Debug, Clone)]
pub struct Matcher {
    /// For each state, the segment that leads on from it; `None` where a path ends.
    next: Vec<Option<Segment>>,
    /// The states at the payload itself: each path's first.
    start: u128,
    /// The states where a path ends: a node reached in one is selected.
    accept: u128,
}

impl Matcher {
    /// The automaton of all of `paths`; refused when they have more than 128 states
    /// (segments, plus one per path) in all.
    pub fn new(paths: &[Path]) -> Result<Matcher, InvalidPath> {
        let states: usize = paths.iter().map(|p| p.matcher.next.len()).sum();
        if states > MAX_STATES {
            return Err(format!(
                "these paths have {states} segments and roots in all; at most {MAX_STATES} \
                 fit in one step (split them across steps)"
            )
            .into());
        }
        let mut m = Matcher {
            next: Vec::with_capacity(states),
            start: 0,
            accept: 0,
        };
        for p in paths {
            m.start |= p.matcher.start << m.next.len();
            m.accept |= p.matcher.accept << m.next.len();
            m.next.extend(p.matcher.next.iter().cloned());
        }
        Ok(m)
    }

    /// The selected nodes of `root`, each once, in document order.
    fn select<'v>(&self, root: &'v Value) -> Vec<&'v Value> {
        let mut found = Vec::new();
        self.select_from(root, self.start, &mut found);
        found
    }

    fn select_from<'v>(&self, node: &'v Value, states: u128, found: &mut Vec<&'v Value>) {
        if states & self.accept != 0 {
            found.push(node);
        }
        let live = states & !self.accept;
        if live == 0 {
            return;
        }
        let mut filtered = self.filter(node, live);
        let mut visit = |place: Place<'_>, child: &'v Value| {
            let states = self.child_states(live, place, &mut filtered);
            if states != 0 {
                self.select_from(child, states, found);
            }
        };
        match node {
            Value::Array(items) => {
                for (i, child) in items.iter().enumerate() {
                    visit(Place::Item(i, items.len()), child);
                }
            }
            Value::Object(map) => {
                for (i, (name, child)) in map.iter().enumerate() {
                    visit(Place::Member(i, name), child);
                }
            }
            _ => {}
        }
    }

    /// Calls `act` on every selected node, once each, and removes from its parent each
    /// one `act` answers [`Action::Remove`] for. A selected node is not searched further:
    /// `act` gets it whole. The payload itself may be selected but is never removed.
    /// Returns how many nodes were selected.
    pub fn rewrite(&self, root: &mut Value, act: &mut dyn FnMut(&mut Value) -> Action) -> usize {
        if self.start & self.accept != 0 {
            act(root);
            return 1;
        }
        self.rewrite_children(root, self.start, act)
    }

    fn rewrite_children(
        &self,
        node: &mut Value,
        live: u128,
        act: &mut dyn FnMut(&mut Value) -> Action,
    ) -> usize {
        let mut filtered = self.filter(node, live);
        let mut selected = 0;
        let mut removed = Vec::new();
        let mut visit = |i: usize, place: Place<'_>, child: &mut Value| {
            let states = self.child_states(live, place, &mut filtered);
            if states & self.accept != 0 {
                selected += 1;
                if act(child) == Action::Remove {
                    removed.push(i);
                }
            } else if states != 0 {
                selected += self.rewrite_children(child, states, act);
            }
        };
        match node {
            Value::Array(items) => {
                let len = items.len();
                for (i, child) in items.iter_mut().enumerate() {
                    visit(i, Place::Item(i, len), child);
                }
            }
            Value::Object(map) => {
                for (i, (name, child)) in map.iter_mut().enumerate() {
                    visit(i, Place::Member(i, name), child);
                }
            }
            _ => {}
        }
        if !removed.is_empty() {
            // One pass over the parent, however many of its children go.
            let mut gone = removed.into_iter().peekable();
            let mut i = 0;
            let mut keep = || {
                let remove = gone.next_if_eq(&i).is_some();
                i += 1;
                !remove
            };
            match node {
                Value::Array(items) => items.retain(|_| keep()),
                Value::Object(map) => map.retain(|_, _| keep()),
                _ => {}
            }
        }
        selected
    }

    /// The live states among `live` with the segment leading on from each.
    fn segments(&self, live: u128) -> impl Iterator<Item = (usize, &Segment)> {
        let mut bits = live;
        std::iter::from_fn(move || {
            while bits != 0 {
                let state = bits.trailing_zeros() as usize;
                bits &= bits - 1;
                if let Some(Some(segment)) = self.next.get(state) {
                    return Some((state, segment));
                }
            }
            None
        })
    }

    /// The states a child at `place` is reached in, from its parent's live states;
    /// children are asked about in order.
    fn child_states(&self, live: u128, place: Place<'_>, filtered: &mut [Passed]) -> u128 {
        let mut states = 0;
        for (state, segment) in self.segments(live) {
            if segment.descendant {
                // Still looking further down.
                states |= 1 << state;
            }
            if segment.selectors.iter().any(|s| s.selects(place)) {
                states |= 1 << (state + 1);
            }
        }
        let (Place::Item(i, _) | Place::Member(i, _)) = place;
        for passed in filtered {
            if passed.children.next_if_eq(&i).is_some() {
                states |= passed.state;
            }
        }
        states
    }

    /// Runs the filter selectors of the live states on `node`'s children, up front (a
    /// filter is evaluated on the parent); empty, and free, when no filter is live.
    fn filter(&self, node: &Value, live: u128) -> Vec<Passed> {
        let mut out = Vec::new();
        for (state, segment) in self.segments(live) {
            for selector in &segment.selectors {
                let Selector::Filter(test) = selector else {
                    continue;
                };
                // The passing children come in order: find their positions in one pass.
                let mut passing = test.query(node).all().into_iter().peekable();
                let positions: Vec<usize> = children(node)
                    .enumerate()
                    .filter(|(_, child)| passing.next_if(|p| std::ptr::eq(*p, *child)).is_some())
                    .map(|(i, _)| i)
                    .collect();
                out.push(Passed {
                    state: 1 << (state + 1),
                    children: positions.into_iter().peekable(),
                });
            }
        }
        out
    }
}

/// Where a child is in its parent.
#[derive(Debug, Clone, Copy)]
enum Place<'k> {
    /// An object member: position, name.
    Member(usize, &'k str),
    /// An array item: index, array length.
    Item(usize, usize),
}

/// The children of one node a filter passed, by position, and the state they reach.
struct Passed {
    state: u128,
    children: std::iter::Peekable<std::vec::IntoIter<usize>>,
}

impl Selector {
    /// Whether the selector selects the child at `place` (filters are run apart).
    fn selects(&self, place: Place<'_>) -> bool {
        match (self, place) {
            (Selector::Wildcard, _) => true,
            (Selector::Name(name), Place::Member(_, member)) => name == member,
            (Selector::Index(index), Place::Item(i, len)) => {
                let len = len as i64;
                let index = if *index < 0 { len + index } else { *index };
                index == i as i64
            }
            (Selector::Slice(slice), Place::Item(i, len)) => slice.contains(i as i64, len as i64),
            _ => false,
        }
    }
}

impl Slice {
    /// Whether index `i` of an array of `len` is in the slice (RFC 9535 §2.3.4.2.2).
    fn contains(&self, i: i64, len: i64) -> bool {
        let normal = |n: i64| if n < 0 { len + n } else { n };
        let step = self.step;
        if step > 0 {
            let lower = normal(self.start.unwrap_or(0)).clamp(0, len);
            let upper = normal(self.end.unwrap_or(len)).clamp(0, len);
            lower <= i && i < upper && (i - lower) % step == 0
        } else if step < 0 {
            let upper = normal(self.start.unwrap_or(len - 1)).clamp(-1, len - 1);
            let lower = normal(self.end.unwrap_or(-len - 1)).clamp(-1, len - 1);
            lower < i && i <= upper && (upper - i) % step == 0
        } else {
            false
        }
    }
}

/// The children of an array or object, in order; none for a scalar.
fn children(node: &Value) -> Box<dyn Iterator<Item = &Value> + '_> {
    match node {
        Value::Array(items) => Box::new(items.iter()),
        Value::Object(map) => Box::new(map.values()),
        _ => Box::new(std::iter::empty()),
    }
}

/// Reads the segments of a path serde_json_path has already accepted (RFC 9535 §2.1).
struct Parser<'a> {
    rest: &'a str,
}

impl Parser<'_> {
    fn query(mut self) -> Result<Vec<Segment>, InvalidPath> {
        if !self.eat("$") {
            return Err("a path starts with $".into());
        }
        let mut segments = Vec::new();
        loop {
            self.blank();
            if self.rest.is_empty() {
                return Ok(segments);
            }
            let descendant = self.eat("..");
            let dot = descendant || self.eat(".");
            let selectors = if self.rest.starts_with('[') && (descendant || !dot) {
                self.bracketed()?
            } else if dot && self.eat("*") {
                vec![Selector::Wildcard]
            } else if dot {
                vec![Selector::Name(self.shorthand()?)]
            } else {
                return Err(format!("unexpected {:?}", self.rest).into());
            };
            segments.push(Segment {
                descendant,
                selectors,
            });
        }
    }

    fn eat(&mut self, s: &str) -> bool {
        match self.rest.strip_prefix(s) {
            Some(rest) => {
                self.rest = rest;
                true
            }
            None => false,
        }
    }

    fn blank(&mut self) {
        self.rest = self.rest.trim_start_matches([' ', '\t', '\n', '\r']);
    }

    fn bracketed(&mut self) -> Result<Vec<Selector>, InvalidPath> {
        self.eat("[");
        let mut selectors = Vec::new();
        loop {
            self.blank();
            selectors.push(self.selector()?);
            self.blank();
            if self.eat("]") {
                return Ok(selectors);
            }
            if !self.eat(",") {
                return Err(format!("unexpected {:?}", self.rest).into());
            }
        }
    }

    fn selector(&mut self) -> Result<Selector, InvalidPath> {
        if self.rest.starts_with(['\'', '"']) {
            return Ok(Selector::Name(self.string()?));
        }
        if self.eat("*") {
            return Ok(Selector::Wildcard);
        }
        if self.eat("?") {
            return self.filter();
        }
        let start = self.int()?;
        self.blank();
        if !self.eat(":") {
            return start
                .map(Selector::Index)
                .ok_or_else(|| InvalidPath(format!("unexpected {:?}", self.rest)));
        }
        self.blank();
        let end = self.int()?;
        self.blank();
        let step = if self.eat(":") {
            self.blank();
            self.int()?
        } else {
            None
        };
        Ok(Selector::Slice(Slice {
            start,
            end,
            step: step.unwrap_or(1),
        }))
    }

    fn int(&mut self) -> Result<Option<i64>, InvalidPath> {
        let sign = usize::from(self.rest.starts_with('-'));
        let len = sign
            + self.rest[sign..]
                .bytes()
                .take_while(u8::is_ascii_digit)
                .count();
        if len == 0 {
            return Ok(None);
        }
        let (digits, rest) = self.rest.split_at(len);
        self.rest = rest;
        digits
            .parse()
            .map(Some)
            .map_err(|_| InvalidPath(format!("{digits:?} is not an integer")))
    }

    /// A quoted name, its escapes decoded as JSON decodes them (RFC 9535 uses JSON's
    /// escapes, plus `\'` inside single quotes).
    fn string(&mut self) -> Result<String, InvalidPath> {
        let quote = self.rest.chars().next().unwrap_or('"');
        let mut json = String::from("\"");
        let mut escaped = false;
        for (i, c) in self.rest.char_indices().skip(1) {
            if escaped {
                escaped = false;
                if c != '\'' {
                    json.push('\\');
                }
                json.push(c);
            } else if c == '\\' {
                escaped = true;
            } else if c == quote {
                self.rest = &self.rest[i + 1..];
                json.push('"');
                return serde_json::from_str(&json)
                    .map_err(|e| InvalidPath(format!("bad name {json}: {e}")));
            } else {
                if c == '"' {
                    json.push('\\');
                }
                json.push(c);
            }
        }
        Err("unterminated string".into())
    }

    fn shorthand(&mut self) -> Result<String, InvalidPath> {
        let len = self
            .rest
            .char_indices()
            .find(|&(i, c)| {
                !(c.is_ascii_alphabetic()
                    || c == '_'
                    || !c.is_ascii()
                    || (i > 0 && c.is_ascii_digit()))
            })
            .map_or(self.rest.len(), |(i, _)| i);
        if len == 0 {
            return Err(format!("unexpected {:?}", self.rest).into());
        }
        let (name, rest) = self.rest.split_at(len);
        self.rest = rest;
        Ok(name.to_string())
    }

    /// A filter expression runs to the `,` or `]` that closes its selector.
    fn filter(&mut self) -> Result<Selector, InvalidPath> {
        let mut depth = 0usize;
        let mut quote = None;
        let mut escaped = false;
        let mut dot = false;
        let mut end = None;
        for (i, c) in self.rest.char_indices() {
            if let Some(q) = quote {
                if escaped {
                    escaped = false;
                } else if c == '\\' {
                    escaped = true;
                } else if c == q {
                    quote = None;
                }
                continue;
            }
            match c {
                '\'' | '"' => quote = Some(c),
                '(' | '[' => depth += 1,
                ')' | ']' if depth > 0 => depth -= 1,
                ']' | ',' if depth == 0 => {
                    end = Some(i);
                    break;
                }
                '$' => {
                    return Err(
                        "a filter may not use the root $ (every test would read the whole \
                         payload again); test relative to @"
                            .into(),
                    );
                }
                '.' if dot => {
                    return Err(
                        "a filter may not use a descendant segment .. (every test would walk \
                         a whole subtree again)"
                            .into(),
                    );
                }
                _ => {}
            }
            dot = c == '.';
        }
        let end = end.ok_or("unterminated filter")?;
        let (expr, rest) = self.rest.split_at(end);
        self.rest = rest;
        JsonPath::parse(&format!("$[?{expr}]"))
            .map(Selector::Filter)
            .map_err(|e| InvalidPath(format!("filter {expr:?}: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn invalid_paths_are_refused_with_their_text() {
        let e = Path::parse("$.a[").unwrap_err();
        assert!(e.0.starts_with("\"$.a[\" is not a valid JSONPath"), "{e}");
    }

    /// Every path is checked against serde_json_path's own evaluation, as sets of nodes.
    #[test]
    fn selects_what_serde_json_path_selects_each_node_once() {
        let docs = [
            json!({"a": [0, 1, 2, 3, {"b": 1, "c": 2}], "d": {"e": 1, "a": {"a": [5]}},
                "o'k": 1, "q\"t": 2, "é": 3, "x y": {"": 4}, "n": null}),
            json!([[1, 2], {"a": 1, "b": [true, false]}, "s", 7, [[{"a": 2}]], []]),
            json!({"store": {"book": [
                {"category": "reference", "author": "Rees", "price": 8.95},
                {"category": "fiction", "author": "Waugh", "price": 12.99, "isbn": "0-553"},
                {"category": "fiction", "author": "Tolkien", "price": 22.99, "isbn": "0-395"}],
                "bicycle": {"color": "red", "price": 399}}}),
            json!({"user": {"user": {"email": "x", "user": {"email": "y"}}, "email": "z"}}),
            json!(5),
        ];
        let paths = [
            "$",
            "$.a",
            "$['a']",
            "$[\"a\"]",
            "$.*",
            "$[*]",
            "$..*",
            "$..[*]",
            "$..a",
            "$..['a','e']",
            "$.a[1,3,4].c",
            "$.a[4].b",
            "$.a[0,0,1]",
            "$.a[-1]",
            "$.a[-9]",
            "$.a[9]",
            "$[1:3]",
            "$.a[1:]",
            "$.a[:2]",
            "$.a[::2]",
            "$.a[::-1]",
            "$.a[3:0:-2]",
            "$.a[-2:]",
            "$.a[0:5:0]",
            "$[ 1 : 3 : 1 ]",
            "$.a[*][?@ > 1]",
            "$['o\\'k']",
            "$[\"q\\\"t\"]",
            "$['\\u00e9']",
            "$.é",
            "$['x y']['']",
            "$.n",
            "$..[0]",
            "$..[-1]",
            "$..user..email",
            "$..user.email",
            "$.user..email",
            "$..email",
            "$.store.book[?@.isbn].author",
            "$.store.book[?@.price < 10 || @.category == 'fiction', 0]",
            "$..book[?@.author == 'Waugh' && @.price > 1].price",
            "$..[?@.price > 20]",
            "$..[?!@.isbn]",
            "$..[?@.b[1] == false]",
            "$..[?@ == 'a]b,c']",
            "$..[?length(@.author) == 7]",
            "$..[?count(@.*) > 2]",
            "$..[?value(@.a) == 2]",
            "$[?@.b[?@ == true]]",
            "$.store..price",
            "$ .store .book [0]..author",
            "$ ['store'] .bicycle",
            "$..*[?@]",
            "$..a..a",
        ];
        for text in paths {
            let ours = Path::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            let theirs = JsonPath::parse(text).unwrap();
            for doc in &docs {
                let mut want: Vec<*const Value> = theirs
                    .query(doc)
                    .all()
                    .into_iter()
                    .map(|v| v as *const Value)
                    .collect();
                want.sort();
                want.dedup();
                let mut got: Vec<*const Value> = ours
                    .nodes(doc)
                    .into_iter()
                    .map(|v| v as *const Value)
                    .collect();
                let len = got.len();
                got.sort();
                got.dedup();
                assert_eq!(len, got.len(), "{text} on {doc}: a node twice");
                assert_eq!(got, want, "{text} on {doc}");
            }
        }
    }

    #[test]
    fn filters_that_reread_the_payload_are_refused() {
        for text in [
            "$[?$.a]",
            "$..[?@.a == $.b]",
            "$[?@..a]",
            "$[?count(@..a) > 1]",
            "$.a[?@.b[?$]]",
        ] {
            let e = Path::parse(text).unwrap_err();
            assert!(e.0.contains("a filter may not use"), "{text}: {e}");
        }
        // Inside a string literal they are just characters.
        let p = Path::parse("$[?@.a == '$..x' || @.b == \"..$\"]").unwrap();
        assert_eq!(
            p.nodes(&json!([{"a": "$..x"}, {"b": "..$"}, {"a": 1}]))
                .len(),
            2
        );
    }

    #[test]
    fn one_automaton_for_several_paths_selects_a_node_once() {
        let paths: Vec<Path> = ["$..email", "$.a.email", "$.a"]
            .iter()
            .map(|t| Path::parse(t).unwrap())
            .collect();
        let m = Matcher::new(&paths).unwrap();
        let mut v = json!({"a": {"email": "x"}, "b": [{"email": "y"}]});
        let mut seen = Vec::new();
        let n = m.rewrite(&mut v, &mut |node| {
            seen.push(node.clone());
            Action::Keep
        });
        // $.a is selected whole, so its email is not selected again on its own.
        assert_eq!(n, 2);
        assert_eq!(seen, vec![json!({"email": "x"}), json!("y")]);
        let many: Vec<Path> = (0..43).map(|_| Path::parse("$.a.b").unwrap()).collect();
        assert!(Matcher::new(&many[..42]).is_ok());
        let e = Matcher::new(&many).unwrap_err();
        assert!(e.0.contains("129 segments and roots"), "{e}");
    }

    #[test]
    fn removes_every_selected_node_keeping_the_others_in_order() {
        let paths: Vec<Path> = ["$.a[1,3,4,0]", "$.a[4].b", "$.d.e", "$.z"]
            .iter()
            .map(|t| Path::parse(t).unwrap())
            .collect();
        let mut v =
            json!({"z": 0, "a": [0, 1, 2, 3, {"b": 1, "c": 2}], "d": {"f": 2, "e": 1, "g": 3}});
        let m = Matcher::new(&paths).unwrap();
        // $.a[4].b is inside $.a[4], which goes whole.
        assert_eq!(m.rewrite(&mut v, &mut |_| Action::Remove), 6);
        assert_eq!(v.to_string(), r#"{"a":[2],"d":{"f":2,"g":3}}"#);
        let root = Path::parse("$").unwrap();
        assert!(root.is_root());
        let m = Matcher::new(&[root]).unwrap();
        assert_eq!(m.rewrite(&mut v, &mut |_| Action::Remove), 1);
        assert_eq!(v.to_string(), r#"{"a":[2],"d":{"f":2,"g":3}}"#);
    }

    #[test]
    fn long_paths_are_refused() {
        let long = format!("${}", ".a".repeat(128));
        let e = Path::parse(&long).unwrap_err();
        assert!(
            e.0.ends_with("has 128 segments; at most 127 are evaluated"),
            "{e}"
        );
        assert!(Path::parse(&format!("${}", ".a".repeat(127))).is_ok());
    }
}
