//! Destinations beyond HTTP: a subscription may deliver to a Cloudflare Queue, an R2
//! prefix or a service binding instead of a URL (outpost#655), named by binding.
//!
//! A subscription is created through the admin API at runtime, so it must not reach any
//! binding the worker holds (the `INGEST` queue, the archive bucket, `DB`): the operator
//! lists the bindings deliveries may use, with their kind, in `dispatch.destinations`,
//! and [`check`] refuses any other (`422 destination_not_allowed`,
//! `422 destination_kind_mismatch`). Everything else of a delivery (flow control,
//! attempts, results, retries) is the same as for a URL; only the send differs, and this
//! module decides what is sent where: the [`target`](Destination::target) recorded in
//! place of a URL, the R2 object's [`key`](r2_key), the [`envelope`] a queue message or an
//! R2 line carries, and the URL a service binding is fetched with
//! ([`service_url`](Destination::service_url)).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::sign::Signed;
use crate::error::{ApiError, ConfigError, ErrorCode};
use crate::time::Utc;

/// The kinds of binding a subscription may deliver to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// A Cloudflare Queue producer: one message per delivery.
    Queue,
    /// An R2 bucket: one NDJSON object per delivery under a prefix.
    R2,
    /// A service binding (another Worker): the same request a URL would get.
    Service,
}

impl Kind {
    /// The kind's name, as configured and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Queue => "queue",
            Kind::R2 => "r2",
            Kind::Service => "service",
        }
    }
}

/// Where a subscription's deliveries go when it has no URL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Destination {
    /// What the binding is.
    pub kind: Kind,
    /// The binding's name (listed in `dispatch.destinations`).
    pub binding: String,
    /// `r2` only: the keys' prefix (e.g. `"deliveries/billing/"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    /// `service` only: the path (and query) requested, default `/`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
}

/// The bindings edgehook itself consumes: a delivery there would be fed to edgehook's own
/// consumers as if it were one of their messages, so the config refuses to list them.
pub const OWN_QUEUES: [&str; 2] = ["INGEST", "DELIVERIES"];

/// The host of the URL a service binding is fetched with: the binding routes the request,
/// whatever its host, and `.invalid` (RFC 6761) can never be a real one.
pub const SERVICE_HOST: &str = "service.invalid";

/// Longest `prefix` or `path`.
const MAX_LEN: usize = 512;

/// Whether `name` can be a binding's name: a JavaScript identifier of ASCII letters,
/// digits and `_`, 1–64 long, not starting with a digit.
pub fn valid_binding(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Checks `dispatch.destinations` (binding name → kind), naming the bad key.
pub fn check_config(allowed: &BTreeMap<String, Kind>) -> Result<(), ConfigError> {
    for (name, kind) in allowed {
        let key = format!("dispatch.destinations.{name}");
        if !valid_binding(name) {
            return Err(ConfigError(format!(
                "{key}: not a binding name (1-64 of A-Z a-z 0-9 _, not starting with a digit)"
            )));
        }
        if *kind == Kind::Queue && OWN_QUEUES.contains(&name.as_str()) {
            return Err(ConfigError(format!(
                "{key}: edgehook consumes this queue itself; bind another queue for deliveries"
            )));
        }
    }
    Ok(())
}

fn invalid(message: String) -> ApiError {
    ApiError::new(ErrorCode::InvalidRequest, message)
}

/// Checks a subscription's destination against the operator's list: its binding listed
/// (`422 destination_not_allowed`), as its kind (`422 destination_kind_mismatch`), and its
/// `prefix` / `path` well formed and only where they mean something (`422
/// invalid_request`).
pub fn check(d: &Destination, allowed: &BTreeMap<String, Kind>) -> Result<(), ApiError> {
    match allowed.get(&d.binding) {
        None => {
            return Err(ApiError::new(
                ErrorCode::DestinationNotAllowed,
                format!(
                    "binding {:?} is not listed in dispatch.destinations; the operator lists the bindings deliveries may use",
                    d.binding
                ),
            ));
        }
        Some(&kind) if kind != d.kind => {
            return Err(ApiError::new(
                ErrorCode::DestinationKindMismatch,
                format!(
                    "binding {:?} is listed as {}, not {}",
                    d.binding,
                    kind.as_str(),
                    d.kind.as_str()
                ),
            ));
        }
        Some(_) => {}
    }
    match (d.kind, &d.prefix, &d.path) {
        (Kind::R2, prefix, None) => check_prefix(prefix.as_deref().unwrap_or("")),
        (Kind::Service, None, path) => check_path(path.as_deref().unwrap_or("/")),
        (Kind::Queue, None, None) => Ok(()),
        (kind, _, _) => Err(invalid(format!(
            "destination: prefix is for r2 and path for service destinations, not {}",
            kind.as_str()
        ))),
    }
}

fn check_prefix(prefix: &str) -> Result<(), ApiError> {
    let bad = prefix.len() > MAX_LEN
        || prefix.starts_with('/')
        || prefix.split('/').any(|s| s == "." || s == "..")
        || !prefix.bytes().all(|b| b.is_ascii_graphic());
    if bad {
        return Err(invalid(format!(
            "destination.prefix {prefix:?}: at most {MAX_LEN} printable ASCII characters, \
             not starting with / and without . or .. segments"
        )));
    }
    Ok(())
}

fn check_path(path: &str) -> Result<(), ApiError> {
    let ok = path.starts_with('/')
        && !path.starts_with("//")
        && path.len() <= MAX_LEN
        && path.bytes().all(|b| b.is_ascii_graphic() && b != b'#')
        && url::Url::parse(&format!("https://{SERVICE_HOST}{path}")).is_ok();
    if !ok {
        return Err(invalid(format!(
            "destination.path {path:?}: a path starting with a single /, at most {MAX_LEN} \
             printable ASCII characters, no fragment"
        )));
    }
    Ok(())
}

impl Destination {
    /// What an attempt records where a URL's attempt records the URL: `queue:NAME`,
    /// `r2:NAME/prefix`, `service:NAME/path`.
    pub fn target(&self) -> String {
        match self.kind {
            Kind::Queue => format!("queue:{}", self.binding),
            Kind::R2 => format!(
                "r2:{}/{}",
                self.binding,
                self.prefix.as_deref().unwrap_or("")
            ),
            Kind::Service => format!(
                "service:{}{}",
                self.binding,
                self.path.as_deref().unwrap_or("/")
            ),
        }
    }

    /// The URL a service binding is fetched with: [`SERVICE_HOST`] and the path.
    pub fn service_url(&self) -> String {
        format!(
            "https://{SERVICE_HOST}{}",
            self.path.as_deref().unwrap_or("/")
        )
    }
}

/// The R2 key of a delivery: `<prefix>dt=YYYY-MM-DD/hr=HH/<delivery id>.ndjson`,
/// partitioned like the collectors' batches by the hour its event was published, so every
/// attempt of a delivery writes the same key and a retry overwrites instead of adding a
/// copy.
pub fn r2_key(prefix: &str, published_at_secs: i64, delivery_id: &str) -> String {
    let t = Utc::from_millis(published_at_secs.saturating_mul(1000));
    format!(
        "{prefix}dt={}/hr={:02}/{delivery_id}.ndjson",
        t.date(),
        t.hour
    )
}

/// What a queue message or an R2 line carries: `{"headers": {…}, "body": "<the signed
/// body>"}` — the headers a URL would get (`webhook-id`, `webhook-timestamp`,
/// `webhook-signature`, AMO's `authorization`, the subscription's own) and the body as
/// the exact text they sign, so a Standard Webhooks library verifies it as it stands.
pub fn envelope(signed: &Signed) -> Value {
    let headers: Map<String, Value> = signed
        .headers
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    serde_json::json!({"headers": headers, "body": signed.body})
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowed() -> BTreeMap<String, Kind> {
        [
            ("EVENTS_OUT", Kind::Queue),
            ("DELIVERY_BUCKET", Kind::R2),
            ("HOOK_SERVICE", Kind::Service),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }

    fn dest(kind: Kind, binding: &str) -> Destination {
        Destination {
            kind,
            binding: binding.into(),
            prefix: None,
            path: None,
        }
    }

    fn code(d: &Destination) -> Option<&'static str> {
        check(d, &allowed()).err().map(|e| e.code.as_str())
    }

    #[test]
    fn only_listed_bindings_of_their_kind_are_accepted() {
        assert_eq!(code(&dest(Kind::Queue, "EVENTS_OUT")), None);
        assert_eq!(code(&dest(Kind::R2, "DELIVERY_BUCKET")), None);
        assert_eq!(code(&dest(Kind::Service, "HOOK_SERVICE")), None);
        for unlisted in ["INGEST", "ARCHIVE", "DB", "events_out", ""] {
            assert_eq!(
                code(&dest(Kind::Queue, unlisted)),
                Some("destination_not_allowed"),
                "{unlisted}"
            );
        }
        assert_eq!(
            code(&dest(Kind::R2, "EVENTS_OUT")),
            Some("destination_kind_mismatch")
        );
        assert_eq!(
            code(&dest(Kind::Service, "DELIVERY_BUCKET")),
            Some("destination_kind_mismatch")
        );
    }

    #[test]
    fn prefix_and_path_are_checked_and_only_where_they_belong() {
        let r2 = |p: &str| Destination {
            prefix: Some(p.into()),
            ..dest(Kind::R2, "DELIVERY_BUCKET")
        };
        let svc = |p: &str| Destination {
            path: Some(p.into()),
            ..dest(Kind::Service, "HOOK_SERVICE")
        };
        for ok in ["", "deliveries/", "a/b-c_d.e/"] {
            assert_eq!(code(&r2(ok)), None, "{ok:?}");
        }
        for bad in ["/abs/", "a/../b/", "./", "sp ace/", "ctl\n/"] {
            assert_eq!(code(&r2(bad)), Some("invalid_request"), "{bad:?}");
        }
        assert_eq!(code(&r2(&"a".repeat(513))), Some("invalid_request"));
        for ok in ["/", "/hooks/in", "/in?tenant=a"] {
            assert_eq!(code(&svc(ok)), None, "{ok:?}");
        }
        for bad in ["", "hooks", "//evil.example/x", "/a#frag", "/a b"] {
            assert_eq!(code(&svc(bad)), Some("invalid_request"), "{bad:?}");
        }
        let queue_with_prefix = Destination {
            prefix: Some("x/".into()),
            ..dest(Kind::Queue, "EVENTS_OUT")
        };
        assert_eq!(code(&queue_with_prefix), Some("invalid_request"));
        let r2_with_path = Destination {
            path: Some("/x".into()),
            ..dest(Kind::R2, "DELIVERY_BUCKET")
        };
        assert_eq!(code(&r2_with_path), Some("invalid_request"));
    }

    #[test]
    fn the_config_list_names_bindings_and_not_edgehooks_own_queues() {
        assert!(check_config(&allowed()).is_ok());
        for (name, kind, ok) in [
            ("INGEST", Kind::Queue, false),
            ("DELIVERIES", Kind::Queue, false),
            ("ARCHIVE", Kind::R2, true),
            ("1BAD", Kind::R2, false),
            ("has-dash", Kind::Service, false),
            ("", Kind::Queue, false),
        ] {
            let list = BTreeMap::from([(name.to_string(), kind)]);
            let checked = check_config(&list);
            assert_eq!(checked.is_ok(), ok, "{name}: {checked:?}");
            if let Err(e) = checked {
                assert!(e.0.starts_with("dispatch.destinations."), "{}", e.0);
            }
        }
    }

    #[test]
    fn targets_name_the_kind_binding_and_prefix_or_path() {
        assert_eq!(dest(Kind::Queue, "EVENTS_OUT").target(), "queue:EVENTS_OUT");
        let r2 = Destination {
            prefix: Some("out/".into()),
            ..dest(Kind::R2, "DELIVERY_BUCKET")
        };
        assert_eq!(r2.target(), "r2:DELIVERY_BUCKET/out/");
        assert_eq!(dest(Kind::R2, "B").target(), "r2:B/");
        let svc = Destination {
            path: Some("/in".into()),
            ..dest(Kind::Service, "HOOK_SERVICE")
        };
        assert_eq!(svc.target(), "service:HOOK_SERVICE/in");
        assert_eq!(svc.service_url(), "https://service.invalid/in");
        assert_eq!(
            dest(Kind::Service, "S").service_url(),
            "https://service.invalid/"
        );
    }

    #[test]
    fn r2_keys_are_partitioned_by_the_events_hour_and_stable_across_retries() {
        // 2026-12-03T07:59:59Z and a minute later.
        let at = 1_796_284_799;
        let key = r2_key("out/", at, "res_01");
        assert_eq!(key, "out/dt=2026-12-03/hr=07/res_01.ndjson");
        assert_eq!(
            r2_key("out/", at, "res_01"),
            key,
            "a retry writes the same key"
        );
        assert_eq!(
            r2_key("", at + 60, "res_01"),
            "dt=2026-12-03/hr=08/res_01.ndjson"
        );
    }

    #[test]
    fn the_envelope_carries_the_signed_headers_and_body_verbatim() {
        let signed = super::super::sign::sign(
            r#"{"a":1}"#.into(),
            "res_1",
            1_700_000_000,
            "key-0123456789abcdef",
            None,
            &[("X-Team".into(), "red".into())],
        );
        let e = envelope(&signed);
        assert_eq!(e["body"], r#"{"a":1}"#);
        assert_eq!(e["headers"]["webhook-id"], "res_1");
        assert_eq!(e["headers"]["webhook-timestamp"], "1700000000");
        assert_eq!(e["headers"]["X-Team"], "red");
        let sig = signed
            .headers
            .iter()
            .find(|(k, _)| k == "webhook-signature")
            .map(|(_, v)| v.clone());
        assert_eq!(e["headers"]["webhook-signature"].as_str(), sig.as_deref());
    }
}
