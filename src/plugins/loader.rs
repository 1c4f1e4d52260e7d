//! Calls a plugin version through the Worker Loader binding `LOADER` (`loader.mjs`):
//! finds the version (the active one unless pinned) in this isolate's cache or in D1
//! (`store::plugins::find_cached`, trusted 5 s), and POSTs the plugin message
//! to its isolate, started from the version's modules in R2 when the runtime has none
//! warm.

use worker::wasm_bindgen::JsValue;
use worker::wasm_bindgen::prelude::wasm_bindgen;
use worker::wasm_bindgen_futures::JsFuture;
use worker::{Env, js_sys};

use super::MAX_RECORD_BYTES;
use super::bundle::{isolate_id, prefix};
use crate::error::{BindingError, During};
use crate::steps::PluginReply;
use crate::store::plugins;

/// The Worker Loader binding's name (`[[worker_loaders]] binding = "LOADER"`).
pub const LOADER_BINDING: &str = "LOADER";

#[wasm_bindgen(module = "/src/plugins/loader.mjs")]
extern "C" {
    #[wasm_bindgen(js_name = callPlugin, catch)]
    #[allow(clippy::too_many_arguments)]
    fn call_plugin(
        loader: &JsValue,
        bucket: &JsValue,
        id: &str,
        prefix: &str,
        main: &str,
        modules_json: &str,
        body: &[u8],
        limit: f64,
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

fn binding(env: &Env, name: &str) -> Result<JsValue, BindingError> {
    js_sys::Reflect::get(env, &JsValue::from_str(name))
        .ok()
        .filter(|v| !v.is_undefined() && !v.is_null())
        .ok_or_else(|| BindingError::Missing(format!("the worker has no {name} binding")))
}

/// POSTs `body` to `plugin` (at `version`, else its active version); `Err` when there is
/// no such version, the message or answer is over [`MAX_RECORD_BYTES`], the isolate
/// failed to start or threw, or it gave no answer within `timeout_ms` (`loader.mjs`
/// times the whole call, the version's lookup aside).
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
    let loader = binding(env, LOADER_BINDING)?;
    let bucket = binding(env, "ARCHIVE")?;
    let now_ms = js_sys::Date::now() as u64;
    let found = plugins::find_cached(plugin, version, now_ms, || async {
        let db = env.d1("DB").during("DB binding")?;
        plugins::find(&db, plugin, version)
            .await
            .during(format!("reading plugin {plugin} from D1"))
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
    let promise = call_plugin(
        &loader,
        &bucket,
        &id,
        &prefix(plugin, &found.version),
        &found.main,
        &found.modules,
        body.as_bytes(),
        MAX_RECORD_BYTES as f64,
        timeout_ms as f64,
        egress_for,
    )
    .map_err(js_error)?;
    let answer = JsFuture::from(promise).await.map_err(js_error)?;
    let field = |name: &str| js_sys::Reflect::get(&answer, &JsValue::from_str(name)).ok();
    let status = field("status").and_then(|s| s.as_f64()).unwrap_or(0.0) as u16;
    let body = field("body")
        .map(|b| js_sys::Uint8Array::new(&b).to_vec())
        .unwrap_or_default();
    // loader.mjs bounds the answer itself (MAX_RECORD_BYTES), in the plugin's isolate.
    Ok(PluginReply {
        status,
        body,
        cut: false,
    })
}
