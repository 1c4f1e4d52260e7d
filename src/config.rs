//! `EDGEHOOK_CONFIG`: parsing, validation and secret resolution.
//!
//! The config is parsed and validated once per isolate. Any problem becomes a
//! [`ConfigError`] whose message names the bad key (`collectors[1].auth.secrets[0]: ...`);
//! the worker then answers `500 invalid_config` on every route, so an invalid config never
//! half-works. Secrets are never in the config: it names them, and [`Config::resolve`]
//! reads them through a lookup function the worker glue passes in.

use std::collections::{BTreeMap, HashSet};

use serde::Deserialize;

use crate::auth::AuthConfig;
use crate::auth::access::AdminConfig;
use crate::collect::body::BodyKind;
use crate::collect::cors::CorsConfig;
use crate::collect::handshake::HandshakeConfig;
use crate::collect::record::Format;
use crate::dispatch::DispatchConfig;
use crate::error::ConfigError;
use crate::plugins::bundle::valid_plugin_name;
use crate::plugins::egress::PluginGrant;
use crate::secrets::Secrets;
use crate::steps::Chain;

/// Default `dedupe_window_secs`: one day.
pub const DEFAULT_DEDUPE_WINDOW_SECS: i64 = 86_400;
/// Default `max_body_bytes`: 1 MiB.
pub const DEFAULT_MAX_BODY_BYTES: u64 = 1_048_576;
/// Largest `max_body_bytes` accepted: the Workers platform's own request limit.
pub const MAX_BODY_BYTES_LIMIT: u64 = 100 * 1_048_576;

fn at(path: impl std::fmt::Display, msg: impl std::fmt::Display) -> ConfigError {
    ConfigError(format!("{path}: {msg}"))
}

/// The whole edgehook configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Base URL edgehook is reachable at; default JWT issuer/audience prefix and base of
    /// result URLs. Stored without a trailing slash.
    pub public_url: String,
    /// How long webhook ids are remembered for deduplication.
    #[serde(default = "default_dedupe_window")]
    pub dedupe_window_secs: i64,
    /// Queue names, used to tell batches apart in the one queue handler.
    #[serde(default)]
    pub queues: QueueNames,
    /// The collectors, each served at `POST /hooks/<name>`.
    #[serde(default)]
    pub collectors: Vec<Collector>,
    /// Deliveries to subscribers: retry schedule, timeout, URL guard exceptions.
    #[serde(default)]
    pub dispatch: DispatchConfig,
    /// The admin API's sign-in: Cloudflare Access and roles.
    #[serde(default)]
    pub admin: AdminConfig,
    /// Network grants of plugins uploaded at runtime, by plugin name (docs/PLUGINS.md).
    #[serde(default)]
    pub plugins: BTreeMap<String, PluginGrant>,
}

fn default_dedupe_window() -> i64 {
    DEFAULT_DEDUPE_WINDOW_SECS
}

fn default_max_body() -> u64 {
    DEFAULT_MAX_BODY_BYTES
}

/// Names of the queues the worker consumes.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct QueueNames {
    /// Records from collectors to the NDJSON writer.
    pub ingest: String,
    /// Deliveries to subscribers.
    pub deliveries: String,
    /// Dead letters of `ingest`.
    pub ingest_dlq: String,
    /// Dead letters of `deliveries`.
    pub deliveries_dlq: String,
    /// How many queues `ingest` is sharded over (1–[`MAX_INGEST_SHARDS`]): shard 0 is
    /// `ingest` bound as `INGEST`, shard k the queue `<ingest>-<k>` bound as `INGEST_<k>`.
    pub ingest_shards: u32,
}

/// The most queues `queues.ingest` may be sharded over.
pub const MAX_INGEST_SHARDS: u32 = 16;

impl Default for QueueNames {
    fn default() -> Self {
        Self {
            ingest: "edgehook-ingest".into(),
            deliveries: "edgehook-deliveries".into(),
            ingest_dlq: "edgehook-ingest-dlq".into(),
            deliveries_dlq: "edgehook-deliveries-dlq".into(),
            ingest_shards: 1,
        }
    }
}

/// Which of edgehook's queues a batch came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueRole {
    /// `queues.ingest`.
    Ingest,
    /// `queues.deliveries`.
    Deliveries,
    /// Either dead-letter queue.
    DeadLetter,
}

impl QueueNames {
    /// The role of the queue called `name`, if it is one of ours.
    pub fn role(&self, name: &str) -> Option<QueueRole> {
        if name == self.ingest || self.ingest_shard_of(name).is_some() {
            Some(QueueRole::Ingest)
        } else if name == self.deliveries {
            Some(QueueRole::Deliveries)
        } else if name == self.ingest_dlq || name == self.deliveries_dlq {
            Some(QueueRole::DeadLetter)
        } else {
            None
        }
    }

    /// The shard (1 and up) of `ingest` that the queue called `name` is.
    fn ingest_shard_of(&self, name: &str) -> Option<u32> {
        let k: u32 = name
            .strip_prefix(&self.ingest)?
            .strip_prefix('-')?
            .parse()
            .ok()?;
        (k >= 1 && k < self.ingest_shards && name == self.ingest_queue(k)).then_some(k)
    }

    /// The name of shard `k` of the ingest queue.
    pub fn ingest_queue(&self, k: u32) -> String {
        if k == 0 {
            self.ingest.clone()
        } else {
            format!("{}-{k}", self.ingest)
        }
    }

    /// The producer binding names of the ingest queue's shards, in order.
    pub fn ingest_bindings(&self) -> Vec<String> {
        (0..self.ingest_shards)
            .map(|k| {
                if k == 0 {
                    "INGEST".to_string()
                } else {
                    format!("INGEST_{k}")
                }
            })
            .collect()
    }
}

/// A collector: an endpoint senders POST webhooks to.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Collector {
    /// Route segment: `POST /hooks/<name>[/sub/path]`.
    pub name: String,
    /// What each NDJSON line holds.
    #[serde(default)]
    pub format: Format,
    /// Bodies above this answer `413`.
    #[serde(default = "default_max_body")]
    pub max_body_bytes: u64,
    /// How senders authenticate.
    pub auth: AuthConfig,
    /// Whose handshake the collector answers (default: its scheme's, when a provider's).
    #[serde(default)]
    pub handshake: Option<HandshakeConfig>,
    /// Browsers on these origins may send (`Access-Control-*`).
    #[serde(default)]
    pub cors: Option<CorsConfig>,
    /// The kinds of body taken (`json`, `form`, `multipart`, `text`, `binary`).
    #[serde(default = "crate::collect::body::default_accept")]
    pub accept: Vec<BodyKind>,
    /// Also archive each untouched body under `originals/<name>/`.
    #[serde(default)]
    pub keep_original: bool,
    /// Write batches gzip-compressed (`.ndjson.gz`).
    #[serde(default)]
    pub compress: bool,
    /// Where repeated webhook ids are caught: in the ingest consumer (`async`, default) or
    /// before the answer (`sync`).
    #[serde(default)]
    pub dedupe: crate::collect::idempotency::Dedupe,
    /// The chain of steps applied to each accepted payload, as configured.
    #[serde(default)]
    pub steps: Vec<serde_json::Value>,
    /// `steps`, compiled when the config loads.
    #[serde(skip)]
    pub chain: Chain,
}

impl Config {
    /// Parses and validates a config given as JSON text.
    // Each of parse's, validate's and resolve's bodies a function of its own, not
    // inlined into the config load: V8 compiles one large function much more slowly than
    // the same code in parts, on an isolate's first request (docs/PERFORMANCE.md).
    #[inline(never)]
    pub fn parse(json: &str) -> Result<Config, ConfigError> {
        let de = &mut serde_json::Deserializer::from_str(json);
        let mut config: Config = serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            if path == "." || path == "?" {
                ConfigError(format!("EDGEHOOK_CONFIG: {inner}"))
            } else {
                at(path, inner)
            }
        })?;
        config.validate()?;
        Ok(config)
    }

    #[inline(never)]
    fn validate(&mut self) -> Result<(), ConfigError> {
        let url = url::Url::parse(&self.public_url)
            .map_err(|e| at("public_url", format!("not an absolute URL ({e})")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(at("public_url", "must be an http or https URL"));
        }
        while self.public_url.ends_with('/') {
            self.public_url.pop();
        }
        if self.dedupe_window_secs < 1 {
            return Err(at("dedupe_window_secs", "must be at least 1"));
        }
        let queues = [
            ("queues.ingest", &self.queues.ingest),
            ("queues.deliveries", &self.queues.deliveries),
            ("queues.ingest_dlq", &self.queues.ingest_dlq),
            ("queues.deliveries_dlq", &self.queues.deliveries_dlq),
        ];
        if !(1..=MAX_INGEST_SHARDS).contains(&self.queues.ingest_shards) {
            return Err(at(
                "queues.ingest_shards",
                format!("must be from 1 to {MAX_INGEST_SHARDS}"),
            ));
        }
        let shards: Vec<String> = (1..self.queues.ingest_shards)
            .map(|k| self.queues.ingest_queue(k))
            .collect();
        let queues = queues
            .into_iter()
            .chain(shards.iter().map(|name| ("queues.ingest_shards", name)));
        let mut queue_names = HashSet::new();
        for (key, name) in queues {
            if name.is_empty() {
                return Err(at(key, "must not be empty"));
            }
            if !queue_names.insert(name.as_str()) {
                return Err(at(key, format!("queue {name:?} is named twice")));
            }
        }
        self.dispatch.validate()?;
        for (name, grant) in &mut self.plugins {
            if !valid_plugin_name(name) {
                return Err(at(
                    format!("plugins.{name}"),
                    "not a plugin name (1-64 of a-z A-Z 0-9 - _)",
                ));
            }
            grant.validate(&format!("plugins.{name}"))?;
        }
        self.admin.validate()?;
        let mut names = HashSet::new();
        for (i, c) in self.collectors.iter_mut().enumerate() {
            let path = format!("collectors[{i}]");
            if !is_valid_name(&c.name) {
                return Err(at(
                    format!("{path}.name"),
                    format!(
                        "{:?} is not a valid collector name (1-64 of a-z, A-Z, 0-9, '-', '_')",
                        c.name
                    ),
                ));
            }
            if !names.insert(c.name.as_str()) {
                return Err(at(
                    format!("{path}.name"),
                    format!("collector {:?} is defined twice", c.name),
                ));
            }
            if c.max_body_bytes == 0 || c.max_body_bytes > MAX_BODY_BYTES_LIMIT {
                return Err(at(
                    format!("{path}.max_body_bytes"),
                    format!("must be between 1 and {MAX_BODY_BYTES_LIMIT}"),
                ));
            }
            if c.accept.is_empty() {
                return Err(at(
                    format!("{path}.accept"),
                    "name at least one kind of body",
                ));
            }
            for (j, kind) in c.accept.iter().enumerate() {
                if c.accept[..j].contains(kind) {
                    return Err(at(
                        format!("{path}.accept[{j}]"),
                        format!("{:?} is named twice", kind.name()),
                    ));
                }
            }
            c.auth.validate(&format!("{path}.auth"))?;
            if let Some(h) = &c.handshake {
                let auth_secrets = c.auth.secret_refs("auth").len();
                h.validate(&format!("{path}.handshake"), auth_secrets)?;
            }
            if let Some(cors) = &mut c.cors {
                cors.validate(&format!("{path}.cors"))?;
            }
            c.auth
                .fill_defaults(&format!("{}/hooks/{}", self.public_url, c.name));
            c.chain = Chain::compile(&c.steps, &path, c.auth.scheme())?;
        }
        Ok(())
    }

    /// Every collector's `auth` table with its key (`collectors[0].auth`).
    pub fn auth_tables(&self) -> impl Iterator<Item = (String, &AuthConfig)> {
        self.collectors
            .iter()
            .enumerate()
            .map(|(i, c)| (format!("collectors[{i}].auth"), &c.auth))
    }

    /// The collector called `name`.
    pub fn collector(&self, name: &str) -> Option<&Collector> {
        self.collectors.iter().find(|c| c.name == name)
    }

    /// Reads every secret the config names through `lookup`. A missing or empty secret
    /// is a config error naming the key that refers to it.
    #[inline(never)]
    pub fn resolve(&self, lookup: impl Fn(&str) -> Option<String>) -> Result<Secrets, ConfigError> {
        let mut secrets = BTreeMap::new();
        for (i, c) in self.collectors.iter().enumerate() {
            let mut refs = c.auth.secret_refs(&format!("collectors[{i}].auth"));
            refs.extend(c.chain.secret_refs());
            if let Some(h) = &c.handshake {
                refs.extend(h.secret_refs(&format!("collectors[{i}].handshake")));
            }
            for (key, name) in refs {
                match lookup(&name) {
                    None => return Err(at(key, format!("secret {name} is not set"))),
                    Some(v) if v.is_empty() => {
                        return Err(at(key, format!("secret {name} is empty")));
                    }
                    Some(v) => {
                        secrets.insert(name, v);
                    }
                }
            }
        }
        let secrets = Secrets(secrets);
        for c in &self.collectors {
            c.chain.load(&secrets)?;
        }
        Ok(secrets)
    }
}

fn is_valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(v: serde_json::Value) -> Result<Config, ConfigError> {
        Config::parse(&v.to_string())
    }

    fn base() -> serde_json::Value {
        serde_json::json!({
            "public_url": "http://127.0.0.1:8787/",
            "collectors": [
                {"name": "amo", "auth": {"scheme": "hmac", "secrets": ["AMO_KEY", "AMO_KEY_OLD"]}},
                {"name": "open", "format": "request", "auth": {"scheme": "none"}}
            ]
        })
    }

    #[test]
    fn parses_a_valid_config_with_defaults() {
        let c = parse(base()).unwrap();
        assert_eq!(c.public_url, "http://127.0.0.1:8787");
        assert_eq!(c.dedupe_window_secs, DEFAULT_DEDUPE_WINDOW_SECS);
        assert_eq!(c.collectors[0].max_body_bytes, DEFAULT_MAX_BODY_BYTES);
        assert_eq!(c.collectors[0].format, Format::Payload);
        assert_eq!(c.collectors[1].format, Format::Request);
        assert_eq!(c.queues.role("edgehook-ingest"), Some(QueueRole::Ingest));
        assert_eq!(
            c.queues.role("edgehook-ingest-dlq"),
            Some(QueueRole::DeadLetter)
        );
        assert_eq!(c.queues.role("other"), None);
    }

    #[test]
    fn the_ingest_queue_shards_are_named_bound_and_consumed_in_order() {
        let c = parse(base()).unwrap();
        assert_eq!(c.queues.ingest_bindings(), ["INGEST"]);
        assert_eq!(c.queues.role("edgehook-ingest-1"), None, "not sharded");
        let mut v = base();
        v["queues"] = serde_json::json!({"ingest_shards": 3});
        let c = parse(v).unwrap();
        assert_eq!(
            c.queues.ingest_bindings(),
            ["INGEST", "INGEST_1", "INGEST_2"]
        );
        for name in ["edgehook-ingest", "edgehook-ingest-1", "edgehook-ingest-2"] {
            assert_eq!(c.queues.role(name), Some(QueueRole::Ingest), "{name}");
        }
        for name in [
            "edgehook-ingest-3",
            "edgehook-ingest-0",
            "edgehook-ingest-01",
            "edgehook-ingest1",
        ] {
            assert_eq!(c.queues.role(name), None, "{name}");
        }
        assert_eq!(
            c.queues.role("edgehook-ingest-dlq"),
            Some(QueueRole::DeadLetter)
        );
        for bad in [0, 17] {
            let mut v = base();
            v["queues"] = serde_json::json!({"ingest_shards": bad});
            assert!(error_of(v).starts_with("queues.ingest_shards: must be from 1 to 16"));
        }
        // A shard's name must not be another queue's.
        let mut v = base();
        v["queues"] = serde_json::json!({"ingest_shards": 2, "deliveries": "edgehook-ingest-1"});
        assert!(
            error_of(v)
                .starts_with("queues.ingest_shards: queue \"edgehook-ingest-1\" is named twice")
        );
    }

    fn error_of(v: serde_json::Value) -> String {
        parse(v).unwrap_err().0
    }

    #[test]
    fn errors_name_the_bad_key() {
        let mut v = base();
        v["collectors"][1]["format"] = "xml".into();
        let e = error_of(v);
        assert!(
            e.starts_with("collectors[1].format: unknown variant `xml`"),
            "{e}"
        );

        let mut v = base();
        v["collectors"][0]["max_body_bytes"] = 0.into();
        assert!(error_of(v).starts_with("collectors[0].max_body_bytes: "));

        let mut v = base();
        v["collectors"][1]["name"] = "amo".into();
        assert_eq!(
            error_of(v),
            "collectors[1].name: collector \"amo\" is defined twice"
        );

        let mut v = base();
        v["collectors"][0]["name"] = "has space".into();
        assert!(error_of(v).starts_with("collectors[0].name: "));

        let mut v = base();
        v["collectors"][0]["colour"] = "red".into();
        assert!(error_of(v).starts_with("collectors[0].colour: unknown field `colour`"));

        let mut v = base();
        v["public_url"] = "not a url".into();
        assert!(error_of(v).starts_with("public_url: not an absolute URL"));

        let mut v = base();
        v.as_object_mut().unwrap().remove("public_url");
        assert!(error_of(v).contains("missing field `public_url`"));

        let mut v = base();
        v["plugins"] = serde_json::json!({"fetcher": {"allow_hosts": ["API.example.com"]}});
        let parsed = Config::parse(&v.to_string()).expect("a grant");
        assert_eq!(parsed.plugins["fetcher"].allow_hosts, ["api.example.com"]);
        v["plugins"]["fetcher"]["allow_hosts"][0] = "https://api.example.com".into();
        assert!(error_of(v.clone()).starts_with("plugins.fetcher.allow_hosts[0]: "));
        v["plugins"] = serde_json::json!({"a.b": {}});
        assert!(error_of(v.clone()).starts_with("plugins.a.b: not a plugin name"));
        v["plugins"] = serde_json::json!({"fetcher": {"hosts": []}});
        assert!(error_of(v).contains("unknown field `hosts`"));

        let mut v = base();
        v["collectors"][0]["steps"] = serde_json::json!([{"kind": "teleport"}]);
        assert!(
            error_of(v).starts_with("collectors[0].steps[0].kind: unknown step kind \"teleport\""),
        );

        let mut v = base();
        v["collectors"][1]["steps"] = serde_json::json!([{"kind": "redact", "paths": ["$.a"]},
            {"kind": "pseudonymize", "paths": ["$..email", "$.b["], "salt": "SALT"}]);
        assert!(error_of(v).starts_with("collectors[1].steps[1].paths[1]: "));

        let mut v = base();
        v["collectors"][0]["accept"] = serde_json::json!(["json", "yaml"]);
        assert!(error_of(v).starts_with("collectors[0].accept[1]: unknown variant `yaml`"));

        let mut v = base();
        v["collectors"][0]["accept"] = serde_json::json!(["form", "json", "form"]);
        assert_eq!(
            error_of(v),
            "collectors[0].accept[2]: \"form\" is named twice"
        );

        let mut v = base();
        v["collectors"][0]["accept"] = serde_json::json!([]);
        assert!(error_of(v).starts_with("collectors[0].accept: "));

        let mut v = base();
        v["queues"] = serde_json::json!({"ingest": "q", "deliveries": "q"});
        assert!(error_of(v).starts_with("queues.deliveries: "));
    }

    #[test]
    fn non_json_is_an_error() {
        assert!(
            Config::parse("{nope")
                .unwrap_err()
                .0
                .starts_with("EDGEHOOK_CONFIG")
        );
    }

    #[test]
    fn resolve_reports_missing_and_empty_secrets_by_key() {
        let c = parse(base()).unwrap();
        let e = c
            .resolve(|n| (n == "AMO_KEY").then(|| "k".to_string()))
            .unwrap_err();
        assert_eq!(
            e.0,
            "collectors[0].auth.secrets[1]: secret AMO_KEY_OLD is not set"
        );
        let e = c
            .resolve(|n| Some(if n == "AMO_KEY" { "k" } else { "" }.to_string()))
            .unwrap_err();
        assert_eq!(
            e.0,
            "collectors[0].auth.secrets[1]: secret AMO_KEY_OLD is empty"
        );
        let s = c.resolve(|n| Some(format!("v-{n}"))).unwrap();
        assert_eq!(s.get("AMO_KEY_OLD"), Some("v-AMO_KEY_OLD"));
        assert_eq!(format!("{s:?}"), "{\"AMO_KEY\", \"AMO_KEY_OLD\"}");
    }
}
