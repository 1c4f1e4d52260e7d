//! `filter`: conditions on the method, sub-path, query parameters and payload JSONPath,
//! combined with `not`, `any` and `all`. A filter either requires its condition (the
//! default: a record that fails it is rejected, `422 filtered`, or dropped, `202` with
//! nothing stored, per `on_mismatch`) or forbids it (`on_match`: a record that satisfies
//! it is rejected or dropped), which is how GitProxy's block lists read.
//!
//! ```toml
//! { kind = "filter", on_mismatch = "drop", when = {
//!     method = "POST", sub_path = { matches = "^/orders/" },
//!     query = { source = "github" },
//!     payload = { "$.action" = "opened", "$.pull_request" = { exists = true } } } }
//! { kind = "filter", on_match = "reject", when = { any = [
//!     { payload = { "$.commits[*].message" = { contains = ["DO NOT MERGE"] } } },
//!     { payload = { "$.commits[*].author.email" = { not_matches = "@corp\\.example$" } } } ] } }
//! ```
//! A bare value means `equals`; a test table holds exactly one of `exists`, `equals`,
//! `matches`, `not_matches`, `contains`, `in`, `not_in`. The whole tree compiles when the
//! config loads; a list read from a secret is parsed then too ([`Step::load`]).

use std::cell::OnceCell;
use std::collections::{BTreeMap, HashSet};
use std::rc::Rc;

use futures_util::future::LocalBoxFuture;
use serde::Deserialize;
use serde_json::Value;

use super::jsonpath::Path;
use super::pattern::Pattern;
use super::{BuildContext, Flow, Step, StepContext, StepError, Work, parse_table, scalar_text};
use crate::error::ConfigError;
use crate::secrets::Secrets;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Spec {
    when: When,
    #[serde(default)]
    on_mismatch: Option<Action>,
    #[serde(default)]
    on_match: Option<Action>,
}

/// A condition table: every key present must hold.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct When {
    #[serde(default)]
    method: Option<Methods>,
    #[serde(default)]
    sub_path: Option<Value>,
    #[serde(default)]
    query: BTreeMap<String, Value>,
    #[serde(default)]
    payload: BTreeMap<String, Value>,
    #[serde(default)]
    not: Option<Box<When>>,
    #[serde(default)]
    any: Option<Vec<When>>,
    #[serde(default)]
    all: Option<Vec<When>>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Methods {
    One(String),
    Many(Vec<String>),
}

/// What happens to a record the filter stops.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// `422 filtered`.
    #[default]
    Reject,
    /// `202`, nothing stored.
    Drop,
}

/// A compiled condition.
#[derive(Debug)]
enum Cond {
    All(Vec<Cond>),
    Any(Vec<Cond>),
    Not(Box<Cond>),
    Method(Vec<String>),
    SubPath(Test),
    Query(String, Test),
    Payload(Path, Test),
}

/// One test on the values a place yields.
#[derive(Debug)]
enum Test {
    Exists(bool),
    Equals(Value),
    Matches(Pattern),
    NotMatches(Pattern),
    /// Lower-cased literals, any of which found in a value's lower-cased text passes
    /// (GitProxy's `literals`: `message.toLowerCase().includes(literal.toLowerCase())`).
    Contains(Vec<String>),
    In(List),
    NotIn(List),
}

/// The values of `in` / `not_in`: written in the config, or read from a secret holding a
/// JSON array when the config loads.
#[derive(Debug)]
enum List {
    Inline(HashSet<String>),
    Secret {
        key: String,
        name: String,
        values: OnceCell<HashSet<String>>,
    },
}

/// The compiled step.
#[derive(Debug)]
pub struct Filter {
    cond: Cond,
    /// Whether the record is stopped when `cond` holds (`on_match`) rather than when it
    /// does not (`on_mismatch`).
    stop_on_match: bool,
    action: Action,
}

/// Builds the step, compiling its JSONPaths and regular expressions.
pub fn build(raw: &Value, cx: &BuildContext<'_>) -> Result<Rc<dyn Step>, ConfigError> {
    let spec: Spec = parse_table(raw, cx.path)?;
    let (stop_on_match, action) = match (spec.on_mismatch, spec.on_match) {
        (Some(_), Some(_)) => {
            return Err(ConfigError(format!(
                "{}: give on_mismatch (the condition is required) or on_match (the condition is forbidden), not both",
                cx.path
            )));
        }
        (None, Some(a)) => (true, a),
        (m, None) => (false, m.unwrap_or_default()),
    };
    let cond = compile(&spec.when, &format!("{}.when", cx.path))?;
    Ok(Rc::new(Filter {
        cond,
        stop_on_match,
        action,
    }))
}

fn compile(when: &When, at: &str) -> Result<Cond, ConfigError> {
    let key = |k: &str| format!("{at}.{k}");
    let mut all = Vec::new();
    match &when.method {
        None => {}
        Some(Methods::One(m)) => all.push(Cond::Method(vec![m.to_ascii_uppercase()])),
        Some(Methods::Many(ms)) => all.push(Cond::Method(
            ms.iter().map(|m| m.to_ascii_uppercase()).collect(),
        )),
    }
    if let Some(t) = &when.sub_path {
        all.push(Cond::SubPath(parse_test(t, &key("sub_path"))?));
    }
    for (name, t) in &when.query {
        all.push(Cond::Query(
            name.clone(),
            parse_test(t, &key(&format!("query.{name}")))?,
        ));
    }
    for (p, t) in &when.payload {
        let at = key(&format!("payload.{p:?}"));
        let path = Path::parse(p).map_err(|e| ConfigError(format!("{at}: {e}")))?;
        all.push(Cond::Payload(path, parse_test(t, &at)?));
    }
    if let Some(inner) = &when.not {
        all.push(Cond::Not(Box::new(compile(inner, &key("not"))?)));
    }
    for (word, list) in [("any", &when.any), ("all", &when.all)] {
        let Some(list) = list else { continue };
        if list.is_empty() {
            return Err(ConfigError(format!(
                "{}: name at least one condition table",
                key(word)
            )));
        }
        let conds = list
            .iter()
            .enumerate()
            .map(|(i, w)| compile(w, &key(&format!("{word}[{i}]"))))
            .collect::<Result<Vec<_>, _>>()?;
        all.push(if word == "any" {
            Cond::Any(conds)
        } else {
            Cond::All(conds)
        });
    }
    match all.len() {
        0 => Err(ConfigError(format!(
            "{at}: name at least one of method, sub_path, query, payload, not, any, all"
        ))),
        1 => Ok(all.remove(0)),
        _ => Ok(Cond::All(all)),
    }
}

const TEST_WORDS: &str = "exists, equals, matches, not_matches, contains, in, not_in";

fn parse_test(v: &Value, at: &str) -> Result<Test, ConfigError> {
    let err = |m: String| ConfigError(format!("{at}: {m}"));
    let Value::Object(map) = v else {
        return Ok(Test::Equals(v.clone()));
    };
    let mut entries = map.iter();
    let (Some((word, arg)), None) = (entries.next(), entries.next()) else {
        return Err(err(format!(
            "a test table holds exactly one of {TEST_WORDS}"
        )));
    };
    match (word.as_str(), arg) {
        ("exists", Value::Bool(b)) => Ok(Test::Exists(*b)),
        ("equals", v) => Ok(Test::Equals(v.clone())),
        ("matches", Value::String(re)) => {
            Ok(Test::Matches(Pattern::new(re).map_err(|e| err(e.0))?))
        }
        ("not_matches", Value::String(re)) => {
            Ok(Test::NotMatches(Pattern::new(re).map_err(|e| err(e.0))?))
        }
        ("contains", v) => {
            let literals = texts(v).map_err(|m| err(format!("contains: {m}")))?;
            if literals.iter().any(String::is_empty) {
                return Err(err(
                    "contains: an empty literal would match everything".into()
                ));
            }
            Ok(Test::Contains(
                literals.iter().map(|l| l.to_lowercase()).collect(),
            ))
        }
        ("in" | "not_in", v) => {
            let list = list(v, &format!("{at}.{word}"))?;
            Ok(if word == "in" {
                Test::In(list)
            } else {
                Test::NotIn(list)
            })
        }
        _ => Err(err(format!(
            "{word:?}: expected exists = <bool>, equals = <value>, matches / not_matches = \"<regex>\", \
             contains = [\"<literal>\"…], in / not_in = [<value>…] or {{ secret = \"<NAME>\" }}"
        ))),
    }
}

crate::refusal! {
    /// Why a list (`contains`, `in`, `not_in`, or a list secret's text) is refused.
    InvalidList
}

/// The text of each string or number of `v` (one scalar or an array of them).
fn texts(v: &Value) -> Result<Vec<String>, InvalidList> {
    let one = |v: &Value| {
        scalar_text(v)
            .map(std::borrow::Cow::into_owned)
            .ok_or_else(|| InvalidList(format!("expected strings or numbers, found {v}")))
    };
    match v {
        Value::Array(items) => items.iter().map(one).collect(),
        v => one(v).map(|t| vec![t]),
    }
}

fn list(v: &Value, key: &str) -> Result<List, ConfigError> {
    if let Value::Object(map) = v {
        return match map.get("secret") {
            Some(Value::String(name)) if map.len() == 1 => Ok(List::Secret {
                key: format!("{key}.secret"),
                name: name.clone(),
                values: OnceCell::new(),
            }),
            _ => Err(ConfigError(format!(
                "{key}: expected a list of values or {{ secret = \"<NAME>\" }}"
            ))),
        };
    }
    let Value::Array(_) = v else {
        return Err(ConfigError(format!(
            "{key}: expected a list of values or {{ secret = \"<NAME>\" }}"
        )));
    };
    Ok(List::Inline(
        texts(v)
            .map_err(|m| ConfigError(format!("{key}: {m}")))?
            .into_iter()
            .collect(),
    ))
}

/// Parses a list secret: a JSON array of strings and numbers.
fn secret_list(text: &str) -> Result<HashSet<String>, InvalidList> {
    let v: Value = serde_json::from_str(text)
        .map_err(|e| format!("must hold a JSON array of strings or numbers ({e})"))?;
    if !v.is_array() {
        return Err("must hold a JSON array of strings or numbers".into());
    }
    Ok(texts(&v)?.into_iter().collect())
}

impl List {
    fn values(&self, secrets: &Secrets) -> &HashSet<String> {
        match self {
            List::Inline(set) => set,
            // `load` parsed it when the config loaded (and refused the config if it could
            // not); parsing here only serves a chain run without `load`, as in unit tests.
            List::Secret { name, values, .. } => values.get_or_init(|| {
                secrets
                    .get(name)
                    .and_then(|t| secret_list(t).ok())
                    .unwrap_or_default()
            }),
        }
    }

    fn contains(&self, secrets: &Secrets, v: &Value) -> bool {
        scalar_text(v).is_some_and(|t| self.values(secrets).contains(t.as_ref()))
    }
}

impl Test {
    /// Whether the values found (all occurrences of a parameter, all nodes of a path)
    /// pass: `exists` on their presence, every other test when any one of them passes.
    fn holds<'v>(&self, secrets: &Secrets, mut found: impl Iterator<Item = &'v Value>) -> bool {
        let text = |v: &'v Value| scalar_text(v);
        match self {
            Test::Exists(want) => found.next().is_some() == *want,
            Test::Equals(expected) => found.any(|v| {
                v == expected
                    || matches!((scalar_text(v), scalar_text(expected)), (Some(a), Some(b)) if a == b)
            }),
            Test::Matches(re) => found.any(|v| text(v).is_some_and(|t| re.is_match(&t))),
            Test::NotMatches(re) => found.any(|v| text(v).is_some_and(|t| !re.is_match(&t))),
            Test::Contains(literals) => found.any(|v| {
                text(v).is_some_and(|t| {
                    let t = t.to_lowercase();
                    literals.iter().any(|l| t.contains(l.as_str()))
                })
            }),
            Test::In(list) => found.any(|v| list.contains(secrets, v)),
            Test::NotIn(list) => {
                found.any(|v| scalar_text(v).is_some() && !list.contains(secrets, v))
            }
        }
    }

    fn lists(&self) -> Option<&List> {
        match self {
            Test::In(l) | Test::NotIn(l) => Some(l),
            _ => None,
        }
    }
}

impl Cond {
    /// Whether the condition holds, and the leaf condition that decided it.
    fn eval(&self, cx: &StepContext<'_>, work: &Work) -> (bool, String) {
        match self {
            Cond::All(conds) => {
                let mut last = (true, String::new());
                for c in conds {
                    last = c.eval(cx, work);
                    if !last.0 {
                        break;
                    }
                }
                last
            }
            Cond::Any(conds) => {
                let mut last = (false, String::new());
                for c in conds {
                    last = c.eval(cx, work);
                    if last.0 {
                        break;
                    }
                }
                last
            }
            Cond::Not(c) => {
                let (held, why) = c.eval(cx, work);
                (!held, why)
            }
            Cond::Method(methods) => {
                let method = cx.request.method.to_ascii_uppercase();
                let held = methods.contains(&method);
                let is = if held { "is" } else { "is not" };
                (
                    held,
                    format!("method {method} {is} one of {}", methods.join(", ")),
                )
            }
            Cond::SubPath(t) => {
                let path = Value::String(cx.request.sub_path.clone());
                let held = t.holds(cx.secrets, std::iter::once(&path));
                (
                    held,
                    format!("the path {:?} {}", cx.request.sub_path, verdict(held)),
                )
            }
            Cond::Query(name, t) => {
                let values: Vec<Value> = work
                    .query
                    .iter()
                    .filter(|(k, _)| k == name)
                    .map(|(_, v)| Value::String(v.clone()))
                    .collect();
                let held = t.holds(cx.secrets, values.iter());
                (held, format!("query parameter {name:?} {}", verdict(held)))
            }
            Cond::Payload(path, t) => {
                let held = t.holds(cx.secrets, path.nodes(&work.payload).into_iter());
                (held, format!("payload {} {}", path.text, verdict(held)))
            }
        }
    }

    /// Every `in` / `not_in` list in the tree.
    fn lists<'s>(&'s self, out: &mut Vec<&'s List>) {
        match self {
            Cond::All(cs) | Cond::Any(cs) => cs.iter().for_each(|c| c.lists(out)),
            Cond::Not(c) => c.lists(out),
            Cond::Method(_) => {}
            Cond::SubPath(t) | Cond::Query(_, t) | Cond::Payload(_, t) => out.extend(t.lists()),
        }
    }
}

fn verdict(held: bool) -> &'static str {
    if held {
        "matched the filter's test"
    } else {
        "did not pass the filter's test"
    }
}

impl Step for Filter {
    fn apply<'a>(
        &'a self,
        cx: &'a StepContext<'a>,
        work: &'a mut Work,
    ) -> LocalBoxFuture<'a, Result<Flow, StepError>> {
        Box::pin(async move {
            let (held, why) = self.cond.eval(cx, work);
            if held != self.stop_on_match {
                return Ok(Flow::Continue);
            }
            match self.action {
                Action::Drop => Ok(Flow::Drop),
                Action::Reject if self.stop_on_match => {
                    Err(StepError::Filtered(format!("blocked: {why}")))
                }
                Action::Reject => Err(StepError::Filtered(why)),
            }
        })
    }

    fn secret_refs(&self) -> Vec<(String, String)> {
        let mut lists = Vec::new();
        self.cond.lists(&mut lists);
        lists
            .into_iter()
            .filter_map(|l| match l {
                List::Secret { key, name, .. } => Some((key.clone(), name.clone())),
                List::Inline(_) => None,
            })
            .collect()
    }

    fn load(&self, secrets: &Secrets) -> Result<(), ConfigError> {
        let mut lists = Vec::new();
        self.cond.lists(&mut lists);
        for l in lists {
            if let List::Secret { key, name, values } = l {
                let text = secrets.get(name).unwrap_or_default();
                let parsed = secret_list(text)
                    .map_err(|e| ConfigError(format!("{key}: secret {name} {e}")))?;
                let _ = values.set(parsed);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{run, step};
    use super::*;
    use crate::auth::Identity;
    use crate::inbound::InboundRequest;
    use serde_json::json;

    fn apply_with(
        filter: Value,
        secrets: &Secrets,
        method: &str,
        path: &str,
        query: &str,
        payload: Value,
    ) -> Result<Flow, StepError> {
        let s = step(filter, "none").unwrap();
        s.load(secrets).unwrap();
        let req = InboundRequest {
            method: method.into(),
            sub_path: path.into(),
            query: query.into(),
            ..Default::default()
        };
        let mut work = Work::new(payload, req.query_pairs());
        run(&s, &req, &Identity::of("none"), secrets, &mut work)
    }

    fn apply(
        filter: Value,
        method: &str,
        path: &str,
        query: &str,
        payload: Value,
    ) -> Result<Flow, StepError> {
        apply_with(filter, &Secrets::default(), method, path, query, payload)
    }

    fn on(filter: &Value, payload: Value) -> Result<Flow, StepError> {
        apply(filter.clone(), "POST", "/", "", payload)
    }

    #[test]
    fn every_condition_must_hold() {
        let f = json!({"kind": "filter", "when": {
            "method": "post",
            "sub_path": {"matches": "^/orders/"},
            "query": {"source": "github", "debug": {"exists": false}},
            "payload": {"$.action": "opened", "$.pr": {"exists": true}, "$.n": {"equals": 3}}
        }});
        let good = json!({"action": "opened", "pr": {}, "n": 3});
        assert_eq!(
            apply(
                f.clone(),
                "POST",
                "/orders/1",
                "source=github",
                good.clone()
            ),
            Ok(Flow::Continue)
        );
        let bad: [(&str, &str, &str, Value); 6] = [
            ("PUT", "/orders/1", "source=github", good.clone()),
            ("POST", "/users/1", "source=github", good.clone()),
            ("POST", "/orders/1", "source=gitlab", good.clone()),
            ("POST", "/orders/1", "source=github&debug=1", good.clone()),
            (
                "POST",
                "/orders/1",
                "source=github",
                json!({"action": "closed", "pr": {}, "n": 3}),
            ),
            (
                "POST",
                "/orders/1",
                "source=github",
                json!({"action": "opened", "n": 3}),
            ),
        ];
        for (m, p, q, body) in bad {
            let e = apply(f.clone(), m, p, q, body.clone()).unwrap_err();
            assert!(matches!(e, StepError::Filtered(_)), "{m} {p} {q} {body}");
        }
    }

    #[test]
    fn drop_accepts_without_storing() {
        let f = json!({"kind": "filter", "on_mismatch": "drop", "when": {"payload": {"$.type": {"matches": "^push$"}}}});
        assert_eq!(on(&f, json!({"type": "push"})), Ok(Flow::Continue));
        assert_eq!(on(&f, json!({"type": "pushed"})), Ok(Flow::Drop));
    }

    /// A GitHub push with the given commit messages and author emails.
    fn push(commits: &[(&str, &str)]) -> Value {
        json!({"ref": "refs/heads/main", "commits": commits.iter()
            .map(|(m, e)| json!({"message": m, "author": {"email": e}}))
            .collect::<Vec<_>>()})
    }

    #[test]
    fn gitproxy_commit_message_block_lists() {
        // GitProxy's commitConfig.message.block: literals are found case-insensitively
        // anywhere in a message, patterns are regexes (GitProxy compiles them with "gi").
        let f = json!({"kind": "filter", "on_match": "reject", "when": {"any": [
            {"payload": {"$.commits[*].message": {"contains": ["password", "DO NOT MERGE"]}}},
            {"payload": {"$.commits[*].message": {"matches": "(?i)\\b(ssn|social security)\\b\\s*[:=]?\\s*\\d{3}-?\\d{2}-?\\d{4}"}}}
        ]}});
        let ok = push(&[
            ("fix: typo", "a@corp.example"),
            ("feat: add the passport check", "a@corp.example"),
        ]);
        assert_eq!(on(&f, ok), Ok(Flow::Continue));
        for msg in [
            "Do Not Merge: wip",
            "rotate PASSWORD for db",
            "test ssn: 123-45-6789",
            "Social Security 123456789",
        ] {
            let e = on(
                &f,
                push(&[("fine", "a@corp.example"), (msg, "a@corp.example")]),
            )
            .unwrap_err();
            let StepError::Filtered(why) = e else {
                panic!("{msg}: {e:?}")
            };
            assert!(
                why.starts_with("blocked: payload $.commits[*].message"),
                "{why}"
            );
        }
    }

    #[test]
    fn gitproxy_author_email_domain_allow_and_local_block() {
        // commitConfig.author.email: domain.allow (every author's domain must match) and
        // local.block (no author's local part may match).
        let f = json!({"kind": "filter", "on_match": "reject", "when": {"any": [
            {"payload": {"$.commits[*].author.email": {"not_matches": "@(corp\\.example|partner\\.example)$"}}},
            {"payload": {"$.commits[*].author.email": {"matches": "^(root|admin|noreply)@"}}}
        ]}});
        let ok = push(&[("a", "alice@corp.example"), ("b", "bob@partner.example")]);
        assert_eq!(on(&f, ok), Ok(Flow::Continue));
        for email in [
            "mallory@evil.example",
            "alice@corp.example.evil",
            "root@corp.example",
        ] {
            let bad = push(&[("a", "alice@corp.example"), ("b", email)]);
            assert!(on(&f, bad).is_err(), "{email}");
        }
        // The same allow list as a required condition: `not` of "some email is outside".
        let required = json!({"kind": "filter", "when": {"not":
            {"payload": {"$.commits[*].author.email": {"not_matches": "@corp\\.example$"}}}}});
        assert_eq!(
            on(&required, push(&[("a", "a@corp.example")])),
            Ok(Flow::Continue)
        );
        assert!(
            on(
                &required,
                push(&[("a", "a@corp.example"), ("b", "b@x.example")])
            )
            .is_err()
        );
    }

    #[test]
    fn in_and_not_in_lists_inline_and_from_a_secret() {
        let secrets = Secrets::from_pairs([("BLOCKED_REPOS", r#"["acme/secret-sauce", 42]"#)]);
        let f = json!({"kind": "filter", "on_match": "drop", "when": {"any": [
            {"payload": {"$.repository.full_name": {"in": {"secret": "BLOCKED_REPOS"}}}},
            {"payload": {"$.repository.id": {"in": {"secret": "BLOCKED_REPOS"}}}},
            {"payload": {"$.sender.login": {"not_in": ["alice", "bob"]}}}
        ]}});
        let run = |p: Value| apply_with(f.clone(), &secrets, "POST", "/", "", p);
        let ok =
            json!({"repository": {"full_name": "acme/site", "id": 7}, "sender": {"login": "bob"}});
        assert_eq!(run(ok), Ok(Flow::Continue));
        for bad in [
            json!({"repository": {"full_name": "acme/secret-sauce", "id": 7}, "sender": {"login": "bob"}}),
            json!({"repository": {"full_name": "acme/site", "id": 42}, "sender": {"login": "bob"}}),
            json!({"repository": {"full_name": "acme/site", "id": 7}, "sender": {"login": "eve"}}),
        ] {
            assert_eq!(run(bad.clone()), Ok(Flow::Drop), "{bad}");
        }
        let s = step(f.clone(), "none").unwrap();
        assert_eq!(
            s.secret_refs(),
            vec![
                ("collectors[0].steps[0].when.any[0].payload.\"$.repository.full_name\".in.secret".into(), "BLOCKED_REPOS".into()),
                ("collectors[0].steps[0].when.any[1].payload.\"$.repository.id\".in.secret".into(), "BLOCKED_REPOS".into()),
            ]
        );
        let e = s
            .load(&Secrets::from_pairs([("BLOCKED_REPOS", "acme/x")]))
            .unwrap_err();
        assert!(
            e.0.starts_with("collectors[0].steps[0].when.any[0].payload.\"$.repository.full_name\".in.secret: secret BLOCKED_REPOS must hold a JSON array"),
            "{e}"
        );
    }

    #[test]
    fn not_any_all_nest() {
        // Drop pings; keep pushes to main or release/* unless made by a bot, and tags.
        let f = json!({"kind": "filter", "on_mismatch": "drop", "when": {
        "not": {"payload": {"$.zen": {"exists": true}}},
        "any": [
            {"all": [
                {"payload": {"$.ref": {"matches": "^refs/heads/(main|release/.+)$"}}},
                {"not": {"payload": {"$.sender.type": "Bot"}}}
            ]},
            {"payload": {"$.ref": {"matches": "^refs/tags/"}}}
        ]}});
        let cases = [
            (
                json!({"ref": "refs/heads/main", "sender": {"type": "User"}}),
                Flow::Continue,
            ),
            (
                json!({"ref": "refs/heads/release/1.2", "sender": {"type": "User"}}),
                Flow::Continue,
            ),
            (
                json!({"ref": "refs/tags/v1", "sender": {"type": "Bot"}}),
                Flow::Continue,
            ),
            (
                json!({"ref": "refs/heads/main", "sender": {"type": "Bot"}}),
                Flow::Drop,
            ),
            (
                json!({"ref": "refs/heads/feature", "sender": {"type": "User"}}),
                Flow::Drop,
            ),
            (
                json!({"zen": "Keep it simple.", "ref": "refs/tags/v1"}),
                Flow::Drop,
            ),
        ];
        for (payload, want) in cases {
            assert_eq!(on(&f, payload.clone()), Ok(want), "{payload}");
        }
    }

    #[test]
    fn config_errors_name_the_key() {
        let cases = [
            (
                json!({"when": {"payload": {"$.a": {"matches": "("}}}}),
                "collectors[0].steps[0].when.payload.\"$.a\": ",
            ),
            (
                json!({"when": {}}),
                "collectors[0].steps[0].when: name at least one of method",
            ),
            (
                json!({"when": {"query": {"a": {"exists": true, "equals": 1}}}}),
                "collectors[0].steps[0].when.query.a: a test table holds exactly one",
            ),
            (
                json!({"when": {"method": "POST"}, "on_mismatch": "ignore"}),
                "collectors[0].steps[0].on_mismatch: ",
            ),
            (
                json!({"when": {"method": "POST"}, "on_mismatch": "drop", "on_match": "drop"}),
                "collectors[0].steps[0]: give on_mismatch",
            ),
            (
                json!({"when": {"any": [{"method": "GET"}, {"not": {"payload": {"$[": 1}}}]}}),
                "collectors[0].steps[0].when.any[1].not.payload.\"$[\": ",
            ),
            (
                json!({"when": {"all": []}}),
                "collectors[0].steps[0].when.all: name at least one",
            ),
            (
                json!({"when": {"all": [{}]}}),
                "collectors[0].steps[0].when.all[0]: name at least one",
            ),
            (
                json!({"when": {"payload": {"$.a": {"in": "x"}}}}),
                "collectors[0].steps[0].when.payload.\"$.a\".in: expected a list",
            ),
            (
                json!({"when": {"payload": {"$.a": {"not_in": [{"x": 1}]}}}}),
                "collectors[0].steps[0].when.payload.\"$.a\".not_in: expected strings or numbers",
            ),
            (
                json!({"when": {"payload": {"$.a": {"contains": [""]}}}}),
                "collectors[0].steps[0].when.payload.\"$.a\": contains: an empty literal",
            ),
            (
                json!({"when": {"any": [{"colour": 1}]}}),
                "collectors[0].steps[0].when.any[0].colour: unknown field",
            ),
        ];
        for (mut spec, want) in cases {
            spec["kind"] = json!("filter");
            let e = step(spec.clone(), "none").unwrap_err();
            assert!(e.0.starts_with(want), "{spec}: {e}");
        }
    }
}
