//! Dispatch: events fanned out to subscriptions, signed deliveries retried on a schedule,
//! results answered at once or PATCHed later, rules and their actions (AMO's scanner
//! webhooks, AShirt's service workers).
//!
//! Pure parts: [`schedule`], [`classify`], [`plan`] (every decision of the consumer),
//! [`url_guard`], [`sign`], [`sealed`], [`service_token`] and the model below. The worker
//! glue carries decisions out: [`publish`] (events to results and messages), [`deliver`]
//! (the `DELIVERIES` consumer), [`keys`] (secrets and policy the routes share); the
//! request itself is `outbound::delivery`, the routes are in `http/`.

pub mod alert;
pub mod classify;
pub mod deliver;
pub mod destination;
pub mod endpoint;
pub mod endpoint_object;
pub mod exchange;
pub mod keys;
pub mod plan;
pub mod portal;
pub mod publish;
pub mod replay;
pub mod replay_step;
pub mod review;
pub mod schedule;
pub mod sealed;
pub mod service_token;
pub mod sign;
pub mod transform;
pub mod url_guard;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::{ApiError, BindingError, ConfigError, ErrorCode};

crate::refusal! {
    /// Why a delivery cannot be sent at all (its URL refused, its key unreadable, its
    /// stored payload unreadable): the attempt fails with this reason.
    Undeliverable
}

/// Why the dispatch glue could not carry a delivery's or an event's bookkeeping out
/// (the message is retried, or the cron picks the result up; nothing is lost).
#[derive(Debug, thiserror::Error)]
pub enum DispatchError {
    /// D1, the queue or an endpoint's object failed.
    #[error(transparent)]
    Binding(#[from] BindingError),
    /// An event edgehook publishes itself could not be published; what went wrong
    /// underneath (the error's logged detail) when there is one.
    #[error("publishing failed: {}", .0.detail.as_deref().unwrap_or(&.0.message))]
    Publish(ApiError),
}

/// The `dispatch` section of the config.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct DispatchConfig {
    /// Delays between attempts, seconds (default: the Svix schedule).
    pub retry_schedule_secs: Vec<u64>,
    /// How long a subscriber has to answer.
    pub timeout_ms: u64,
    /// Hosts deliveries may go to although private (e.g. `127.0.0.1` in tests).
    pub allow_private_hosts: Vec<String>,
    /// How long a rotated-out key still signs.
    pub rotation_grace_secs: u64,
    /// A Slack-compatible incoming-webhook URL told of every operational event (none by
    /// default); checked by the outbound URL guard before each post.
    pub alerts_slack_url: Option<String>,
    /// Finished results and their delivery attempts are purged this many days after their
    /// last change (by the cron trigger, [`crate::store::purge::retention`]).
    pub retention_days: u32,
    /// The bindings a subscription may deliver to instead of a URL, by name, with their
    /// kind (`queue`, `r2`, `service`); none by default ([`destination`]).
    pub destinations: BTreeMap<String, destination::Kind>,
    /// Records one step of a replay publishes (`POST /admin/replay`).
    pub replay_chunk: u32,
}

impl Default for DispatchConfig {
    fn default() -> Self {
        DispatchConfig {
            retry_schedule_secs: schedule::DEFAULT_SCHEDULE_SECS.to_vec(),
            timeout_ms: 15_000,
            allow_private_hosts: Vec::new(),
            rotation_grace_secs: 86_400,
            alerts_slack_url: None,
            retention_days: 30,
            destinations: BTreeMap::new(),
            replay_chunk: replay::DEFAULT_CHUNK,
        }
    }
}

impl DispatchConfig {
    /// Checks the section, naming the bad key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let err = |k: &str, m: String| Err(ConfigError(format!("dispatch.{k}: {m}")));
        if self.retry_schedule_secs.len() > 20 {
            return err("retry_schedule_secs", "at most 20 retries".into());
        }
        if let Some(i) = self
            .retry_schedule_secs
            .iter()
            .position(|&d| d > schedule::MAX_DELAY_SECS)
        {
            return err(
                &format!("retry_schedule_secs[{i}]"),
                format!(
                    "at most {} (a queue delay's limit)",
                    schedule::MAX_DELAY_SECS
                ),
            );
        }
        if !(1..=60_000).contains(&self.timeout_ms) {
            return err("timeout_ms", "must be between 1 and 60000".into());
        }
        if self.rotation_grace_secs > 30 * 86_400 {
            return err("rotation_grace_secs", "at most 30 days".into());
        }
        if !(1..=3_650).contains(&self.retention_days) {
            return err("retention_days", "must be between 1 and 3650".into());
        }
        destination::check_config(&self.destinations)?;
        if !(1..=replay::MAX_CHUNK).contains(&self.replay_chunk) {
            return err(
                "replay_chunk",
                format!("must be between 1 and {}", replay::MAX_CHUNK),
            );
        }
        if let Some(url) = &self.alerts_slack_url {
            let policy = url_guard::UrlPolicy {
                allow_http: true,
                allow_private_hosts: &self.allow_private_hosts,
            };
            if let Err(e) = url_guard::check(url, &policy) {
                return err("alerts_slack_url", e.0);
            }
        }
        Ok(())
    }
}

/// A subscription as the admin API shows it (never its secrets).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Subscription {
    /// `sub_` + a ULID; the `{id}` of the admin routes.
    pub id: String,
    /// What operators call it; shown in the admin page and `GET /admin/deliveries`.
    pub name: String,
    /// Where deliveries go: a URL, or (`None`) the `destination`.
    pub url: Option<String>,
    /// Where deliveries go instead of a URL: a queue, R2 prefix or service binding.
    pub destination: Option<destination::Destination>,
    /// Event types delivered.
    pub events: Vec<String>,
    /// Extra headers sent with each delivery.
    pub headers: BTreeMap<String, String>,
    /// Whether deliveries are sent.
    pub enabled: bool,
    /// Why it was disabled (e.g. a 410).
    pub disabled_reason: Option<String>,
    /// Until when the previous key also signs, during a rotation.
    pub previous_valid_until: Option<i64>,
    /// Created, Unix seconds.
    pub created_at: i64,
    /// Last changed, Unix seconds.
    pub updated_at: i64,
    /// The plugin that rewrites each delivery's payload before it is signed
    /// (docs/PLUGINS.md).
    pub transform: Option<String>,
    /// Flow control: `rate_limit`, `max_in_flight`, `breaker`, `disable_after_hours`.
    #[serde(flatten)]
    pub flow: endpoint::Flow,
    /// Disabled by a failure streak: its deliveries (and new events) are held, not sent
    /// and not failed, until it is enabled again.
    pub holding: bool,
}

/// `POST /admin/subscriptions` input.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewSubscription {
    /// What operators call it (1 to 200 characters).
    pub name: String,
    /// URL (checked by the URL guard); or `destination`.
    #[serde(default)]
    pub url: Option<String>,
    /// A binding listed in `dispatch.destinations`, instead of a URL.
    #[serde(default)]
    pub destination: Option<destination::Destination>,
    /// The event types subscribed to (exact names).
    pub events: Vec<String>,
    /// The HMAC key to sign with; generated when absent.
    #[serde(default)]
    pub api_key: Option<String>,
    /// Headers added to every delivery (names checked against the reserved ones).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// A plugin that rewrites the payload before it is signed and sent.
    #[serde(default)]
    pub transform: Option<String>,
    /// Deliveries per second and/or minute.
    #[serde(default)]
    pub rate_limit: Option<endpoint::RateLimit>,
    /// Deliveries in flight at once.
    #[serde(default)]
    pub max_in_flight: Option<u32>,
    /// The circuit breaker (default: 5 failures, a probe every 30 s).
    #[serde(default)]
    pub breaker: Option<endpoint::Breaker>,
    /// A failure streak this long disables it, holding its deliveries (default 120).
    #[serde(default)]
    pub disable_after_hours: Option<f64>,
    /// `"key"`: FIFO per ordering key.
    #[serde(default)]
    pub ordering: Option<endpoint::Ordering>,
    /// Where the ordering key comes from (a JSONPath, or `header:<name>`).
    #[serde(default)]
    pub ordering_key: Option<String>,
}

impl NewSubscription {
    /// Its flow settings, defaults filled in.
    pub fn flow(&self) -> endpoint::Flow {
        let default = endpoint::Flow::default();
        endpoint::Flow {
            rate_limit: self.rate_limit,
            max_in_flight: self.max_in_flight,
            breaker: self.breaker.unwrap_or(default.breaker),
            disable_after_hours: self
                .disable_after_hours
                .unwrap_or(default.disable_after_hours),
            ordering: self.ordering,
            ordering_key: self.ordering_key.clone(),
        }
    }
}

/// `Some(None)` for an explicit `null` (remove), `None` for an absent member (keep).
fn nullable<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Some(Option::deserialize(d)?))
}

/// `PATCH /admin/subscriptions/{id}` input: what to change.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubscriptionPatch {
    /// A new name, unique among subscriptions.
    pub name: Option<String>,
    /// New URL (replacing a destination).
    pub url: Option<String>,
    /// New destination (replacing a URL).
    pub destination: Option<destination::Destination>,
    /// New event types.
    pub events: Option<Vec<String>>,
    /// New headers (replacing the old ones).
    pub headers: Option<BTreeMap<String, String>>,
    /// Enable (clearing `disabled_reason`) or disable.
    pub enabled: Option<bool>,
    /// New transform plugin; `""` removes it.
    pub transform: Option<String>,
    /// New rate limit; `null` removes it.
    #[serde(default, deserialize_with = "nullable")]
    pub rate_limit: Option<Option<endpoint::RateLimit>>,
    /// New bound on deliveries in flight; `null` removes it.
    #[serde(default, deserialize_with = "nullable")]
    pub max_in_flight: Option<Option<u32>>,
    /// New breaker settings.
    pub breaker: Option<endpoint::Breaker>,
    /// New failure streak that disables.
    pub disable_after_hours: Option<f64>,
    /// New ordering; `null` removes it (with `"ordering_key": null`).
    #[serde(default, deserialize_with = "nullable")]
    pub ordering: Option<Option<endpoint::Ordering>>,
    /// New ordering key; `null` removes it.
    #[serde(default, deserialize_with = "nullable")]
    pub ordering_key: Option<Option<String>>,
}

impl SubscriptionPatch {
    /// `flow` with the patch's changes.
    pub fn apply_flow(&self, flow: &endpoint::Flow) -> endpoint::Flow {
        let mut f = flow.clone();
        if let Some(r) = self.rate_limit {
            f.rate_limit = r;
        }
        if let Some(m) = self.max_in_flight {
            f.max_in_flight = m;
        }
        if let Some(b) = self.breaker {
            f.breaker = b;
        }
        if let Some(h) = self.disable_after_hours {
            f.disable_after_hours = h;
        }
        if let Some(o) = self.ordering {
            f.ordering = o;
        }
        if let Some(k) = &self.ordering_key {
            f.ordering_key = k.clone();
        }
        f
    }
}

impl Subscription {
    /// Where its deliveries go, as an attempt records it: the URL, or the destination's
    /// [`target`](destination::Destination::target).
    pub fn target(&self) -> String {
        match (&self.url, &self.destination) {
            (Some(url), _) => url.clone(),
            (None, Some(d)) => d.target(),
            (None, None) => String::new(),
        }
    }
}

/// Checks where a subscription's deliveries go: exactly one of a URL (the URL guard,
/// `422 url_refused`) and a destination ([`destination::check`] against the operator's
/// `dispatch.destinations`).
pub fn check_target(
    url: Option<&str>,
    destination: Option<&destination::Destination>,
    policy: &url_guard::UrlPolicy<'_>,
    allowed: &BTreeMap<String, destination::Kind>,
) -> Result<(), ApiError> {
    match (url, destination) {
        (Some(url), None) => url_guard::check(url, policy)
            .map(|_| ())
            .map_err(ApiError::from),
        (None, Some(d)) => destination::check(d, allowed),
        (Some(_), Some(_)) => Err(invalid("give url or destination, not both")),
        (None, None) => Err(invalid(
            "url or destination is required: where deliveries go",
        )),
    }
}

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::new(ErrorCode::InvalidRequest, message)
}

/// Whether `t` is a valid event type: 1–128 of `A-Z a-z 0-9 . _ : -`.
pub fn valid_event_type(t: &str) -> bool {
    (1..=128).contains(&t.len())
        && t.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
}

/// Checks a subscription's `transform`: a plugin name.
pub fn check_transform(transform: Option<&str>) -> Result<(), ApiError> {
    match transform {
        Some(t) if !crate::plugins::bundle::valid_plugin_name(t) => Err(invalid(format!(
            "transform {t:?} is not a plugin name (1-64 of a-z A-Z 0-9 - _)"
        ))),
        _ => Ok(()),
    }
}

/// Checks a subscription's name.
pub fn check_name(name: &str) -> Result<(), ApiError> {
    if name.trim().is_empty() || name.len() > 128 {
        return Err(invalid("name must be 1 to 128 characters"));
    }
    Ok(())
}

/// Checks event types: at least one, each valid, no duplicates.
pub fn check_events(events: &[String]) -> Result<(), ApiError> {
    if events.is_empty() || events.len() > 100 {
        return Err(invalid("events must list 1 to 100 event types"));
    }
    if let Some(bad) = events.iter().find(|e| !valid_event_type(e)) {
        return Err(invalid(format!(
            "{bad:?} is not an event type (1-128 of A-Z a-z 0-9 . _ : -)"
        )));
    }
    Ok(())
}

/// `422 invalid_header`, naming the header.
fn invalid_header(message: String) -> ApiError {
    ApiError::new(ErrorCode::InvalidHeader, message)
}

/// Checks extra headers: valid names and values, none reserved
/// ([`sign::reserved_header`]: edgehook's own, hop-by-hop, routing).
pub fn check_headers(headers: &BTreeMap<String, String>) -> Result<(), ApiError> {
    for (name, value) in headers {
        let token = !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
        if !token {
            return Err(invalid_header(format!("{name:?} is not a header name")));
        }
        if sign::reserved_header(name) {
            return Err(invalid_header(format!(
                "{name} is reserved (set by edgehook, hop-by-hop or routing) and cannot be set by a subscription"
            )));
        }
        if value.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0) {
            return Err(invalid_header(format!(
                "the value of {name} has a line break"
            )));
        }
    }
    Ok(())
}

/// Checks a caller-chosen API key: 16–256 printable ASCII characters.
pub fn check_api_key(key: &str) -> Result<(), ApiError> {
    if !(16..=256).contains(&key.len()) || !key.bytes().all(|b| (0x21..0x7f).contains(&b)) {
        return Err(invalid(
            "api_key must be 16 to 256 printable ASCII characters",
        ));
    }
    Ok(())
}

/// Current [`DeliveryMessage::v`].
pub const MESSAGE_VERSION: u32 = 1;

/// A `DELIVERIES` message: which result, and which attempt this is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryMessage {
    /// The message layout's version ([`MESSAGE_VERSION`]).
    pub v: u32,
    /// The result (one per event and subscription).
    pub result_id: String,
    /// 1-based attempt number (queue messages carry no counter of their own).
    pub attempt: u32,
}

/// A rule's action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Flag the result.
    Flag,
    /// Publish `rule.matched` to its subscribers.
    Notify,
}

impl Action {
    /// The action's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Flag => "flag",
            Action::Notify => "notify",
        }
    }

    /// Parses a stored action.
    pub fn parse(s: &str) -> Option<Action> {
        match s {
            "flag" => Some(Action::Flag),
            "notify" => Some(Action::Notify),
            _ => None,
        }
    }
}

/// A rule (AMO's scanner rules).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rule {
    /// Name, as scanners report it in `matchedRules`.
    pub name: String,
    /// What happens when a result matches it.
    pub action: Action,
    /// Whether the action runs.
    pub enabled: bool,
    /// Last changed, Unix seconds.
    pub updated_at: i64,
}

/// The event type `notify` publishes.
pub const RULE_MATCHED: &str = "rule.matched";

/// Event types edgehook publishes itself: `rule.matched` and the operational events of
/// SPEC.md's second edition. Subscriptions may name them; a publisher may not publish
/// them (`422 reserved_event_type`), so a subscriber can trust they came from edgehook.
pub const RESERVED_EVENT_TYPES: [&str; 6] = [
    RULE_MATCHED,
    ENDPOINT_DISABLED,
    ENDPOINT_RECOVERED,
    ENDPOINT_FAILING,
    MESSAGE_ATTEMPT_EXHAUSTED,
    REPLAY_COMPLETED,
];

/// Published when a failure streak disabled a subscription (its deliveries held).
pub const ENDPOINT_DISABLED: &str = "endpoint.disabled";

/// Published when a subscription's breaker closed again.
pub const ENDPOINT_RECOVERED: &str = "endpoint.recovered";

/// Published when an endpoint's failure ratio over its recent attempts crosses 50, 70 or
/// 90 % ([`endpoint::FAILING_THRESHOLDS`]).
pub const ENDPOINT_FAILING: &str = "endpoint.failing";

/// Published when a delivery gave up after the last retry of its schedule.
pub const MESSAGE_ATTEMPT_EXHAUSTED: &str = "message.attempt.exhausted";

/// Published when a replay (`POST /admin/replay`) has published every record of its range.
pub const REPLAY_COMPLETED: &str = "replay.completed";

/// Whether `t` is one of [`RESERVED_EVENT_TYPES`], in any case (event types are
/// case-sensitive, but `Rule.Matched` would pass for the real one to a human reader).
pub fn reserved_event_type(t: &str) -> bool {
    RESERVED_EVENT_TYPES
        .iter()
        .any(|r| r.eq_ignore_ascii_case(t))
}

/// What matched rules call for: whether to flag the result, and which rules notify.
/// Results of `rule.matched` events never notify again, so rules cannot loop.
pub fn actions(event_type: &str, matched: &[String], rules: &[Rule]) -> (bool, Vec<String>) {
    let hits = rules
        .iter()
        .filter(|r| r.enabled && matched.contains(&r.name));
    let mut flag = false;
    let mut notify = Vec::new();
    for r in hits {
        match r.action {
            Action::Flag => flag = true,
            Action::Notify if event_type != RULE_MATCHED => notify.push(r.name.clone()),
            Action::Notify => {}
        }
    }
    (flag, notify)
}

/// The statuses a result can have.
pub const STATUSES: [&str; 7] = [
    "pending",
    "held",
    "delivered",
    "completed",
    "rejected",
    "deferred",
    "failed",
];

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(name: &str, action: Action, enabled: bool) -> Rule {
        Rule {
            name: name.into(),
            action,
            enabled,
            updated_at: 0,
        }
    }

    #[test]
    fn enabled_matched_rules_run_their_actions() {
        let rules = vec![
            rule("malware", Action::Flag, true),
            rule("miner", Action::Notify, true),
            rule("off", Action::Flag, false),
        ];
        let m = |names: &[&str]| names.iter().map(ToString::to_string).collect::<Vec<_>>();
        assert_eq!(
            actions("addon.uploaded", &m(&["malware"]), &rules),
            (true, vec![])
        );
        assert_eq!(
            actions("addon.uploaded", &m(&["miner", "unknown", "off"]), &rules),
            (false, vec!["miner".to_string()])
        );
        assert_eq!(
            actions(RULE_MATCHED, &m(&["miner"]), &rules),
            (false, vec![])
        );
        assert_eq!(actions("x", &[], &rules), (false, vec![]));
    }

    #[test]
    fn edgehooks_own_event_types_are_reserved() {
        for t in [
            "rule.matched",
            "Rule.Matched",
            "endpoint.disabled",
            "endpoint.recovered",
            "endpoint.failing",
            "message.attempt.exhausted",
            "replay.completed",
        ] {
            assert!(reserved_event_type(t), "{t}");
        }
        for t in ["rule.matched.x", "addon.uploaded", "endpoint", "rule"] {
            assert!(!reserved_event_type(t), "{t}");
        }
        // Subscribing to them is fine.
        assert!(check_events(&["rule.matched".to_string()]).is_ok());
    }

    #[test]
    fn validates_subscription_inputs() {
        assert!(valid_event_type("addon.uploaded"));
        assert!(!valid_event_type("has space"));
        assert!(check_events(&[]).is_err());
        let mut h = BTreeMap::new();
        h.insert("X-Team".to_string(), "red".to_string());
        assert!(check_headers(&h).is_ok());
        h.insert("Authorization".to_string(), "x".to_string());
        assert!(check_headers(&h).is_err());
        let mut h = BTreeMap::new();
        h.insert("X-Bad".to_string(), "a\r\nb".to_string());
        assert!(check_headers(&h).is_err());
        assert!(check_api_key("short").is_err());
        assert!(check_api_key("a-long-enough-api-key").is_ok());
        assert!(check_name("").is_err());
    }

    #[test]
    fn a_subscription_goes_to_exactly_one_url_or_listed_destination() {
        use destination::{Destination, Kind};
        let allowed = BTreeMap::from([("EVENTS_OUT".to_string(), Kind::Queue)]);
        let policy = url_guard::UrlPolicy::default();
        let queue = |binding: &str, kind| Destination {
            kind,
            binding: binding.into(),
            prefix: None,
            path: None,
        };
        let code = |url: Option<&str>, d: Option<&Destination>| {
            check_target(url, d, &policy, &allowed)
                .err()
                .map(|e| e.code.as_str())
        };
        assert_eq!(code(Some("https://example.com/hook"), None), None);
        assert_eq!(code(None, Some(&queue("EVENTS_OUT", Kind::Queue))), None);
        assert_eq!(code(Some("http://10.0.0.1/"), None), Some("url_refused"));
        assert_eq!(
            code(None, Some(&queue("INGEST", Kind::Queue))),
            Some("destination_not_allowed")
        );
        assert_eq!(
            code(None, Some(&queue("EVENTS_OUT", Kind::R2))),
            Some("destination_kind_mismatch")
        );
        assert_eq!(
            code(
                Some("https://example.com/"),
                Some(&queue("EVENTS_OUT", Kind::Queue))
            ),
            Some("invalid_request")
        );
        assert_eq!(code(None, None), Some("invalid_request"));
    }

    #[test]
    fn the_destinations_list_is_part_of_the_config_section() {
        let mut c: DispatchConfig = serde_json::from_value(serde_json::json!({
            "destinations": {"EVENTS_OUT": "queue", "OUT_BUCKET": "r2", "HOOKS": "service"}
        }))
        .expect("a list of bindings");
        assert!(c.validate().is_ok());
        assert_eq!(
            c.destinations.get("OUT_BUCKET"),
            Some(&destination::Kind::R2)
        );
        c.destinations
            .insert("INGEST".into(), destination::Kind::Queue);
        assert!(
            c.validate()
                .unwrap_err()
                .0
                .starts_with("dispatch.destinations.INGEST")
        );
        let unknown_kind = serde_json::from_value::<DispatchConfig>(serde_json::json!({
            "destinations": {"X": "kafka"}
        }));
        assert!(unknown_kind.is_err());
    }

    #[test]
    fn config_section_is_checked() {
        assert!(DispatchConfig::default().validate().is_ok());
        let mut c = DispatchConfig {
            timeout_ms: 0,
            ..Default::default()
        };
        assert!(
            c.validate()
                .unwrap_err()
                .0
                .starts_with("dispatch.timeout_ms")
        );
        c.timeout_ms = 1000;
        c.retry_schedule_secs = vec![1, 100_000];
        assert!(
            c.validate()
                .unwrap_err()
                .0
                .starts_with("dispatch.retry_schedule_secs[1]")
        );
        c.retry_schedule_secs = vec![1];
        for (days, ok) in [(0, false), (1, true), (3_650, true), (3_651, false)] {
            c.retention_days = days;
            assert_eq!(c.validate().is_ok(), ok, "{days}");
        }
        c.retention_days = 30;
        for (chunk, ok) in [
            (0, false),
            (1, true),
            (replay::MAX_CHUNK, true),
            (replay::MAX_CHUNK + 1, false),
        ] {
            c.replay_chunk = chunk;
            assert_eq!(c.validate().is_ok(), ok, "{chunk}");
        }
        c.replay_chunk = replay::DEFAULT_CHUNK;
        for (url, ok) in [
            ("https://hooks.slack.com/services/T0/B0/x", true),
            ("http://127.0.0.1:9/alerts", false),
            ("https://10.0.0.1/alerts", false),
            ("not a url", false),
        ] {
            c.alerts_slack_url = Some(url.into());
            let checked = c.validate();
            assert_eq!(checked.is_ok(), ok, "{url}: {checked:?}");
            if let Err(e) = checked {
                assert!(e.0.starts_with("dispatch.alerts_slack_url"), "{}", e.0);
            }
        }
        c.allow_private_hosts = vec!["127.0.0.1".into()];
        c.alerts_slack_url = Some("http://127.0.0.1:9/alerts".into());
        assert!(c.validate().is_ok(), "a listed host, as the tests use");
    }
}
