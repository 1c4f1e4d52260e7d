//! `pseudonymize` (Psoxy's transform): every string or number a JSONPath selects, and
//! every value of the listed query parameters, becomes
//! `p~<base64url(HMAC-SHA256(salt, value))>`. The same value under the same salt always
//! gives the same pseudonym, in any collector, so records stay linkable without the PII.

use std::rc::Rc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use futures_util::future::LocalBoxFuture;
use hmac::{Hmac, Mac};
use serde::Deserialize;
use serde_json::Value;
use sha2::Sha256;

use super::jsonpath::{self, Location, Path};
use super::{BuildContext, Flow, Step, StepContext, StepError, Work, parse_table, scalar_text};
use crate::config::ConfigError;

/// Prefix that marks a pseudonym.
pub const PREFIX: &str = "p~";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Spec {
    #[serde(default)]
    paths: Vec<Path>,
    #[serde(default)]
    query: Vec<String>,
    salt: String,
}

/// The compiled step.
#[derive(Debug)]
pub struct Pseudonymize {
    paths: Vec<Path>,
    query: Vec<String>,
    salt: String,
    path: String,
}

/// Builds the step; the salt is the name of a secret.
pub fn build(raw: &Value, cx: &BuildContext<'_>) -> Result<Rc<dyn Step>, ConfigError> {
    let spec: Spec = parse_table(raw, cx.path)?;
    if spec.paths.is_empty() && spec.query.is_empty() {
        return Err(ConfigError(format!(
            "{}: name at least one JSONPath in paths or one parameter in query",
            cx.path
        )));
    }
    Ok(Rc::new(Pseudonymize {
        paths: spec.paths,
        query: spec.query,
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
            let mut locations: Vec<Location> = Vec::new();
            for path in &self.paths {
                locations.extend(path.locate(&work.payload));
            }
            if self.paths.len() > 1 {
                // A node two paths select is pseudonymized once, not twice.
                locations.sort();
                locations.dedup();
            }
            for loc in &locations {
                if let Some(node) = jsonpath::get_mut(&mut work.payload, loc)
                    && let Some(text) = scalar_text(node)
                {
                    *node = Value::String(p.pseudonym(&text));
                    work.changed = true;
                }
            }
            for (k, v) in &mut work.query {
                if self.query.contains(k) {
                    *v = p.pseudonym(v);
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
    use crate::config::Secrets;
    use crate::inbound::InboundRequest;
    use serde_json::json;

    fn apply(spec: Value, query: &str, payload: Value) -> Work {
        let s = step(spec, "none").unwrap();
        let req = InboundRequest {
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
}
