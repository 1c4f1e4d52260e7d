//! HTTP routing and responses. Handlers read input, call the core and map errors; they
//! hold no business rules.

pub mod admin;
pub mod audit;
#[cfg(feature = "bench")]
pub mod bench;
pub mod call;
pub mod deliveries;
pub mod events;
pub mod handshakes;
pub mod health;
pub mod hooks;
pub mod keys;
pub mod page;
pub mod plugin_admin;
pub mod portal;
pub mod records;
pub mod replays;
pub mod reviews;
pub mod routes;
pub mod rules;
pub mod stats;
pub mod subscriptions;

use serde_json::{Value, json};
use worker::wasm_bindgen::JsValue;
use worker::{Env, Request, Response, js_sys, web_sys};

use crate::app;
use crate::auth::access;
use crate::collect::handshake::{Reply, ReplyBody};
use crate::error::ApiError;
use crate::inbound;
use crate::log;
use crate::observe;
use crate::store;
use call::Call;
use futures_util::FutureExt;
use routes::{Access, Handler, RouteDef, RouteFn};

/// A JSON answer built straight on the runtime's `Response`: the body string and a shared
/// header object cross into JS, nothing else. The collector route and every error answer
/// this way; other routes build a [`Response`] and are converted. Fails only if the runtime
/// refuses to build a Response; the caller rejects the request then (the runtime answers
/// 500) rather than answering something else.
pub(crate) fn raw_json_response(
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

/// A provider's handshake answered in its own form: JSON, text or nothing, with its
/// headers (an echoed text is never sniffed as a page).
fn reply_response(reply: &Reply) -> Result<web_sys::Response, JsValue> {
    let init = web_sys::ResponseInit::new();
    init.set_status(reply.status);
    let headers = web_sys::Headers::new()?;
    let body = match &reply.body {
        ReplyBody::Json(v) => {
            let _ = headers.set("content-type", "application/json");
            Some(v.to_string())
        }
        ReplyBody::Text(t) => {
            let _ = headers.set("content-type", "text/plain; charset=utf-8");
            let _ = headers.set("x-content-type-options", "nosniff");
            Some(t.clone())
        }
        ReplyBody::Empty => None,
    };
    for (name, value) in &reply.headers {
        let _ = headers.set(name, value);
    }
    init.set_headers(&headers);
    web_sys::Response::new_with_opt_str_and_init(body.as_deref(), &init)
}

/// What a route answered: JSON (the collector route, errors), a handshake's reply, or a
/// [`Response`] (the rest).
enum RouteAnswer {
    Json(u16, Value),
    Reply(Reply),
    Response(Response),
}

impl RouteAnswer {
    fn status(&self) -> u16 {
        match self {
            RouteAnswer::Json(status, _) => *status,
            RouteAnswer::Reply(r) => r.status,
            RouteAnswer::Response(r) => r.status_code(),
        }
    }
}

/// A route other than the collector's, on `call` (its `actor` not yet known): the admin
/// sign-in for admin routes, the handler, and the audit entry of a change.
async fn route(
    mut call: Call<'_>,
    handler: RouteFn,
    def: &RouteDef,
    method: &str,
    fields: &mut Value,
) -> Result<RouteAnswer, ApiError> {
    let (env, started, path) = (call.env, call.now_ms, call.path);
    let actor = match def.access {
        Access::Open => Ok(None),
        Access::Admin => admin::authorize(&call.req, env, call.app, started)
            .await
            .map(Some),
    };
    let ip = call.req.headers().get("cf-connecting-ip").ok().flatten();
    let answer = match actor.clone() {
        Err(e) => Err(e),
        Ok(Some(a)) if !access::may(a.role, method) => Err(admin::read_only(&a)),
        Ok(actor) => {
            call.actor = actor;
            handler(call).await.map(RouteAnswer::Response)
        }
    };
    // Every change tried by a known caller is audited, refused ones too.
    if let Ok(Some(a)) = &actor
        && !matches!(method, "GET" | "HEAD")
    {
        let status = match &answer {
            Ok(r) => r.status(),
            Err(e) => e.status(),
        };
        let entry = store::audit::Entry {
            at: crate::time::secs(started),
            actor: a.who.clone(),
            role: a.role.as_str().into(),
            via: a.via.into(),
            method: method.to_string(),
            path: path.to_string(),
            route: def.pattern.into(),
            status,
            ip,
        };
        if let Err(e) = audit_change(env, &entry).await {
            fields["audit"] = json!(format!("not recorded: {e}"));
        }
    }
    answer
}

async fn audit_change(env: &Env, entry: &store::audit::Entry) -> worker::Result<()> {
    store::audit::insert(&env.d1("DB")?, entry).await
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
    // Access-Control-* of a collector with `cors`, on every answer it gives.
    let mut cors_headers: Vec<(&'static str, String)> = Vec::new();
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
                let header = |name: &str| req.headers().get(name).ok().flatten();
                let cors = app
                    .config
                    .collector(&collector)
                    .and_then(|c| c.cors.as_ref());
                let origin = header("origin");
                if let Some(cors) = cors {
                    cors_headers = cors.answer_headers(origin.as_deref());
                }
                // A browser's preflight comes without credentials: answered before any check.
                let preflight = cors.filter(|_| {
                    method == "OPTIONS" && header("access-control-request-method").is_some()
                });
                if let Some(cors) = preflight {
                    cors.preflight(
                        origin.as_deref(),
                        header("access-control-request-method").as_deref(),
                        header("access-control-request-headers").as_deref(),
                    )
                    .map(|headers| {
                        fields["outcome"] = json!("preflight");
                        cors_headers.clear();
                        RouteAnswer::Reply(Reply {
                            status: 204,
                            body: ReplyBody::Empty,
                            headers,
                        })
                    })
                } else {
                    // Boxed (here and the admin routes' branch below): each is a function
                    // of its own instead of being inlined into this one, which V8 then
                    // compiled whole, slowly, on an isolate's first request
                    // (docs/PERFORMANCE.md, cold start).
                    hooks::handle(&req, env, ctx, app, &method, target, started)
                        .boxed_local()
                        .await
                        .map(|answer| {
                            fields["outcome"] = json!(answer.outcome);
                            match answer.reply {
                                Some(reply) => RouteAnswer::Reply(reply),
                                None => RouteAnswer::Json(answer.status, answer.body),
                            }
                        })
                }
            }
            Handler::Route(_) if !m.method_allowed => {
                Err(ApiError::method_not_allowed(&method, &m.allowed))
            }
            Handler::Route(handler) => {
                let call = Call {
                    req: Request::from(req),
                    env,
                    app,
                    path,
                    params: m.params,
                    now_ms: started,
                    actor: None,
                };
                route(call, handler, m.route, &method, &mut fields)
                    .boxed_local()
                    .await
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
                RouteAnswer::Json(e.status(), e.body()),
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
    let duration_ms = worker::Date::now().as_millis().saturating_sub(started);
    // A browser's preflight is no webhook: logged, not counted.
    if let Some(name) = collector.as_ref().filter(|_| outcome != "preflight") {
        observe::count_hook(name, &outcome, started);
        if outcome == "accepted" {
            observe::count_latency(name, duration_ms, started);
        }
    }
    fields["outcome"] = json!(outcome);
    fields["status"] = json!(status);
    fields["duration_ms"] = json!(duration_ms);
    observe::analytics(env, &fields);
    log::emit(fields);
    let resp = match answer {
        RouteAnswer::Json(status, body) => raw_json_response(status, &body, retry_after),
        RouteAnswer::Reply(reply) => reply_response(&reply),
        RouteAnswer::Response(resp) => Ok(resp.into()),
    }?;
    let headers = resp.headers();
    for (name, value) in &cors_headers {
        let _ = headers.set(name, value);
    }
    Ok(resp)
}
