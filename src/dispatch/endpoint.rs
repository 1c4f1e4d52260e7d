//! Flow control of one endpoint (a subscription), decided without I/O: its rate limit,
//! how many deliveries may be in flight, the circuit breaker, pauses asked for by the
//! subscriber (`Retry-After`, 429, 503) and auto-disable after a long failure streak.
//!
//! The state lives in one Durable Object per subscription (`endpoint_object.rs`), so the
//! limits hold across every isolate and location; the object only loads the state, calls
//! [`Endpoint::admit`] or [`Endpoint::settle`], and stores it back. Admission never claims
//! the attempt: the consumer still claims it in D1 after a `Go`, so a delivery is attempted
//! once however many messages ask for it.

use serde::{Deserialize, Serialize};

use super::classify::Outcome;
use crate::error::{ApiError, ErrorCode};

/// Deliveries per second and/or per minute.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimit {
    /// At most this many deliveries start in any 1 s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_second: Option<u32>,
    /// At most this many deliveries start in any 60 s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_minute: Option<u32>,
}

/// The circuit breaker's settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Breaker {
    /// Consecutive failures that open it.
    pub failures: u32,
    /// How long it stays open before one probe is let through, seconds.
    pub probe_secs: u64,
}

impl Default for Breaker {
    fn default() -> Self {
        Breaker {
            failures: 5,
            probe_secs: 30,
        }
    }
}

/// A subscription's flow settings (part of its admin API object).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Flow {
    /// Deliveries per second / minute; none by default.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<RateLimit>,
    /// Deliveries in flight at once; unbounded by default.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_in_flight: Option<u32>,
    /// The circuit breaker.
    pub breaker: Breaker,
    /// A failure streak this long disables the endpoint, its deliveries held (Svix: 5 days).
    pub disable_after_hours: f64,
    /// `"key"`: deliveries sharing an ordering key go one at a time, in publish order.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ordering: Option<Ordering>,
    /// Where the ordering key comes from: a JSONPath of the event (`$.customer.id`) or a
    /// header of the publish request (`header:X-Customer`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ordering_key: Option<String>,
}

/// How a subscription orders its deliveries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Ordering {
    /// First in, first out per ordering key.
    Key,
}

/// The prefix of an `ordering_key` naming a header of the publish request.
pub const HEADER_KEY_PREFIX: &str = "header:";

/// An ordering key longer than this is cut (it only has to tell keys apart).
const MAX_KEY_BYTES: usize = 256;

/// The ordering key of an event for `spec` (a JSONPath, or `header:<name>` read through
/// `header`): the first node selected (a string as itself, anything else as JSON), or
/// `None` when there is none (the delivery is then unordered).
pub fn ordering_key(
    spec: &str,
    payload: &serde_json::Value,
    header: &dyn Fn(&str) -> Option<String>,
) -> Option<String> {
    let key = match spec.strip_prefix(HEADER_KEY_PREFIX) {
        Some(name) => header(name)?,
        None => {
            let path = crate::steps::jsonpath::Path::parse(spec).ok()?;
            match path.nodes(payload).first()? {
                serde_json::Value::String(s) => s.clone(),
                serde_json::Value::Null => return None,
                other => other.to_string(),
            }
        }
    };
    let mut end = key.len().min(MAX_KEY_BYTES);
    while !key.is_char_boundary(end) {
        end -= 1;
    }
    Some(key[..end].to_string())
}

impl Default for Flow {
    fn default() -> Self {
        Flow {
            rate_limit: None,
            max_in_flight: None,
            breaker: Breaker::default(),
            disable_after_hours: 120.0,
            ordering: None,
            ordering_key: None,
        }
    }
}

impl Flow {
    /// Checks the settings; `422 invalid_request` naming the field.
    pub fn check(&self) -> Result<(), ApiError> {
        let invalid = |m: &str| Err(ApiError::new(ErrorCode::InvalidRequest, m));
        if let Some(r) = self.rate_limit {
            if r.per_second.is_none() && r.per_minute.is_none() {
                return invalid("rate_limit needs per_second and/or per_minute");
            }
            if r.per_second.is_some_and(|n| !(1..=1_000).contains(&n)) {
                return invalid("rate_limit.per_second must be 1 to 1000");
            }
            if r.per_minute.is_some_and(|n| !(1..=10_000).contains(&n)) {
                return invalid("rate_limit.per_minute must be 1 to 10000");
            }
        }
        if self
            .max_in_flight
            .is_some_and(|n| !(1..=1_000).contains(&n))
        {
            return invalid("max_in_flight must be 1 to 1000");
        }
        if !(1..=1_000).contains(&self.breaker.failures) {
            return invalid("breaker.failures must be 1 to 1000");
        }
        if !(1..=86_400).contains(&self.breaker.probe_secs) {
            return invalid("breaker.probe_secs must be 1 to 86400");
        }
        if !(self.disable_after_hours > 0.0 && self.disable_after_hours <= 8_760.0) {
            return invalid("disable_after_hours must be more than 0 and at most 8760");
        }
        match (&self.ordering, &self.ordering_key) {
            (None, None) => {}
            (Some(Ordering::Key), Some(spec)) => match spec.strip_prefix(HEADER_KEY_PREFIX) {
                Some(name) if name.is_empty() || !name.bytes().all(|b| b.is_ascii_graphic()) => {
                    return invalid("ordering_key header: needs a header name");
                }
                Some(_) => {}
                None => {
                    if let Err(e) = crate::steps::jsonpath::Path::parse(spec) {
                        return Err(ApiError::new(
                            ErrorCode::InvalidRequest,
                            format!("ordering_key: {e}"),
                        ));
                    }
                }
            },
            (Some(Ordering::Key), None) => {
                return invalid(
                    "ordering \"key\" needs an ordering_key (a JSONPath or header:<name>)",
                );
            }
            (None, Some(_)) => return invalid("ordering_key needs ordering \"key\""),
        }
        Ok(())
    }
}

/// Why a delivery must wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WaitReason {
    /// The rate limit is used up.
    RateLimit,
    /// `max_in_flight` deliveries are under way (or this very attempt is).
    InFlight,
    /// The circuit breaker is open (or its probe is under way).
    BreakerOpen,
    /// The subscriber asked for a pause (`Retry-After`, 429, 503).
    Paused,
    /// An earlier delivery of the same ordering key has not settled.
    Ordering,
}

/// The answer to a delivery asking to go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "admit", rename_all = "snake_case")]
pub enum Admission {
    /// Send it now (`probe`: it is the breaker's probe).
    Go {
        /// Whether it probes an open breaker.
        probe: bool,
    },
    /// Ask again in `ms`.
    Wait {
        /// How long, milliseconds.
        ms: u64,
        /// What holds the delivery back (in flight, rate, paused, breaker open, its key's
        /// turn).
        why: WaitReason,
    },
}

/// What an attempt told about the endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "report", rename_all = "snake_case")]
pub enum Report {
    /// The endpoint answered (whatever the answer meant for the delivery).
    Alive,
    /// The endpoint failed (5xx, 408, 429, timeout, network error, `action: error`);
    /// `pause_ms`: it asked for the whole endpoint to wait.
    Failed {
        /// The pause it asked for.
        pause_ms: Option<u64>,
    },
    /// Nothing was sent (refused before sending): only the slot is released.
    NotSent,
}

/// How long a 429 or 503 without `Retry-After` pauses the endpoint.
pub const DEFAULT_PAUSE_MS: u64 = 5_000;

/// What an attempt's outcome tells about its endpoint: `status` is the answer's status
/// code (`None`: no answer), `sent` whether a request went out.
pub fn report(outcome: &Outcome, status: Option<u16>, sent: bool) -> Report {
    if !sent {
        return Report::NotSent;
    }
    match outcome {
        Outcome::Retry { retry_after, .. } => Report::Failed {
            pause_ms: match (retry_after, status) {
                (Some(secs), _) => Some(secs.saturating_mul(1_000)),
                (None, Some(429 | 503)) => Some(DEFAULT_PAUSE_MS),
                (None, _) => None,
            },
        },
        _ => Report::Alive,
    }
}

/// Something that happened to the endpoint, for the log and operational events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Change {
    /// The breaker opened after `failures` consecutive failures.
    Opened {
        /// How many failures in a row opened it.
        failures: u32,
    },
    /// A success closed the breaker (or ended a failure streak that had opened it).
    Recovered,
    /// The failure streak lasted `disable_after_hours`: disable the endpoint, hold its
    /// deliveries.
    Disabled {
        /// When the streak began, Unix milliseconds.
        failing_since_ms: u64,
    },
    /// The failure ratio over the endpoint's recent attempts rose to `threshold` percent
    /// (one of [`FAILING_THRESHOLDS`]): `failed` of its last `attempts` failed.
    Failing {
        /// The threshold crossed, percent.
        threshold: u8,
        /// Failed attempts among the recent ones.
        failed: u32,
        /// Recent attempts counted.
        attempts: u32,
    },
}

/// The failure ratios, percent, whose crossing publishes `endpoint.failing`.
pub const FAILING_THRESHOLDS: [u8; 3] = [50, 70, 90];

/// How many of an endpoint's latest attempts (sent ones) its failure ratio counts.
pub const FAILING_WINDOW: usize = 20;

/// No ratio is judged over fewer attempts than this (one failure is not "100% failing").
pub const FAILING_MIN_ATTEMPTS: usize = 10;

/// A threshold announced is announced again only after the ratio fell this many points
/// below it, so a ratio hovering around 50% does not announce every other attempt.
pub const FAILING_REARM_POINTS: u32 = 10;

/// A delivery slot taken by [`Endpoint::admit`], until settled or expired.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    /// `<result id>#<attempt>`.
    pub key: String,
    /// When it lapses if never settled (the consumer died), Unix milliseconds.
    pub until_ms: u64,
    /// It is the breaker's probe.
    pub probe: bool,
}

/// One endpoint's state.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Endpoint {
    /// When recent deliveries started (the last 60 s), Unix milliseconds, oldest first.
    pub started_ms: Vec<u64>,
    /// Deliveries under way.
    pub leases: Vec<Lease>,
    /// Failures in a row.
    pub consecutive_failures: u32,
    /// When the current failure streak began.
    pub failing_since_ms: Option<u64>,
    /// The breaker is open until then (a probe may go after it).
    pub open_until_ms: Option<u64>,
    /// Nothing goes before then (the subscriber asked).
    pub paused_until_ms: u64,
    /// Disabled by the failure streak (until re-enabled).
    pub disabled: bool,
    /// Per ordering key, the results not yet settled, in publish order (head first).
    #[serde(default)]
    pub keys: std::collections::BTreeMap<String, Vec<String>>,
    /// The latest sent attempts, oldest first, `true` for a failure (at most
    /// [`FAILING_WINDOW`]).
    #[serde(default)]
    pub recent: std::collections::VecDeque<bool>,
    /// The highest of [`FAILING_THRESHOLDS`] announced and not yet re-armed (0: none).
    #[serde(default)]
    pub failing_threshold: u8,
}

/// A delivery's place in its ordering key's line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Place {
    /// The ordering key.
    pub key: String,
    /// The result id waiting in that key's line.
    pub result: String,
}

/// `<result id>#<attempt>`: the lease of one attempt.
pub fn lease_key(result_id: &str, attempt: u32) -> String {
    format!("{result_id}#{attempt}")
}

impl Endpoint {
    fn expire(&mut self, now_ms: u64) {
        self.leases.retain(|l| l.until_ms > now_ms);
        self.started_ms.retain(|&t| t + 60_000 > now_ms);
    }

    /// Lines results up under their ordering keys, in the order given (publish order);
    /// one already in line keeps its place.
    pub fn enqueue(&mut self, places: &[Place]) {
        for p in places {
            let line = self.keys.entry(p.key.clone()).or_default();
            if !line.contains(&p.result) {
                line.push(p.result.clone());
            }
        }
    }

    /// Whether attempt `key` may start now; `lease_ms` bounds how long its slot is held if
    /// it is never settled. With a `place`, only the head of its key's line may go (one
    /// never lined up, e.g. an operator's retry, joins the line's end).
    pub fn admit(
        &mut self,
        flow: &Flow,
        key: &str,
        place: Option<&Place>,
        now_ms: u64,
        lease_ms: u64,
    ) -> Admission {
        self.expire(now_ms);
        let wait = |ms: u64, why| Admission::Wait { ms: ms.max(1), why };
        if let Some(p) = place {
            self.enqueue(std::slice::from_ref(p));
            if self.keys.get(&p.key).and_then(|l| l.first()) != Some(&p.result) {
                // Asked again each second: the head's settling does not reach the queue.
                return wait(1_000, WaitReason::Ordering);
            }
        }
        if let Some(l) = self.leases.iter().find(|l| l.key == key) {
            // The same attempt asked twice (a duplicate message): it is under way.
            return wait(l.until_ms - now_ms, WaitReason::InFlight);
        }
        if self.paused_until_ms > now_ms {
            return wait(self.paused_until_ms - now_ms, WaitReason::Paused);
        }
        let mut probe = false;
        if let Some(open_until) = self.open_until_ms {
            if open_until > now_ms {
                return wait(open_until - now_ms, WaitReason::BreakerOpen);
            }
            if let Some(p) = self.leases.iter().find(|l| l.probe) {
                // The probe usually settles long before its lease lapses: ask again soon.
                return wait((p.until_ms - now_ms).min(1_000), WaitReason::BreakerOpen);
            }
            probe = true;
        }
        if let Some(max) = flow.max_in_flight
            && self.leases.len() >= max as usize
        {
            let first_free = self
                .leases
                .iter()
                .map(|l| l.until_ms)
                .min()
                .unwrap_or(now_ms);
            // Slots usually free long before their lease lapses: ask again soon.
            return wait((first_free - now_ms).min(1_000), WaitReason::InFlight);
        }
        if let Some(rate) = flow.rate_limit {
            for (limit, window) in [(rate.per_second, 1_000), (rate.per_minute, 60_000)] {
                let Some(limit) = limit else { continue };
                let recent: Vec<u64> = self
                    .started_ms
                    .iter()
                    .copied()
                    .filter(|&t| t + window > now_ms)
                    .collect();
                if recent.len() >= limit as usize {
                    // Free when the oldest start that counts leaves the window.
                    let oldest = recent[recent.len() - limit as usize];
                    return wait(oldest + window - now_ms, WaitReason::RateLimit);
                }
            }
        }
        self.started_ms.push(now_ms);
        self.leases.push(Lease {
            key: key.to_string(),
            until_ms: now_ms + lease_ms,
            probe,
        });
        Admission::Go { probe }
    }

    /// Settles attempt `key` with what it told about the endpoint; returns what changed.
    /// `done` (with the delivery's `place`): no further attempt follows, so the next of its
    /// key may go; a delivery that will be retried keeps its key's line waiting.
    pub fn settle(
        &mut self,
        flow: &Flow,
        key: &str,
        report: Report,
        done: Option<&Place>,
        now_ms: u64,
    ) -> Vec<Change> {
        if let Some(p) = done
            && let Some(line) = self.keys.get_mut(&p.key)
        {
            line.retain(|r| r != &p.result);
            if line.is_empty() {
                self.keys.remove(&p.key);
            }
        }
        let probe = match self.leases.iter().position(|l| l.key == key) {
            Some(i) => self.leases.remove(i).probe,
            None => false,
        };
        let mut changes = Vec::new();
        match report {
            Report::NotSent => {}
            Report::Alive | Report::Failed { .. } => {
                changes.extend(self.count(matches!(report, Report::Failed { .. })));
            }
        }
        match report {
            Report::NotSent => {}
            Report::Alive => {
                if self.open_until_ms.take().is_some() {
                    changes.push(Change::Recovered);
                }
                self.consecutive_failures = 0;
                self.failing_since_ms = None;
            }
            Report::Failed { pause_ms } => {
                self.consecutive_failures += 1;
                let since = *self.failing_since_ms.get_or_insert(now_ms);
                if let Some(p) = pause_ms {
                    self.paused_until_ms = self.paused_until_ms.max(now_ms + p);
                }
                let reopen = now_ms + flow.breaker.probe_secs * 1_000;
                if probe {
                    self.open_until_ms = Some(reopen);
                } else if self.open_until_ms.is_none()
                    && self.consecutive_failures >= flow.breaker.failures
                {
                    self.open_until_ms = Some(reopen);
                    changes.push(Change::Opened {
                        failures: self.consecutive_failures,
                    });
                }
                let streak_ms = (flow.disable_after_hours * 3_600_000.0) as u64;
                if !self.disabled && now_ms.saturating_sub(since) >= streak_ms {
                    self.disabled = true;
                    changes.push(Change::Disabled {
                        failing_since_ms: since,
                    });
                }
            }
        }
        changes
    }

    /// Counts one sent attempt in the failure ratio; the threshold it newly crosses, if any
    /// (one change for the highest when several are crossed at once).
    fn count(&mut self, failed: bool) -> Option<Change> {
        self.recent.push_back(failed);
        while self.recent.len() > FAILING_WINDOW {
            self.recent.pop_front();
        }
        let attempts = self.recent.len() as u32;
        let failures = self.recent.iter().filter(|&&f| f).count() as u32;
        let percent = failures * 100 / attempts.max(1);
        // Re-arm what the ratio fell well below.
        self.failing_threshold = FAILING_THRESHOLDS
            .iter()
            .copied()
            .filter(|&t| t <= self.failing_threshold)
            .filter(|&t| percent + FAILING_REARM_POINTS >= u32::from(t))
            .max()
            .unwrap_or(0);
        if self.recent.len() < FAILING_MIN_ATTEMPTS {
            return None;
        }
        // Exact: failures / attempts >= t / 100, without rounding.
        let crossed = FAILING_THRESHOLDS
            .iter()
            .copied()
            .filter(|&t| failures * 100 >= u32::from(t) * attempts)
            .max()?;
        if crossed <= self.failing_threshold {
            return None;
        }
        self.failing_threshold = crossed;
        Some(Change::Failing {
            threshold: crossed,
            failed: failures,
            attempts,
        })
    }

    /// Re-enabled by an operator: a fresh start (breaker closed, no streak, no pause).
    pub fn reset(&mut self) {
        *self = Endpoint {
            leases: std::mem::take(&mut self.leases),
            started_ms: std::mem::take(&mut self.started_ms),
            keys: std::mem::take(&mut self.keys),
            ..Endpoint::default()
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LEASE: u64 = 30_000;

    fn flow() -> Flow {
        Flow::default()
    }

    fn go(e: &mut Endpoint, f: &Flow, key: &str, now_ms: u64) -> Admission {
        e.admit(f, key, None, now_ms, LEASE)
    }

    fn failed() -> Report {
        Report::Failed { pause_ms: None }
    }

    #[test]
    fn the_rate_limit_holds_in_every_window() {
        let f = Flow {
            rate_limit: Some(RateLimit {
                per_second: Some(2),
                per_minute: Some(3),
            }),
            ..flow()
        };
        let mut e = Endpoint::default();
        assert_eq!(go(&mut e, &f, "a#1", 0), Admission::Go { probe: false });
        assert_eq!(go(&mut e, &f, "b#1", 400), Admission::Go { probe: false });
        assert_eq!(
            go(&mut e, &f, "c#1", 900),
            Admission::Wait {
                ms: 100,
                why: WaitReason::RateLimit
            },
            "free when the start at 0 leaves the second"
        );
        assert_eq!(go(&mut e, &f, "c#1", 1_000), Admission::Go { probe: false });
        assert_eq!(
            go(&mut e, &f, "d#1", 5_000),
            Admission::Wait {
                ms: 55_000,
                why: WaitReason::RateLimit
            },
            "three a minute"
        );
        assert_eq!(
            go(&mut e, &f, "d#1", 60_000),
            Admission::Go { probe: false }
        );
    }

    #[test]
    fn max_in_flight_counts_slots_until_settled_or_lapsed() {
        let f = Flow {
            max_in_flight: Some(2),
            ..flow()
        };
        let mut e = Endpoint::default();
        assert!(matches!(go(&mut e, &f, "a#1", 0), Admission::Go { .. }));
        assert!(matches!(go(&mut e, &f, "b#1", 0), Admission::Go { .. }));
        assert_eq!(
            go(&mut e, &f, "c#1", 10),
            Admission::Wait {
                ms: 1_000,
                why: WaitReason::InFlight
            }
        );
        assert_eq!(e.settle(&f, "a#1", Report::Alive, None, 20), vec![]);
        assert!(matches!(go(&mut e, &f, "c#1", 30), Admission::Go { .. }));
        // A consumer that died never settles: its slot lapses with its lease.
        assert!(matches!(go(&mut e, &f, "d#1", 40), Admission::Wait { .. }));
        assert!(matches!(
            go(&mut e, &f, "d#1", LEASE + 1),
            Admission::Go { .. }
        ));
    }

    #[test]
    fn the_same_attempt_asking_twice_waits_for_the_first() {
        let mut e = Endpoint::default();
        assert!(matches!(
            go(&mut e, &flow(), "a#1", 0),
            Admission::Go { .. }
        ));
        assert_eq!(
            go(&mut e, &flow(), "a#1", 5),
            Admission::Wait {
                ms: LEASE - 5,
                why: WaitReason::InFlight
            }
        );
        assert!(matches!(
            go(&mut e, &flow(), "a#2", 5),
            Admission::Go { .. }
        ));
    }

    #[test]
    fn the_breaker_opens_holds_probes_once_and_closes() {
        let f = Flow {
            breaker: Breaker {
                failures: 3,
                probe_secs: 10,
            },
            ..flow()
        };
        let mut e = Endpoint::default();
        for (i, key) in ["a#1", "b#1"].iter().enumerate() {
            go(&mut e, &f, key, i as u64);
            assert_eq!(e.settle(&f, key, failed(), None, i as u64), vec![]);
        }
        go(&mut e, &f, "c#1", 2);
        assert_eq!(
            e.settle(&f, "c#1", failed(), None, 2),
            vec![Change::Opened { failures: 3 }]
        );
        assert_eq!(
            go(&mut e, &f, "d#1", 1_002),
            Admission::Wait {
                ms: 9_000,
                why: WaitReason::BreakerOpen
            },
            "held, not attempted"
        );
        assert_eq!(go(&mut e, &f, "d#1", 10_002), Admission::Go { probe: true });
        assert_eq!(
            go(&mut e, &f, "e#1", 10_003),
            Admission::Wait {
                ms: 1_000,
                why: WaitReason::BreakerOpen
            },
            "one probe at a time"
        );
        // The probe fails: open for another interval, no new event.
        assert_eq!(e.settle(&f, "d#1", failed(), None, 10_010), vec![]);
        assert_eq!(
            go(&mut e, &f, "e#1", 10_011),
            Admission::Wait {
                ms: 9_999,
                why: WaitReason::BreakerOpen
            }
        );
        assert_eq!(go(&mut e, &f, "e#1", 20_010), Admission::Go { probe: true });
        assert_eq!(
            e.settle(&f, "e#1", Report::Alive, None, 20_020),
            vec![Change::Recovered]
        );
        assert_eq!((e.open_until_ms, e.consecutive_failures), (None, 0));
        assert_eq!(
            go(&mut e, &f, "f#1", 20_021),
            Admission::Go { probe: false }
        );
    }

    #[test]
    fn a_pause_asked_for_holds_the_whole_endpoint() {
        let mut e = Endpoint::default();
        go(&mut e, &flow(), "a#1", 0);
        e.settle(
            &flow(),
            "a#1",
            Report::Failed {
                pause_ms: Some(3_000),
            },
            None,
            100,
        );
        assert_eq!(
            go(&mut e, &flow(), "other#1", 200),
            Admission::Wait {
                ms: 2_900,
                why: WaitReason::Paused
            }
        );
        assert!(matches!(
            go(&mut e, &flow(), "other#1", 3_100),
            Admission::Go { .. }
        ));
    }

    #[test]
    fn a_failure_streak_of_disable_after_hours_disables_once_and_reset_starts_afresh() {
        let f = Flow {
            disable_after_hours: 1.0,
            breaker: Breaker {
                failures: 1_000,
                probe_secs: 1,
            },
            ..flow()
        };
        let mut e = Endpoint::default();
        let hour = 3_600_000;
        for (t, key) in [(0, "a#1"), (hour / 2, "a#2")] {
            go(&mut e, &f, key, t);
            assert_eq!(e.settle(&f, key, failed(), None, t), vec![]);
        }
        go(&mut e, &f, "a#3", hour);
        assert_eq!(
            e.settle(&f, "a#3", failed(), None, hour),
            vec![Change::Disabled {
                failing_since_ms: 0
            }]
        );
        go(&mut e, &f, "a#4", hour + 1);
        assert_eq!(
            e.settle(&f, "a#4", failed(), None, hour + 1),
            vec![],
            "once"
        );
        e.reset();
        assert_eq!(
            (e.disabled, e.failing_since_ms, e.consecutive_failures),
            (false, None, 0)
        );
        // A success ends a streak before it disables anything.
        go(&mut e, &f, "b#1", 2 * hour);
        e.settle(&f, "b#1", failed(), None, 2 * hour);
        go(&mut e, &f, "b#2", 2 * hour + 10);
        e.settle(&f, "b#2", Report::Alive, None, 2 * hour + 10);
        go(&mut e, &f, "b#3", 3 * hour + 20);
        assert_eq!(e.settle(&f, "b#3", failed(), None, 3 * hour + 20), vec![]);
    }

    /// Settles one attempt per item of `failures` (a failure when true) on an endpoint
    /// whose breaker and disabling never act; the changes of each, by attempt.
    fn feed(e: &mut Endpoint, failures: &[bool]) -> Vec<(usize, Change)> {
        let f = Flow {
            breaker: Breaker {
                failures: 1_000,
                probe_secs: 1,
            },
            ..flow()
        };
        let mut seen = Vec::new();
        for (n, &fail) in failures.iter().enumerate() {
            let key = lease_key(&format!("r{n}"), 1);
            go(e, &f, &key, 0);
            let report = if fail { failed() } else { Report::Alive };
            for c in e.settle(&f, &key, report, None, 0) {
                seen.push((e.recent.len(), c));
            }
        }
        seen
    }

    fn failing(threshold: u8, failed: u32, attempts: u32) -> Change {
        Change::Failing {
            threshold,
            failed,
            attempts,
        }
    }

    #[test]
    fn the_failure_ratio_announces_each_threshold_as_it_is_crossed() {
        // Five successes, then failures: 5/10 = 50 %, 12/17 = 70.6 %, 18/20 = 90 %.
        let mut e = Endpoint::default();
        let mut attempts = vec![false; 5];
        attempts.extend([true; 18]);
        let changes: Vec<Change> = feed(&mut e, &attempts)
            .into_iter()
            .map(|(_, c)| c)
            .collect();
        assert_eq!(
            changes,
            vec![failing(50, 5, 10), failing(70, 12, 17), failing(90, 18, 20)]
        );
        assert_eq!(e.recent.len(), FAILING_WINDOW, "the window is bounded");
        assert_eq!(feed(&mut e, &[true; 5]), vec![], "once per crossing");
    }

    #[test]
    fn the_failure_ratio_is_judged_over_enough_attempts_and_once_for_a_jump() {
        let mut e = Endpoint::default();
        assert_eq!(
            feed(&mut e, &[true; 9]),
            vec![],
            "nine attempts are too few"
        );
        assert_eq!(
            feed(&mut e, &[true]),
            vec![(10, failing(90, 10, 10))],
            "all three crossed at once: one event, the highest"
        );
        // A refused delivery sent nothing and does not count.
        go(&mut e, &flow(), "x#1", 0);
        e.settle(&flow(), "x#1", Report::NotSent, None, 0);
        assert_eq!(e.recent.len(), 10);
    }

    #[test]
    fn a_threshold_is_announced_again_only_after_the_ratio_fell_well_below_it() {
        let mut e = Endpoint::default();
        feed(&mut e, &[true; 20]);
        assert_eq!(e.failing_threshold, 90);
        // 18/20 = 90 % again, then 16/20 = 80 %: not re-armed (within 10 points).
        assert_eq!(feed(&mut e, &[false, false, true, false, false]), vec![]);
        assert_eq!(e.failing_threshold, 90);
        // 15/20 = 75 %: 90 is re-armed, 70 stays announced.
        assert_eq!(feed(&mut e, &[false]), vec![]);
        assert_eq!(e.failing_threshold, 70);
        let again = feed(&mut e, &[true; 20]);
        assert_eq!(again.len(), 1, "{again:?}");
        assert!(matches!(again[0].1, Change::Failing { threshold: 90, .. }));
        // Healthy again: everything re-armed, and the reset of a re-enable forgets it all.
        feed(&mut e, &[false; 20]);
        assert_eq!(e.failing_threshold, 0);
        feed(&mut e, &[true; 20]);
        e.reset();
        assert_eq!((e.failing_threshold, e.recent.len()), (0, 0));
    }

    #[test]
    fn an_outcome_reports_the_endpoint_alive_failed_or_untouched() {
        let retry = |after| Outcome::Retry {
            reason: "x".into(),
            retry_after: after,
        };
        assert_eq!(report(&Outcome::Delivered, Some(200), true), Report::Alive);
        let gone = Outcome::Failed {
            reason: "400".into(),
            disable: false,
        };
        assert_eq!(report(&gone, Some(400), true), Report::Alive);
        assert_eq!(report(&gone, None, false), Report::NotSent);
        assert_eq!(
            report(&retry(None), Some(500), true),
            Report::Failed { pause_ms: None }
        );
        assert_eq!(
            report(&retry(None), Some(429), true),
            Report::Failed {
                pause_ms: Some(DEFAULT_PAUSE_MS)
            }
        );
        assert_eq!(
            report(&retry(Some(7)), Some(503), true),
            Report::Failed {
                pause_ms: Some(7_000)
            }
        );
        assert_eq!(
            report(&retry(None), None, true),
            Report::Failed { pause_ms: None },
            "a timeout"
        );
    }

    #[test]
    fn flow_settings_are_checked_with_defaults_of_svix() {
        assert_eq!(flow().check(), Ok(()));
        assert_eq!(flow().disable_after_hours, 120.0);
        let parsed: Flow =
            serde_json::from_str(r#"{"rate_limit":{"per_second":5},"max_in_flight":2}"#).unwrap();
        assert_eq!(parsed.check(), Ok(()));
        assert_eq!(parsed.breaker, Breaker::default());
        for bad in [
            r#"{"rate_limit":{}}"#,
            r#"{"rate_limit":{"per_second":0}}"#,
            r#"{"max_in_flight":0}"#,
            r#"{"breaker":{"failures":0}}"#,
            r#"{"disable_after_hours":0}"#,
        ] {
            let f: Flow = serde_json::from_str(bad).unwrap();
            assert_eq!(
                f.check().unwrap_err().code,
                ErrorCode::InvalidRequest,
                "{bad}"
            );
        }
        assert!(serde_json::from_str::<Flow>(r#"{"rate":1}"#).is_err());
    }

    fn place(key: &str, result: &str) -> Place {
        Place {
            key: key.into(),
            result: result.into(),
        }
    }

    #[test]
    fn one_delivery_per_ordering_key_goes_at_a_time_in_publish_order() {
        let f = flow();
        let mut e = Endpoint::default();
        e.enqueue(&[place("k1", "r1"), place("k1", "r2"), place("k2", "r3")]);
        let ask = |e: &mut Endpoint, result: &str, key: &str, attempt: u32, now_ms: u64| {
            e.admit(
                &f,
                &lease_key(result, attempt),
                Some(&place(key, result)),
                now_ms,
                LEASE,
            )
        };
        let waits = Admission::Wait {
            ms: 1_000,
            why: WaitReason::Ordering,
        };
        // r2's message arrives first: it waits for r1, while k2 is not held up.
        assert_eq!(ask(&mut e, "r2", "k1", 1, 0), waits);
        assert_eq!(
            ask(&mut e, "r3", "k2", 1, 0),
            Admission::Go { probe: false }
        );
        assert_eq!(
            ask(&mut e, "r1", "k1", 1, 0),
            Admission::Go { probe: false }
        );
        // The head fails and will be retried: its key stays blocked.
        e.settle(&f, "r1#1", failed(), None, 10);
        assert_eq!(ask(&mut e, "r2", "k1", 1, 20), waits);
        assert_eq!(
            ask(&mut e, "r1", "k1", 2, 30),
            Admission::Go { probe: false }
        );
        e.settle(&f, "r1#2", Report::Alive, Some(&place("k1", "r1")), 40);
        assert_eq!(
            ask(&mut e, "r2", "k1", 1, 50),
            Admission::Go { probe: false }
        );
        e.settle(&f, "r2#1", Report::Alive, Some(&place("k1", "r2")), 60);
        e.settle(&f, "r3#1", Report::Alive, Some(&place("k2", "r3")), 60);
        assert!(e.keys.is_empty(), "settled lines are dropped: {:?}", e.keys);
        // One never lined up (an operator's retry) joins the end of its line.
        e.enqueue(&[place("k1", "r4")]);
        assert_eq!(ask(&mut e, "r5", "k1", 3, 70), waits);
        assert_eq!(e.keys["k1"], vec!["r4".to_string(), "r5".to_string()]);
    }

    #[test]
    fn the_ordering_key_comes_from_a_jsonpath_or_a_header() {
        let payload = serde_json::json!({"customer": {"id": "c-7", "n": 42, "none": null}});
        let headers = |name: &str| (name == "X-Customer").then(|| "c-9".to_string());
        assert_eq!(
            ordering_key("$.customer.id", &payload, &headers).as_deref(),
            Some("c-7")
        );
        assert_eq!(
            ordering_key("$.customer.n", &payload, &headers).as_deref(),
            Some("42")
        );
        assert_eq!(ordering_key("$.customer.none", &payload, &headers), None);
        assert_eq!(ordering_key("$.missing", &payload, &headers), None);
        assert_eq!(
            ordering_key("header:X-Customer", &payload, &headers).as_deref(),
            Some("c-9")
        );
        assert_eq!(ordering_key("header:X-Other", &payload, &headers), None);
        let long = serde_json::json!({"k": "é".repeat(200)});
        assert!(ordering_key("$.k", &long, &headers).unwrap().len() <= 256);
        for (json, ok) in [
            (r#"{"ordering":"key","ordering_key":"$.customer.id"}"#, true),
            (
                r#"{"ordering":"key","ordering_key":"header:X-Customer"}"#,
                true,
            ),
            (r#"{"ordering":"key"}"#, false),
            (r#"{"ordering_key":"$.a"}"#, false),
            (r#"{"ordering":"key","ordering_key":"$["}"#, false),
            (r#"{"ordering":"key","ordering_key":"header:"}"#, false),
        ] {
            let f: Flow = serde_json::from_str(json).unwrap();
            assert_eq!(f.check().is_ok(), ok, "{json}");
        }
        assert!(serde_json::from_str::<Flow>(r#"{"ordering":"fifo"}"#).is_err());
    }
}
