//! The route table: every method + path pattern the worker serves, with who may call it
//! and the handler that answers it, in one list.
//!
//! Routing ([`resolve`]) and the OpenAPI test (`docs/openapi.json` must document exactly
//! these routes) both read [`ROUTES`], so a route cannot be added without the test asking
//! for its documentation. Patterns are `/`-separated segments: a literal, `{name}` (one
//! non-empty segment) or, last only, `{*name}` (the rest of the path, possibly empty).

use futures_util::future::LocalBoxFuture;
use worker::Response;

use super::call::{Call, Params};
use super::{
    admin, audit, deliveries, events, handshakes, health, keys, page, plugin_admin, portal,
    records, replays, reviews, rules, stats, subscriptions,
};
use crate::error::ApiError;

/// A route's handler: an `async fn(Call) -> Result<Response, ApiError>`, boxed.
pub type RouteFn = for<'a> fn(Call<'a>) -> LocalBoxFuture<'a, Result<Response, ApiError>>;

/// What answers a route.
#[derive(Clone, Copy)]
pub enum Handler {
    /// The collector route: `serve` hands it the runtime's request as it is
    /// (`hooks::handle`), and it names an unknown collector before a wrong method.
    Collector,
    /// Any other route, on a [`Call`].
    Route(RouteFn),
}

/// Who may call a route; checked before its handler runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone; the handler checks what it needs (an API key, a signature, a token).
    Open,
    /// The admin token or a Cloudflare Access identity (`admin::authorize`); a viewer
    /// only reads.
    Admin,
}

/// One row of the route table.
#[derive(Clone, Copy)]
pub struct RouteDef {
    /// HTTP method (`HEAD` is served wherever `GET` is).
    pub method: &'static str,
    /// Path pattern, e.g. `/admin/keys/{id}`.
    pub pattern: &'static str,
    /// Who may call it.
    pub access: Access,
    /// What answers it.
    pub handler: Handler,
}

const fn r(
    method: &'static str,
    pattern: &'static str,
    access: Access,
    handler: Handler,
) -> RouteDef {
    RouteDef {
        method,
        pattern,
        access,
        handler,
    }
}

/// `Handler::Route` for an `async fn(Call<'_>) -> Result<Response, ApiError>`.
macro_rules! to {
    ($f:path) => {
        Handler::Route(|c| Box::pin($f(c)))
    };
}

use Access::{Admin, Open};

/// Every route the worker serves.
pub const ROUTES: &[RouteDef] = &[
    r("GET", "/healthz", Open, to!(health::handle)),
    r("GET", "/openapi.json", Open, to!(page::openapi)),
    r("GET", "/admin", Open, to!(page::admin)),
    r("GET", "/admin/", Open, to!(page::admin)),
    r("GET", "/admin/page.js", Open, to!(page::admin_script)),
    r("GET", "/admin/page.css", Open, to!(page::admin_style)),
    r("GET", "/admin/common.js", Open, to!(page::common_script)),
    r("GET", "/portal/", Open, to!(portal::page)),
    r("GET", "/portal/page.js", Open, to!(portal::script)),
    r("GET", "/portal/api", Open, to!(portal::overview)),
    r(
        "GET",
        "/portal/api/deliveries/{id}",
        Open,
        to!(portal::delivery),
    ),
    r(
        "POST",
        "/portal/api/deliveries/{id}/retry",
        Open,
        to!(portal::retry),
    ),
    r("POST", "/portal/api/test", Open, to!(portal::send_test)),
    r("POST", "/portal/api/rotate", Open, to!(portal::rotate)),
    r(
        "GET",
        "/admin/vendor/uplot.js",
        Open,
        to!(page::uplot_script),
    ),
    r(
        "GET",
        "/admin/vendor/uplot.css",
        Open,
        to!(page::uplot_style),
    ),
    r("GET", "/keys/test", Open, to!(keys::check_key)),
    r("GET", "/admin/whoami", Admin, to!(audit::whoami)),
    r("GET", "/admin/audit", Admin, to!(audit::list)),
    r("GET", "/admin/keys", Admin, to!(admin::list_keys)),
    r("POST", "/admin/keys", Admin, to!(admin::create_key)),
    r("DELETE", "/admin/keys/{id}", Admin, to!(admin::revoke_key)),
    r("GET", "/admin/stats", Admin, to!(stats::stats)),
    r("GET", "/admin/stats/hourly", Admin, to!(stats::hourly)),
    r("GET", "/admin/batches", Admin, to!(stats::list_batches)),
    r(
        "GET",
        "/admin/batches/{key}/records",
        Admin,
        to!(records::list),
    ),
    r("GET", "/admin/records/{id}", Admin, to!(records::find)),
    r("POST", "/events/{type}", Open, to!(events::publish)),
    r("GET", "/results/{id}", Open, to!(events::show)),
    r("PATCH", "/results/{id}", Open, to!(events::patch)),
    r(
        "GET",
        "/admin/subscriptions",
        Admin,
        to!(subscriptions::list),
    ),
    r(
        "POST",
        "/admin/subscriptions",
        Admin,
        to!(subscriptions::create),
    ),
    r(
        "GET",
        "/admin/subscriptions/{id}",
        Admin,
        to!(subscriptions::show),
    ),
    r(
        "PATCH",
        "/admin/subscriptions/{id}",
        Admin,
        to!(subscriptions::update),
    ),
    r(
        "DELETE",
        "/admin/subscriptions/{id}",
        Admin,
        to!(subscriptions::delete),
    ),
    r(
        "POST",
        "/admin/subscriptions/{id}/test",
        Admin,
        to!(subscriptions::send_test),
    ),
    r(
        "POST",
        "/admin/subscriptions/{id}/rotate",
        Admin,
        to!(subscriptions::rotate),
    ),
    r(
        "POST",
        "/admin/subscriptions/{id}/recover",
        Admin,
        to!(subscriptions::recover),
    ),
    r("POST", "/admin/replay", Admin, to!(replays::start)),
    r("GET", "/admin/replay/{id}", Admin, to!(replays::show)),
    r("GET", "/admin/replays", Admin, to!(replays::list)),
    r("GET", "/admin/results", Admin, to!(reviews::list)),
    r(
        "POST",
        "/admin/results/{id}/review",
        Admin,
        to!(reviews::review),
    ),
    r(
        "POST",
        "/admin/subscriptions/{id}/portal",
        Admin,
        to!(portal::create_link),
    ),
    r("GET", "/admin/rules", Admin, to!(rules::list)),
    r("PUT", "/admin/rules/{name}", Admin, to!(rules::put)),
    r("GET", "/admin/deliveries", Admin, to!(deliveries::list)),
    r(
        "GET",
        "/admin/deliveries/{id}",
        Admin,
        to!(deliveries::show),
    ),
    r(
        "POST",
        "/admin/deliveries/{id}/retry",
        Admin,
        to!(deliveries::retry),
    ),
    r("POST", "/hooks/{collector}", Open, Handler::Collector),
    // Providers' handshakes (Meta, X, Dropbox, Okta; Trello's HEAD) come as GET.
    r("GET", "/hooks/{collector}", Open, Handler::Collector),
    // Browsers' preflights to a collector with `cors`.
    r("OPTIONS", "/hooks/{collector}", Open, Handler::Collector),
    r(
        "OPTIONS",
        "/hooks/{collector}/{*rest}",
        Open,
        Handler::Collector,
    ),
    r(
        "GET",
        "/hooks/{collector}/{*rest}",
        Open,
        Handler::Collector,
    ),
    r("GET", "/admin/handshakes", Admin, to!(handshakes::list)),
    r(
        "DELETE",
        "/admin/handshakes/{collector}",
        Admin,
        to!(handshakes::delete),
    ),
    r(
        "POST",
        "/hooks/{collector}/{*rest}",
        Open,
        Handler::Collector,
    ),
    r("GET", "/admin/plugins", Admin, to!(plugin_admin::list)),
    r(
        "GET",
        "/admin/plugins/{name}",
        Admin,
        to!(plugin_admin::show),
    ),
    r(
        "PUT",
        "/admin/plugins/{name}",
        Admin,
        to!(plugin_admin::put),
    ),
    r(
        "DELETE",
        "/admin/plugins/{name}",
        Admin,
        to!(plugin_admin::delete),
    ),
    r(
        "POST",
        "/admin/plugins/{name}/activate",
        Admin,
        to!(plugin_admin::activate),
    ),
];

/// A path matched to a route.
pub struct Matched {
    /// The row for the request's method, or (when no row takes it) the first row with
    /// the path's pattern.
    pub route: &'static RouteDef,
    /// The `{name}` segments of the pattern, as matched (still percent-encoded).
    pub params: Params,
    /// Whether some row with this pattern takes the request's method.
    pub method_allowed: bool,
    /// The methods this pattern takes, for `405` messages (`GET, POST`).
    pub allowed: String,
}

/// Matches `path` against one pattern.
pub fn match_pattern(pattern: &'static str, path: &str) -> Option<Params> {
    let mut params = Vec::new();
    let mut rest = path.strip_prefix('/')?;
    let mut segments = pattern.trim_start_matches('/').split('/').peekable();
    while let Some(seg) = segments.next() {
        let last = segments.peek().is_none();
        if let Some(name) = seg.strip_prefix("{*").and_then(|s| s.strip_suffix('}')) {
            params.push((name, rest.to_string()));
            return Some(Params(params));
        }
        let (head, tail) = match rest.find('/') {
            Some(j) => (&rest[..j], Some(&rest[j + 1..])),
            None => (rest, None),
        };
        if let Some(name) = seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            if head.is_empty() {
                return None;
            }
            params.push((name, head.to_string()));
        } else if seg != head {
            return None;
        }
        match (tail, last) {
            (None, true) => return Some(Params(params)),
            (Some(t), false) => rest = t,
            // `/admin/` has an empty last segment; other trailing slashes do not match.
            _ => return None,
        }
    }
    None
}

/// Finds the route for `method path`: `None` when no pattern matches the path (404). A
/// match whose pattern does not take the method still comes back, with
/// `method_allowed = false`, so the handler can answer 405 (or something more specific).
pub fn resolve(method: &str, path: &str) -> Option<Matched> {
    let method = if method == "HEAD" { "GET" } else { method };
    let (def, params) = ROUTES
        .iter()
        .find_map(|d| match_pattern(d.pattern, path).map(|p| (d, p)))?;
    let same_pattern = || ROUTES.iter().filter(|d| d.pattern == def.pattern);
    let for_method = same_pattern().find(|d| d.method == method);
    let allowed = same_pattern()
        .map(|d| d.method)
        .collect::<Vec<_>>()
        .join(", ");
    Some(Matched {
        route: for_method.unwrap_or(def),
        params,
        method_allowed: for_method.is_some(),
        allowed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The (method, pattern) of the row `method path` resolves to, and whether the method
    /// is allowed.
    fn row(method: &str, path: &str) -> Option<(&'static str, &'static str, bool)> {
        resolve(method, path).map(|m| (m.route.method, m.route.pattern, m.method_allowed))
    }

    #[test]
    fn literal_and_parameter_segments() {
        assert_eq!(row("GET", "/healthz"), Some(("GET", "/healthz", true)));
        assert_eq!(row("HEAD", "/healthz"), Some(("GET", "/healthz", true)));
        assert_eq!(row("POST", "/healthz"), Some(("GET", "/healthz", false)));
        assert_eq!(row("GET", "/admin/"), Some(("GET", "/admin/", true)));
        assert_eq!(row("GET", "/admin"), Some(("GET", "/admin", true)));
        assert_eq!(row("GET", "/admin//"), None);
        let m = resolve("DELETE", "/admin/keys/key_1").unwrap();
        assert_eq!(m.route.pattern, "/admin/keys/{id}");
        assert_eq!(m.params.get("id"), Some("key_1"));
        assert_eq!(row("DELETE", "/admin/keys/"), None);
        assert_eq!(row("DELETE", "/admin/keys/a/b"), None);
        assert_eq!(row("GET", "/nope"), None);
        assert_eq!(row("GET", "/healthz/"), None);
        assert_eq!(resolve("PUT", "/admin/keys").unwrap().allowed, "GET, POST");
    }

    #[test]
    fn each_method_of_a_pattern_gets_its_own_row() {
        assert_eq!(
            row("POST", "/admin/keys"),
            Some(("POST", "/admin/keys", true))
        );
        assert_eq!(
            row("GET", "/admin/keys"),
            Some(("GET", "/admin/keys", true))
        );
        assert_eq!(
            row("PATCH", "/results/res_1"),
            Some(("PATCH", "/results/{id}", true))
        );
        assert_eq!(
            row("DELETE", "/admin/subscriptions/sub_1"),
            Some(("DELETE", "/admin/subscriptions/{id}", true))
        );
    }

    #[test]
    fn admin_routes_take_the_admin_token_and_the_others_check_their_own() {
        for d in ROUTES {
            // The page and its files are open: the page asks for the token itself.
            let page = matches!(
                d.pattern,
                "/admin/"
                    | "/admin/page.js"
                    | "/admin/page.css"
                    | "/admin/common.js"
                    | "/admin/vendor/uplot.js"
                    | "/admin/vendor/uplot.css"
            );
            let admin_api = d.pattern.starts_with("/admin/") && !page;
            assert_eq!(
                d.access == Access::Admin,
                admin_api,
                "{} {}",
                d.method,
                d.pattern
            );
        }
    }

    #[test]
    fn hook_routes_take_any_sub_path() {
        let m = resolve("POST", "/hooks/amo").unwrap();
        assert!(matches!(m.route.handler, Handler::Collector));
        assert_eq!(m.params.get("collector"), Some("amo"));
        assert_eq!(m.params.get("rest"), None);
        let m = resolve("POST", "/hooks/portal/users/42").unwrap();
        assert_eq!(m.params.get("collector"), Some("portal"));
        assert_eq!(m.params.get("rest"), Some("users/42"));
        let m = resolve("POST", "/hooks/amo/").unwrap();
        assert_eq!(m.params.get("rest"), Some(""));
        assert!(resolve("POST", "/hooks/").is_none());
        assert!(resolve("POST", "/hooks").is_none());
        // GET and OPTIONS reach the collector route, which answers 405 unless they are a
        // provider's handshake or a CORS preflight it takes.
        assert!(resolve("GET", "/hooks/amo").unwrap().method_allowed);
        assert!(resolve("OPTIONS", "/hooks/amo/x").unwrap().method_allowed);
        assert!(!resolve("DELETE", "/hooks/amo").unwrap().method_allowed);
    }

    #[test]
    fn every_pattern_is_well_formed_and_every_row_unique() {
        for (i, d) in ROUTES.iter().enumerate() {
            assert!(d.pattern.starts_with('/'), "{}", d.pattern);
            let segs: Vec<_> = d.pattern[1..].split('/').collect();
            for (j, s) in segs.iter().enumerate() {
                assert!(!s.starts_with("{*") || j + 1 == segs.len(), "{}", d.pattern);
            }
            assert!(
                !ROUTES[..i]
                    .iter()
                    .any(|o| o.method == d.method && o.pattern == d.pattern),
                "{} {} twice",
                d.method,
                d.pattern
            );
        }
    }
}
