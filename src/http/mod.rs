//! HTTP routing and responses. Handlers read input, call the core and map errors; they
//! hold no business rules.

pub mod health;
pub mod hooks;

use serde_json::{Value, json};
use worker::{Env, Request, Response};

use crate::app;
use crate::error::ApiError;
use crate::log;

/// A matched route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// `/healthz`.
    Healthz,
    /// `/hooks/{collector}[/{*rest}]`; `sub_path` starts with `/` (just `/` when empty).
    Hook {
        /// Collector name as given in the path.
        collector: String,
        /// The rest of the path.
        sub_path: String,
    },
}

/// Matches a request path to a route.
pub fn route(path: &str) -> Option<Route> {
    if path == "/healthz" {
        return Some(Route::Healthz);
    }
    let rest = path.strip_prefix("/hooks/")?;
    let (collector, sub) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    if collector.is_empty() {
        return None;
    }
    Some(Route::Hook {
        collector: collector.to_string(),
        sub_path: sub.to_string(),
    })
}

/// A JSON response.
pub fn json_response(status: u16, body: &Value) -> Response {
    let text = body.to_string();
    let mut resp = Response::ok(text)
        .map(|r| r.with_status(status))
        .unwrap_or_else(|_| Response::empty().unwrap_or_else(|_| unreachable!()));
    let _ = resp.headers_mut().set("content-type", "application/json");
    resp
}

/// The response for an [`ApiError`].
pub fn error_response(e: &ApiError) -> Response {
    let mut resp = json_response(e.status, &e.body());
    if let Some(secs) = e.retry_after {
        let _ = resp.headers_mut().set("retry-after", &secs.to_string());
    }
    resp
}

/// Serves one request: loads the app (config), routes, logs one line.
pub async fn serve(req: Request, env: &Env) -> Response {
    let started = worker::Date::now().as_millis();
    let request_id = req
        .headers()
        .get("cf-ray")
        .ok()
        .flatten()
        .unwrap_or_else(|| {
            crate::ids::ulid(started, crate::ids::random_bytes().unwrap_or_default())
        });
    let method = req.method().to_string();
    let path = req.path();
    let matched = route(&path);
    let mut fields = json!({
        "request_id": request_id,
        "method": method,
        "route": match &matched {
            Some(Route::Healthz) => "healthz",
            Some(Route::Hook { .. }) => "hook",
            None => "none",
        },
    });
    let result = match app::app(env) {
        Err(e) => Err(e),
        Ok(app) => match matched {
            None => Err(ApiError::not_found(&path)),
            Some(Route::Healthz) => health::handle(&method),
            Some(Route::Hook {
                collector,
                sub_path,
            }) => {
                fields["collector"] = json!(collector);
                hooks::handle(req, env, &app, &collector, sub_path, started).await
            }
        },
    };
    let resp = result.unwrap_or_else(|e| {
        fields["outcome"] = json!(e.code);
        error_response(&e)
    });
    if fields.get("outcome").is_none() {
        fields["outcome"] = json!("ok");
    }
    fields["status"] = json!(resp.status_code());
    fields["duration_ms"] = json!(worker::Date::now().as_millis().saturating_sub(started));
    log::emit(fields);
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_hooks_with_and_without_sub_paths() {
        assert_eq!(route("/healthz"), Some(Route::Healthz));
        assert_eq!(
            route("/hooks/amo"),
            Some(Route::Hook {
                collector: "amo".into(),
                sub_path: "/".into()
            })
        );
        assert_eq!(
            route("/hooks/portal/users/42"),
            Some(Route::Hook {
                collector: "portal".into(),
                sub_path: "/users/42".into()
            })
        );
        assert_eq!(route("/hooks/"), None);
        assert_eq!(route("/nope"), None);
    }
}
