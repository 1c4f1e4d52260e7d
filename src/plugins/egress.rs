//! Network grants (docs/PLUGINS.md, "Network grants"). A plugin is loaded with no network
//! (`globalOutbound: null`) unless the config grants it hosts:
//!
//! ```json
//! "plugins": { "amo-scanner": { "allow_hosts": ["api.virustotal.example", "*.addons.example"] } }
//! ```
//!
//! Then its isolate's `globalOutbound` is edgehook itself (`exports.default` with props
//! naming the plugin, `loader.mjs`): each `fetch()` the plugin makes arrives at
//! edgehook's fetch entry, which [`check`]s the URL, the host against the plugin's grant
//! and then the URL guard deliveries go through (`dispatch::url_guard`: https only, no
//! private, loopback or link-local address unless `dispatch.allow_private_hosts` lists
//! it), and forwards it (redirects not followed) or answers `403 egress_refused`.
//! The grant is read from the config on every request, so a revoked grant holds at once.

use serde::Deserialize;
use url::{Host, Url};

use crate::dispatch::url_guard::{self, Refused, UrlPolicy};
use crate::error::ConfigError;

/// The props key that marks a request as a plugin's outbound `fetch()`, naming the plugin.
/// Only edgehook sets props (`exports.default({props})`); requests from the internet
/// carry none.
pub const PROPS_KEY: &str = "plugin_egress";

/// Most patterns in one grant.
pub const MAX_HOSTS: usize = 64;

/// What the config grants one plugin (`plugins.<name>`).
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct PluginGrant {
    /// Hosts the plugin may `fetch()`: a name (`api.example.com`), an IP literal
    /// (`192.0.2.7`, `[2001:db8::1]`) or `*.example.com` (any name under it, not itself).
    /// Any port. Empty: no network.
    #[serde(default)]
    pub allow_hosts: Vec<String>,
}

impl PluginGrant {
    /// Checks the patterns (lowercasing them), naming the bad key under `path`.
    pub fn validate(&mut self, path: &str) -> Result<(), ConfigError> {
        if self.allow_hosts.len() > MAX_HOSTS {
            return Err(ConfigError(format!(
                "{path}.allow_hosts: at most {MAX_HOSTS} hosts"
            )));
        }
        for (i, pattern) in self.allow_hosts.iter_mut().enumerate() {
            let lower = pattern.to_ascii_lowercase();
            let (wild, name) = match lower.strip_prefix("*.") {
                Some(name) => (true, name),
                None => (false, lower.as_str()),
            };
            // Written as Url::host_str() writes hosts, which `granted` compares with.
            let normal = match Host::parse(name) {
                Ok(Host::Domain(d)) if !d.contains('*') => d,
                // A wildcard names domains, not addresses.
                Ok(h @ (Host::Ipv4(_) | Host::Ipv6(_))) if !wild => h.to_string(),
                _ => {
                    return Err(ConfigError(format!(
                        "{path}.allow_hosts[{i}]: {pattern:?} is not a host name, an IP address or *.<name>"
                    )));
                }
            };
            *pattern = if wild { format!("*.{normal}") } else { normal };
        }
        Ok(())
    }
}

/// Whether `host` (as `Url::host_str` writes it) is one of `patterns` (validated).
pub fn granted(patterns: &[String], host: &str) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    patterns.iter().any(|p| match p.strip_prefix("*.") {
        Some(suffix) => host
            .strip_suffix(suffix)
            .is_some_and(|head| head.len() > 1 && head.ends_with('.')),
        None => *p == host,
    })
}

/// Whether a plugin with `grant` may fetch `url`: its host granted, then the URL guard.
pub fn check(url: &str, grant: &[String], policy: &UrlPolicy<'_>) -> Result<Url, Refused> {
    let parsed = Url::parse(url).map_err(|e| Refused(format!("{url:?} is not a URL: {e}")))?;
    let host = parsed.host_str().unwrap_or_default();
    if !granted(grant, host) {
        return Err(Refused(if grant.is_empty() {
            "this plugin is granted no network (plugins.<name>.allow_hosts)".to_string()
        } else {
            format!("the host {host} is not in this plugin's allow_hosts")
        }));
    }
    url_guard::check(url, policy)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant(hosts: &[&str]) -> Result<Vec<String>, ConfigError> {
        let mut g = PluginGrant {
            allow_hosts: hosts.iter().map(ToString::to_string).collect(),
        };
        g.validate("plugins.p").map(|()| g.allow_hosts)
    }

    #[test]
    fn patterns_are_names_addresses_or_wildcards_under_a_name() {
        assert_eq!(
            grant(&[
                "API.Example.com",
                "*.Addons.example",
                "192.0.2.7",
                "[2001:DB8::1]"
            ])
            .expect("valid"),
            [
                "api.example.com",
                "*.addons.example",
                "192.0.2.7",
                "[2001:db8::1]"
            ]
        );
        for bad in [
            "",
            "*",
            "*.",
            "https://api.example.com",
            "api.example.com/path",
            "api.example.com:443",
            "a*.example.com",
            "*.192.0.2.7",
            "two words",
        ] {
            let e = grant(&[bad]).expect_err(bad);
            assert!(
                e.0.starts_with("plugins.p.allow_hosts[0]: "),
                "{bad}: {}",
                e.0
            );
        }
        let many: Vec<String> = (0..=MAX_HOSTS).map(|i| format!("h{i}.example")).collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        assert!(grant(&many).is_err());
    }

    #[test]
    fn a_wildcard_matches_names_under_it_and_not_itself() {
        let g = grant(&["*.example.com", "api.other.example"]).expect("valid");
        assert!(granted(&g, "a.example.com"));
        assert!(granted(&g, "a.b.example.com"));
        assert!(granted(&g, "A.Example.com."));
        assert!(!granted(&g, "example.com"));
        assert!(!granted(&g, "badexample.com"));
        assert!(!granted(&g, "example.com.evil.example"));
        assert!(granted(&g, "api.other.example"));
        assert!(!granted(&g, "x.api.other.example"));
        assert!(!granted(&[], "api.other.example"));
    }

    #[test]
    fn a_url_must_be_granted_and_pass_the_url_guard() {
        let private = vec!["127.0.0.1".to_string()];
        let strict = UrlPolicy::default();
        let dev = UrlPolicy {
            allow_http: true,
            allow_private_hosts: &private,
        };
        let g = grant(&["api.example.com", "10.0.0.7", "127.0.0.1", "localhost"]).expect("valid");
        assert!(check("https://api.example.com/v1?q=1", &g, &strict).is_ok());
        assert!(check("https://api.example.com:8443/", &g, &strict).is_ok());
        // Not granted.
        let e = check("https://evil.example/", &g, &strict).expect_err("ungranted");
        assert!(e.0.contains("not in this plugin's allow_hosts"), "{}", e.0);
        let e = check("https://api.example.com/", &[], &strict).expect_err("no grant");
        assert!(e.0.contains("granted no network"), "{}", e.0);
        // Granted, but the guard refuses private addresses and plain http.
        for url in [
            "https://10.0.0.7/",
            "https://127.0.0.1/",
            "https://localhost/",
        ] {
            let e = check(url, &g, &strict).expect_err(url);
            assert!(e.0.contains("allow_private_hosts"), "{url}: {}", e.0);
        }
        let e = check("http://10.0.0.7/", &g, &dev).expect_err("not in allow_private_hosts");
        assert!(e.0.contains("allow_private_hosts"), "{}", e.0);
        assert!(check("http://api.example.com/", &g, &strict).is_err());
        // Unless the deployment allows them (tests: 127.0.0.1 over http in dev).
        assert!(check("http://127.0.0.1:8080/x", &g, &dev).is_ok());
        // Credentials in the URL: the guard's rule.
        assert!(check("https://u:p@api.example.com/", &g, &strict).is_err());
    }
}
