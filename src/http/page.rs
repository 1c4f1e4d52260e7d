//! Static documents the worker serves: the admin page (`/admin/`) and the OpenAPI
//! description (`/openapi.json`). Both are compiled in; neither needs a token (the page
//! asks for the admin token and sends it with each API call).

use worker::Response;

use super::call::Call;
use super::call::json_response;
use crate::error::ApiError;

/// The OpenAPI 3.1 document of every route (`docs/openapi.json`).
pub const OPENAPI: &str = include_str!("../../docs/openapi.json");

/// The admin page: one HTML file with its script and style inline.
pub const ADMIN_PAGE: &str = include_str!("admin_page.html");

// Inline script and style only; API calls to this origin only; no framing.
const PAGE_CSP: &str = "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; \
     connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// `GET /openapi.json`, with `servers` set to this deployment's `public_url`.
pub async fn openapi(c: Call<'_>) -> Result<Response, ApiError> {
    let public_url = &c.app.config.public_url;
    let mut doc: serde_json::Value = serde_json::from_str(OPENAPI)
        .map_err(|e| ApiError::internal(format!("docs/openapi.json: {e}")))?;
    doc["servers"] = serde_json::json!([{ "url": public_url }]);
    Ok(json_response(200, &doc))
}

/// `GET /admin` → `308` to `/admin/`; `GET /admin/` → the page.
pub async fn admin(c: Call<'_>) -> Result<Response, ApiError> {
    let path = c.path;
    let internal = |e: worker::Error| ApiError::internal(e.to_string());
    if path == "/admin" {
        let mut resp = Response::empty().map_err(internal)?.with_status(308);
        resp.headers_mut()
            .set("location", "/admin/")
            .map_err(internal)?;
        return Ok(resp);
    }
    let mut resp = Response::ok(ADMIN_PAGE).map_err(internal)?;
    let headers = resp.headers_mut();
    for (k, v) in [
        ("content-type", "text/html; charset=utf-8"),
        ("content-security-policy", PAGE_CSP),
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "no-referrer"),
        ("cache-control", "no-store"),
    ] {
        headers.set(k, v).map_err(internal)?;
    }
    Ok(resp)
}
