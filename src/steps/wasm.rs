//! `wasm`: a plugin uploaded at runtime (`PUT /admin/plugins/{name}`), run in its own
//! isolate through the Worker Loader. The record goes in and the answer comes back
//! exactly as for a `plugin` step (`{"type":"record","collector":..,"record":..}`,
//! AShirt's processed / rejected / deferred / error); a plugin that throws, loops past
//! `timeout_ms`, answers garbage or has no version to run costs the `on_error` outcome.
//!
//! `version` pins one version (its SHA-256); without it each webhook runs the active
//! version, so `POST /admin/plugins/{name}/activate` takes effect on the next webhook in
//! the isolate that took it and within 5 s in the others (`store::plugins::CACHE_MS`).

use std::rc::Rc;

use futures_util::future::LocalBoxFuture;
use serde::Deserialize;
use serde_json::Value;

use super::plugin::{self, OnError};
use super::{BuildContext, Flow, PluginTarget, Step, StepContext, StepError, Work, parse_table};
use crate::error::ConfigError;
use crate::plugins::bundle::{valid_plugin_name, valid_version};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Spec {
    plugin: String,
    #[serde(default)]
    version: Option<String>,
    #[serde(default = "plugin::default_timeout")]
    timeout_ms: u64,
    #[serde(default)]
    on_error: OnError,
}

/// The compiled step.
#[derive(Debug)]
pub struct Wasm {
    target: PluginTarget,
    timeout_ms: u64,
    on_error: OnError,
}

/// Builds the step: a plugin name, optionally a version.
pub fn build(raw: &Value, cx: &BuildContext<'_>) -> Result<Rc<dyn Step>, ConfigError> {
    let spec: Spec = parse_table(raw, cx.path)?;
    let err = |k: &str, m: String| Err(ConfigError(format!("{}.{k}: {m}", cx.path)));
    if !valid_plugin_name(&spec.plugin) {
        return err(
            "plugin",
            format!(
                "{:?} is not a plugin name (1-64 of a-z A-Z 0-9 - _)",
                spec.plugin
            ),
        );
    }
    if let Some(v) = spec.version.as_deref().filter(|v| !valid_version(v)) {
        return err(
            "version",
            format!("{v:?} is not a version (the 64 hex digits PUT /admin/plugins answered)"),
        );
    }
    plugin::check_timeout(cx.path, spec.timeout_ms)?;
    Ok(Rc::new(Wasm {
        target: PluginTarget::Loaded {
            plugin: spec.plugin,
            version: spec.version,
        },
        timeout_ms: spec.timeout_ms,
        on_error: spec.on_error,
    }))
}

impl Step for Wasm {
    fn apply<'a>(
        &'a self,
        cx: &'a StepContext<'a>,
        work: &'a mut Work,
    ) -> LocalBoxFuture<'a, Result<Flow, StepError>> {
        Box::pin(plugin::call(
            cx,
            work,
            &self.target,
            Vec::new(),
            self.timeout_ms,
            self.on_error,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::step;
    use super::super::{Chain, PluginCallError, PluginCaller, PluginReply};
    use super::*;
    use crate::auth::Identity;
    use crate::error::BindingError;
    use crate::inbound::InboundRequest;
    use crate::secrets::Secrets;
    use crate::steps::plugin::DEFAULT_TIMEOUT_MS;
    use serde_json::json;
    use std::cell::RefCell;

    /// Answers `reply` and remembers the targets and timeouts it was called with.
    struct Recorder(
        Result<PluginReply, String>,
        RefCell<Vec<(PluginTarget, u64)>>,
    );

    impl PluginCaller for Recorder {
        fn call<'a>(
            &'a self,
            target: &'a PluginTarget,
            headers: Vec<(String, String)>,
            _body: String,
            timeout_ms: u64,
        ) -> LocalBoxFuture<'a, Result<PluginReply, PluginCallError>> {
            assert!(headers.is_empty());
            self.1.borrow_mut().push((target.clone(), timeout_ms));
            let reply = self.0.clone().map_err(|e| BindingError::Failed(e).into());
            Box::pin(async move { reply })
        }
    }

    fn run(
        spec: Value,
        reply: Result<PluginReply, String>,
    ) -> (Result<Flow, StepError>, Work, Recorder) {
        let chain = Chain::compile(&[spec], "collectors[0]", "none").unwrap();
        let caller = Recorder(reply, RefCell::new(Vec::new()));
        let (req, identity, secrets) = (
            InboundRequest::default(),
            Identity::of("none"),
            Secrets::default(),
        );
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

    fn reply(body: &str) -> PluginReply {
        PluginReply {
            status: 200,
            body: body.as_bytes().to_vec(),
            cut: false,
        }
    }

    #[test]
    fn calls_the_named_plugin_with_the_plugin_steps_contract() {
        let v = "ab".repeat(32);
        let spec = json!({"kind": "wasm", "plugin": "scanner", "version": v, "timeout_ms": 250});
        let (flow, work, caller) = run(
            spec,
            Ok(reply(r#"{"action":"processed","content":{"n":2}}"#)),
        );
        assert_eq!(
            (flow, work.payload, work.changed),
            (Ok(Flow::Continue), json!({"n": 2}), true)
        );
        let loaded = PluginTarget::Loaded {
            plugin: "scanner".into(),
            version: Some(v),
        };
        assert_eq!(caller.1.borrow().as_slice(), &[(loaded, 250)]);

        let active = json!({"kind": "wasm", "plugin": "scanner"});
        let (flow, _, caller) = run(
            active.clone(),
            Ok(reply(r#"{"action":"rejected","content":"bad host"}"#)),
        );
        assert_eq!(
            flow,
            Err(StepError::PluginRejected(
                "the plugin rejected the record: bad host".into()
            ))
        );
        assert_eq!(
            caller.1.borrow()[0],
            (
                PluginTarget::Loaded {
                    plugin: "scanner".into(),
                    version: None
                },
                DEFAULT_TIMEOUT_MS
            )
        );
        let (flow, work, _) = run(active.clone(), Ok(reply(r#"{"action":"deferred"}"#)));
        assert_eq!((flow, work.changed), (Ok(Flow::Continue), false));
    }

    #[test]
    fn a_failing_plugin_costs_on_error() {
        let reject = json!({"kind": "wasm", "plugin": "p"});
        let pass = json!({"kind": "wasm", "plugin": "p", "on_error": "pass"});
        for reply in [
            Err("no answer within 5000 ms".to_string()),
            Ok(reply("garbage")),
            Ok(reply(r#"{"action":"error"}"#)),
        ] {
            assert!(matches!(
                run(reject.clone(), reply.clone()).0,
                Err(StepError::PluginFailed(_))
            ));
            let (flow, work, _) = run(pass.clone(), reply);
            assert_eq!((flow, work.payload), (Ok(Flow::Continue), json!({"n": 1})));
        }
    }

    #[test]
    fn config_names_the_bad_key() {
        for (bad, key) in [
            (
                json!({"kind": "wasm"}),
                "collectors[0].steps[0]: missing field `plugin`",
            ),
            (
                json!({"kind": "wasm", "plugin": "a/b"}),
                "collectors[0].steps[0].plugin: ",
            ),
            (
                json!({"kind": "wasm", "plugin": "a", "version": "v1"}),
                "collectors[0].steps[0].version: ",
            ),
            (
                json!({"kind": "wasm", "plugin": "a", "timeout_ms": 0}),
                "collectors[0].steps[0].timeout_ms: ",
            ),
            (
                json!({"kind": "wasm", "plugin": "a", "url": "https://x"}),
                "collectors[0].steps[0].url: unknown field",
            ),
        ] {
            let e = step(bad.clone(), "none").unwrap_err();
            assert!(e.0.starts_with(key), "{bad}: {e}");
        }
    }
}
