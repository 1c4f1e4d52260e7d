//! The outbound handler of plugins granted network (`plugins::egress`): a loaded plugin's
//! `fetch()` arrives at edgehook's fetch entry with props naming the plugin; it is checked
//! against the plugin's grant and the URL guard, then forwarded as it is (method, headers,
//! body), redirects not followed (the plugin's runtime follows them, each hop coming back
//! here), or answered `403 egress_refused`.

use worker::wasm_bindgen::prelude::wasm_bindgen;
use worker::wasm_bindgen::{JsCast, JsValue};
use worker::wasm_bindgen_futures::JsFuture;
use worker::{Env, js_sys, web_sys};

use crate::app::app;
use crate::dispatch::keys::policy;
use crate::error::{ApiError, ErrorCode};
use crate::http::raw_json_response;
use crate::plugins::egress::{self, PROPS_KEY};

#[wasm_bindgen(module = "/src/plugins/loader.mjs")]
extern "C" {
    #[wasm_bindgen(js_name = forwardEgress)]
    fn forward_egress(request: &web_sys::Request) -> js_sys::Promise;
}

/// The plugin a request comes from, when it is a plugin's outbound `fetch()` (its props
/// name one; only edgehook's own `exports.default({props})` sets props).
pub fn caller(ctx: &JsValue) -> Option<String> {
    let props = js_sys::Reflect::get(ctx, &JsValue::from_str("props")).ok()?;
    if !props.is_object() {
        return None;
    }
    js_sys::Reflect::get(&props, &JsValue::from_str(PROPS_KEY))
        .ok()?
        .as_string()
}

fn json(e: &ApiError) -> web_sys::Response {
    raw_json_response(e.status(), &e.body(), None).unwrap_or_else(|_| web_sys::Response::error())
}

/// Answers `plugin`'s outbound request.
pub async fn serve(req: web_sys::Request, env: &Env, plugin: &str) -> web_sys::Response {
    let app = match app(env) {
        Ok(app) => app,
        Err(e) => return json(&e),
    };
    let grant = app
        .config
        .plugins
        .get(plugin)
        .map_or(&[][..], |g| g.allow_hosts.as_slice());
    if let Err(refused) = egress::check(&req.url(), grant, &policy(&app)) {
        return json(&ApiError::new(
            ErrorCode::EgressRefused,
            format!("plugin {plugin}: {}", refused.0),
        ));
    }
    match JsFuture::from(forward_egress(&req)).await {
        Ok(resp) => resp.unchecked_into(),
        Err(e) => json(&ApiError::new(
            ErrorCode::EgressFailed,
            format!(
                "plugin {plugin}: the request failed: {}",
                js_sys::Error::from(e).message()
            ),
        )),
    }
}
