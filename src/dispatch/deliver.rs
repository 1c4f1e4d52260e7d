//! The `DELIVERIES` consumer: it claims each attempt in D1, sends it, and carries out the
//! [`Plan`](super::plan::Plan) the attempt leads to; also a subscriber's later result
//! (`PATCH`) and the test message.
//!
//! D1 is the source of truth: a result is written before its message is sent, and every
//! attempt is claimed in D1 before it is made (`attempts = n` only if it was `n - 1`), so
//! a message delivered twice never sends twice. A lost message leaves its result
//! `pending` past its due time, and the cron trigger enqueues it again.

use serde_json::{Value, json};
use worker::{D1Database, Env, MessageExt, RawMessage};

use super::classify::{self, Outcome};
use super::destination::{self, Destination};
use super::endpoint::{self, Admission, Place, Report, WaitReason};
use super::endpoint_object::{self, AdmitRequest, SettleRequest, Settled};
use super::exchange::{self, Exchange};
use super::keys::{api_key_context, master_key, nonce, policy, result_url};
use super::plan::{self, Attempted, Plan, ResultChange, Route};
use super::publish::{apply_rules, enqueue, publish_own};
use super::sign::{self, Signed};
use super::transform;
use super::{DeliveryMessage, DispatchError, MESSAGE_VERSION, Subscription, Undeliverable};
use crate::app::App;
use crate::error::{ApiError, BindingError, During};
use crate::json;
use crate::log;
use crate::message::{decode_body, retry_later};
use crate::outbound;
use crate::outbound::delivery::send;
use crate::outbound::destination::Sent;
use crate::plugins::loader;
use crate::steps::plugin::{PluginVerdict, classify as classify_plugin};
use crate::store::attempts;
use crate::store::results::{self, ResultRecord, Update};
use crate::store::subscriptions;

/// Consumes a batch of `DELIVERIES` messages, one delivery each. Every message ends
/// acked or retried.
pub async fn consume(messages: Vec<RawMessage>, env: &Env, app: &App, now_ms: u64) {
    let db = match env.d1("DB") {
        Ok(db) => db,
        Err(e) => {
            log::emit(
                json!({"event": "deliver", "outcome": "binding_missing", "error": e.to_string()}),
            );
            messages.iter().for_each(|m| retry_later(m, now_ms));
            return;
        }
    };
    // Deliveries are independent: send them concurrently, so one slow subscriber does
    // not hold up the rest of the batch.
    let work = messages.iter().map(|m| async {
        let msg = match decode_body::<DeliveryMessage>(m) {
            Ok(msg) => msg,
            Err(e) => {
                log::emit(json!({"event": "deliver", "outcome": "undecodable",
                    "message_id": m.id(), "error": e.to_string()}));
                retry_later(m, now_ms);
                return;
            }
        };
        match attempt(env, app, &db, &msg).await {
            Ok(outcome) => {
                m.ack();
                log::emit(json!({"event": "deliver", "outcome": outcome,
                    "result_id": msg.result_id, "attempt": msg.attempt}));
            }
            Err(e) => {
                retry_later(m, now_ms);
                log::emit(json!({"event": "deliver", "outcome": "error",
                    "result_id": msg.result_id, "attempt": msg.attempt, "error": e.to_string()}));
            }
        }
    });
    futures_util::future::join_all(work).await;
}

/// Makes attempt `msg.attempt` of a result, if it is still due, its endpoint lets it go
/// now and nobody else has made it. Returns what happened, for the log; `Err` only for
/// failures worth retrying the message for (D1, the queue or the endpoint's object
/// unreachable before anything was sent).
async fn attempt(
    env: &Env,
    app: &App,
    db: &D1Database,
    msg: &DeliveryMessage,
) -> Result<String, DispatchError> {
    let started = worker::Date::now().as_millis();
    let now_secs = crate::time::secs(started);
    let Some(result) = results::get(db, &msg.result_id).await.during("D1 result")? else {
        return Ok("unknown_result".into());
    };
    if !plan::due(&result.status, result.attempts, msg.attempt) {
        return Ok("already_done".into());
    }
    let stored = subscriptions::get(db, &result.subscription_id)
        .await
        .during("D1 subscription")?;
    let lease = endpoint::lease_key(&result.id, msg.attempt);
    // Its place in its key's line, when its subscription orders by key.
    let place = match (&stored, &result.ordering_key) {
        (Some(s), Some(key)) if s.subscription.flow.ordering.is_some() => Some(Place {
            key: key.clone(),
            result: result.id.clone(),
        }),
        _ => None,
    };
    let admitted = match (
        plan::route(stored.as_ref().map(|s| &s.subscription)),
        &stored,
    ) {
        (Route::Hold, _) => {
            results::hold(db, &result.id, now_secs)
                .await
                .during("D1 hold result")?;
            return Ok("held".into());
        }
        (Route::Admit, Some(s)) => {
            let lease_ms = app.config.dispatch.timeout_ms + TRANSFORM_TIMEOUT_MS + LEASE_SLACK_MS;
            let ask = AdmitRequest {
                flow: s.subscription.flow.clone(),
                key: lease.clone(),
                lease_ms,
                place: place.clone(),
            };
            let body = serde_json::to_value(&ask).during("admit request")?;
            match endpoint_object::call(env, &s.subscription.id, "/admit", Some(body)).await? {
                Admission::Wait { ms, why } => {
                    return wait(env, db, msg, result.next_attempt_at, (ms, why), now_secs).await;
                }
                Admission::Go { .. } => Some(s),
            }
        }
        _ => None,
    };
    if !results::claim_attempt(db, &result.id, msg.attempt, now_secs)
        .await
        .during("D1 claim attempt")?
    {
        if let Some(s) = admitted {
            settle_endpoint(env, &s.subscription, &lease, Report::NotSent, None).await;
        }
        return Ok("claimed_elsewhere".into());
    }
    let failed = |reason: String| Outcome::Failed {
        reason,
        disable: false,
    };
    let prepared = match (
        &stored,
        plan::route(stored.as_ref().map(|s| &s.subscription)),
    ) {
        (_, Route::Refuse(reason)) => Err(failed(reason)),
        (Some(s), _) => match transformed(env, s, &result).await {
            Ok(payload) => {
                let payload = payload.as_deref().unwrap_or(&result.payload);
                prepare(env, app, s, &result.id, payload, now_secs)
                    .map(|(to, signed)| (to, signed, s))
                    .map_err(|e| failed(e.0))
            }
            Err(outcome) => Err(outcome),
        },
        (None, _) => Err(failed("the subscription was deleted".to_string())),
    };
    let (outcome, status_code, exchange) = match prepared {
        Err(outcome) => (outcome, None, None),
        Ok((to, signed, s)) => {
            let target = s.subscription.target();
            let r2_key = |prefix: &str| destination::r2_key(prefix, result.created_at, &result.id);
            let answer = send_to(env, to, signed.clone(), r2_key, app).await;
            let (outcome, code, exchange) = classify_sent(&target, &signed, answer, now_secs);
            (outcome, code, Some(exchange))
        }
    };
    let sent = exchange.is_some();
    let report = endpoint::report(&outcome, status_code, sent);
    let attempted = Attempted {
        outcome,
        attempt: msg.attempt,
        retry_base: result.retry_base,
        status_code,
        duration_ms: worker::Date::now().as_millis().saturating_sub(started),
        now_secs,
    };
    let plan = plan::plan(attempted, &app.config.dispatch.retry_schedule_secs);
    // No further attempt: the next delivery of its ordering key may go.
    let done = place.filter(|_| plan.next.is_none());
    let changes = match (&stored, admitted) {
        (_, Some(s)) => settle_endpoint(env, &s.subscription, &lease, report, done).await,
        (Some(s), None) if done.is_some() => {
            settle_endpoint(env, &s.subscription, &lease, Report::NotSent, done).await
        }
        _ => Vec::new(),
    };
    let delivery = plan::Delivery {
        result_id: &result.id,
        event_id: &result.event_id,
        event_type: &result.event_type,
        subscription: &result.subscription_id,
        name: stored.as_ref().map(|s| s.subscription.name.as_str()),
    };
    let exhausted = plan::exhausted_event(delivery, &plan);
    let outcome = record(env, db, &result, plan, exchange.as_ref(), now_secs).await?;
    if let Some(s) = admitted {
        carry_out_endpoint(env, db, &s.subscription, &changes, now_secs).await?;
    }
    if let Some((event_type, Value::Object(payload))) = exhausted {
        publish_own(env, db, event_type, payload, now_secs).await?;
    }
    Ok(if sent {
        outcome
    } else {
        format!("{outcome}_without_sending")
    })
}

/// How long past the subscriber's and the transform's deadlines an attempt's slot is
/// held if its consumer never settles it.
const LEASE_SLACK_MS: u64 = 30_000;

/// How far a waiting result's due time is moved ahead, so the cron (which requeues
/// results a minute overdue) does not take a delivery that is only waiting for lost.
const DEFER_SECS: i64 = 300;

/// The endpoint said wait: the same attempt is asked again after `ms` (a new message;
/// no attempt is used up). The result's due time moves ahead of the cron's reach when it
/// is about to fall into it: one write per few minutes of waiting, not one per ask.
async fn wait(
    env: &Env,
    db: &D1Database,
    msg: &DeliveryMessage,
    due: Option<i64>,
    (ms, why): (u64, WaitReason),
    now_secs: i64,
) -> Result<String, DispatchError> {
    let delay = ms.div_ceil(1000).max(1);
    enqueue(env, msg.clone(), delay).await?;
    let asks_at = now_secs + delay as i64;
    if due.unwrap_or(0) < asks_at + 60 {
        results::defer(db, &msg.result_id, asks_at + DEFER_SECS)
            .await
            .during("D1 defer result")?;
    }
    Ok(format!(
        "waiting_{}",
        json!(why).as_str().unwrap_or("endpoint")
    ))
}

/// Tells the endpoint's object how the attempt went; what changed, if it answered (a
/// slot it never hears of lapses with its lease).
async fn settle_endpoint(
    env: &Env,
    s: &Subscription,
    lease: &str,
    report: Report,
    done: Option<Place>,
) -> Vec<endpoint::Change> {
    let ask = SettleRequest {
        flow: s.flow.clone(),
        key: lease.to_string(),
        report,
        done,
    };
    let body = match serde_json::to_value(&ask) {
        Ok(b) => b,
        Err(_) => return Vec::new(),
    };
    match endpoint_object::call::<Settled>(env, &s.id, "/settle", Some(body)).await {
        Ok(settled) => settled.changes,
        Err(e) => {
            log::emit(
                json!({"event": "deliver", "outcome": "endpoint_settle_failed",
                "subscription": s.id, "error": e.to_string()}),
            );
            Vec::new()
        }
    }
}

/// Carries out what the endpoint's changes lead to: a subscription disabled holding its
/// deliveries, operational events published.
async fn carry_out_endpoint(
    env: &Env,
    db: &D1Database,
    s: &Subscription,
    changes: &[endpoint::Change],
    now_secs: i64,
) -> Result<(), DispatchError> {
    for change in changes {
        log::emit(json!({"event": "endpoint", "subscription": s.id, "change": change}));
    }
    let planned = plan::endpoint_plan(s, changes);
    if let Some(reason) = &planned.disable {
        subscriptions::disable_holding(db, &s.id, reason, now_secs)
            .await
            .during("D1 disable subscription")?;
    }
    for (event_type, payload) in planned.events {
        if let Value::Object(payload) = payload {
            publish_own(env, db, event_type, payload, now_secs).await?;
        }
    }
    Ok(())
}

/// How long a subscription's transform may take.
const TRANSFORM_TIMEOUT_MS: u64 = 5_000;

/// Runs the subscription's `transform`, if it has one: `Ok(Some(payload))` to send
/// instead, `Ok(None)` to send unchanged, `Err` what becomes of the delivery instead.
async fn transformed(
    env: &Env,
    s: &subscriptions::Stored,
    result: &ResultRecord,
) -> Result<Option<String>, Outcome> {
    let Some(plugin) = &s.subscription.transform else {
        return Ok(None);
    };
    let message = transform::message(&s.subscription.name, &result.event_type, &result.payload)
        .map_err(|reason| Outcome::Failed {
            reason: reason.0,
            disable: false,
        })?;
    let answer = match loader::call(env, plugin, None, &message, TRANSFORM_TIMEOUT_MS).await {
        Ok(reply) => classify_plugin(reply.status, &reply.body, reply.cut),
        Err(e) => PluginVerdict::Error(e.to_string()),
    };
    Ok(transform::decide(answer)?.map(|payload| Value::Object(payload).to_string()))
}

/// Where a delivery goes: a URL, or a binding instead.
#[derive(Clone, Copy)]
enum To<'a> {
    Url(&'a str),
    Binding(&'a Destination),
}

/// Where subscription `s` delivers, checked again before each attempt as when it was
/// registered: its URL by the URL guard, its destination against the operator's
/// `dispatch.destinations` (a binding delisted since stops receiving).
fn checked_target<'a>(app: &App, s: &'a Subscription) -> Result<To<'a>, ApiError> {
    super::check_target(
        s.url.as_deref(),
        s.destination.as_ref(),
        &policy(app),
        &app.config.dispatch.destinations,
    )?;
    Ok(match (&s.url, &s.destination) {
        (Some(url), _) => To::Url(url),
        (None, Some(d)) => To::Binding(d),
        (None, None) => return Err(ApiError::internal("a subscription with no target")),
    })
}

/// Checks where it goes and signs the body; `Err` is a reason to fail the delivery.
fn prepare<'a>(
    env: &Env,
    app: &App,
    s: &'a subscriptions::Stored,
    result_id: &str,
    payload: &str,
    now_secs: i64,
) -> Result<(To<'a>, Signed), Undeliverable> {
    let to =
        checked_target(app, &s.subscription).map_err(|e| format!("{}: {}", e.code, e.message))?;
    let master = master_key(env).map_err(|e| e.message)?;
    let context = api_key_context(&s.subscription.id);
    let key = master.open(&s.api_key_enc, &context).map_err(|e| e.0)?;
    let previous = match (&s.previous_api_key_enc, s.subscription.previous_valid_until) {
        (Some(enc), Some(until)) if until > now_secs => {
            Some(master.open(enc, &context).map_err(|e| e.0)?)
        }
        _ => None,
    };
    // Read as it was accepted, so a payload nested to json::MAX_DEPTH reads back.
    let Value::Object(payload) =
        json::parse(payload.as_bytes()).map_err(|e| format!("stored payload unreadable: {e}"))?
    else {
        return Err("stored payload is not an object".into());
    };
    let body = sign::body(&payload, &result_url(app, result_id));
    let key = String::from_utf8_lossy(&key).into_owned();
    let previous = previous.map(|p| String::from_utf8_lossy(&p).into_owned());
    let extra: Vec<(String, String)> = s.subscription.headers.clone().into_iter().collect();
    let signed = sign::sign(body, result_id, now_secs, &key, previous.as_deref(), &extra);
    Ok((to, signed))
}

/// Sends `signed` where it goes; `r2_key` names the object an R2 destination writes,
/// from its prefix.
async fn send_to(
    env: &Env,
    to: To<'_>,
    signed: Signed,
    r2_key: impl Fn(&str) -> String,
    app: &App,
) -> Result<Sent, BindingError> {
    let timeout_ms = app.config.dispatch.timeout_ms;
    match to {
        To::Url(url) => send(url, signed, timeout_ms).await.map(Sent::Answered),
        To::Binding(d) => {
            let key = r2_key(d.prefix.as_deref().unwrap_or(""));
            outbound::destination::send(env, d, signed, &key, timeout_ms).await
        }
    }
}

/// Classifies what came of a send and keeps the exchange for the inspector, with
/// `target` (the URL or the destination's target) where it went. An answer is classified
/// by its status and body; a queue or bucket that took the delivery delivered it; a send
/// that failed is retried, its error recorded.
fn classify_sent(
    target: &str,
    signed: &Signed,
    sent: Result<Sent, BindingError>,
    now_secs: i64,
) -> (Outcome, Option<u16>, Exchange) {
    let headers = &signed.headers;
    match sent {
        Ok(Sent::Answered(a)) => (
            classify::classify(a.status, &a.body, a.cut, a.retry_after.as_deref(), now_secs),
            Some(a.status),
            exchange::exchange(
                target,
                headers,
                Some(exchange::Answered {
                    headers: &a.headers,
                    body: &a.body,
                    cut: a.cut,
                }),
            ),
        ),
        Ok(Sent::Stored) => (
            Outcome::Delivered,
            None,
            exchange::exchange(target, headers, None),
        ),
        Err(e) => (
            classify::unreachable(e.to_string()),
            None,
            exchange::exchange(target, headers, None),
        ),
    }
}

/// Carries out an attempt's [`Plan`]: the attempt row, the result, the next
/// attempt's message, a disabled subscription, rule actions.
async fn record(
    env: &Env,
    db: &D1Database,
    result: &ResultRecord,
    s: Plan,
    exchange: Option<&Exchange>,
    now_secs: i64,
) -> Result<String, DispatchError> {
    let result_id = result.id.as_str();
    attempts::insert(db, result_id, &s.row, exchange)
        .await
        .during("D1 insert attempt")?;
    update(db, result_id, &s.change, now_secs)
        .await
        .during("D1 update result")?;
    if let Some((attempt, delay)) = s.next {
        let next = DeliveryMessage {
            v: MESSAGE_VERSION,
            result_id: result_id.to_string(),
            attempt,
        };
        // If this fails the result stays due and the cron trigger enqueues it.
        if let Err(e) = enqueue(env, next, delay).await {
            log::emit(json!({"event": "deliver", "outcome": "reschedule_failed",
                "result_id": result_id, "error": e.to_string()}));
        }
    }
    if let Some(reason) = &s.disable {
        subscriptions::disable(db, &result.subscription_id, reason, now_secs)
            .await
            .during("D1 disable subscription")?;
    }
    apply_rules(
        env,
        db,
        result_id,
        &result.event_id,
        &result.event_type,
        &s.matched_rules,
        now_secs,
    )
    .await?;
    Ok(s.row.outcome)
}

/// Writes a result's new state.
async fn update(
    db: &D1Database,
    result_id: &str,
    change: &ResultChange,
    now_secs: i64,
) -> worker::Result<()> {
    let update = Update {
        status: change.status,
        results: change.results.as_deref(),
        matched_rules: change.matched_rules.as_deref(),
        next_attempt_at: change.next_attempt_at,
        last_error: change.last_error.as_deref(),
    };
    results::update(db, result_id, &update, now_secs).await
}

/// A subscriber's later results (`PATCH /results/{id}`): the result is completed with
/// them, as if its attempt had answered them, and the rules they match act.
pub async fn complete(
    env: &Env,
    db: &D1Database,
    result: &ResultRecord,
    results: Value,
    now_secs: i64,
) -> Result<(), DispatchError> {
    let matched = classify::matched_rules(&results);
    let outcome = Outcome::Completed {
        results,
        matched_rules: matched.clone(),
    };
    update(db, &result.id, &plan::change(&outcome, None), now_secs)
        .await
        .during("D1 update result")?;
    apply_rules(
        env,
        db,
        &result.id,
        &result.event_id,
        &result.event_type,
        &matched,
        now_secs,
    )
    .await
}

/// Sends AShirt's `{"type":"test"}` to a subscription and reports the answer.
pub async fn send_test_message(
    env: &Env,
    app: &App,
    s: &subscriptions::Stored,
    now_secs: i64,
) -> Result<Value, ApiError> {
    let to = checked_target(app, &s.subscription)?;
    let master = master_key(env)?;
    let key = master
        .open(&s.api_key_enc, &api_key_context(&s.subscription.id))
        .map_err(|e| ApiError::internal(e.0))?;
    let extra: Vec<(String, String)> = s.subscription.headers.clone().into_iter().collect();
    let random = nonce()?;
    let id = format!("test_{}", hex::encode(random));
    let signed = sign::sign(
        r#"{"type":"test"}"#.to_string(),
        &id,
        now_secs,
        &String::from_utf8_lossy(&key),
        None,
        &extra,
    );
    let started = worker::Date::now().as_millis();
    let r2_key = |prefix: &str| destination::r2_key(prefix, now_secs, &id);
    let answer = send_to(env, to, signed, r2_key, app).await;
    let duration_ms = worker::Date::now().as_millis().saturating_sub(started);
    Ok(match answer {
        Err(e) => {
            json!({"status_code": null, "outcome": "error", "duration_ms": duration_ms, "error": e.to_string()})
        }
        Ok(Sent::Stored) => {
            json!({"status_code": null, "outcome": "ok", "duration_ms": duration_ms,
                "body": null, "body_cut": false, "error": null})
        }
        Ok(Sent::Answered(a)) => {
            let body: Value = serde_json::from_slice(&a.body).unwrap_or_else(|_| {
                Value::String(
                    String::from_utf8_lossy(&a.body)
                        .chars()
                        .take(1000)
                        .collect(),
                )
            });
            let error = classify::test_answer(a.status, &a.body, a.cut)
                .err()
                .map(|e| e.0);
            json!({"status_code": a.status, "outcome": if error.is_none() { "ok" } else { "error" },
                "duration_ms": duration_ms, "body": body, "body_cut": a.cut, "error": error})
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outbound::delivery::SubscriberAnswer;

    fn signed() -> Signed {
        sign::sign(
            r#"{"a":1}"#.into(),
            "res_1",
            1_700_000_000,
            "key-0123456789abcdef",
            None,
            &[],
        )
    }

    #[test]
    fn a_queue_or_bucket_that_took_it_delivered_it_with_no_status_and_no_answer() {
        let (outcome, status, exchange) =
            classify_sent("queue:EVENTS_OUT", &signed(), Ok(Sent::Stored), 0);
        assert_eq!(outcome, Outcome::Delivered);
        assert_eq!(status, None);
        assert_eq!(exchange.url, "queue:EVENTS_OUT");
        assert!(exchange.response_headers.is_empty());
        let sent: std::collections::BTreeMap<_, _> = exchange.request_headers.into_iter().collect();
        assert_eq!(sent["webhook-id"], "res_1");
        assert_eq!(sent["webhook-signature"], exchange::MASKED);
    }

    #[test]
    fn a_send_that_failed_is_retried_with_its_error() {
        let failed = Err(BindingError::Failed("injected queue send failure".into()));
        let (outcome, status, exchange) = classify_sent("queue:EVENTS_OUT", &signed(), failed, 0);
        assert_eq!(
            outcome,
            Outcome::Retry {
                reason: "injected queue send failure".into(),
                retry_after: None
            }
        );
        assert_eq!(status, None);
        assert_eq!(exchange.url, "queue:EVENTS_OUT");
        let timeout = classify_sent("r2:B/", &signed(), Err(BindingError::Timeout(15)), 0);
        assert!(matches!(timeout.0, Outcome::Retry { .. }));
    }

    #[test]
    fn a_services_answer_is_classified_like_a_urls() {
        let answer = |status, retry_after: Option<&str>| {
            Ok(Sent::Answered(SubscriberAnswer {
                status,
                body: Vec::new(),
                cut: false,
                retry_after: retry_after.map(String::from),
                headers: vec![("retry-after".into(), "2".into())],
            }))
        };
        let (outcome, status, exchange) =
            classify_sent("service:HOOK/in", &signed(), answer(503, Some("2")), 0);
        assert_eq!(
            outcome,
            Outcome::Retry {
                reason: "the subscriber answered 503".into(),
                retry_after: Some(2)
            }
        );
        assert_eq!(status, Some(503));
        assert_eq!(exchange.response_headers.len(), 1);
        let (outcome, status, _) =
            classify_sent("service:HOOK/in", &signed(), answer(204, None), 0);
        assert_eq!((outcome, status), (Outcome::Delivered, Some(204)));
    }
}
