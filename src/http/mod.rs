//! HTTP routing and responses. Handlers read input, call the core and map errors; they
//! hold no business rules.

pub mod admin;
#[cfg(feature = "bench")]
pub mod bench;
pub mod deliveries;
pub mod events;
pub mod health;
pub mod hooks;
pub mod keys;
pub mod observe;
pub mod outbound;
pub mod page;
pub mod plugins;
pub mod routes;
pub mod rules;
pub mod stats;
pub mod subscriptions;

use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use worker::{Env, Request, Response};

use crate::app;
use crate::error::ApiError;
use crate::log;
use routes::RouteId;

/// A JSON response.
pub fn json_response(status: u16, body: &Value) -> Response {
    let text = body.to_string();
    let mut resp = Response::ok(text)
        .map(|r| r.with_status(status))
        .unwrap_or_else(|_| Response::empty().unwrap_or_else(|_| unreachable!()));
    let _ = resp.headers_mut().set("content-type", "application/json");
    resp
}

/// Reads a JSON request body: `400 invalid_json` when it is not JSON, `422
/// invalid_request` when it is JSON of the wrong shape.
pub async fn read_json<T: DeserializeOwned>(req: &mut Request) -> Result<T, ApiError> {
    let bytes = req
        .bytes()
        .await
        .map_err(|e| ApiError::new(400, "bad_request", format!("unreadable body: {e}")))?;
    serde_json::from_slice(&bytes).map_err(|e| {
        if e.is_data() {
            ApiError::new(422, "invalid_request", e.to_string())
        } else {
            ApiError::new(
                400,
                "invalid_json",
                format!("the body is not valid JSON: {e}"),
            )
        }
    })
}

/// The response for an [`ApiError`].
pub fn error_response(e: &ApiError) -> Response {
    let mut resp = json_response(e.status, &e.body());
    if let Some(secs) = e.retry_after {
        let _ = resp.headers_mut().set("retry-after", &secs.to_string());
    }
    resp
}

/// Serves one request: loads the app (config), routes by [`routes::ROUTES`], counts it
/// and logs one line (request id, method, route pattern, collector, outcome, status,
/// duration).
pub async fn serve(req: Request, env: &Env) -> Response {
    #[cfg(feature = "bench")]
    if req.path().starts_with(bench::PREFIX) {
        return bench::handle(req, env).await;
    }
    let started = worker::Date::now().as_millis();
    let request_id = req
        .headers()
        .get("cf-ray")
        .ok()
        .flatten()
        .unwrap_or_else(|| {
            crate::ids::ulid(started, crate::ids::random_bytes().unwrap_or_default())
        });
    let now_secs = (started / 1000) as i64;
    let method = req.method().to_string();
    let path = req.path();
    let matched = routes::resolve(&method, &path);
    let mut fields = json!({
        "request_id": request_id,
        "method": method,
        "route": matched.as_ref().map_or("none", |m| m.pattern),
    });
    let app = app::app(env);
    let result = match (&app, matched) {
        (Err(e), _) => Err(e.clone()),
        (Ok(_), None) => Err(ApiError::not_found(&path)),
        // The collector route names an unknown collector before a wrong method (README).
        (Ok(app), Some(m)) if m.id == RouteId::Hook => {
            let collector = m.params.get("collector").unwrap_or_default().to_string();
            let sub_path = format!("/{}", m.params.get("rest").unwrap_or_default());
            fields["collector"] = json!(collector);
            hooks::handle(req, env, app, &collector, sub_path, started)
                .await
                .map(|(resp, outcome)| {
                    fields["outcome"] = json!(outcome);
                    resp
                })
        }
        (Ok(_), Some(m)) if !m.method_allowed => {
            Err(ApiError::method_not_allowed(&method, &m.allowed))
        }
        (Ok(app), Some(m)) => match m.id {
            RouteId::Healthz => health::handle(&method),
            RouteId::OpenApi => page::openapi(&app.config.public_url),
            RouteId::AdminPage => page::admin(&path),
            RouteId::KeysTest => keys::test(&req, env, now_secs).await,
            RouteId::Hook => Err(ApiError::internal("hook route dispatched twice")),
            RouteId::Events => {
                let event_type = m.params.get("type").unwrap_or_default().to_string();
                events::publish(req, env, app, &event_type, started).await
            }
            RouteId::Result => {
                let id = m.params.get("id").unwrap_or_default().to_string();
                match method.as_str() {
                    "PATCH" => events::patch(req, env, &id, now_secs).await,
                    _ => events::show(&req, env, &id, now_secs).await,
                }
            }
            id => match admin::require_admin(&req, env) {
                Err(e) => Err(e),
                Ok(()) => match (id, method.as_str()) {
                    (RouteId::AdminKeys, "POST") => admin::create_key(req, env, now_secs).await,
                    (RouteId::AdminKeys, _) => admin::list_keys(env, now_secs).await,
                    (RouteId::AdminKey, _) => {
                        let key_id = m.params.get("id").unwrap_or_default();
                        admin::revoke_key(key_id, env, now_secs).await
                    }
                    (RouteId::AdminStats, _) => match req.url() {
                        Ok(url) => stats::stats(&url, env, app, now_secs as u64).await,
                        Err(e) => Err(ApiError::new(400, "bad_request", e.to_string())),
                    },
                    (RouteId::AdminBatches, _) => match req.url() {
                        Ok(url) => stats::list_batches(&url, env).await,
                        Err(e) => Err(ApiError::new(400, "bad_request", e.to_string())),
                    },
                    (RouteId::AdminSubscriptions, "POST") => {
                        subscriptions::create(req, env, app, now_secs).await
                    }
                    (RouteId::AdminSubscriptions, _) => subscriptions::list(env).await,
                    (RouteId::AdminSubscription, verb) => {
                        let id = m.params.get("id").unwrap_or_default().to_string();
                        match verb {
                            "PATCH" => subscriptions::update(req, env, app, &id, now_secs).await,
                            "DELETE" => subscriptions::delete(env, &id).await,
                            _ => subscriptions::show(env, &id).await,
                        }
                    }
                    (RouteId::AdminSubscriptionTest, _) => {
                        let id = m.params.get("id").unwrap_or_default();
                        subscriptions::test(env, app, id, now_secs).await
                    }
                    (RouteId::AdminSubscriptionRotate, _) => {
                        let id = m.params.get("id").unwrap_or_default().to_string();
                        subscriptions::rotate(req, env, app, &id, now_secs).await
                    }
                    (RouteId::AdminRules, _) => rules::list(env).await,
                    (RouteId::AdminRule, _) => {
                        let name = m.params.get("name").unwrap_or_default().to_string();
                        rules::put(req, env, &name, now_secs).await
                    }
                    (RouteId::AdminDeliveries, _) => match req.url() {
                        Ok(url) => deliveries::list(&url, env).await,
                        Err(e) => Err(ApiError::new(400, "bad_request", e.to_string())),
                    },
                    (RouteId::AdminDeliveryRetry, _) => {
                        let id = m.params.get("id").unwrap_or_default();
                        deliveries::retry(env, id, now_secs).await
                    }
                    (other, _) => Err(ApiError::internal(format!("no handler for {other:?}"))),
                },
            },
        },
    };
    let error_code = result.as_ref().err().map(|e| e.code);
    let resp = result.unwrap_or_else(|e| error_response(&e));
    let status = resp.status_code();
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
    // Count only configured collectors: a name in a URL is not worth a D1 row.
    if let (Some(name), Ok(app)) = (&collector, &app)
        && app.config.collector(name).is_some()
    {
        observe::count_hook(name, &outcome, started);
    }
    fields["outcome"] = json!(outcome);
    fields["status"] = json!(status);
    fields["duration_ms"] = json!(worker::Date::now().as_millis().saturating_sub(started));
    observe::analytics(env, &fields);
    log::emit(fields);
    resp
}
