//! An AMO-style scanner as an edgehook plugin: a webhook whose `download_url` points at a
//! host on the block list (or a subdomain of one) is flagged, AMO's way, with the rule it
//! matched; a `download_url` that is not an http(s) URL is rejected; a webhook without
//! one passes unchanged.

use edgehook_plugin::{Answer, Record, json};

/// Hosts whose downloads are flagged.
const BLOCKED_HOSTS: &[&str] = &["evil.example", "malware.test", "badcdn.example.net"];

/// The host of an `http(s)` URL, lowercased, without user info or port.
pub fn host(url: &str) -> Option<String> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))?;
    let authority = rest.split(['/', '?', '#']).next()?;
    let host_port = authority.rsplit('@').next()?;
    let host = match host_port.rsplit_once(':') {
        Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => host_port,
    };
    (!host.is_empty()).then(|| host.trim_end_matches('.').to_ascii_lowercase())
}

/// The blocked host `host` is, or is under.
pub fn blocked(host: &str) -> Option<&'static str> {
    BLOCKED_HOSTS
        .iter()
        .find(|b| host == **b || host.ends_with(&format!(".{b}")))
        .copied()
}

/// The plugin.
pub fn process(record: Record) -> Answer {
    let mut payload = record.payload;
    let Some(url) = payload.get("download_url").and_then(|u| u.as_str()) else {
        return Answer::Deferred;
    };
    let Some(host) = host(url) else {
        return Answer::Rejected(format!("download_url {url:?} is not an http(s) URL"));
    };
    match blocked(&host) {
        Some(rule) => {
            payload["flagged"] = json!(true);
            payload["matchedRules"] = json!([format!("blocked_download_host:{rule}")]);
            Answer::Processed(payload)
        }
        None => Answer::Deferred,
    }
}

edgehook_plugin::plugin!(process);

#[cfg(test)]
mod tests {
    use super::*;
    use edgehook_plugin::{Value, handle, serde_json};

    fn run(record: Value) -> Value {
        let message = json!({"type": "record", "collector": "amo", "record": record});
        serde_json::from_slice(&handle(message.to_string().as_bytes(), process)).unwrap()
    }

    #[test]
    fn flags_blocked_hosts_and_their_subdomains() {
        let out = run(json!({"download_url": "https://user@CDN.Evil.Example:8443/a.xpi?x=1"}));
        assert_eq!(out["action"], "processed");
        assert_eq!(out["content"]["flagged"], true);
        assert_eq!(
            out["content"]["matchedRules"],
            json!(["blocked_download_host:evil.example"])
        );
    }

    #[test]
    fn passes_other_hosts_and_rejects_non_urls() {
        assert_eq!(
            run(json!({"download_url": "https://notevil.example/a.xpi"}))["action"],
            "deferred"
        );
        assert_eq!(run(json!({"name": "no url"}))["action"], "deferred");
        assert_eq!(
            run(json!({"download_url": "ftp://evil.example/a"}))["action"],
            "rejected"
        );
        assert_eq!(host("http://[::1]:80/x").as_deref(), Some("[::1]"));
    }
}
