//! Publishing events: one `pending` result per enabled subscription in D1, then one
//! `DELIVERIES` message each; the rule actions that publish `rule.matched`; and the cron's
//! re-enqueueing of deliveries whose message was lost.

use serde_json::{Map, Value, json};
use worker::{BatchMessageBuilder, D1Database, Env, MessageBuilder};

use super::endpoint::{self, Place};
use super::endpoint_object::{self, EnqueueRequest};
use super::keys::policy;
use super::{DeliveryMessage, DispatchError, MESSAGE_VERSION, RULE_MATCHED, Subscription, actions};
use super::{alert, url_guard};
use crate::error::{ApiError, BindingError, During};
use crate::ids;
use crate::log;
use crate::store::results::{self, NewResult};
use crate::store::{rules, subscriptions};

fn unavailable(what: &str) -> impl Fn(worker::Error) -> ApiError + '_ {
    move |e| ApiError::unavailable(format!("{what}: {e}"))
}

/// One result created by [`publish`].
#[derive(Debug, Clone)]
pub struct Published {
    /// The result's id (`res_<ULID>`).
    pub id: String,
    /// The subscription it is delivered to.
    pub subscription: String,
    /// Held: the subscription holds its deliveries until it is enabled again.
    pub held: bool,
    /// Its ordering key (FIFO per key), when its subscription orders by key.
    pub ordering_key: Option<String>,
}

/// Lines ordered results up in their subscriptions' objects, in publish order, before
/// their messages exist. If an object cannot be reached, its results line up when their
/// message first asks (the order of that one publish may then not hold).
async fn line_up(env: &Env, published: &[Published]) {
    let mut by_subscription: Vec<(&str, Vec<Place>)> = Vec::new();
    for p in published {
        let Some(key) = &p.ordering_key else { continue };
        let place = Place {
            key: key.clone(),
            result: p.id.clone(),
        };
        match by_subscription
            .iter_mut()
            .find(|(s, _)| *s == p.subscription)
        {
            Some((_, places)) => places.push(place),
            None => by_subscription.push((&p.subscription, vec![place])),
        }
    }
    for (subscription, places) in by_subscription {
        let body = json!(EnqueueRequest { places });
        if let Err(e) =
            endpoint_object::call::<Value>(env, subscription, "/enqueue", Some(body)).await
        {
            log::emit(json!({"event": "publish", "outcome": "line_up_failed",
                "subscription": subscription, "error": e.to_string()}));
        }
    }
}

/// Publishes an event: one `pending` result per enabled subscription of `event_type`,
/// then one `DELIVERIES` message each. If the queue refuses, the results stay due and
/// the cron trigger enqueues them, so an event once answered `202` is never lost.
pub async fn publish(
    env: &Env,
    db: &D1Database,
    event_type: &str,
    payload: &Map<String, Value>,
    header: &dyn Fn(&str) -> Option<String>,
    now_ms: u64,
) -> Result<(String, Vec<Published>), ApiError> {
    let now_secs = crate::time::secs(now_ms);
    let id = |prefix: &str| -> Result<String, ApiError> {
        let random = ids::random_bytes()
            .map_err(|e| ApiError::internal(format!("no randomness available: {e}")))?;
        Ok(format!("{prefix}{}", ids::ulid(now_ms, random)))
    };
    let event_id = id("evt_")?;
    let subs = subscriptions::for_event(db, event_type)
        .await
        .map_err(unavailable("could not read subscriptions"))?;
    let value = Value::Object(payload.clone());
    let text = value.to_string();
    let published = results_for(&subs, &value, header, |_| id("res_"))?;
    let rows: Vec<NewResult<'_>> = published
        .iter()
        .map(|p| NewResult {
            id: &p.id,
            event_id: &event_id,
            event_type,
            subscription_id: &p.subscription,
            payload: &text,
            held: p.held,
            ordering_key: p.ordering_key.as_deref(),
        })
        .collect();
    results::insert_all(db, &rows, now_secs)
        .await
        .map_err(unavailable("could not record the event"))?;
    send_out(env, &event_id, &published).await;
    Ok((event_id, published))
}

/// What follows the results' rows in D1, for every publish: ordered results line up in
/// their subscriptions' objects, then one `DELIVERIES` message per result not held. If
/// the queue refuses, the results are due and the cron enqueues them.
pub(super) async fn send_out(env: &Env, what: &str, published: &[Published]) {
    line_up(env, published).await;
    let messages: Vec<DeliveryMessage> = published
        .iter()
        .filter(|p| !p.held)
        .map(|p| DeliveryMessage {
            v: MESSAGE_VERSION,
            result_id: p.id.clone(),
            attempt: 1,
        })
        .collect();
    if let Err(e) = enqueue_all(env, messages).await {
        log::emit(
            json!({"event": "publish", "outcome": "enqueue_failed", "event_id": what,
            "results": published.len(), "error": e.to_string()}),
        );
    }
}

/// The results of an event for each of `subs`: ids from `id`, held for a subscription
/// holding its deliveries, the ordering key taken from the event for one ordering by key.
pub(super) fn results_for(
    subs: &[Subscription],
    value: &Value,
    header: &dyn Fn(&str) -> Option<String>,
    mut id: impl FnMut(&Subscription) -> Result<String, ApiError>,
) -> Result<Vec<Published>, ApiError> {
    subs.iter()
        .map(|s| {
            Ok(Published {
                id: id(s)?,
                subscription: s.id.clone(),
                held: !s.enabled,
                ordering_key: match (&s.flow.ordering, &s.flow.ordering_key) {
                    (Some(_), Some(spec)) => endpoint::ordering_key(spec, value, header),
                    _ => None,
                },
            })
        })
        .collect()
}

/// A queue's `sendBatch` takes at most this many messages.
const MAX_SEND_BATCH: usize = 100;

async fn enqueue_all(env: &Env, messages: Vec<DeliveryMessage>) -> Result<(), BindingError> {
    if messages.is_empty() {
        return Ok(());
    }
    let queue = env.queue("DELIVERIES").during("DELIVERIES")?;
    for run in messages.chunks(MAX_SEND_BATCH) {
        queue
            .send_batch(BatchMessageBuilder::new().messages(run.to_vec()).build())
            .await
            .during("DELIVERIES send_batch")?;
    }
    Ok(())
}

pub(super) async fn enqueue(
    env: &Env,
    message: DeliveryMessage,
    delay_secs: u64,
) -> Result<(), BindingError> {
    let queue = env.queue("DELIVERIES").during("DELIVERIES")?;
    let mut builder = MessageBuilder::new(message);
    if delay_secs > 0 {
        builder = builder.delay_seconds(u32::try_from(delay_secs).unwrap_or(u32::MAX));
    }
    queue.send(builder.build()).await.during("DELIVERIES send")
}

/// Runs the actions of the enabled rules `matched` names: `flag` flags the result,
/// `notify` publishes `rule.matched`.
pub async fn apply_rules(
    env: &Env,
    db: &D1Database,
    result_id: &str,
    event_id: &str,
    event_type: &str,
    matched: &[String],
    now_secs: i64,
) -> Result<(), DispatchError> {
    if matched.is_empty() {
        return Ok(());
    }
    let all = rules::list(db).await.during("D1 rules")?;
    let (flag, notify) = actions(event_type, matched, &all);
    if flag {
        results::flag(db, result_id, now_secs)
            .await
            .during("D1 flag result")?;
    }
    for rule in notify {
        let mut payload = Map::new();
        payload.insert("rule".into(), json!(rule));
        payload.insert("result_id".into(), json!(result_id));
        payload.insert("event_id".into(), json!(event_id));
        payload.insert("event_type".into(), json!(event_type));
        payload.insert("matched_rules".into(), json!(matched));
        publish_own(env, db, RULE_MATCHED, payload, now_secs).await?;
    }
    Ok(())
}

/// Publishes an event edgehook emits itself (`rule.matched`, operational events); an
/// operational event also goes to `dispatch.alerts_slack_url`, when there is one.
pub async fn publish_own(
    env: &Env,
    db: &D1Database,
    event_type: &str,
    payload: Map<String, Value>,
    now_secs: i64,
) -> Result<(), DispatchError> {
    if event_type != RULE_MATCHED {
        alert_slack(env, event_type, &payload).await;
    }
    publish(
        env,
        db,
        event_type,
        &payload,
        &|_| None,
        (now_secs as u64) * 1000,
    )
    .await
    .map(|_| ())
    .map_err(DispatchError::Publish)
}

/// Posts an operational event to the Slack-compatible incoming webhook, if configured,
/// through the outbound URL guard. Best effort: a failure is logged, never retried.
pub(super) async fn alert_slack(env: &Env, event_type: &str, payload: &Map<String, Value>) {
    let Ok(app) = crate::app::app(env) else {
        return;
    };
    let Some(url) = &app.config.dispatch.alerts_slack_url else {
        return;
    };
    let outcome = match url_guard::check(url, &policy(&app)) {
        Err(e) => Err(format!("url_refused: {}", e.0)),
        Ok(url) => {
            let body = alert::slack_message(event_type, payload);
            crate::outbound::alert::post(url.as_str(), &body, app.config.dispatch.timeout_ms)
                .await
                .map_err(|e| e.to_string())
        }
    };
    let outcome = match outcome {
        Ok(status) if (200..300).contains(&status) => json!("sent"),
        Ok(status) => json!(format!("answered {status}")),
        Err(e) => json!(e),
    };
    log::emit(json!({"event": "alert", "event_type": event_type, "outcome": outcome}));
}

/// Enqueues the next attempt of each `(result id, attempts made)`.
pub async fn enqueue_next(env: &Env, due: &[(String, u32)]) -> Result<usize, BindingError> {
    let messages: Vec<DeliveryMessage> = due
        .iter()
        .map(|(id, attempts)| DeliveryMessage {
            v: MESSAGE_VERSION,
            result_id: id.clone(),
            attempt: attempts + 1,
        })
        .collect();
    let n = messages.len();
    enqueue_all(env, messages).await?;
    Ok(n)
}

/// Enqueues attempts that are overdue (their message was lost), for the cron trigger.
pub async fn requeue_stuck(
    env: &Env,
    db: &D1Database,
    now_secs: i64,
) -> Result<usize, BindingError> {
    // Messages are due at next_attempt_at; a minute's slack avoids racing the queue.
    let stuck = results::stuck(db, now_secs - 60, 500)
        .await
        .during("D1 stuck results")?;
    enqueue_next(env, &stuck).await
}
