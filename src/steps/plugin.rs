//! `plugin`: the extension point (GitProxy's plugins, AShirt's web services). The record
//! is POSTed as `{"type":"record","collector":..,"record":..}` to a Worker behind a
//! service binding (`binding`) or to a URL with headers (AShirt's web config v1), and
//! the answer is read the AShirt way:
//!
//! | answer | effect |
//! |---|---|
//! | 2xx `{"action":"processed","content":<record>}` | the record is replaced |
//! | 406, or `{"action":"rejected"}` | `422 rejected_by_plugin`, nothing stored |
//! | 202, or `{"action":"deferred"}` | the record passes unchanged |
//! | 5xx, `{"action":"error"}`, anything else, timeout | `on_error`: `reject` → `503 plugin_unavailable` (the sender retries), `pass` → unchanged |
//!
//! An answer is read up to [`answer_limit`] (twice the collector's `max_body_bytes`, plus
//! 64 KiB: room for the largest record the collector takes, even as an escaped JSON
//! string) and the rest cancelled unread; a 2xx answer cut there cannot be read and is an
//! error (`on_error`), a 202 still passes the record.

use std::collections::BTreeMap;
use std::rc::Rc;

use futures_util::future::LocalBoxFuture;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{BuildContext, Flow, Step, StepContext, StepError, Work, parse_table};
use crate::error::{BindingError, ConfigError};

/// `timeout_ms` when a `plugin` step does not set one.
pub const DEFAULT_TIMEOUT_MS: u64 = 5_000;
/// Largest `timeout_ms`: a webhook must still be answered promptly.
pub const MAX_TIMEOUT_MS: u64 = 30_000;

/// Where a plugin lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PluginTarget {
    /// A Worker behind this service binding.
    Binding(String),
    /// A web service at this URL.
    Url(String),
    /// A plugin uploaded at runtime (`wasm` step), run through the Worker Loader: this
    /// version, else the active one.
    Loaded {
        /// The uploaded plugin's name.
        plugin: String,
        /// The version (digest) to run; none runs the active one.
        version: Option<String>,
    },
}

/// A plugin's HTTP answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginReply {
    /// The HTTP status the plugin answered.
    pub status: u16,
    /// Body bytes, at most the caller's bound.
    pub body: Vec<u8>,
    /// The body went on past the bound; the rest was cancelled unread.
    pub cut: bool,
}

/// How much of a plugin's answer is read for a collector taking bodies up to
/// `max_body_bytes`: a processed record may be as large as any the collector accepts,
/// and AShirt sends it as a JSON string, whose escaping can double it; 64 KiB more for
/// the envelope.
pub fn answer_limit(max_body_bytes: u64) -> usize {
    usize::try_from(max_body_bytes.saturating_mul(2))
        .unwrap_or(usize::MAX)
        .saturating_add(64 * 1024)
}

/// Why a plugin call brought no reply.
#[derive(Debug, thiserror::Error)]
pub enum PluginCallError {
    /// This caller reaches no plugins ([`NoPlugins`]).
    #[error("no plugin can be reached here")]
    NoPlugins,
    /// The request failed or timed out.
    #[error("the plugin failed: {0}")]
    Failed(#[from] BindingError),
}

/// Sends plugin requests; the worker glue implements it with service bindings and
/// `fetch`, tests with canned answers.
pub trait PluginCaller {
    /// POSTs `body` (JSON) to `target` with `headers`; `Err` on a network failure or
    /// when no answer came within `timeout_ms`.
    fn call<'a>(
        &'a self,
        target: &'a PluginTarget,
        headers: Vec<(String, String)>,
        body: String,
        timeout_ms: u64,
    ) -> LocalBoxFuture<'a, Result<PluginReply, PluginCallError>>;
}

/// A caller for places where no plugin can be reached (benches, fuzzing, tests of
/// chains without plugin steps): every call fails, so a plugin step follows `on_error`.
pub struct NoPlugins;

impl PluginCaller for NoPlugins {
    fn call<'a>(
        &'a self,
        _target: &'a PluginTarget,
        _headers: Vec<(String, String)>,
        _body: String,
        _timeout_ms: u64,
    ) -> LocalBoxFuture<'a, Result<PluginReply, PluginCallError>> {
        Box::pin(async { Err(PluginCallError::NoPlugins) })
    }
}

/// What a plugin's reply means for the record, read the AShirt way.
#[derive(Debug, Clone, PartialEq)]
pub enum PluginVerdict {
    /// Use this record instead.
    Processed(Value),
    /// Refuse the record (with the plugin's reason, if any).
    Rejected(String),
    /// Pass the record unchanged.
    Deferred,
    /// The plugin failed.
    Error(String),
}

/// Reads a plugin's answer, its body `cut` at the bound or whole. `content` of
/// `processed` may be the record itself or a string holding it as JSON (AShirt sends
/// strings).
pub fn classify(status: u16, body: &[u8], cut: bool) -> PluginVerdict {
    match status {
        406 => return PluginVerdict::Rejected(String::new()),
        202 => return PluginVerdict::Deferred,
        200..=299 if cut => {
            return PluginVerdict::Error(format!(
                "the plugin answered {status} with a body over {} bytes, more than edgehook reads",
                body.len()
            ));
        }
        200..=299 => {}
        _ => return PluginVerdict::Error(format!("the plugin answered {status}")),
    }
    let Ok(Value::Object(reply)) = serde_json::from_slice::<Value>(body) else {
        return PluginVerdict::Error(format!(
            "the plugin answered {status} without a JSON object naming an action"
        ));
    };
    let content = reply.get("content");
    let text = |c: Option<&Value>| c.and_then(Value::as_str).unwrap_or_default().to_string();
    match reply.get("action").and_then(Value::as_str) {
        Some("processed") => match content {
            Some(Value::String(s)) => serde_json::from_str(s).map_or_else(
                |_| PluginVerdict::Error("processed content is a string that is not JSON".into()),
                PluginVerdict::Processed,
            ),
            Some(v) => PluginVerdict::Processed(v.clone()),
            None => PluginVerdict::Error("processed without content".into()),
        },
        Some("rejected") => PluginVerdict::Rejected(text(content)),
        Some("deferred") => PluginVerdict::Deferred,
        Some("error") => {
            PluginVerdict::Error(format!("the plugin reported an error: {}", text(content)))
        }
        _ => PluginVerdict::Error("the plugin's answer names no known action".into()),
    }
}

/// What happens when the plugin fails or times out.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnError {
    /// `503 plugin_unavailable` with `Retry-After`: the sender retries later.
    #[default]
    Reject,
    /// Store the record unchanged.
    Pass,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Spec {
    #[serde(default)]
    binding: Option<String>,
    #[serde(default)]
    url: Option<String>,
    /// AShirt's web config v1 carries `"type": "web", "version": 1`; accepted as such.
    #[serde(default, rename = "type")]
    web_type: Option<String>,
    #[serde(default)]
    version: Option<u32>,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    /// Header name → secret name, for credentials that must not sit in the config.
    #[serde(default)]
    secret_headers: BTreeMap<String, String>,
    #[serde(default = "default_timeout")]
    timeout_ms: u64,
    #[serde(default)]
    on_error: OnError,
}

/// The default `timeout_ms` (serde's `default`).
pub fn default_timeout() -> u64 {
    DEFAULT_TIMEOUT_MS
}

/// Checks a plugin step's `timeout_ms` (1 … [`MAX_TIMEOUT_MS`]), naming the key.
pub fn check_timeout(path: &str, timeout_ms: u64) -> Result<(), ConfigError> {
    if timeout_ms == 0 || timeout_ms > MAX_TIMEOUT_MS {
        return Err(ConfigError(format!(
            "{path}.timeout_ms: must be between 1 and {MAX_TIMEOUT_MS}"
        )));
    }
    Ok(())
}

/// The compiled step.
#[derive(Debug)]
pub struct Plugin {
    target: PluginTarget,
    headers: Vec<(String, String)>,
    secret_headers: Vec<(String, String)>,
    timeout_ms: u64,
    on_error: OnError,
    path: String,
}

/// Builds the step: exactly one of `binding` and `url`.
pub fn build(raw: &Value, cx: &BuildContext<'_>) -> Result<Rc<dyn Step>, ConfigError> {
    let spec: Spec = parse_table(raw, cx.path)?;
    let err = |k: &str, m: String| Err(ConfigError(format!("{}{k}: {m}", cx.path)));
    let target = match (spec.binding, spec.url) {
        (Some(b), None) if !b.is_empty() => PluginTarget::Binding(b),
        (None, Some(u)) => match url::Url::parse(&u) {
            Ok(parsed) if matches!(parsed.scheme(), "http" | "https") => PluginTarget::Url(u),
            _ => return err(".url", format!("{u:?} is not an absolute http(s) URL")),
        },
        _ => {
            return err(
                "",
                "name exactly one of binding (a service binding) and url".into(),
            );
        }
    };
    if spec.web_type.as_deref().is_some_and(|t| t != "web") {
        return err(
            ".type",
            "only AShirt's \"web\" configuration is supported".into(),
        );
    }
    if spec.version.is_some_and(|v| v != 1) {
        return err(
            ".version",
            "only version 1 of the web configuration is supported".into(),
        );
    }
    check_timeout(cx.path, spec.timeout_ms)?;
    Ok(Rc::new(Plugin {
        target,
        headers: spec.headers.into_iter().collect(),
        secret_headers: spec.secret_headers.into_iter().collect(),
        timeout_ms: spec.timeout_ms,
        on_error: spec.on_error,
        path: cx.path.to_string(),
    }))
}

#[derive(Serialize)]
struct PluginRequest<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    collector: &'a str,
    record: &'a Value,
}

/// Sends the record to `target` and applies its answer to `work`: the one contract of
/// `plugin` and `wasm` steps.
pub async fn call(
    cx: &StepContext<'_>,
    work: &mut Work,
    target: &PluginTarget,
    headers: Vec<(String, String)>,
    timeout_ms: u64,
    on_error: OnError,
) -> Result<Flow, StepError> {
    let body = serde_json::to_string(&PluginRequest {
        kind: "record",
        collector: cx.collector,
        record: &work.payload,
    })
    .map_err(|e| StepError::PluginFailed(format!("could not encode the record: {e}")))?;
    let answer = match cx.plugins.call(target, headers, body, timeout_ms).await {
        Ok(reply) => classify(reply.status, &reply.body, reply.cut),
        Err(e) => PluginVerdict::Error(e.to_string()),
    };
    match answer {
        PluginVerdict::Processed(record) => {
            work.payload = record;
            work.changed = true;
            Ok(Flow::Continue)
        }
        PluginVerdict::Deferred => Ok(Flow::Continue),
        PluginVerdict::Rejected(why) => Err(StepError::PluginRejected(if why.is_empty() {
            "the plugin rejected the record".into()
        } else {
            format!("the plugin rejected the record: {why}")
        })),
        PluginVerdict::Error(_) if on_error == OnError::Pass => Ok(Flow::Continue),
        PluginVerdict::Error(why) => Err(StepError::PluginFailed(why)),
    }
}

impl Step for Plugin {
    fn apply<'a>(
        &'a self,
        cx: &'a StepContext<'a>,
        work: &'a mut Work,
    ) -> LocalBoxFuture<'a, Result<Flow, StepError>> {
        let mut headers = self.headers.clone();
        for (name, secret) in &self.secret_headers {
            headers.push((
                name.clone(),
                cx.secrets.get(secret).unwrap_or_default().to_string(),
            ));
        }
        Box::pin(call(
            cx,
            work,
            &self.target,
            headers,
            self.timeout_ms,
            self.on_error,
        ))
    }

    fn service_bindings(&self) -> Vec<(String, String)> {
        match &self.target {
            PluginTarget::Binding(b) => vec![(format!("{}.binding", self.path), b.clone())],
            PluginTarget::Url(_) | PluginTarget::Loaded { .. } => Vec::new(),
        }
    }

    fn secret_refs(&self) -> Vec<(String, String)> {
        self.secret_headers
            .iter()
            .map(|(h, s)| (format!("{}.secret_headers.{h}", self.path), s.clone()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::step;
    use super::super::{Chain, StepContext};
    use super::*;
    use crate::auth::Identity;
    use crate::inbound::InboundRequest;
    use crate::secrets::Secrets;
    use serde_json::json;
    use std::cell::RefCell;

    #[test]
    fn classifies_answers_like_ashirt() {
        let cases: Vec<(u16, &str, PluginVerdict)> = vec![
            (
                200,
                r#"{"action":"processed","content":{"a":1}}"#,
                PluginVerdict::Processed(json!({"a": 1})),
            ),
            (
                200,
                r#"{"action":"processed","content":"{\"a\":2}"}"#,
                PluginVerdict::Processed(json!({"a": 2})),
            ),
            (
                200,
                r#"{"action":"rejected","content":"no"}"#,
                PluginVerdict::Rejected("no".into()),
            ),
            (406, "", PluginVerdict::Rejected(String::new())),
            (202, "", PluginVerdict::Deferred),
            (200, r#"{"action":"deferred"}"#, PluginVerdict::Deferred),
        ];
        for (status, body, want) in cases {
            assert_eq!(
                classify(status, body.as_bytes(), false),
                want,
                "{status} {body}"
            );
        }
        for (status, body) in [
            (500, ""),
            (200, r#"{"action":"error","content":"boom"}"#),
            (200, ""),
            (204, ""),
            (200, r#"{"action":"processed"}"#),
            (200, r#"{"action":"processed","content":"not json"}"#),
            (200, r#"{"action":"teleport"}"#),
            (404, ""),
            (301, ""),
        ] {
            assert!(
                matches!(
                    classify(status, body.as_bytes(), false),
                    PluginVerdict::Error(_)
                ),
                "{status} {body}"
            );
        }
    }

    /// Headers and body of one call.
    type Sent = (Vec<(String, String)>, String);

    /// Answers with a canned reply (none: a timeout) and remembers what it was sent.
    struct Canned(Option<PluginReply>, RefCell<Vec<Sent>>);

    impl PluginCaller for Canned {
        fn call<'a>(
            &'a self,
            _target: &'a PluginTarget,
            headers: Vec<(String, String)>,
            body: String,
            _timeout_ms: u64,
        ) -> LocalBoxFuture<'a, Result<PluginReply, PluginCallError>> {
            self.1.borrow_mut().push((headers, body));
            let reply = self.0.clone();
            Box::pin(async move { Ok(reply.ok_or(BindingError::Timeout(5_000))?) })
        }
    }

    fn run_with(
        spec: Value,
        reply: Option<PluginReply>,
    ) -> (Result<Flow, StepError>, Work, Canned) {
        let chain = Chain::compile(&[spec], "collectors[0]", "none").unwrap();
        let caller = Canned(reply, RefCell::new(Vec::new()));
        let req = InboundRequest::default();
        let identity = Identity::of("none");
        let secrets = Secrets::from_pairs([("TOKEN", "s3cret")]);
        let cx = StepContext {
            collector: "c",
            request: &req,
            identity: &identity,
            secrets: &secrets,
            plugins: &caller,
        };
        let mut work = Work::new(json!({"n": 1}), Vec::new());
        let flow = futures_executor::block_on(chain.run(&cx, &mut work));
        (flow, work, caller)
    }

    fn reply(status: u16, body: &str) -> PluginReply {
        PluginReply {
            status,
            body: body.as_bytes().to_vec(),
            cut: false,
        }
    }

    #[test]
    fn an_answer_cut_at_the_bound_is_an_error_unless_it_defers() {
        let prefix = br#"{"action":"processed","content":{"n":2,"pad":"xx"#;
        assert!(matches!(
            classify(200, prefix, true),
            PluginVerdict::Error(e) if e.contains("over 48 bytes")
        ));
        assert_eq!(classify(202, prefix, true), PluginVerdict::Deferred);
        assert_eq!(
            classify(406, prefix, true),
            PluginVerdict::Rejected(String::new())
        );
        let spec = json!({"kind": "plugin", "binding": "SCANNER", "on_error": "pass"});
        let cut = Some(PluginReply {
            status: 200,
            body: prefix.to_vec(),
            cut: true,
        });
        let (flow, work, _) = run_with(spec, cut);
        assert_eq!(flow, Ok(Flow::Continue));
        assert_eq!(
            work.payload,
            json!({"n": 1}),
            "on_error pass keeps the record"
        );
        assert_eq!(answer_limit(1_048_576), 2 * 1_048_576 + 65_536);
        assert_eq!(answer_limit(u64::MAX), usize::MAX);
    }

    #[test]
    fn processed_replaces_and_sends_the_record_with_headers() {
        let spec = json!({"kind": "plugin", "url": "https://scanner.example/hook", "type": "web", "version": 1,
            "headers": {"X-Team": "red"}, "secret_headers": {"Authorization": "TOKEN"}});
        let (flow, work, caller) = run_with(
            spec,
            Some(reply(200, r#"{"action":"processed","content":{"n":2}}"#)),
        );
        assert_eq!(flow, Ok(Flow::Continue));
        assert_eq!(work.payload, json!({"n": 2}));
        assert!(work.changed);
        let sent = caller.1.borrow();
        assert_eq!(
            sent[0].1,
            r#"{"type":"record","collector":"c","record":{"n":1}}"#
        );
        assert!(sent[0].0.contains(&("X-Team".into(), "red".into())));
        assert!(
            sent[0]
                .0
                .contains(&("Authorization".into(), "s3cret".into()))
        );
    }

    #[test]
    fn rejected_is_422_and_errors_follow_on_error() {
        let spec = json!({"kind": "plugin", "binding": "SCANNER"});
        assert!(matches!(
            run_with(spec.clone(), Some(reply(406, ""))).0,
            Err(StepError::PluginRejected(_))
        ));
        assert!(matches!(
            run_with(spec.clone(), None).0,
            Err(StepError::PluginFailed(_))
        ));
        let (flow, work, _) = run_with(spec, Some(reply(202, "")));
        assert_eq!((flow, work.changed), (Ok(Flow::Continue), false));
        let pass = json!({"kind": "plugin", "binding": "SCANNER", "on_error": "pass"});
        let (flow, work, _) = run_with(pass, None);
        assert_eq!((flow, work.payload), (Ok(Flow::Continue), json!({"n": 1})));
    }

    #[test]
    fn config_needs_one_target_and_a_sane_timeout() {
        for bad in [
            json!({"kind": "plugin"}),
            json!({"kind": "plugin", "binding": "A", "url": "https://x"}),
            json!({"kind": "plugin", "url": "ftp://x"}),
            json!({"kind": "plugin", "binding": "A", "timeout_ms": 0}),
            json!({"kind": "plugin", "binding": "A", "version": 2}),
        ] {
            assert!(step(bad.clone(), "none").is_err(), "{bad}");
        }
        let s = step(
            json!({"kind": "plugin", "binding": "A", "secret_headers": {"X-K": "K"}}),
            "none",
        )
        .unwrap();
        assert_eq!(
            s.secret_refs(),
            vec![(
                "collectors[0].steps[0].secret_headers.X-K".into(),
                "K".into()
            )]
        );
    }
}
