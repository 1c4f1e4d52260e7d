//! `pseudonymize` (Psoxy's transform): every string or number a JSONPath selects, every
//! string or number inside a selected array or object (fail closed), every value of the
//! listed query parameters, and each listed parameter of `path_template` in the recorded
//! path, becomes `p~<base64url(HMAC-SHA256(salt, value))>`. The
//! same value under the same salt always gives the same pseudonym, in any collector, so
//! records stay linkable without the PII. A node is pseudonymized once however many
//! paths, or routes of one path, select it.

use std::rc::Rc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use futures_util::future::LocalBoxFuture;
use hmac::{Hmac, Mac};
use serde::Deserialize;
use serde_json::Value;
use sha2::Sha256;

use super::jsonpath::{Action, Matcher, Path};
use super::path_template::Template;
use super::{BuildContext, Flow, Step, StepContext, StepError, Work, parse_table, scalar_text};
use crate::error::ConfigError;

/// Prefix that marks a pseudonym.
pub const PREFIX: &str = "p~";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Spec {
    #[serde(default)]
    paths: Vec<Path>,
    #[serde(default)]
    query: Vec<String>,
    #[serde(default)]
    path_params: Vec<String>,
    #[serde(default)]
    path_template: Option<String>,
    salt: String,
}

/// The compiled step.
#[derive(Debug)]
pub struct Pseudonymize {
    paths: Matcher,
    query: Vec<String>,
    /// The template and the parameters of it to replace in the recorded path.
    path_params: Option<(Template, Vec<String>)>,
    salt: String,
    path: String,
}

/// Builds the step; the salt is the name of a secret.
pub fn build(raw: &Value, cx: &BuildContext<'_>) -> Result<Rc<dyn Step>, ConfigError> {
    let spec: Spec = parse_table(raw, cx.path)?;
    if spec.paths.is_empty() && spec.query.is_empty() && spec.path_params.is_empty() {
        return Err(ConfigError(format!(
            "{}: name at least one JSONPath in paths, one parameter in query or one in path_params",
            cx.path
        )));
    }
    let paths =
        Matcher::new(&spec.paths).map_err(|e| ConfigError(format!("{}.paths: {e}", cx.path)))?;
    let template = Template::of_step(spec.path_template.as_deref(), cx.path)?;
    let path_params = match template {
        _ if spec.path_params.is_empty() => None,
        None => {
            return Err(ConfigError(format!(
                "{}.path_params: path parameters need path_template",
                cx.path
            )));
        }
        Some(t) => {
            if let Some((i, p)) = spec.path_params.iter().enumerate().find(|(_, p)| !t.has(p)) {
                return Err(ConfigError(format!(
                    "{}.path_params[{i}]: path_template has no {{{p}}}",
                    cx.path
                )));
            }
            Some((t, spec.path_params))
        }
    };
    Ok(Rc::new(Pseudonymize {
        paths,
        query: spec.query,
        path_params,
        salt: spec.salt,
        path: cx.path.to_string(),
    }))
}

/// A keyed pseudonymizer: the salt's HMAC state is computed once and cloned per value.
pub struct Pseudonymizer(Hmac<Sha256>);

impl Pseudonymizer {
    /// A pseudonymizer keyed by `salt`.
    pub fn new(salt: &[u8]) -> Pseudonymizer {
        Pseudonymizer(crate::crypto::hmac_sha256_keyed(salt))
    }

    /// The pseudonym of `value`.
    pub fn pseudonym(&self, value: &str) -> String {
        let mut mac = self.0.clone();
        mac.update(value.as_bytes());
        let digest = mac.finalize().into_bytes();
        let mut out = String::with_capacity(PREFIX.len() + 43);
        out.push_str(PREFIX);
        URL_SAFE_NO_PAD.encode_string(digest, &mut out);
        out
    }

    /// Pseudonymizes `node` if it is a string or number, else every string and number
    /// inside it (member names stay); whether anything changed.
    pub fn pseudonymize_all(&self, node: &mut Value) -> bool {
        match node {
            Value::Array(items) => items
                .iter_mut()
                .fold(false, |changed, v| self.pseudonymize_all(v) | changed),
            Value::Object(map) => map
                .values_mut()
                .fold(false, |changed, v| self.pseudonymize_all(v) | changed),
            _ => match scalar_text(node) {
                Some(text) => {
                    *node = Value::String(self.pseudonym(&text));
                    true
                }
                None => false,
            },
        }
    }
}

impl Step for Pseudonymize {
    fn apply<'a>(
        &'a self,
        cx: &'a StepContext<'a>,
        work: &'a mut Work,
    ) -> LocalBoxFuture<'a, Result<Flow, StepError>> {
        Box::pin(async move {
            // Config::resolve made sure the secret exists; an empty salt cannot happen.
            let salt = cx.secrets.get(&self.salt).unwrap_or_default();
            let p = Pseudonymizer::new(salt.as_bytes());
            let mut changed = false;
            self.paths.rewrite(&mut work.payload, &mut |node| {
                changed |= p.pseudonymize_all(node);
                Action::Keep
            });
            work.changed |= changed;
            for (k, v) in &mut work.query {
                if self.query.contains(k) {
                    *v = p.pseudonym(v);
                }
            }
            if let Some((template, params)) = &self.path_params {
                // A path the template does not match has no such parameters: it is
                // recorded as it came (docs/STEPS.md: pair with a filter on sub_path).
                let recorded = work.path.as_deref().unwrap_or(&cx.request.sub_path);
                if let Some(rewritten) = template.rewrite(recorded, params, |v| p.pseudonym(v)) {
                    work.path = Some(rewritten);
                }
            }
            Ok(Flow::Continue)
        })
    }

    fn secret_refs(&self) -> Vec<(String, String)> {
        vec![(format!("{}.salt", self.path), self.salt.clone())]
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{run, step};
    use super::*;
    use crate::auth::Identity;
    use crate::inbound::InboundRequest;
    use crate::secrets::Secrets;
    use serde_json::json;

    fn apply(spec: Value, query: &str, payload: Value) -> Work {
        apply_at(spec, "/", query, payload)
    }

    fn apply_at(spec: Value, path: &str, query: &str, payload: Value) -> Work {
        let s = step(spec, "none").unwrap();
        let req = InboundRequest {
            sub_path: path.into(),
            query: query.into(),
            ..Default::default()
        };
        let mut work = Work::new(payload, req.query_pairs());
        let secrets = Secrets::from_pairs([("SALT", "pepper")]);
        run(&s, &req, &Identity::of("none"), &secrets, &mut work).unwrap();
        work
    }

    #[test]
    fn pseudonym_is_base64url_hmac_sha256_of_the_value() {
        // echo -n 'alice@example.com' | openssl dgst -sha256 -hmac pepper -binary | base64 | tr "+/" "-_" | tr -d =
        let p = Pseudonymizer::new(b"pepper").pseudonym("alice@example.com");
        assert_eq!(p, "p~5Y5Tnr1vTio3BQgBMDBp1l3Jc8dhKhks-97QzeEOTCY");
    }

    #[test]
    fn replaces_strings_and_numbers_once_each() {
        let w = apply(
            json!({"kind": "pseudonymize", "paths": ["$..email", "$.a.email", "$.n", "$.o"], "salt": "SALT",
                "query": ["email"]}),
            "email=alice%40example.com&page=2",
            json!({"a": {"email": "alice@example.com"}, "b": [{"email": "alice@example.com"}],
                "n": 12345, "o": {"keep": true}}),
        );
        let p = Pseudonymizer::new(b"pepper");
        assert_eq!(
            w.payload["a"]["email"],
            json!(p.pseudonym("alice@example.com"))
        );
        assert_eq!(w.payload["b"][0]["email"], w.payload["a"]["email"]);
        assert_eq!(w.payload["n"], json!(p.pseudonym("12345")));
        assert_eq!(w.payload["o"], json!({"keep": true}));
        assert_eq!(
            w.query[0],
            ("email".into(), p.pseudonym("alice@example.com"))
        );
        assert_eq!(w.query[1], ("page".into(), "2".into()));
        assert!(w.changed);
        assert!(!w.payload.to_string().contains("alice"));
    }

    #[test]
    fn a_selected_array_or_object_has_everything_inside_pseudonymized() {
        let w = apply(
            json!({"kind": "pseudonymize", "paths": ["$.email", "$.contact"], "salt": "SALT"}),
            "",
            serde_json::from_str(
                r#"{"email": ["alice@corp.example", 42, true, null, [{"x": "bob@corp.example"}]],
                "contact": {"addr": "carol@corp.example", "n": 1.10, "empty": {}},
                "other": "dave@corp.example"}"#,
            )
            .unwrap(),
        );
        let p = |v: &str| json!(Pseudonymizer::new(b"pepper").pseudonym(v));
        assert_eq!(
            w.payload,
            json!({"email": [p("alice@corp.example"), p("42"), true, null, [{"x": p("bob@corp.example")}]],
                "contact": {"addr": p("carol@corp.example"), "n": p("1.10"), "empty": {}},
                "other": "dave@corp.example"})
        );
        assert!(w.changed);
        let w = apply(
            json!({"kind": "pseudonymize", "paths": ["$.email"], "salt": "SALT"}),
            "",
            json!({"email": {"verified": false, "list": []}}),
        );
        assert!(!w.changed);
    }

    #[test]
    fn a_node_reached_by_several_routes_is_pseudonymized_once() {
        let p = |v: &str| json!(Pseudonymizer::new(b"pepper").pseudonym(v));
        for paths in [
            json!(["$..user..email"]),
            json!(["$..email", "$.user.user.email", "$..user"]),
            json!(["$..*"]),
        ] {
            let w = apply(
                json!({"kind": "pseudonymize", "paths": paths, "salt": "SALT"}),
                "",
                json!({"user": {"user": {"email": "x@corp.example"}}}),
            );
            assert_eq!(
                w.payload,
                json!({"user": {"user": {"email": p("x@corp.example")}}}),
                "{paths}"
            );
        }
    }

    #[test]
    fn no_match_leaves_the_payload_untouched() {
        let w = apply(
            json!({"kind": "pseudonymize", "paths": ["$.x"], "salt": "SALT"}),
            "",
            json!({"a": 1}),
        );
        assert!(!w.changed);
    }

    #[test]
    fn salt_is_a_secret_reference() {
        let s = step(
            json!({"kind": "pseudonymize", "paths": ["$.a"], "salt": "S"}),
            "none",
        )
        .unwrap();
        assert_eq!(
            s.secret_refs(),
            vec![("collectors[0].steps[0].salt".into(), "S".into())]
        );
        let e = step(json!({"kind": "pseudonymize", "salt": "S"}), "none").unwrap_err();
        assert!(e.0.contains("name at least one JSONPath"), "{e}");
    }

    #[test]
    fn path_params_are_replaced_in_the_recorded_path_with_the_same_pseudonym() {
        let spec = json!({"kind": "pseudonymize", "salt": "SALT", "query": ["userId"],
            "paths": ["$.user"], "path_template": "/users/{userId}/events/{eventId}",
            "path_params": ["userId"]});
        let w = apply_at(
            spec.clone(),
            "/users/alice%40example.com/events/e-1",
            "userId=alice%40example.com",
            json!({"user": "alice@example.com"}),
        );
        let pseudonym = Pseudonymizer::new(b"pepper").pseudonym("alice@example.com");
        assert_eq!(
            w.path.as_deref(),
            Some(&*format!("/users/{pseudonym}/events/e-1"))
        );
        assert_eq!(w.query[0].1, pseudonym);
        assert_eq!(w.payload["user"], json!(pseudonym));
        // A path the template does not match is recorded as it came.
        let w = apply_at(spec, "/teams/t-1", "", json!({}));
        assert_eq!(w.path, None);
    }

    #[test]
    fn path_params_need_a_template_naming_them() {
        let cases = [
            (
                json!({"path_params": ["userId"]}),
                "collectors[0].steps[0].path_params: path parameters need path_template",
            ),
            (
                json!({"path_params": ["a", "userId"], "path_template": "/u/{a}"}),
                "collectors[0].steps[0].path_params[1]: path_template has no {userId}",
            ),
            (
                json!({"path_params": ["a"], "path_template": "u/{a}"}),
                "collectors[0].steps[0].path_template: ",
            ),
        ];
        for (mut spec, want) in cases {
            spec["kind"] = json!("pseudonymize");
            spec["salt"] = json!("S");
            let e = step(spec.clone(), "none").unwrap_err();
            assert!(e.0.starts_with(want), "{spec}: {e}");
        }
    }
}
