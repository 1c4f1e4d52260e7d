//! `verify-claims` (Psoxy's `jwtClaimsToVerify`): each listed token claim must equal the
//! value found in every place the config names — a query parameter, a path parameter of
//! `path_template`, a payload JSONPath — else `403 claim_mismatch`.

use std::collections::BTreeMap;
use std::rc::Rc;

use futures_util::future::LocalBoxFuture;
use serde::Deserialize;

use super::jsonpath::Path;
use super::{BuildContext, Flow, Step, StepContext, StepError, Work, parse_table, scalar_text};
use crate::config::ConfigError;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Spec {
    claims: BTreeMap<String, Places>,
    #[serde(default)]
    path_template: Option<String>,
}

/// Where one claim's value must appear.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Places {
    #[serde(default)]
    query: Option<String>,
    #[serde(default)]
    path: Option<String>,
    #[serde(default)]
    payload: Option<Path>,
}

/// The compiled step.
#[derive(Debug)]
pub struct VerifyClaims {
    claims: Vec<(String, Places)>,
    template: Option<Template>,
}

/// Builds the step: claims need a JWT, path places need a template naming them.
pub fn build(raw: &serde_json::Value, cx: &BuildContext<'_>) -> Result<Rc<dyn Step>, ConfigError> {
    let spec: Spec = parse_table(raw, cx.path)?;
    if cx.auth_scheme != "jwt" {
        return Err(ConfigError(format!(
            "{}: verify-claims needs a collector with auth.scheme = \"jwt\" (this one uses {:?})",
            cx.path, cx.auth_scheme
        )));
    }
    if spec.claims.is_empty() {
        return Err(ConfigError(format!(
            "{}.claims: name at least one claim",
            cx.path
        )));
    }
    let template = spec
        .path_template
        .as_deref()
        .map(Template::parse)
        .transpose()
        .map_err(|e| ConfigError(format!("{}.path_template: {e}", cx.path)))?;
    for (claim, places) in &spec.claims {
        let key = format!("{}.claims.{claim}", cx.path);
        if places.query.is_none() && places.path.is_none() && places.payload.is_none() {
            return Err(ConfigError(format!(
                "{key}: name at least one of query, path, payload"
            )));
        }
        if let Some(p) = &places.path {
            match &template {
                None => {
                    return Err(ConfigError(format!(
                        "{key}.path: a path parameter needs path_template"
                    )));
                }
                Some(t) if !t.has(p) => {
                    return Err(ConfigError(format!(
                        "{key}.path: path_template has no {{{p}}}"
                    )));
                }
                Some(_) => {}
            }
        }
    }
    Ok(Rc::new(VerifyClaims {
        claims: spec.claims.into_iter().collect(),
        template,
    }))
}

impl Step for VerifyClaims {
    fn apply<'a>(
        &'a self,
        cx: &'a StepContext<'a>,
        work: &'a mut Work,
    ) -> LocalBoxFuture<'a, Result<Flow, StepError>> {
        Box::pin(async move { self.check(cx, work).map(|()| Flow::Continue) })
    }
}

impl VerifyClaims {
    fn check(&self, cx: &StepContext<'_>, work: &Work) -> Result<(), StepError> {
        let mismatch = |m: String| Err(StepError::ClaimMismatch(m));
        let params = match &self.template {
            Some(t) => match t.capture(&cx.request.sub_path) {
                Some(p) => p,
                None => {
                    return mismatch(format!(
                        "the path {:?} does not match {:?}",
                        cx.request.sub_path, t.text
                    ));
                }
            },
            None => Vec::new(),
        };
        let claims = cx.identity.claims.as_ref();
        for (name, places) in &self.claims {
            let Some(expected) = claims.and_then(|c| c.get(name)).and_then(scalar_text) else {
                return mismatch(format!("the token has no string or number claim {name:?}"));
            };
            if let Some(param) = &places.query {
                let mut values = work.query.iter().filter(|(k, _)| k == param).peekable();
                if values.peek().is_none() || values.any(|(_, v)| *v != expected) {
                    return mismatch(format!(
                        "query parameter {param:?} does not equal claim {name:?}"
                    ));
                }
            }
            if let Some(param) = &places.path {
                let found = params.iter().find(|(k, _)| k == param).map(|(_, v)| v);
                if found.is_none_or(|v| *v != expected) {
                    return mismatch(format!(
                        "path parameter {param:?} does not equal claim {name:?}"
                    ));
                }
            }
            if let Some(path) = &places.payload {
                let nodes = path.nodes(&work.payload);
                let equal = |v: &&serde_json::Value| scalar_text(v).is_some_and(|t| t == expected);
                if nodes.is_empty() || !nodes.iter().all(equal) {
                    return mismatch(format!(
                        "payload {} does not equal claim {name:?}",
                        path.text
                    ));
                }
            }
        }
        Ok(())
    }
}

/// A sub-path template such as `/users/{userId}/events`.
#[derive(Debug)]
struct Template {
    text: String,
    segments: Vec<TemplateSegment>,
}

/// Why a `path_template` is not one.
#[derive(Debug, thiserror::Error)]
enum InvalidTemplate {
    #[error("{0:?} must start with /")]
    NoLeadingSlash(String),
    #[error("{0:?}: a segment is either literal or a whole {{name}}")]
    PartialParam(String),
}

#[derive(Debug)]
enum TemplateSegment {
    Literal(String),
    Param(String),
}

impl Template {
    fn parse(text: &str) -> Result<Template, InvalidTemplate> {
        if !text.starts_with('/') {
            return Err(InvalidTemplate::NoLeadingSlash(text.to_string()));
        }
        let segments = text
            .split('/')
            .skip(1)
            .map(
                |s| match s.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                    Some(name) if !name.is_empty() && !name.contains(['{', '}']) => {
                        Ok(TemplateSegment::Param(name.to_string()))
                    }
                    _ if s.contains(['{', '}']) => {
                        Err(InvalidTemplate::PartialParam(text.to_string()))
                    }
                    _ => Ok(TemplateSegment::Literal(s.to_string())),
                },
            )
            .collect::<Result<_, _>>()?;
        Ok(Template {
            text: text.to_string(),
            segments,
        })
    }

    fn has(&self, param: &str) -> bool {
        self.segments
            .iter()
            .any(|s| matches!(s, TemplateSegment::Param(p) if p == param))
    }

    /// The parameters of `path` (percent-decoded), or `None` when it does not match.
    fn capture(&self, path: &str) -> Option<Vec<(String, String)>> {
        let parts: Vec<&str> = path.split('/').skip(1).collect();
        if parts.len() != self.segments.len() {
            return None;
        }
        let mut params = Vec::new();
        for (seg, part) in self.segments.iter().zip(parts) {
            match seg {
                TemplateSegment::Literal(l) if l == part => {}
                TemplateSegment::Literal(_) => return None,
                TemplateSegment::Param(name) => {
                    let value = percent_decode(part)?;
                    params.push((name.clone(), value));
                }
            }
        }
        Some(params)
    }
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::super::testing::{run, step};
    use super::*;
    use crate::auth::Identity;
    use crate::config::Secrets;
    use crate::inbound::InboundRequest;
    use serde_json::json;

    fn psoxy() -> Rc<dyn Step> {
        step(
            json!({"kind": "verify-claims", "path_template": "/users/{userId}",
                "claims": {"sub": {"query": "userId", "path": "userId", "payload": "$.user_id"}}}),
            "jwt",
        )
        .unwrap()
    }

    fn check(
        sub: serde_json::Value,
        path: &str,
        query: &str,
        payload: serde_json::Value,
    ) -> Result<Flow, StepError> {
        let req = InboundRequest {
            sub_path: path.into(),
            query: query.into(),
            ..Default::default()
        };
        let mut identity = Identity::of("jwt");
        identity.claims = Some(json!({"sub": sub}).as_object().unwrap().clone());
        let mut work = Work::new(payload, req.query_pairs());
        run(&psoxy(), &req, &identity, &Secrets::default(), &mut work)
    }

    #[test]
    fn passes_when_every_place_equals_the_claim() {
        let ok = check(
            json!("u1"),
            "/users/u1",
            "userId=u1",
            json!({"user_id": "u1"}),
        );
        assert_eq!(ok, Ok(Flow::Continue));
        // Numbers compare by their text.
        let ok = check(json!(42), "/users/42", "userId=42", json!({"user_id": 42}));
        assert_eq!(ok, Ok(Flow::Continue));
        let ok = check(
            json!("a b"),
            "/users/a%20b",
            "userId=a+b",
            json!({"user_id": "a b"}),
        );
        assert_eq!(ok, Ok(Flow::Continue));
    }

    #[test]
    fn a_mismatch_in_any_one_place_is_403() {
        let cases = [
            ("/users/u2", "userId=u1", json!({"user_id": "u1"})),
            ("/users/u1", "userId=u2", json!({"user_id": "u1"})),
            ("/users/u1", "userId=u1", json!({"user_id": "u2"})),
            ("/users/u1", "", json!({"user_id": "u1"})),
            ("/users/u1", "userId=u1&userId=u2", json!({"user_id": "u1"})),
            ("/users/u1", "userId=u1", json!({"other": "u1"})),
            ("/users/u1/x", "userId=u1", json!({"user_id": "u1"})),
            ("/people/u1", "userId=u1", json!({"user_id": "u1"})),
        ];
        for (path, query, payload) in cases {
            let e = check(json!("u1"), path, query, payload.clone()).unwrap_err();
            assert!(
                matches!(e, StepError::ClaimMismatch(_)),
                "{path} {query} {payload}"
            );
        }
        assert!(
            check(
                json!({"o": 1}),
                "/users/u1",
                "userId=u1",
                json!({"user_id": "u1"})
            )
            .is_err()
        );
    }

    #[test]
    fn config_errors_name_the_key() {
        let e = step(
            json!({"kind": "verify-claims", "claims": {"sub": {"query": "u"}}}),
            "hmac",
        )
        .unwrap_err();
        assert!(
            e.0.contains("needs a collector with auth.scheme = \"jwt\""),
            "{e}"
        );
        let e = step(
            json!({"kind": "verify-claims", "claims": {"sub": {"path": "u"}}}),
            "jwt",
        )
        .unwrap_err();
        assert_eq!(
            e.0,
            "collectors[0].steps[0].claims.sub.path: a path parameter needs path_template"
        );
        let e = step(
            json!({"kind": "verify-claims", "path_template": "/u/{x}", "claims": {"sub": {"path": "u"}}}),
            "jwt",
        )
        .unwrap_err();
        assert_eq!(
            e.0,
            "collectors[0].steps[0].claims.sub.path: path_template has no {u}"
        );
        let e = step(
            json!({"kind": "verify-claims", "claims": {"sub": {"payload": "$["}}}),
            "jwt",
        )
        .unwrap_err();
        assert!(
            e.0.starts_with("collectors[0].steps[0].claims.sub.payload: "),
            "{e}"
        );
        let e = step(
            json!({"kind": "verify-claims", "claims": {"sub": {}}}),
            "jwt",
        )
        .unwrap_err();
        assert!(
            e.0.ends_with("name at least one of query, path, payload"),
            "{e}"
        );
    }
}
