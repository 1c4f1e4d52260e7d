//! The route table: every method + path pattern the worker serves, in one list.
//!
//! Routing ([`resolve`]) and the OpenAPI test (`docs/openapi.json` must document exactly
//! these routes) both read [`ROUTES`], so a route cannot be added without the test asking
//! for its documentation. Patterns are `/`-separated segments: a literal, `{name}` (one
//! non-empty segment) or, last only, `{*name}` (the rest of the path, possibly empty).

/// What a matched route does; `serve` dispatches on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteId {
    /// `GET /healthz`.
    Healthz,
    /// `GET /openapi.json`.
    OpenApi,
    /// `GET /admin` (redirect) and `GET /admin/` (the admin page).
    AdminPage,
    /// `GET /admin/page.js` (the admin page's script).
    AdminScript,
    /// `GET /admin/page.css` (the admin page's style).
    AdminStyle,
    /// `GET /keys/test`.
    KeysTest,
    /// `GET|POST /admin/keys`.
    AdminKeys,
    /// `DELETE /admin/keys/{id}`.
    AdminKey,
    /// `GET /admin/stats`.
    AdminStats,
    /// `GET /admin/batches`.
    AdminBatches,
    /// `POST /hooks/{collector}[/{*rest}]`.
    Hook,
    /// `POST /events/{type}`.
    Events,
    /// `GET|PATCH /results/{id}`.
    Result,
    /// `GET|POST /admin/subscriptions`.
    AdminSubscriptions,
    /// `GET|PATCH|DELETE /admin/subscriptions/{id}`.
    AdminSubscription,
    /// `POST /admin/subscriptions/{id}/test`.
    AdminSubscriptionTest,
    /// `POST /admin/subscriptions/{id}/rotate`.
    AdminSubscriptionRotate,
    /// `GET /admin/rules`.
    AdminRules,
    /// `PUT /admin/rules/{name}`.
    AdminRule,
    /// `GET /admin/deliveries`.
    AdminDeliveries,
    /// `POST /admin/deliveries/{id}/retry`.
    AdminDeliveryRetry,
    /// `GET /admin/plugins`.
    AdminPlugins,
    /// `GET|PUT|DELETE /admin/plugins/{name}`.
    AdminPlugin,
    /// `POST /admin/plugins/{name}/activate`.
    AdminPluginActivate,
}

/// One row of the route table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouteDef {
    /// HTTP method (`HEAD` is served wherever `GET` is).
    pub method: &'static str,
    /// Path pattern, e.g. `/admin/keys/{id}`.
    pub pattern: &'static str,
    /// The handler.
    pub id: RouteId,
}

const fn r(method: &'static str, pattern: &'static str, id: RouteId) -> RouteDef {
    RouteDef {
        method,
        pattern,
        id,
    }
}

/// Every route the worker serves.
pub const ROUTES: &[RouteDef] = &[
    r("GET", "/healthz", RouteId::Healthz),
    r("GET", "/openapi.json", RouteId::OpenApi),
    r("GET", "/admin", RouteId::AdminPage),
    r("GET", "/admin/", RouteId::AdminPage),
    r("GET", "/admin/page.js", RouteId::AdminScript),
    r("GET", "/admin/page.css", RouteId::AdminStyle),
    r("GET", "/keys/test", RouteId::KeysTest),
    r("GET", "/admin/keys", RouteId::AdminKeys),
    r("POST", "/admin/keys", RouteId::AdminKeys),
    r("DELETE", "/admin/keys/{id}", RouteId::AdminKey),
    r("GET", "/admin/stats", RouteId::AdminStats),
    r("GET", "/admin/batches", RouteId::AdminBatches),
    r("POST", "/events/{type}", RouteId::Events),
    r("GET", "/results/{id}", RouteId::Result),
    r("PATCH", "/results/{id}", RouteId::Result),
    r("GET", "/admin/subscriptions", RouteId::AdminSubscriptions),
    r("POST", "/admin/subscriptions", RouteId::AdminSubscriptions),
    r(
        "GET",
        "/admin/subscriptions/{id}",
        RouteId::AdminSubscription,
    ),
    r(
        "PATCH",
        "/admin/subscriptions/{id}",
        RouteId::AdminSubscription,
    ),
    r(
        "DELETE",
        "/admin/subscriptions/{id}",
        RouteId::AdminSubscription,
    ),
    r(
        "POST",
        "/admin/subscriptions/{id}/test",
        RouteId::AdminSubscriptionTest,
    ),
    r(
        "POST",
        "/admin/subscriptions/{id}/rotate",
        RouteId::AdminSubscriptionRotate,
    ),
    r("GET", "/admin/rules", RouteId::AdminRules),
    r("PUT", "/admin/rules/{name}", RouteId::AdminRule),
    r("GET", "/admin/deliveries", RouteId::AdminDeliveries),
    r(
        "POST",
        "/admin/deliveries/{id}/retry",
        RouteId::AdminDeliveryRetry,
    ),
    r("GET", "/admin/plugins", RouteId::AdminPlugins),
    r("GET", "/admin/plugins/{name}", RouteId::AdminPlugin),
    r("PUT", "/admin/plugins/{name}", RouteId::AdminPlugin),
    r("DELETE", "/admin/plugins/{name}", RouteId::AdminPlugin),
    r(
        "POST",
        "/admin/plugins/{name}/activate",
        RouteId::AdminPluginActivate,
    ),
    r("POST", "/hooks/{collector}", RouteId::Hook),
    r("POST", "/hooks/{collector}/{*rest}", RouteId::Hook),
];

/// The values of a pattern's `{params}`, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params(Vec<(&'static str, String)>);

impl Params {
    /// The value of `{name}` or `{*name}`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A path matched to a route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Matched {
    /// The handler.
    pub id: RouteId,
    /// The pattern that matched (logged as `route`).
    pub pattern: &'static str,
    /// Path parameters.
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
    let segments: Vec<&'static str> = pattern.trim_start_matches('/').split('/').collect();
    for (i, seg) in segments.iter().enumerate() {
        let last = i + 1 == segments.len();
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
        } else if *seg != head {
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
    let method_allowed = same_pattern().any(|d| d.method == method);
    let allowed = same_pattern()
        .map(|d| d.method)
        .collect::<Vec<_>>()
        .join(", ");
    Some(Matched {
        id: def.id,
        pattern: def.pattern,
        params,
        method_allowed,
        allowed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(method: &str, path: &str) -> Option<(RouteId, bool)> {
        resolve(method, path).map(|m| (m.id, m.method_allowed))
    }

    #[test]
    fn literal_and_parameter_segments() {
        assert_eq!(id("GET", "/healthz"), Some((RouteId::Healthz, true)));
        assert_eq!(id("HEAD", "/healthz"), Some((RouteId::Healthz, true)));
        assert_eq!(id("POST", "/healthz"), Some((RouteId::Healthz, false)));
        assert_eq!(id("GET", "/admin/"), Some((RouteId::AdminPage, true)));
        assert_eq!(id("GET", "/admin"), Some((RouteId::AdminPage, true)));
        assert_eq!(
            id("GET", "/admin/page.js"),
            Some((RouteId::AdminScript, true))
        );
        assert_eq!(id("GET", "/admin//"), None);
        let m = resolve("DELETE", "/admin/keys/key_1").unwrap();
        assert_eq!(m.id, RouteId::AdminKey);
        assert_eq!(m.params.get("id"), Some("key_1"));
        assert_eq!(id("DELETE", "/admin/keys/"), None);
        assert_eq!(id("DELETE", "/admin/keys/a/b"), None);
        assert_eq!(id("GET", "/nope"), None);
        assert_eq!(id("GET", "/healthz/"), None);
        assert_eq!(resolve("PUT", "/admin/keys").unwrap().allowed, "GET, POST");
    }

    #[test]
    fn hook_routes_take_any_sub_path() {
        let m = resolve("POST", "/hooks/amo").unwrap();
        assert_eq!(
            (m.id, m.params.get("collector")),
            (RouteId::Hook, Some("amo"))
        );
        assert_eq!(m.params.get("rest"), None);
        let m = resolve("POST", "/hooks/portal/users/42").unwrap();
        assert_eq!(m.params.get("collector"), Some("portal"));
        assert_eq!(m.params.get("rest"), Some("users/42"));
        let m = resolve("POST", "/hooks/amo/").unwrap();
        assert_eq!(m.params.get("rest"), Some(""));
        assert_eq!(resolve("POST", "/hooks/"), None);
        assert_eq!(resolve("POST", "/hooks"), None);
        assert!(!resolve("GET", "/hooks/amo").unwrap().method_allowed);
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
