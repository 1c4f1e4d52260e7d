//! HTTP routing and responses. Handlers read input, call the core and map errors; they
//! hold no business rules.

pub mod admin;
#[cfg(feature = "bench")]
pub mod bench;
pub mod health;
pub mod hooks;
pub mod keys;

use serde::de::DeserializeOwned;
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
    /// `/keys/test`.
    KeysTest,
    /// `/admin/keys`.
    AdminKeys,
    /// `/admin/keys/{id}`.
    AdminKey(String),
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
    match path {
        "/healthz" => return Some(Route::Healthz),
        "/keys/test" => return Some(Route::KeysTest),
        "/admin/keys" => return Some(Route::AdminKeys),
        _ => {}
    }
    if let Some(id) = path.strip_prefix("/admin/keys/")
        && !id.is_empty()
        && !id.contains('/')
    {
        return Some(Route::AdminKey(id.to_string()));
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

/// Serves one request: loads the app (config), routes, logs one line.
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
    let matched = route(&path);
    let mut fields = json!({
        "request_id": request_id,
        "method": method,
        "route": match &matched {
            Some(Route::Healthz) => "healthz",
            Some(Route::KeysTest) => "keys_test",
            Some(Route::AdminKeys | Route::AdminKey(_)) => "admin_keys",
            Some(Route::Hook { .. }) => "hook",
            None => "none",
        },
    });
    let result = match app::app(env) {
        Err(e) => Err(e),
        Ok(app) => match matched {
            None => Err(ApiError::not_found(&path)),
            Some(Route::Healthz) => health::handle(&method),
            Some(Route::KeysTest) => match method.as_str() {
                "GET" => keys::test(&req, env, now_secs).await,
                _ => Err(ApiError::method_not_allowed(&method, "GET")),
            },
            Some(Route::AdminKeys) => match admin::require_admin(&req, env) {
                Err(e) => Err(e),
                Ok(()) => match method.as_str() {
                    "GET" => admin::list_keys(env, now_secs).await,
                    "POST" => admin::create_key(req, env, now_secs).await,
                    _ => Err(ApiError::method_not_allowed(&method, "GET, POST")),
                },
            },
            Some(Route::AdminKey(id)) => match admin::require_admin(&req, env) {
                Err(e) => Err(e),
                Ok(()) => match method.as_str() {
                    "DELETE" => admin::revoke_key(&id, env, now_secs).await,
                    _ => Err(ApiError::method_not_allowed(&method, "DELETE")),
                },
            },
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
        assert_eq!(route("/keys/test"), Some(Route::KeysTest));
        assert_eq!(route("/admin/keys"), Some(Route::AdminKeys));
        assert_eq!(
            route("/admin/keys/key_1"),
            Some(Route::AdminKey("key_1".into()))
        );
        assert_eq!(route("/admin/keys/"), None);
        assert_eq!(route("/admin/keys/a/b"), None);
        assert_eq!(route("/nope"), None);
    }
}
