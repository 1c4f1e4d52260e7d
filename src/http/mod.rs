//! HTTP routing and responses. Handlers read input, call the core and map errors; they
//! hold no business rules.

pub mod admin;
#[cfg(feature = "bench")]
pub mod bench;
pub mod call;
pub mod deliveries;
pub mod events;
pub mod health;
pub mod hooks;
pub mod keys;
pub mod page;
pub mod plugin_admin;
pub mod routes;
pub mod rules;
pub mod stats;
pub mod subscriptions;

use serde_json::{Value, json};
use worker::wasm_bindgen::JsValue;
use worker::{Env, Request, Response, js_sys, web_sys};

use crate::app;
use crate::error::ApiError;
use crate::inbound;
use crate::log;
use crate::observe;
use call::Call;
use routes::{Access, Handler};

/// A JSON answer built straight on the runtime's `Response`: the body string and a shared
/// header object cross into JS, nothing else. The collector route and every error answer
/// this way; other routes build a [`Response`] and are converted. Fails only if the runtime
/// refuses to build a Response; the caller rejects the request then (the runtime answers
/// 500) rather than answering something else.
fn raw_json_response(
    status: u16,
    body: &Value,
    retry_after: Option<u32>,
) -> Result<web_sys::Response, JsValue> {
    thread_local! {
        // The runtime copies init headers into each Response, so one object serves all.
        static JSON_HEADERS: JsValue = {
            let headers = js_sys::Object::new();
            let _ = js_sys::Reflect::set(&headers, &"content-type".into(), &"application/json".into());
            headers.into()
        };
    }
    let init = web_sys::ResponseInit::new();
    init.set_status(status);
    match retry_after {
        None => JSON_HEADERS.with(|h| init.set_headers(h)),
        Some(secs) => {
            if let Ok(headers) = web_sys::Headers::new() {
                let _ = headers.set("content-type", "application/json");
                let _ = headers.set("retry-after", &secs.to_string());
                init.set_headers(&headers);
            }
        }
    }
    web_sys::Response::new_with_opt_str_and_init(Some(&body.to_string()), &init)
}

/// What a route answered: JSON (the collector route, errors) or a [`Response`] (the rest).
enum Answer {
    Json(u16, Value),
    Response(Response),
}

impl Answer {
    fn status(&self) -> u16 {
        match self {
            Answer::Json(status, _) => *status,
            Answer::Response(r) => r.status_code(),
        }
    }
}

/// Serves one request: loads the app (config), routes by [`routes::ROUTES`], counts it
/// and logs one line (request id, method, route pattern, collector, outcome, status,
/// duration). The collector route reads the runtime's request directly (only the headers
/// its checks need, never `request.cf`); the other routes get a [`Request`].
pub async fn serve(
    req: web_sys::Request,
    env: &Env,
    ctx: &JsValue,
) -> Result<web_sys::Response, JsValue> {
    let url = req.url();
    let (path, query) = inbound::split_url(&url);
    #[cfg(feature = "bench")]
    if path.starts_with(bench::PREFIX) {
        return match bench::handle(Request::from(req), env).await {
            Ok(resp) => Ok(resp.into()),
            Err(e) => raw_json_response(e.status(), &e.body(), e.retry_after()),
        };
    }
    let started = worker::Date::now().as_millis();
    let ray = req.headers().get("cf-ray").ok().flatten();
    let request_id = match log::ray_id(ray.as_deref()) {
        Some(ray) => ray.to_string(),
        None => crate::ids::ulid(started, crate::ids::random_bytes().unwrap_or_default()),
    };
    let method = req.method();
    let matched = routes::resolve(&method, path);
    let mut fields = json!({
        "request_id": request_id,
        "method": method,
        "route": matched.as_ref().map_or("none", |m| m.route.pattern),
    });
    let app = app::app(env);
    let result = match (&app, matched) {
        (Err(e), _) => Err(e.clone()),
        (Ok(_), None) => Err(ApiError::not_found(path)),
        // The collector route names an unknown collector before a wrong method (README).
        (Ok(app), Some(m)) => match m.route.handler {
            Handler::Collector => {
                let collector = m.params.get("collector").unwrap_or_default().to_string();
                let target = hooks::Target {
                    collector: &collector,
                    sub_path: format!("/{}", m.params.get("rest").unwrap_or_default()),
                    path,
                    query,
                };
                // A name no collector has is the client's text: logged cut and escaped.
                if app.config.collector(&collector).is_some() {
                    fields["collector"] = json!(collector);
                } else {
                    fields["unknown_collector"] = json!(log::untrusted(&collector));
                }
                hooks::handle(&req, env, ctx, app, &method, target, started)
                    .await
                    .map(|answer| {
                        fields["outcome"] = json!(answer.outcome);
                        Answer::Json(answer.status, answer.body)
                    })
            }
            Handler::Route(_) if !m.method_allowed => {
                Err(ApiError::method_not_allowed(&method, &m.allowed))
            }
            Handler::Route(handler) => {
                let req = Request::from(req);
                let allowed = match m.route.access {
                    Access::Open => Ok(()),
                    Access::Admin => admin::require_admin(&req, env),
                };
                match allowed {
                    Err(e) => Err(e),
                    Ok(()) => handler(Call {
                        req,
                        env,
                        app,
                        path,
                        params: m.params,
                        now_ms: started,
                    })
                    .await
                    .map(Answer::Response),
                }
            }
        },
    };
    let (answer, error_code, retry_after) = match result {
        Ok(answer) => (answer, None, None),
        Err(e) => {
            if let Some(detail) = &e.detail {
                fields["detail"] = json!(detail);
            }
            (
                Answer::Json(e.status(), e.body()),
                Some(e.code),
                e.retry_after(),
            )
        }
    };
    let status = answer.status();
    let collector = fields
        .get("collector")
        .and_then(|c| c.as_str())
        .map(str::to_string);
    // A webhook's outcome is set by its handler (accepted, duplicate, dropped).
    let outcome = match (error_code, fields.get("outcome").and_then(|o| o.as_str())) {
        (Some(code), _) => code.to_string(),
        (None, Some(done)) => done.to_string(),
        (None, None) => "ok".to_string(),
    };
    // Only configured collectors are in `fields` (a name in a URL is not worth a D1 row).
    if let Some(name) = &collector {
        observe::count_hook(name, &outcome, started);
    }
    fields["outcome"] = json!(outcome);
    fields["status"] = json!(status);
    fields["duration_ms"] = json!(worker::Date::now().as_millis().saturating_sub(started));
    observe::analytics(env, &fields);
    log::emit(fields);
    match answer {
        Answer::Json(status, body) => raw_json_response(status, &body, retry_after),
        Answer::Response(resp) => Ok(resp.into()),
    }
}
