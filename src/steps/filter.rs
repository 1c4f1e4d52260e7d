//! `filter`: conditions on the method, sub-path, query parameters and payload JSONPath,
//! all of which must hold; otherwise the record is rejected (`422 filtered`) or dropped
//! (`202`, nothing stored), per `on_mismatch`.
//!
//! ```toml
//! { kind = "filter", on_mismatch = "drop", when = {
//!     method = "POST", sub_path = { matches = "^/orders/" },
//!     query = { source = "github" },
//!     payload = { "$.action" = "opened", "$.pull_request" = { exists = true } } } }
//! ```
//! A bare value means `equals`; a table holds exactly one of `exists`, `equals`,
//! `matches` (a regular expression, unanchored unless written with `^…$`).

use std::collections::BTreeMap;
use std::rc::Rc;

use futures_util::future::LocalBoxFuture;
use serde::Deserialize;
use serde_json::Value;

use super::jsonpath::Path;
use super::{BuildContext, Flow, Step, StepContext, StepError, Work, parse_table, scalar_text};
use crate::config::ConfigError;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Spec {
    when: When,
    #[serde(default)]
    on_mismatch: OnMismatch,
}

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
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Methods {
    One(String),
    Many(Vec<String>),
}

/// What happens to a record that does not pass.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnMismatch {
    /// `422 filtered`.
    #[default]
    Reject,
    /// `202`, nothing stored.
    Drop,
}

/// One test on a value.
#[derive(Debug)]
enum Test {
    Exists(bool),
    Equals(Value),
    Matches(regex_lite::Regex),
}

/// The compiled step.
#[derive(Debug)]
pub struct Filter {
    methods: Vec<String>,
    sub_path: Option<Test>,
    query: Vec<(String, Test)>,
    payload: Vec<(Path, Test)>,
    on_mismatch: OnMismatch,
}

/// Builds the step, compiling its JSONPaths and regular expressions.
pub fn build(raw: &Value, cx: &BuildContext<'_>) -> Result<Rc<dyn Step>, ConfigError> {
    let spec: Spec = parse_table(raw, cx.path)?;
    let when = spec.when;
    let key = |k: &str| format!("{}.when.{k}", cx.path);
    let methods = match when.method {
        None => Vec::new(),
        Some(Methods::One(m)) => vec![m.to_ascii_uppercase()],
        Some(Methods::Many(ms)) => ms.iter().map(|m| m.to_ascii_uppercase()).collect(),
    };
    let sub_path = when
        .sub_path
        .as_ref()
        .map(|t| parse_test(t).map_err(|e| ConfigError(format!("{}: {e}", key("sub_path")))))
        .transpose()?;
    let mut query = Vec::new();
    for (name, t) in &when.query {
        let t = parse_test(t)
            .map_err(|e| ConfigError(format!("{}: {e}", key(&format!("query.{name}")))))?;
        query.push((name.clone(), t));
    }
    let mut payload = Vec::new();
    for (p, t) in &when.payload {
        let at = key(&format!("payload.{p:?}"));
        let path = Path::parse(p).map_err(|e| ConfigError(format!("{at}: {e}")))?;
        let t = parse_test(t).map_err(|e| ConfigError(format!("{at}: {e}")))?;
        payload.push((path, t));
    }
    if methods.is_empty() && sub_path.is_none() && query.is_empty() && payload.is_empty() {
        return Err(ConfigError(format!(
            "{}.when: name at least one of method, sub_path, query, payload",
            cx.path
        )));
    }
    Ok(Rc::new(Filter {
        methods,
        sub_path,
        query,
        payload,
        on_mismatch: spec.on_mismatch,
    }))
}

/// Why a test table is not one of `exists`, `equals`, `matches`.
#[derive(Debug, thiserror::Error)]
enum InvalidTest {
    #[error("a test table holds exactly one of exists, equals, matches")]
    NotOneKey,
    #[error("{pattern:?} is not a valid regular expression: {source}")]
    Regex {
        pattern: String,
        #[source]
        source: regex_lite::Error,
    },
    #[error("{0:?}: expected exists = <bool>, equals = <value> or matches = \"<regex>\"")]
    Unknown(String),
}

/// The [`Test`] a config value describes: a bare value is `equals`.
fn parse_test(v: &Value) -> Result<Test, InvalidTest> {
    let Value::Object(map) = v else {
        return Ok(Test::Equals(v.clone()));
    };
    let mut entries = map.iter();
    let (Some((k, v)), None) = (entries.next(), entries.next()) else {
        return Err(InvalidTest::NotOneKey);
    };
    match (k.as_str(), v) {
        ("exists", Value::Bool(b)) => Ok(Test::Exists(*b)),
        ("equals", v) => Ok(Test::Equals(v.clone())),
        ("matches", Value::String(re)) => {
            regex_lite::Regex::new(re)
                .map(Test::Matches)
                .map_err(|source| InvalidTest::Regex {
                    pattern: re.clone(),
                    source,
                })
        }
        (k, _) => Err(InvalidTest::Unknown(k.to_string())),
    }
}

impl Test {
    /// Whether the values found (all occurrences of a parameter, all nodes of a path)
    /// pass: `exists` on their presence, the others when any one of them passes.
    fn holds<'v>(&self, mut found: impl Iterator<Item = &'v Value>) -> bool {
        match self {
            Test::Exists(want) => found.next().is_some() == *want,
            Test::Equals(expected) => found.any(|v| {
                v == expected
                    || matches!((scalar_text(v), scalar_text(expected)), (Some(a), Some(b)) if a == b)
            }),
            Test::Matches(re) => found.any(|v| scalar_text(v).is_some_and(|t| re.is_match(&t))),
        }
    }
}

impl Step for Filter {
    fn apply<'a>(
        &'a self,
        cx: &'a StepContext<'a>,
        work: &'a mut Work,
    ) -> LocalBoxFuture<'a, Result<Flow, StepError>> {
        Box::pin(async move {
            match (self.failure(cx, work), self.on_mismatch) {
                (None, _) => Ok(Flow::Continue),
                (Some(_), OnMismatch::Drop) => Ok(Flow::Drop),
                (Some(why), OnMismatch::Reject) => Err(StepError::Filtered(why)),
            }
        })
    }
}

impl Filter {
    /// The first condition that does not hold, described.
    fn failure(&self, cx: &StepContext<'_>, work: &Work) -> Option<String> {
        let method = cx.request.method.to_ascii_uppercase();
        if !self.methods.is_empty() && !self.methods.contains(&method) {
            return Some(format!(
                "method {method} is not one of {}",
                self.methods.join(", ")
            ));
        }
        if let Some(t) = &self.sub_path {
            let path = Value::String(cx.request.sub_path.clone());
            if !t.holds(std::iter::once(&path)) {
                return Some(format!(
                    "the path {:?} did not pass the filter",
                    cx.request.sub_path
                ));
            }
        }
        for (name, t) in &self.query {
            let values: Vec<Value> = work
                .query
                .iter()
                .filter(|(k, _)| k == name)
                .map(|(_, v)| Value::String(v.clone()))
                .collect();
            if !t.holds(values.iter()) {
                return Some(format!("query parameter {name:?} did not pass the filter"));
            }
        }
        for (path, t) in &self.payload {
            if !t.holds(path.nodes(&work.payload).into_iter()) {
                return Some(format!("payload {} did not pass the filter", path.text));
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{run, step};
    use super::*;
    use crate::auth::Identity;
    use crate::config::Secrets;
    use crate::inbound::InboundRequest;
    use serde_json::json;

    fn apply(
        filter: Value,
        method: &str,
        path: &str,
        query: &str,
        payload: Value,
    ) -> Result<Flow, StepError> {
        let s = step(filter, "none").unwrap();
        let req = InboundRequest {
            method: method.into(),
            sub_path: path.into(),
            query: query.into(),
            ..Default::default()
        };
        let mut work = Work::new(payload, req.query_pairs());
        run(
            &s,
            &req,
            &Identity::of("none"),
            &Secrets::default(),
            &mut work,
        )
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
        assert_eq!(
            apply(f.clone(), "POST", "/", "", json!({"type": "push"})),
            Ok(Flow::Continue)
        );
        assert_eq!(
            apply(f, "POST", "/", "", json!({"type": "pushed"})),
            Ok(Flow::Drop)
        );
    }

    #[test]
    fn config_errors_name_the_key() {
        let e = step(
            json!({"kind": "filter", "when": {"payload": {"$.a": {"matches": "("}}}}),
            "none",
        )
        .unwrap_err();
        assert!(
            e.0.starts_with("collectors[0].steps[0].when.payload.\"$.a\": "),
            "{e}"
        );
        let e = step(json!({"kind": "filter", "when": {}}), "none").unwrap_err();
        assert!(
            e.0.ends_with("name at least one of method, sub_path, query, payload"),
            "{e}"
        );
        let e = step(
            json!({"kind": "filter", "when": {"query": {"a": {"exists": true, "equals": 1}}}}),
            "none",
        )
        .unwrap_err();
        assert!(
            e.0.starts_with("collectors[0].steps[0].when.query.a: "),
            "{e}"
        );
        let e = step(
            json!({"kind": "filter", "when": {"method": "POST"}, "on_mismatch": "ignore"}),
            "none",
        )
        .unwrap_err();
        assert!(
            e.0.starts_with("collectors[0].steps[0].on_mismatch: "),
            "{e}"
        );
    }
}
