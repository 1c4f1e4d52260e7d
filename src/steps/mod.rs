//! Steps: the collector's chain of processors (GitProxy's chain, Psoxy's transforms).
//!
//! Each step kind is one file implementing [`Step`]; [`KINDS`] maps a config `kind` to
//! its builder, so adding a step kind means adding a file and one line there. A chain is
//! compiled when the config loads (JSONPath included) and applied to every accepted
//! payload, in order, before anything is queued: a step that refuses the record leaves
//! no trace.

pub mod filter;
pub mod jsonpath;
pub mod path_template;
pub mod pattern;
pub mod plugin;
pub mod pseudonymize;
pub mod redact;
pub mod scan_secrets;
pub mod validate;
pub mod verify_claims;
pub mod wasm;

use std::rc::Rc;

use futures_util::future::LocalBoxFuture;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::auth::Identity;
use crate::error::{ApiError, ConfigError, ErrorCode};
use crate::inbound::InboundRequest;
use crate::secrets::Secrets;
pub use plugin::{NoPlugins, PluginCallError, PluginCaller, PluginReply, PluginTarget};

/// What a step works on: the payload being sanitized and the query parameters recorded
/// with it (`format = "request"`).
#[derive(Debug, Clone, PartialEq)]
pub struct Work {
    /// The JSON payload.
    pub payload: Value,
    /// Decoded query parameters, in request order.
    pub query: Vec<(String, String)>,
    /// Whether any step changed `payload`; when none did, the record keeps the sender's
    /// exact bytes.
    pub changed: bool,
    /// The sub-path recorded with it (`format = "request"`) when a step rewrote it
    /// (`pseudonymize`'s `path_params`); `None` records the path as received.
    pub path: Option<String>,
}

impl Work {
    /// Work on a freshly parsed payload.
    pub fn new(payload: Value, query: Vec<(String, String)>) -> Work {
        Work {
            payload,
            query,
            changed: false,
            path: None,
        }
    }
}

/// What the chain decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Flow {
    /// Go on to the next step (and, after the last, queue the record).
    Continue,
    /// Accept the webhook but store nothing (`filter` with `on_mismatch = "drop"`).
    Drop,
}

/// Why a step refused a record. Each maps to one HTTP status and stable code; the
/// message is the step's own sentence.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StepError {
    /// `403 claim_mismatch`: a token claim differs from the request.
    #[error("{0}")]
    ClaimMismatch(String),
    /// `422 filtered`: a `filter` condition did not hold.
    #[error("{0}")]
    Filtered(String),
    /// `422 rejected_by_plugin`: the plugin answered `rejected` / 406.
    #[error("{0}")]
    PluginRejected(String),
    /// `422 secret_detected`: `scan-secrets` with `action = "reject"` found a secret
    /// (the message names the detector and where, never the secret).
    #[error("{0}")]
    SecretDetected(String),
    /// `422 schema_mismatch`: the payload does not satisfy a `validate` step's schema
    /// (the message names the instance location and the failed keyword).
    #[error("{0}")]
    SchemaMismatch(String),
    /// `503 plugin_unavailable`: the plugin failed and `on_error = "reject"`; the
    /// sender's retry runs it again.
    #[error("{0}")]
    PluginFailed(String),
}

impl StepError {
    /// The stable error code.
    pub fn code(&self) -> ErrorCode {
        match self {
            StepError::ClaimMismatch(_) => ErrorCode::ClaimMismatch,
            StepError::Filtered(_) => ErrorCode::Filtered,
            StepError::PluginRejected(_) => ErrorCode::RejectedByPlugin,
            StepError::SecretDetected(_) => ErrorCode::SecretDetected,
            StepError::SchemaMismatch(_) => ErrorCode::SchemaMismatch,
            StepError::PluginFailed(_) => ErrorCode::PluginUnavailable,
        }
    }
}

impl From<StepError> for ApiError {
    fn from(e: StepError) -> ApiError {
        match e {
            // The plugin's failure goes to the log; the sender reads a stable sentence.
            StepError::PluginFailed(m) => {
                ApiError::from(ErrorCode::PluginUnavailable).with_detail(m)
            }
            e => ApiError::new(e.code(), e.to_string()),
        }
    }
}

/// Everything a step may read besides the [`Work`] it changes.
pub struct StepContext<'a> {
    /// The collector whose chain runs.
    pub collector: &'a str,
    /// The request as received (method, sub-path, headers).
    pub request: &'a InboundRequest,
    /// Who authenticated it (JWT claims for `verify-claims`).
    pub identity: &'a Identity,
    /// Resolved secrets (pseudonym salts, plugin header secrets).
    pub secrets: &'a Secrets,
    /// How plugins are called.
    pub plugins: &'a dyn PluginCaller,
}

/// One step of a chain.
pub trait Step {
    /// Applies the step to `work`.
    fn apply<'a>(
        &'a self,
        cx: &'a StepContext<'a>,
        work: &'a mut Work,
    ) -> LocalBoxFuture<'a, Result<Flow, StepError>>;

    /// `(config key, secret name)` for every secret the step reads.
    fn secret_refs(&self) -> Vec<(String, String)> {
        Vec::new()
    }

    /// Compiles what depends on secret values (a list or a schema held in a secret), once
    /// when the config loads and its secrets are read; an unusable value is a config
    /// error naming the key that refers to the secret.
    fn load(&self, _secrets: &Secrets) -> Result<(), ConfigError> {
        Ok(())
    }

    /// `(config key, binding name)` for every service binding the step calls, checked
    /// when the config loads.
    fn service_bindings(&self) -> Vec<(String, String)> {
        Vec::new()
    }
}

/// A step prints as `Step`. Not a `Debug` supertrait: through the vtables that kept every
/// step's `Debug` (and its automata's and schemas') in the wasm, though only tests print
/// them (docs/PERFORMANCE.md, wasm size).
impl std::fmt::Debug for dyn Step + '_ {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Step")
    }
}

/// What a builder knows besides the step's own table.
pub struct BuildContext<'a> {
    /// Config key of the step, e.g. `collectors[0].steps[1]`.
    pub path: &'a str,
    /// The collector's `auth.scheme`.
    pub auth_scheme: &'a str,
}

type Builder = fn(&Value, &BuildContext<'_>) -> Result<Rc<dyn Step>, ConfigError>;

/// The registry: config `kind` → builder.
pub const KINDS: &[(&str, Builder)] = &[
    ("verify-claims", verify_claims::build),
    ("filter", filter::build),
    ("pseudonymize", pseudonymize::build),
    ("redact", redact::build),
    ("plugin", plugin::build),
    ("wasm", wasm::build),
    ("scan-secrets", scan_secrets::build),
    ("validate", validate::build),
];

/// A compiled chain of steps.
#[derive(Debug, Clone, Default)]
pub struct Chain(Vec<Rc<dyn Step>>);

impl Chain {
    /// Compiles a collector's `steps`, naming the bad step and key on error.
    pub fn compile(
        steps: &[Value],
        collector_path: &str,
        auth_scheme: &str,
    ) -> Result<Chain, ConfigError> {
        let mut chain = Vec::with_capacity(steps.len());
        for (i, raw) in steps.iter().enumerate() {
            let path = format!("{collector_path}.steps[{i}]");
            let kind = raw.get("kind").and_then(Value::as_str).ok_or_else(|| {
                ConfigError(format!(
                    "{path}.kind: every step needs a kind (one of {})",
                    kind_names()
                ))
            })?;
            let build = KINDS
                .iter()
                .find(|(k, _)| *k == kind)
                .map(|(_, b)| *b)
                .ok_or_else(|| {
                    ConfigError(format!(
                        "{path}.kind: unknown step kind {kind:?} (one of {})",
                        kind_names()
                    ))
                })?;
            chain.push(build(
                raw,
                &BuildContext {
                    path: &path,
                    auth_scheme,
                },
            )?);
        }
        Ok(Chain(chain))
    }

    /// Whether the chain has no steps.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Every secret the chain's steps read.
    pub fn secret_refs(&self) -> Vec<(String, String)> {
        self.0.iter().flat_map(|s| s.secret_refs()).collect()
    }

    /// Compiles what the chain's steps take from secret values ([`Step::load`]).
    pub fn load(&self, secrets: &Secrets) -> Result<(), ConfigError> {
        self.0.iter().try_for_each(|s| s.load(secrets))
    }

    /// Every service binding the chain's steps call.
    pub fn service_bindings(&self) -> Vec<(String, String)> {
        self.0.iter().flat_map(|s| s.service_bindings()).collect()
    }

    /// Runs the steps in order; stops at the first that drops or refuses.
    pub async fn run(&self, cx: &StepContext<'_>, work: &mut Work) -> Result<Flow, StepError> {
        for step in &self.0 {
            if step.apply(cx, work).await? == Flow::Drop {
                return Ok(Flow::Drop);
            }
        }
        Ok(Flow::Continue)
    }
}

fn kind_names() -> String {
    KINDS.iter().map(|(k, _)| *k).collect::<Vec<_>>().join(", ")
}

/// Deserializes a step's table (without its `kind`) into `T`, naming the key on error.
pub fn parse_table<T: DeserializeOwned>(raw: &Value, path: &str) -> Result<T, ConfigError> {
    let mut table = raw.clone();
    if let Some(map) = table.as_object_mut() {
        map.remove("kind");
    } else {
        return Err(ConfigError(format!("{path}: a step must be a table")));
    }
    serde_path_to_error::deserialize(table).map_err(|e| {
        let at = e.path().to_string();
        let inner = e.into_inner();
        if at == "." || at == "?" {
            ConfigError(format!("{path}: {inner}"))
        } else {
            ConfigError(format!("{path}.{at}: {inner}"))
        }
    })
}

/// The text a JSON scalar is compared or pseudonymized as: a string's contents, a
/// number as written; `None` for other kinds.
pub fn scalar_text(v: &Value) -> Option<std::borrow::Cow<'_, str>> {
    match v {
        Value::String(s) => Some(std::borrow::Cow::Borrowed(s)),
        Value::Number(n) => Some(std::borrow::Cow::Owned(n.to_string())),
        _ => None,
    }
}

#[cfg(test)]
pub(crate) mod testing {
    //! A context for unit tests of single steps.
    use super::*;

    /// Compiles one step from JSON for an auth scheme.
    pub fn step(v: Value, scheme: &str) -> Result<Rc<dyn Step>, ConfigError> {
        let chain = Chain::compile(&[v], "collectors[0]", scheme)?;
        Ok(chain.0[0].clone())
    }

    /// Runs `step` on `payload` with the given request, claims and secrets.
    pub fn run(
        step: &Rc<dyn Step>,
        req: &InboundRequest,
        identity: &Identity,
        secrets: &Secrets,
        work: &mut Work,
    ) -> Result<Flow, StepError> {
        let cx = StepContext {
            collector: "c",
            request: req,
            identity,
            secrets,
            plugins: &NoPlugins,
        };
        futures_executor::block_on(step.apply(&cx, work))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn unknown_and_missing_kinds_are_named() {
        let e =
            Chain::compile(&[json!({"kind": "teleport"})], "collectors[2]", "none").unwrap_err();
        assert!(
            e.0.starts_with("collectors[2].steps[0].kind: unknown step kind \"teleport\""),
            "{e}"
        );
        let e = Chain::compile(
            &[
                json!({"kind": "redact", "paths": ["$.a"]}),
                json!({"paths": []}),
            ],
            "collectors[0]",
            "none",
        )
        .unwrap_err();
        assert!(e.0.starts_with("collectors[0].steps[1].kind: "), "{e}");
    }

    #[test]
    fn unknown_keys_in_a_step_are_named() {
        let e = Chain::compile(
            &[json!({"kind": "redact", "paths": ["$.a"], "colour": 1})],
            "collectors[0]",
            "none",
        )
        .unwrap_err();
        assert!(
            e.0.starts_with("collectors[0].steps[0].colour: unknown field `colour`"),
            "{e}"
        );
    }
}
