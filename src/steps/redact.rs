//! `redact`: removes every node a JSONPath selects, in the one walk that finds them.

use std::rc::Rc;

use futures_util::future::LocalBoxFuture;
use serde::Deserialize;
use serde_json::Value;

use super::jsonpath::{Action, Matcher, Path};
use super::{BuildContext, Flow, Step, StepContext, StepError, Work, parse_table};
use crate::error::ConfigError;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Spec {
    paths: Vec<Path>,
}

/// The compiled step.
#[derive(Debug)]
pub struct Redact {
    paths: Matcher,
}

/// Builds the step; `$` alone is refused (the root cannot be removed).
pub fn build(raw: &Value, cx: &BuildContext<'_>) -> Result<Rc<dyn Step>, ConfigError> {
    let spec: Spec = parse_table(raw, cx.path)?;
    if spec.paths.is_empty() {
        return Err(ConfigError(format!(
            "{}.paths: name at least one JSONPath",
            cx.path
        )));
    }
    if let Some(i) = spec.paths.iter().position(Path::is_root) {
        return Err(ConfigError(format!(
            "{}.paths[{i}]: \"$\" is the whole payload and cannot be redacted",
            cx.path
        )));
    }
    let paths =
        Matcher::new(&spec.paths).map_err(|e| ConfigError(format!("{}.paths: {e}", cx.path)))?;
    Ok(Rc::new(Redact { paths }))
}

impl Step for Redact {
    fn apply<'a>(
        &'a self,
        _cx: &'a StepContext<'a>,
        work: &'a mut Work,
    ) -> LocalBoxFuture<'a, Result<Flow, StepError>> {
        Box::pin(async move {
            if self
                .paths
                .rewrite(&mut work.payload, &mut |_| Action::Remove)
                > 0
            {
                work.changed = true;
            }
            Ok(Flow::Continue)
        })
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

    #[test]
    fn removes_every_match_of_every_path() {
        let s = step(
            json!({"kind": "redact", "paths": ["$.users[*].ssn", "$.users[?@.internal == true]", "$.token"]}),
            "none",
        )
        .unwrap();
        let mut work = Work::new(
            json!({"token": "t", "users": [{"n": 1, "ssn": "x"}, {"n": 2, "internal": true, "ssn": "y"}, {"n": 3}]}),
            Vec::new(),
        );
        let req = InboundRequest::default();
        run(
            &s,
            &req,
            &Identity::of("none"),
            &Secrets::default(),
            &mut work,
        )
        .unwrap();
        assert_eq!(work.payload, json!({"users": [{"n": 1}, {"n": 3}]}));
        assert!(work.changed);
    }

    #[test]
    fn the_root_cannot_be_redacted() {
        let e = step(json!({"kind": "redact", "paths": ["$.a", "$"]}), "none").unwrap_err();
        assert_eq!(
            e.0,
            "collectors[0].steps[0].paths[1]: \"$\" is the whole payload and cannot be redacted"
        );
    }
}
