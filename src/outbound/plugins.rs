//! Calls plugin steps' Workers and web services: [`PluginCaller`] over service bindings,
//! `fetch` and the Worker Loader (`wasm` steps), raced against the step's timeout (fetch
//! has none of its own).

use futures_util::future::LocalBoxFuture;
use worker::{
    AbortController, AbortSignal, Env, Fetch, Headers, Method, Request, RequestInit,
    RequestRedirect, wasm_bindgen::JsValue,
};

use super::{read_prefix, with_timeout};
use crate::error::{BindingError, During};
use crate::plugins::loader;
use crate::steps::{PluginCallError, PluginCaller, PluginReply, PluginTarget};

/// Plugins reached through this worker's bindings, their answers read up to
/// `answer_limit` bytes (`steps::plugin::answer_limit`).
pub struct WorkerPlugins<'a> {
    /// The worker's bindings.
    pub env: &'a Env,
    /// How much of an answer is read; the rest is cancelled unread.
    pub answer_limit: usize,
}

impl WorkerPlugins<'_> {
    /// POSTs `body` to the Worker bound as `service` (the URL then only names the route
    /// inside it), else to `url` over the network; reads at most `answer_limit` bytes.
    async fn post(
        &self,
        service: Option<&str>,
        url: &str,
        headers: &[(String, String)],
        body: &str,
        signal: &AbortSignal,
    ) -> Result<PluginReply, BindingError> {
        let h = Headers::new();
        h.set("content-type", "application/json")
            .during("header content-type")?;
        for (k, v) in headers {
            h.set(k, v).during(format!("header {k}"))?;
        }
        let mut init = RequestInit::new();
        init.with_method(Method::Post)
            .with_headers(h)
            .with_body(Some(JsValue::from_str(body)))
            .with_redirect(RequestRedirect::Manual);
        let mut resp = match service {
            Some(name) => {
                let service = self
                    .env
                    .service(name)
                    .during(format!("service binding {name}"))?;
                service.fetch(url, Some(init)).await
            }
            None => {
                let req = Request::new_with_init(url, &init).during("request")?;
                Fetch::Request(req).send_with_signal(signal).await
            }
        }
        .during("the plugin could not be reached")?;
        let body = read_prefix(&mut resp, self.answer_limit).await?;
        Ok(PluginReply {
            status: resp.status_code(),
            body: body.bytes,
            cut: body.cut,
        })
    }
}

impl PluginCaller for WorkerPlugins<'_> {
    fn call<'a>(
        &'a self,
        target: &'a PluginTarget,
        headers: Vec<(String, String)>,
        body: String,
        timeout_ms: u64,
    ) -> LocalBoxFuture<'a, Result<PluginReply, PluginCallError>> {
        Box::pin(async move {
            let (service, url) = match target {
                PluginTarget::Binding(name) => (Some(name.as_str()), "https://plugin.internal/"),
                PluginTarget::Url(url) => (None, url.as_str()),
                // Its own isolate, through the Worker Loader, timed in loader.mjs.
                PluginTarget::Loaded { plugin, version } => {
                    let version = version.as_deref();
                    return Ok(loader::call(self.env, plugin, version, &body, timeout_ms).await?);
                }
            };
            let controller = AbortController::default();
            let signal = controller.signal();
            let exchange = self.post(service, url, &headers, &body, &signal);
            Ok(with_timeout(exchange, controller, timeout_ms).await?)
        })
    }
}
