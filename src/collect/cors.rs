//! Browsers as senders (`collectors[].cors`): a page on another origin may POST webhooks
//! to a collector when its origin is listed. The preflight is answered before
//! authentication (a browser sends it without credentials), and every answer to a listed
//! origin carries `Access-Control-Allow-Origin`; an unlisted origin gets none, so its
//! browser blocks the call.

use serde::Deserialize;

use crate::error::{ApiError, ConfigError, ErrorCode};

/// Default `max_age_secs`: how long a browser may cache a preflight's answer.
pub const DEFAULT_MAX_AGE_SECS: u32 = 600;
/// Largest `max_age_secs` (browsers cap it lower: Chromium at 2 hours).
pub const MAX_MAX_AGE_SECS: u32 = 86_400;

/// A collector's `cors` table.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CorsConfig {
    /// Origins allowed to send (`https://app.example.com`, scheme + host + port), exactly.
    pub origins: Vec<String>,
    /// Request headers a page may send besides the CORS-safelisted ones.
    #[serde(default = "default_headers")]
    pub headers: Vec<String>,
    /// How long a preflight's answer may be cached.
    #[serde(default = "default_max_age")]
    pub max_age_secs: u32,
}

fn default_headers() -> Vec<String> {
    vec!["authorization".into(), "content-type".into()]
}

fn default_max_age() -> u32 {
    DEFAULT_MAX_AGE_SECS
}

/// Headers added to an answer.
pub type Headers = Vec<(&'static str, String)>;

impl CorsConfig {
    /// Checks the origins are origins and the headers are header names, lower-casing
    /// them; `path` is `collectors[i].cors`.
    pub fn validate(&mut self, path: &str) -> Result<(), ConfigError> {
        if self.origins.is_empty() {
            return Err(ConfigError(format!(
                "{path}.origins: name at least one origin"
            )));
        }
        for (i, origin) in self.origins.iter_mut().enumerate() {
            let parsed = url::Url::parse(origin)
                .ok()
                .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some());
            let serialized = parsed.as_ref().map(|u| u.origin().ascii_serialization());
            // The origin a browser sends: no path, query, user or trailing slash.
            let exact = serialized.as_deref().is_some_and(|s| {
                s.eq_ignore_ascii_case(origin.strip_suffix('/').unwrap_or(origin))
            });
            match serialized {
                Some(s) if exact => *origin = s,
                _ => {
                    return Err(ConfigError(format!(
                        "{path}.origins[{i}]: {origin:?} is not an origin (scheme://host[:port], nothing after)"
                    )));
                }
            }
        }
        for (i, header) in self.headers.iter_mut().enumerate() {
            let token = !header.is_empty()
                && header
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
            if !token {
                return Err(ConfigError(format!(
                    "{path}.headers[{i}]: {header:?} is not a header name"
                )));
            }
            header.make_ascii_lowercase();
        }
        if self.max_age_secs > MAX_MAX_AGE_SECS {
            return Err(ConfigError(format!(
                "{path}.max_age_secs: at most {MAX_MAX_AGE_SECS}"
            )));
        }
        Ok(())
    }

    /// The listed origin `origin` is, if it is one.
    fn listed<'a>(&self, origin: Option<&'a str>) -> Option<&'a str> {
        origin.filter(|o| self.origins.iter().any(|l| l == o))
    }

    /// The headers every answer to `origin` carries: `Access-Control-Allow-Origin` for a
    /// listed one (and `Vary: Origin` always, so a cache keeps them apart).
    pub fn answer_headers(&self, origin: Option<&str>) -> Headers {
        let mut out = vec![("vary", "Origin".to_string())];
        if let Some(o) = self.listed(origin) {
            out.push(("access-control-allow-origin", o.to_string()));
            out.push(("access-control-expose-headers", "Retry-After".to_string()));
        }
        out
    }

    /// The answer to a preflight (`OPTIONS` with `Access-Control-Request-Method`) from
    /// `origin`: `204` with the allowed method, headers and max age for a listed origin
    /// asking for `POST` and listed headers; `403 origin_not_allowed` otherwise (with no
    /// `Access-Control-Allow-Origin`, so the browser stops there).
    pub fn preflight(
        &self,
        origin: Option<&str>,
        method: Option<&str>,
        headers: Option<&str>,
    ) -> Result<Headers, ApiError> {
        let Some(origin) = self.listed(origin) else {
            return Err(ApiError::new(
                ErrorCode::OriginNotAllowed,
                "this collector takes no requests from that origin",
            ));
        };
        if method.map(str::trim) != Some("POST") {
            return Err(ApiError::method_not_allowed(method.unwrap_or(""), "POST"));
        }
        let asked = headers.unwrap_or_default().split(',').map(str::trim);
        if let Some(h) = asked
            .filter(|h| !h.is_empty())
            .find(|h| !self.headers.iter().any(|l| l.eq_ignore_ascii_case(h)))
        {
            return Err(ApiError::new(
                ErrorCode::HeaderNotAllowed,
                format!(
                    "this collector's cors.headers do not list {:?}",
                    crate::log::untrusted(h)
                ),
            ));
        }
        Ok(vec![
            ("vary", "Origin".to_string()),
            ("access-control-allow-origin", origin.to_string()),
            ("access-control-allow-methods", "POST".to_string()),
            ("access-control-allow-headers", self.headers.join(", ")),
            ("access-control-max-age", self.max_age_secs.to_string()),
        ])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(v: serde_json::Value) -> Result<CorsConfig, String> {
        let mut c: CorsConfig = serde_json::from_value(v).map_err(|e| e.to_string())?;
        c.validate("collectors[0].cors").map_err(|e| e.0)?;
        Ok(c)
    }

    #[test]
    fn origins_are_checked_and_normalised() {
        let c = config(serde_json::json!({"origins": ["https://App.Example.com", "http://127.0.0.1:8080/"], "headers": ["Authorization", "Content-Type", "X-Trace"]})).unwrap();
        assert_eq!(
            c.origins,
            ["https://app.example.com", "http://127.0.0.1:8080"]
        );
        assert_eq!(c.headers, ["authorization", "content-type", "x-trace"]);
        assert_eq!(c.max_age_secs, DEFAULT_MAX_AGE_SECS);
        for bad in [
            "https://a.example/path",
            "*",
            "ftp://a.example",
            "https://a.example?x",
            "",
        ] {
            let e = config(serde_json::json!({"origins": [bad]})).unwrap_err();
            assert!(
                e.starts_with("collectors[0].cors.origins[0]: "),
                "{bad}: {e}"
            );
        }
        assert!(config(serde_json::json!({"origins": []})).is_err());
        assert!(
            config(serde_json::json!({"origins": ["https://a.example"], "headers": ["a b"]}))
                .unwrap_err()
                .contains("headers[0]")
        );
        assert!(
            config(serde_json::json!({"origins": ["https://a.example"], "max_age_secs": 90000}))
                .is_err()
        );
        assert!(
            config(serde_json::json!({"origins": ["https://a.example"], "methods": ["GET"]}))
                .is_err()
        );
    }

    #[test]
    fn preflight_answers_listed_origins_only() {
        let c = config(
            serde_json::json!({"origins": ["https://app.example.com"], "max_age_secs": 300}),
        )
        .unwrap();
        let h = c
            .preflight(
                Some("https://app.example.com"),
                Some("POST"),
                Some("content-type, Authorization"),
            )
            .unwrap();
        assert!(h.contains(&(
            "access-control-allow-origin",
            "https://app.example.com".into()
        )));
        assert!(h.contains(&(
            "access-control-allow-headers",
            "authorization, content-type".into()
        )));
        assert!(h.contains(&("access-control-max-age", "300".into())));
        let e = c
            .preflight(Some("https://evil.example"), Some("POST"), None)
            .unwrap_err();
        assert_eq!((e.status(), e.code), (403, ErrorCode::OriginNotAllowed));
        assert_eq!(
            c.preflight(None, Some("POST"), None).unwrap_err().code,
            ErrorCode::OriginNotAllowed
        );
        let e = c
            .preflight(Some("https://app.example.com"), Some("DELETE"), None)
            .unwrap_err();
        assert_eq!(e.status(), 405);
        let e = c
            .preflight(
                Some("https://app.example.com"),
                Some("POST"),
                Some("x-other"),
            )
            .unwrap_err();
        assert_eq!(e.code, ErrorCode::HeaderNotAllowed);
    }

    #[test]
    fn answers_carry_allow_origin_for_listed_origins_only() {
        let c = config(serde_json::json!({"origins": ["https://app.example.com"]})).unwrap();
        let listed = c.answer_headers(Some("https://app.example.com"));
        assert!(listed.contains(&(
            "access-control-allow-origin",
            "https://app.example.com".into()
        )));
        for other in [
            Some("https://app.example.com.evil.example"),
            Some("null"),
            None,
        ] {
            let h = c.answer_headers(other);
            assert_eq!(h, vec![("vary", "Origin".to_string())], "{other:?}");
        }
    }
}
