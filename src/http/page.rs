//! Static documents the worker serves: the admin page (`/admin/`, with its script
//! `/admin/page.js` and style `/admin/page.css`) and the OpenAPI description
//! (`/openapi.json`). All are compiled in; none needs a token (the page asks for the
//! admin token and sends it with each API call).

use worker::Response;

use super::call::Call;
use super::call::json_response;
use crate::error::ApiError;

/// The OpenAPI 3.1 document of every route (`docs/openapi.json`).
pub const OPENAPI: &str = include_str!("../../docs/openapi.json");

/// The admin page's HTML: no inline script, style or handler.
pub const ADMIN_PAGE: &str = include_str!("admin_page.html");
/// The admin page's script, `/admin/page.js`.
pub const ADMIN_SCRIPT: &str = include_str!("admin_page.js");
/// The admin page's style, `/admin/page.css`.
pub const ADMIN_STYLE: &str = include_str!("admin_page.css");

/// What the admin page and the portal share (element building, JSON calls, the delivery
/// view), `/admin/common.js`.
pub const COMMON_SCRIPT: &str = include_str!("common.js");
/// The subscriber portal's page, `/portal/`.
pub const PORTAL_PAGE: &str = include_str!("portal_page.html");
/// The portal's script, `/portal/page.js`.
pub const PORTAL_SCRIPT: &str = include_str!("portal_page.js");

/// uPlot (the charts), `/admin/vendor/uplot.js`: the npm package's minified build, pinned
/// in package.json and bundled when the worker is built, its MIT license kept at the top.
pub const UPLOT_SCRIPT: &str = concat!(
    "/*! uPlot (npm uplot, version pinned in package.json), bundled by edgehook.\n",
    include_str!("../../node_modules/uplot/LICENSE"),
    "*/\n",
    include_str!("../../node_modules/uplot/dist/uPlot.iife.min.js")
);
/// uPlot's stylesheet, `/admin/vendor/uplot.css`.
pub const UPLOT_STYLE: &str = concat!(
    "/*! uPlot, MIT License, Copyright (c) 2022 Leon Sorokin (see /admin/vendor/uplot.js) */\n",
    include_str!("../../node_modules/uplot/dist/uPlot.min.css")
);

// Script and style from this origin's files only (no inline code, so an injected
// `<script>` or handler attribute never runs); API calls to this origin only; no framing.
const PAGE_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
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
    static_file(ADMIN_PAGE, "text/html; charset=utf-8")
}

/// `GET /admin/page.js`.
pub async fn admin_script(_: Call<'_>) -> Result<Response, ApiError> {
    static_file(ADMIN_SCRIPT, "text/javascript; charset=utf-8")
}

/// `GET /admin/page.css`.
pub async fn admin_style(_: Call<'_>) -> Result<Response, ApiError> {
    static_file(ADMIN_STYLE, "text/css; charset=utf-8")
}

/// `GET /admin/vendor/uplot.js`.
pub async fn uplot_script(_: Call<'_>) -> Result<Response, ApiError> {
    static_file(UPLOT_SCRIPT, "text/javascript; charset=utf-8")
}

/// `GET /admin/vendor/uplot.css`.
pub async fn uplot_style(_: Call<'_>) -> Result<Response, ApiError> {
    static_file(UPLOT_STYLE, "text/css; charset=utf-8")
}

/// `GET /admin/common.js`.
pub async fn common_script(_: Call<'_>) -> Result<Response, ApiError> {
    static_file(COMMON_SCRIPT, "text/javascript; charset=utf-8")
}

/// A compiled-in file with the pages' Content-Security-Policy.
pub(crate) fn static_file(body: &str, content_type: &str) -> Result<Response, ApiError> {
    let internal = |e: worker::Error| ApiError::internal(e.to_string());
    let mut resp = Response::ok(body).map_err(internal)?;
    let headers = resp.headers_mut();
    for (k, v) in [
        ("content-type", content_type),
        ("content-security-policy", PAGE_CSP),
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "no-referrer"),
        ("cache-control", "no-store"),
    ] {
        headers.set(k, v).map_err(internal)?;
    }
    Ok(resp)
}
