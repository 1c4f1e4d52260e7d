//! The outbound URL guard: where edgehook may send deliveries (SSRF defence).
//!
//! `https` only (`http` too when `EDGEHOOK_ENV = "dev"`), no credentials in the URL, and
//! no host that is an IP literal in a private, loopback, link-local, CGNAT, multicast,
//! documentation, benchmarking or reserved range, IPv4 or IPv6. IPv6 forms that carry an
//! IPv4 address (IPv4-mapped, IPv4-compatible, NAT64, 6to4, Teredo) are refused outright,
//! whatever they embed: a subscriber has no reason to use them and they are the usual way
//! around IPv4 checks. `localhost` names are refused too. Hosts listed in
//! `allow_private_hosts` pass. Names are not resolved (the Workers runtime cannot), so a
//! public name pointing at a private address is the network's to stop; Cloudflare's edge
//! does not route to private networks.

use std::net::{Ipv4Addr, Ipv6Addr};

use url::{Host, Url};

/// What the guard allows.
#[derive(Debug, Clone, Default)]
pub struct UrlPolicy<'a> {
    /// Accept plain `http` (dev mode).
    pub allow_http: bool,
    /// Hosts (names or IP literals) allowed even though private.
    pub allow_private_hosts: &'a [String],
}

/// Why a URL was refused (`422 url_refused`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Refused(pub String);

impl From<Refused> for crate::error::ApiError {
    fn from(e: Refused) -> Self {
        crate::error::ApiError::new(crate::error::ErrorCode::UrlRefused, e.0)
    }
}

/// Checks `url` against `policy`; returns it parsed.
pub fn check(url: &str, policy: &UrlPolicy<'_>) -> Result<Url, Refused> {
    let parsed = Url::parse(url).map_err(|e| Refused(format!("{url:?} is not a URL: {e}")))?;
    match parsed.scheme() {
        "https" => {}
        "http" if policy.allow_http => {}
        "http" => {
            return Err(Refused(
                "only https URLs are allowed (http only when EDGEHOOK_ENV = \"dev\")".into(),
            ));
        }
        other => return Err(Refused(format!("the {other} scheme is not allowed"))),
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(Refused("credentials in the URL are not allowed".into()));
    }
    let host = parsed
        .host()
        .ok_or_else(|| Refused("the URL has no host".into()))?;
    let allowed = |text: &str| {
        policy
            .allow_private_hosts
            .iter()
            .any(|h| h.trim_matches(['[', ']']).eq_ignore_ascii_case(text))
    };
    let why = match &host {
        Host::Domain(name) => {
            let name = name.trim_end_matches('.').to_ascii_lowercase();
            (name == "localhost" || name.ends_with(".localhost"))
                .then_some("a localhost name")
                .filter(|_| !allowed(&name))
        }
        Host::Ipv4(ip) => ipv4_range(*ip).filter(|_| !allowed(&ip.to_string())),
        Host::Ipv6(ip) => ipv6_range(*ip).filter(|_| !allowed(&ip.to_string())),
    };
    match why {
        Some(range) => Err(Refused(format!(
            "the host {host} is {range}; list it in dispatch.allow_private_hosts to allow it"
        ))),
        None => Ok(parsed),
    }
}

/// The reserved range `ip` is in, if any.
pub fn ipv4_range(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    Some(match (a, b, c) {
        (0, _, _) => "in 0.0.0.0/8 (this network)",
        (10, _, _) => "private (10.0.0.0/8)",
        (100, 64..=127, _) => "carrier-grade NAT (100.64.0.0/10)",
        (127, _, _) => "loopback (127.0.0.0/8)",
        (169, 254, _) => "link-local (169.254.0.0/16)",
        (172, 16..=31, _) => "private (172.16.0.0/12)",
        (192, 0, 0) => "IETF protocol assignments (192.0.0.0/24)",
        (192, 0, 2) | (198, 51, 100) | (203, 0, 113) => "documentation (TEST-NET)",
        (192, 88, 99) => "6to4 relay anycast (192.88.99.0/24)",
        (192, 168, _) => "private (192.168.0.0/16)",
        (198, 18..=19, _) => "benchmarking (198.18.0.0/15)",
        (224..=239, _, _) => "multicast (224.0.0.0/4)",
        (240..=255, _, _) => "reserved (240.0.0.0/4, broadcast)",
        _ => return None,
    })
}

/// The reserved range `ip` is in, if any.
pub fn ipv6_range(ip: Ipv6Addr) -> Option<&'static str> {
    let s = ip.segments();
    Some(match s {
        [0, 0, 0, 0, 0, 0, 0, 0] => "unspecified (::)",
        [0, 0, 0, 0, 0, 0, 0, 1] => "loopback (::1)",
        [0, 0, 0, 0, 0, 0xffff, _, _] => "IPv4-mapped (::ffff:0:0/96)",
        [0, 0, 0, 0, 0, 0, _, _] => "IPv4-compatible (::/96)",
        [0, 0, 0, 0, 0xffff, 0, _, _] => "IPv4-translated (::ffff:0:0:0/96)",
        [0x64, 0xff9b, 0, 0, 0, 0, _, _] => "NAT64 (64:ff9b::/96)",
        [0x64, 0xff9b, 1, ..] => "local-use NAT64 (64:ff9b:1::/48)",
        [0x100, 0, 0, 0, ..] => "discard-only (100::/64)",
        [0x2001, 0, ..] => "Teredo (2001::/32)",
        [0x2001, 0x2, 0, ..] => "benchmarking (2001:2::/48)",
        [0x2001, 0x10..=0x2f, ..] => "ORCHID (2001:10::/28, 2001:20::/28)",
        [0x2001, 0xdb8, ..] => "documentation (2001:db8::/32)",
        [0x2002, ..] => "6to4 (2002::/16)",
        [0x3fff, 0..=0x0fff, ..] => "documentation (3fff::/20)",
        [a, ..] if a & 0xfe00 == 0xfc00 => "unique local (fc00::/7)",
        [a, ..] if a & 0xffc0 == 0xfe80 => "link-local (fe80::/10)",
        [a, ..] if a & 0xffc0 == 0xfec0 => "site-local (fec0::/10)",
        [a, ..] if a & 0xff00 == 0xff00 => "multicast (ff00::/8)",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strict() -> UrlPolicy<'static> {
        UrlPolicy::default()
    }

    #[test]
    fn refuses_private_and_special_addresses() {
        let refused = [
            // The examples.
            "http://10.0.0.1/",
            "http://[::ffff:127.0.0.1]/",
            "http://169.254.169.254/",
            // svix-server's ranges and friends, as https so only the host decides.
            "https://10.1.2.3/",
            "https://172.16.0.1/",
            "https://172.31.255.255/",
            "https://192.168.1.1/",
            "https://127.0.0.1/",
            "https://127.1/",
            "https://0x7f000001/",
            "https://2130706433/",
            "https://0.0.0.0/",
            "https://100.64.0.1/",
            "https://100.127.255.254/",
            "https://169.254.169.254/latest/meta-data/",
            "https://192.0.0.8/",
            "https://192.0.2.1/",
            "https://198.18.0.1/",
            "https://198.51.100.7/",
            "https://203.0.113.9/",
            "https://224.0.0.1/",
            "https://239.255.255.250/",
            "https://240.0.0.1/",
            "https://255.255.255.255/",
            "https://[::]/",
            "https://[::1]/",
            "https://[::ffff:10.0.0.1]/",
            "https://[::ffff:8.8.8.8]/",
            "https://[::127.0.0.1]/",
            "https://[64:ff9b::10.0.0.1]/",
            "https://[64:ff9b::8.8.8.8]/",
            "https://[64:ff9b:1::1]/",
            "https://[2002:a00:1::]/",
            "https://[2002:7f00:1::1]/",
            "https://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/",
            "https://[2001:db8::1]/",
            "https://[fc00::1]/",
            "https://[fd12:3456:789a::1]/",
            "https://[fe80::1]/",
            "https://[febf::1]/",
            "https://[fec0::1]/",
            "https://[ff02::1]/",
            "https://[100::1]/",
            "https://localhost/",
            "https://LOCALHOST./",
            "https://api.localhost/",
        ];
        for url in refused {
            assert!(check(url, &strict()).is_err(), "{url} must be refused");
        }
    }

    #[test]
    fn accepts_public_https_hosts() {
        for url in [
            "https://scanner.example.com/hook",
            "https://8.8.8.8/",
            "https://100.63.255.255/",
            "https://100.128.0.1/",
            "https://172.32.0.1/",
            "https://169.253.1.1/",
            "https://[2606:4700:4700::1111]/",
            "https://example.com:8443/x?y=1",
        ] {
            assert!(check(url, &strict()).is_ok(), "{url} must be accepted");
        }
    }

    #[test]
    fn http_only_in_dev_and_other_schemes_never() {
        assert!(check("http://scanner.example.com/", &strict()).is_err());
        let dev = UrlPolicy {
            allow_http: true,
            allow_private_hosts: &[],
        };
        assert!(check("http://scanner.example.com/", &dev).is_ok());
        // Dev mode does not open private ranges by itself.
        assert!(check("http://127.0.0.1:9000/", &dev).is_err());
        for url in [
            "ftp://example.com/",
            "file:///etc/passwd",
            "gopher://x/",
            "not a url",
        ] {
            assert!(check(url, &dev).is_err(), "{url}");
        }
        assert!(check("https://user:pw@example.com/", &strict()).is_err());
        // IDNA is ASCII-only in this build (Cargo.toml): Unicode hosts are written in punycode.
        assert!(check("https://b\u{fc}cher.example/", &strict()).is_err());
        assert!(check("https://xn--bcher-kva.example/", &strict()).is_ok());
    }

    #[test]
    fn allow_private_hosts_opens_exactly_the_listed_hosts() {
        let hosts = vec![
            "127.0.0.1".to_string(),
            "[::1]".to_string(),
            "localhost".to_string(),
        ];
        let p = UrlPolicy {
            allow_http: true,
            allow_private_hosts: &hosts,
        };
        assert!(check("http://127.0.0.1:9000/hook", &p).is_ok());
        assert!(check("http://[::1]:9000/", &p).is_ok());
        assert!(check("http://localhost:9000/", &p).is_ok());
        assert!(check("http://127.0.0.2/", &p).is_err());
        assert!(check("http://10.0.0.1/", &p).is_err());
    }
}
