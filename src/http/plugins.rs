//! Calls plugin steps' Workers and web services: [`PluginCaller`] over service bindings
//! and `fetch`, raced against the step's timeout (fetch has none of its own).

use futures_util::future::LocalBoxFuture;
use worker::{
    AbortController, Env, Fetch, Headers, Method, Request, RequestInit, RequestRedirect,
    wasm_bindgen::JsValue,
};

use super::outbound::with_timeout;
use crate::error::During;
use crate::steps::{PluginCallError, PluginCaller, PluginReply, PluginTarget};

/// Plugins reached through this worker's bindings.
pub struct WorkerPlugins<'a>(pub &'a Env);

impl PluginCaller for WorkerPlugins<'_> {
    fn call<'a>(
        &'a self,
        target: &'a PluginTarget,
        headers: Vec<(String, String)>,
        body: String,
        timeout_ms: u64,
    ) -> LocalBoxFuture<'a, Result<PluginReply, PluginCallError>> {
        Box::pin(async move {
            let h = Headers::new();
            h.set("content-type", "application/json")
                .during("header content-type")?;
            for (k, v) in &headers {
                h.set(k, v).during(format!("header {k}"))?;
            }
            let mut init = RequestInit::new();
            init.with_method(Method::Post)
                .with_headers(h)
                .with_body(Some(JsValue::from_str(&body)))
                .with_redirect(RequestRedirect::Manual);
            let controller = AbortController::default();
            let signal = controller.signal();
            let exchange = async {
                let mut resp = match target {
                    PluginTarget::Binding(name) => {
                        let service = self
                            .0
                            .service(name)
                            .during(format!("service binding {name}"))?;
                        // The URL only names the route inside the bound Worker.
                        service.fetch("https://plugin.internal/", Some(init)).await
                    }
                    PluginTarget::Url(url) => {
                        let req = Request::new_with_init(url, &init).during("request")?;
                        Fetch::Request(req).send_with_signal(&signal).await
                    }
                }
                .during("the plugin could not be reached")?;
                let body = resp.bytes().await.during("the plugin's answer")?;
                Ok(PluginReply {
                    status: resp.status_code(),
                    body,
                })
            };
            Ok(with_timeout(exchange, controller, timeout_ms).await?)
        })
    }
}
