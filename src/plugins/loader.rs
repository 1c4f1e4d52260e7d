//! Calls a plugin version through the Worker Loader binding `LOADER` (`loader.mjs`):
//! finds the version (the active one unless pinned) in this isolate's cache or in D1
//! (`store::plugins::find_cached`, trusted 5 s), and POSTs the plugin message
//! to its isolate, started from the version's modules in R2 when the runtime has none
//! warm.

use worker::wasm_bindgen::prelude::wasm_bindgen;
use worker::wasm_bindgen::{JsCast, JsValue};
use worker::wasm_bindgen_futures::JsFuture;
use worker::{AbortController, Env, js_sys};

use super::MAX_RECORD_BYTES;
use super::bundle::{isolate_id, prefix};
use crate::error::{BindingError, During};
use crate::outbound::with_timeout;
use crate::steps::PluginReply;
use crate::store::plugins;

#[wasm_bindgen(module = "/src/plugins/loader.mjs")]
extern "C" {
    /// What `callPlugin` resolves to.
    type PluginAnswer;
    #[wasm_bindgen(method, getter)]
    fn status(this: &PluginAnswer) -> u16;
    #[wasm_bindgen(method, getter)]
    fn body(this: &PluginAnswer) -> Vec<u8>;

    #[wasm_bindgen(js_name = callPlugin, catch)]
    #[allow(clippy::too_many_arguments)]
    fn call_plugin(
        env: &Env,
        id: &str,
        prefix: &str,
        main: &str,
        modules_json: &str,
        body: &[u8],
        limit: f64,
        left_ms: f64,
        timeout_ms: f64,
        egress_for: &str,
    ) -> Result<js_sys::Promise, JsValue>;
}

fn js_error(e: JsValue) -> BindingError {
    BindingError::Failed(
        js_sys::Error::from(e)
            .message()
            .as_string()
            .unwrap_or_else(|| "unknown error".into()),
    )
}

/// POSTs `body` to `plugin` (at `version`, else its active version); `Err` when there is
/// no such version, the message or answer is over [`MAX_RECORD_BYTES`], the isolate
/// failed to start or threw, or the whole call (the version's lookup, the isolate's start,
/// the answer) took longer than `timeout_ms` (the call itself timed in `loader.mjs`).
pub async fn call(
    env: &Env,
    plugin: &str,
    version: Option<&str>,
    body: &str,
    timeout_ms: u64,
) -> Result<PluginReply, BindingError> {
    if body.len() > MAX_RECORD_BYTES {
        return Err(BindingError::Failed(format!(
            "the record is {} bytes; a plugin takes at most {MAX_RECORD_BYTES}",
            body.len()
        )));
    }
    let started_ms = js_sys::Date::now() as u64;
    // D1 is read once per CACHE_MS and isolate; that read counts against the timeout too.
    let found = plugins::find_cached(plugin, version, started_ms, || {
        let read = async {
            let db = env.d1("DB").during("DB binding")?;
            plugins::find(&db, plugin, version)
                .await
                .during(format!("reading plugin {plugin} from D1"))
        };
        with_timeout(read, AbortController::default(), timeout_ms)
    })
    .await?
    .ok_or_else(|| {
        BindingError::Missing(match version {
            Some(v) => format!("plugin {plugin} has no version {v}"),
            None => format!("plugin {plugin} has no active version"),
        })
    })?;
    // Network only when the config grants the plugin hosts; another isolate id then, so a
    // grant given or taken away never reuses an isolate loaded the other way.
    let app = crate::app::app(env).map_err(|e| BindingError::Failed(e.message))?;
    let networked = app
        .config
        .plugins
        .get(plugin)
        .is_some_and(|g| !g.allow_hosts.is_empty());
    let id = isolate_id(plugin, &found.version);
    let (id, egress_for) = if networked {
        (format!("{id}+net"), plugin)
    } else {
        (id, "")
    };
    let spent_ms = (js_sys::Date::now() as u64).saturating_sub(started_ms);
    let left_ms = timeout_ms.saturating_sub(spent_ms).max(1);
    let promise = call_plugin(
        env,
        &id,
        &prefix(plugin, &found.version),
        &found.main,
        &found.modules,
        body.as_bytes(),
        MAX_RECORD_BYTES as f64,
        left_ms as f64,
        timeout_ms as f64,
        egress_for,
    )
    .map_err(js_error)?;
    let answer: PluginAnswer = JsFuture::from(promise)
        .await
        .map_err(js_error)?
        .unchecked_into();
    // loader.mjs read at most MAX_RECORD_BYTES of the answer and refused more.
    Ok(PluginReply {
        status: answer.status(),
        body: answer.body(),
        cut: false,
    })
}
