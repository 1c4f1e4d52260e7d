//! Dispatch's decisions, made without touching D1, the queue or the network: whether a
//! delivery message is still due ([`due`]), whether its subscription can be sent to
//! ([`refusal`]), and what an attempt leads to ([`plan`]): the attempt's row, the result's
//! new state, the next attempt's message, a subscription to disable and rules to act on.
//! `deliver` (the `DELIVERIES` consumer) only carries a [`Plan`] out.

use serde_json::{Value, json};

use super::classify::Outcome;
use super::endpoint::Change;
use super::schedule;
use super::{
    ENDPOINT_DISABLED, ENDPOINT_FAILING, ENDPOINT_RECOVERED, MESSAGE_ATTEMPT_EXHAUSTED,
    Subscription, reserved_event_type,
};
use crate::store::attempts::Attempt;

/// One attempt as it was made.
#[derive(Debug, Clone, PartialEq)]
pub struct Attempted {
    /// What the answer (or its absence) meant ([`super::classify`]).
    pub outcome: Outcome,
    /// 1-based attempt number.
    pub attempt: u32,
    /// The attempt the current round of retries started after (`results.retry_base`:
    /// an operator's retry restarts the schedule).
    pub retry_base: u32,
    /// The subscriber's status code, when it answered.
    pub status_code: Option<u16>,
    /// How long the attempt took.
    pub duration_ms: u64,
    /// When it was made, Unix seconds.
    pub now_secs: i64,
}

/// The result row's new state, owned (`store::results::Update` borrows from it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResultChange {
    /// `completed`, `rejected`, `deferred`, `delivered`, `pending` or `failed`.
    pub status: &'static str,
    /// The results JSON, when the subscriber sent some.
    pub results: Option<String>,
    /// The matched rules JSON, with `results`.
    pub matched_rules: Option<String>,
    /// When the next attempt is due (`pending` only).
    pub next_attempt_at: Option<i64>,
    /// The failure, if any.
    pub last_error: Option<String>,
}

/// Everything an attempt leads to.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// The `attempts` row.
    pub row: Attempt,
    /// The result's new state.
    pub change: ResultChange,
    /// The next attempt's number and delay, seconds, when there is one.
    pub next: Option<(u32, u64)>,
    /// Disable the subscription, for this reason (the subscriber answered 410).
    pub disable: Option<String>,
    /// The rules the subscriber's result matched, to act on ([`super::actions`]).
    pub matched_rules: Vec<String>,
    /// The delivery gave up: it was to be retried and the schedule has no room left.
    pub exhausted: bool,
}

/// Whether attempt `attempt` of a result in `status` after `made` attempts is still to be
/// made: a message delivered twice, or one the cron re-enqueued, finds it already made.
pub fn due(status: &str, made: u32, attempt: u32) -> bool {
    status == "pending" && made < attempt
}

/// Where a due delivery goes next, by its subscription (`None`: deleted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// Ask the endpoint's object for a slot, then send.
    Admit,
    /// The subscription holds its deliveries (disabled by a failure streak): hold it,
    /// attempting nothing, until it is enabled again.
    Hold,
    /// Fail it without sending, for this reason (deleted, or disabled by an operator or
    /// a 410).
    Refuse(String),
}

/// Routes a due delivery by its subscription.
pub fn route(subscription: Option<&Subscription>) -> Route {
    match subscription {
        None => Route::Refuse("the subscription was deleted".into()),
        Some(s) if !s.enabled && s.holding => Route::Hold,
        Some(s) if !s.enabled => Route::Refuse(format!(
            "the subscription is disabled ({})",
            s.disabled_reason.as_deref().unwrap_or("by an operator")
        )),
        Some(_) => Route::Admit,
    }
}

/// What the endpoint's changes after an attempt lead to: a reason to disable the
/// subscription (holding its deliveries), and operational events to publish.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EndpointPlan {
    /// Disable the subscription, holding its deliveries, for this reason.
    pub disable: Option<String>,
    /// `(event type, payload)` to publish.
    pub events: Vec<(&'static str, Value)>,
}

/// Plans what `changes` of subscription `s`'s endpoint lead to.
pub fn endpoint_plan(s: &Subscription, changes: &[Change]) -> EndpointPlan {
    let mut plan = EndpointPlan::default();
    for change in changes {
        match change {
            Change::Disabled { failing_since_ms } => {
                let since = crate::time::secs(*failing_since_ms);
                let reason = format!(
                    "failing since {since} (Unix seconds) for {} hours (disable_after_hours); \
                     deliveries are held until it is enabled again",
                    s.flow.disable_after_hours
                );
                plan.events.push((
                    ENDPOINT_DISABLED,
                    json!({"subscription": s.id, "name": s.name, "failing_since": since,
                        "reason": reason}),
                ));
                plan.disable = Some(reason);
            }
            Change::Recovered => plan.events.push((
                ENDPOINT_RECOVERED,
                json!({"subscription": s.id, "name": s.name}),
            )),
            Change::Failing {
                threshold,
                failed,
                attempts,
            } => plan.events.push((
                ENDPOINT_FAILING,
                json!({"subscription": s.id, "name": s.name, "threshold": threshold,
                    "failed": failed, "attempts": attempts}),
            )),
            Change::Opened { .. } => {}
        }
    }
    plan
}

/// Plans what an attempt leads to, against the retry `schedule`: a retry the schedule has
/// no room for becomes a failure.
pub fn plan(a: Attempted, schedule_secs: &[u64]) -> Plan {
    let round = a.attempt.saturating_sub(a.retry_base);
    let mut exhausted = false;
    let (outcome, retry_in) = match a.outcome {
        Outcome::Retry {
            reason,
            retry_after,
        } => match schedule::next_delay(schedule_secs, round, retry_after) {
            Some(delay) => (
                Outcome::Retry {
                    reason,
                    retry_after,
                },
                Some(delay),
            ),
            None => {
                exhausted = true;
                (
                    Outcome::Failed {
                        reason: format!("{reason}; gave up after {round} attempts"),
                        disable: false,
                    },
                    None,
                )
            }
        },
        other => (other, None),
    };
    let label = match &outcome {
        Outcome::Retry { .. } => "retry",
        other => other.status(),
    };
    let change = change(&outcome, retry_in.map(|d| a.now_secs + d as i64));
    let disable = match &outcome {
        Outcome::Failed {
            disable: true,
            reason,
        } => Some(reason.clone()),
        _ => None,
    };
    Plan {
        row: Attempt {
            attempt: a.attempt,
            status_code: a.status_code,
            duration_ms: a.duration_ms,
            outcome: label.to_string(),
            error: change.last_error.clone(),
            attempted_at: a.now_secs,
            retry_in_secs: retry_in,
        },
        change,
        next: retry_in.map(|delay| (a.attempt + 1, delay)),
        disable,
        matched_rules: match outcome {
            Outcome::Completed { matched_rules, .. } => matched_rules,
            _ => Vec::new(),
        },
        exhausted,
    }
}

/// The delivery an exhausted attempt belonged to.
#[derive(Debug, Clone, Copy)]
pub struct Delivery<'a> {
    /// The result id.
    pub result_id: &'a str,
    /// Its event.
    pub event_id: &'a str,
    /// The event's type.
    pub event_type: &'a str,
    /// The subscription id.
    pub subscription: &'a str,
    /// The subscription's name, when it still exists.
    pub name: Option<&'a str>,
}

/// `message.attempt.exhausted` when the attempt `p` gave the delivery up, unless the event
/// is one of edgehook's own (a subscriber of exhausted events that is down would
/// otherwise be told of its own exhausted deliveries forever).
pub fn exhausted_event(d: Delivery<'_>, p: &Plan) -> Option<(&'static str, Value)> {
    if !p.exhausted || reserved_event_type(d.event_type) {
        return None;
    }
    Some((
        MESSAGE_ATTEMPT_EXHAUSTED,
        json!({"subscription": d.subscription, "name": d.name, "result_id": d.result_id,
            "event_id": d.event_id, "event_type": d.event_type, "attempts": p.row.attempt,
            "status_code": p.row.status_code, "last_error": p.change.last_error}),
    ))
}

/// The result's new state after `outcome` (also a subscriber's later `PATCH`, which is
/// [`Outcome::Completed`]); `next_attempt_at` when a retry is scheduled.
pub fn change(outcome: &Outcome, next_attempt_at: Option<i64>) -> ResultChange {
    let (results, matched_rules) = match outcome {
        Outcome::Completed {
            results,
            matched_rules,
        } => (
            Some(results.to_string()),
            Some(json!(matched_rules).to_string()),
        ),
        _ => (None, None),
    };
    let last_error = match outcome {
        Outcome::Retry { reason, .. } | Outcome::Failed { reason, .. } => Some(reason.clone()),
        _ => None,
    };
    ResultChange {
        status: outcome.status(),
        results,
        matched_rules,
        next_attempt_at,
        last_error,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_700_000_000;

    fn attempt(outcome: Outcome, attempt: u32, retry_base: u32) -> Attempted {
        Attempted {
            outcome,
            attempt,
            retry_base,
            status_code: Some(503),
            duration_ms: 12,
            now_secs: NOW,
        }
    }

    fn retry(after: Option<u64>) -> Outcome {
        Outcome::Retry {
            reason: "the subscriber answered 503".into(),
            retry_after: after,
        }
    }

    #[test]
    fn a_retry_is_scheduled_with_the_next_message() {
        let s = plan(attempt(retry(None), 2, 0), &[5, 300, 1_800]);
        assert_eq!(s.row.outcome, "retry");
        assert_eq!(s.row.retry_in_secs, Some(300));
        assert_eq!(s.change.status, "pending");
        assert_eq!(s.change.next_attempt_at, Some(NOW + 300));
        assert_eq!(
            s.change.last_error.as_deref(),
            Some("the subscriber answered 503")
        );
        assert_eq!(s.next, Some((3, 300)));
        assert_eq!((s.disable, s.matched_rules), (None, vec![]));
    }

    #[test]
    fn retry_after_lengthens_the_wait() {
        let s = plan(attempt(retry(Some(900)), 1, 0), &[5, 300]);
        assert_eq!(s.next, Some((2, 900)));
    }

    #[test]
    fn a_retry_past_the_schedule_fails_counting_from_the_retry_base() {
        // Attempt 5 after an operator's retry at 3: the second of this round.
        let s = plan(attempt(retry(None), 5, 3), &[5]);
        assert_eq!(s.row.outcome, "failed");
        assert_eq!(s.change.status, "failed");
        assert_eq!(
            s.change.last_error.as_deref(),
            Some("the subscriber answered 503; gave up after 2 attempts")
        );
        assert_eq!((s.next, s.row.retry_in_secs), (None, None));
        assert!(s.exhausted);
        assert_eq!(plan(attempt(retry(None), 4, 3), &[5]).next, Some((5, 5)));
        assert!(!plan(attempt(retry(None), 4, 3), &[5]).exhausted);
    }

    fn delivery(event_type: &str) -> Delivery<'_> {
        Delivery {
            result_id: "res_1",
            event_id: "evt_1",
            event_type,
            subscription: "sub_1",
            name: Some("s"),
        }
    }

    #[test]
    fn a_delivery_giving_up_after_its_last_retry_announces_it_once() {
        let gave_up = plan(attempt(retry(None), 2, 0), &[5]);
        assert_eq!(
            exhausted_event(delivery("order.paid"), &gave_up),
            Some((
                MESSAGE_ATTEMPT_EXHAUSTED,
                json!({"subscription": "sub_1", "name": "s", "result_id": "res_1",
                    "event_id": "evt_1", "event_type": "order.paid", "attempts": 2,
                    "status_code": 503,
                    "last_error": "the subscriber answered 503; gave up after 2 attempts"})
            ))
        );
        // A retry still scheduled, or a failure that was never to be retried: nothing.
        let retried = plan(attempt(retry(None), 1, 0), &[5]);
        assert_eq!(exhausted_event(delivery("order.paid"), &retried), None);
        let refused = Outcome::Failed {
            reason: "the subscriber answered 400".into(),
            disable: false,
        };
        let refused = plan(attempt(refused, 1, 0), &[5]);
        assert_eq!(exhausted_event(delivery("order.paid"), &refused), None);
        // edgehook's own events never announce their exhaustion (no loop).
        for own in [MESSAGE_ATTEMPT_EXHAUSTED, ENDPOINT_FAILING, "rule.matched"] {
            assert_eq!(exhausted_event(delivery(own), &gave_up), None, "{own}");
        }
    }

    #[test]
    fn a_completed_result_is_stored_with_its_matched_rules() {
        let outcome = Outcome::Completed {
            results: json!({"version": "1.0", "matchedRules": ["r1"]}),
            matched_rules: vec!["r1".into()],
        };
        let s = plan(attempt(outcome, 1, 0), &[5]);
        assert_eq!(s.row.outcome, "completed");
        assert_eq!(s.row.error, None);
        assert_eq!(
            s.change,
            ResultChange {
                status: "completed",
                results: Some(r#"{"version":"1.0","matchedRules":["r1"]}"#.into()),
                matched_rules: Some(r#"["r1"]"#.into()),
                next_attempt_at: None,
                last_error: None,
            }
        );
        assert_eq!(s.matched_rules, vec!["r1".to_string()]);
        assert_eq!(s.next, None);
    }

    #[test]
    fn gone_disables_the_subscription_and_other_outcomes_only_settle() {
        let gone = Outcome::Failed {
            reason: "410".into(),
            disable: true,
        };
        let s = plan(attempt(gone, 1, 0), &[5]);
        assert_eq!(s.disable.as_deref(), Some("410"));
        assert_eq!(s.change.status, "failed");
        for (outcome, label) in [
            (Outcome::Delivered, "delivered"),
            (Outcome::Deferred, "deferred"),
            (Outcome::Rejected, "rejected"),
        ] {
            let s = plan(attempt(outcome, 1, 0), &[5]);
            assert_eq!((s.row.outcome.as_str(), s.change.status), (label, label));
            assert_eq!(
                (s.next, s.disable, s.change.results, s.change.last_error),
                (None, None, None, None)
            );
        }
    }

    #[test]
    fn a_message_is_due_only_for_the_next_attempt_of_a_pending_result() {
        assert!(due("pending", 0, 1));
        assert!(due("pending", 2, 3));
        assert!(!due("pending", 1, 1), "delivered twice");
        assert!(!due("pending", 3, 2), "a stale message");
        for status in ["completed", "delivered", "deferred", "rejected", "failed"] {
            assert!(!due(status, 0, 1), "{status}");
        }
    }

    fn subscription() -> Subscription {
        Subscription {
            id: "sub_1".into(),
            name: "s".into(),
            url: Some("https://example.com/".into()),
            destination: None,
            events: vec!["e".into()],
            headers: Default::default(),
            enabled: true,
            disabled_reason: None,
            previous_valid_until: None,
            created_at: 0,
            updated_at: 0,
            transform: None,
            flow: Default::default(),
            holding: false,
        }
    }

    #[test]
    fn a_delivery_is_admitted_held_or_refused_by_its_subscription() {
        let mut s = subscription();
        assert_eq!(route(Some(&s)), Route::Admit);
        assert_eq!(
            route(None),
            Route::Refuse("the subscription was deleted".into())
        );
        s.enabled = false;
        assert_eq!(
            route(Some(&s)),
            Route::Refuse("the subscription is disabled (by an operator)".into())
        );
        s.disabled_reason = Some("410".into());
        assert_eq!(
            route(Some(&s)),
            Route::Refuse("the subscription is disabled (410)".into())
        );
        s.holding = true;
        assert_eq!(route(Some(&s)), Route::Hold);
    }

    #[test]
    fn a_disabling_streak_disables_holding_and_announces_it_and_recovery_is_announced() {
        let s = subscription();
        let p = endpoint_plan(
            &s,
            &[Change::Disabled {
                failing_since_ms: 1_700_000_000_500,
            }],
        );
        let reason = p.disable.expect("disabled");
        assert!(reason.starts_with("failing since 1700000000 (Unix seconds) for 120 hours"));
        assert_eq!(
            p.events,
            vec![(
                ENDPOINT_DISABLED,
                json!({"subscription": "sub_1", "name": "s", "failing_since": 1_700_000_000i64,
                    "reason": reason})
            )]
        );
        let p = endpoint_plan(
            &s,
            &[Change::Failing {
                threshold: 70,
                failed: 14,
                attempts: 20,
            }],
        );
        assert_eq!(
            (p.disable, p.events),
            (
                None,
                vec![(
                    ENDPOINT_FAILING,
                    json!({"subscription": "sub_1", "name": "s", "threshold": 70,
                        "failed": 14, "attempts": 20})
                )]
            )
        );
        let p = endpoint_plan(&s, &[Change::Recovered, Change::Opened { failures: 5 }]);
        assert_eq!(p.disable, None);
        assert_eq!(
            p.events,
            vec![(
                ENDPOINT_RECOVERED,
                json!({"subscription": "sub_1", "name": "s"})
            )]
        );
        assert_eq!(endpoint_plan(&s, &[]), EndpointPlan::default());
    }
}
