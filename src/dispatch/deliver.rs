//! Dispatch glue: publishing events (results in D1, messages on `DELIVERIES`), the
//! `DELIVERIES` consumer that sends, classifies and schedules, and the rule actions.
//!
//! D1 is the source of truth: a result is written before its message is sent, and every
//! attempt is claimed in D1 before it is made (`attempts = n` only if it was `n - 1`), so
//! a message delivered twice never sends twice. A lost message leaves its result
//! `pending` past its due time, and the cron trigger enqueues it again.

use serde_json::{Map, Value, json};
use worker::{
    AbortController, BatchMessageBuilder, D1Database, Env, Fetch, Headers, MessageBuilder,
    MessageExt, Method, RawMessage, Request, RequestInit, RequestRedirect, wasm_bindgen::JsValue,
};

use super::classify::{self, ANSWER_LIMIT, Outcome};
use super::sealed::MasterKey;
use super::settle::{self, Attempted, ResultChange, Settlement, settle};
use super::sign::{self, Signed};
use super::transform;
use super::url_guard::{self, UrlPolicy};
use super::{DeliveryMessage, RULE_MATCHED, actions};
use crate::app::App;
use crate::error::{ApiError, BindingError, During, ErrorCode};
use crate::ids;
use crate::json;
use crate::log;
use crate::message::{decode_body, retry_later};
use crate::outbound::{read_prefix, with_timeout};
use crate::plugins::loader;
use crate::steps::plugin::{PluginVerdict, classify as classify_plugin};
use crate::store::attempts;
use crate::store::results::{self, NewResult, ResultRecord, Update};
use crate::store::{rules, subscriptions};

/// Current [`DeliveryMessage::v`].
pub const MESSAGE_VERSION: u32 = 1;

/// The master key from the `MASTER_KEY` secret.
pub fn master_key(env: &Env) -> Result<MasterKey, ApiError> {
    let secret = env
        .secret("MASTER_KEY")
        .map(|s| s.to_string())
        .map_err(|_| ApiError::from(ErrorCode::MasterKeyMissing))?;
    MasterKey::parse(&secret).map_err(|e| ApiError::new(ErrorCode::InvalidMasterKey, e.0))
}

/// The URL guard's policy for this deployment.
pub fn policy(app: &App) -> UrlPolicy<'_> {
    UrlPolicy {
        allow_http: app.environment == "dev",
        allow_private_hosts: &app.config.dispatch.allow_private_hosts,
    }
}

/// Context string sealing a subscription's key.
pub fn api_key_context(subscription_id: &str) -> String {
    format!("subscriptions:{subscription_id}:api_key")
}

/// Context string sealing a service account's secret.
pub fn jwt_secret_context(jwt_key: &str) -> String {
    format!("service_accounts:{jwt_key}:jwt_secret")
}

/// A 12-byte nonce for sealing.
pub fn nonce() -> Result<[u8; 12], ApiError> {
    ids::random_bytes().map_err(|e| ApiError::internal(format!("no randomness available: {e}")))
}

/// `<public_url>/results/<id>`.
pub fn result_url(app: &App, id: &str) -> String {
    format!("{}/results/{id}", app.config.public_url)
}

fn unavailable(what: &str) -> impl Fn(worker::Error) -> ApiError + '_ {
    move |e| ApiError::unavailable(format!("{what}: {e}"))
}

/// One result created by [`publish`].
#[derive(Debug, Clone)]
pub struct Published {
    /// Result id.
    pub id: String,
    /// Subscription id.
    pub subscription: String,
}

/// Publishes an event: one `pending` result per enabled subscription of `event_type`,
/// then one `DELIVERIES` message each. If the queue refuses, the results stay due and
/// the cron trigger enqueues them, so an event once answered `202` is never lost.
pub async fn publish(
    env: &Env,
    db: &D1Database,
    event_type: &str,
    payload: &Map<String, Value>,
    now_ms: u64,
) -> Result<(String, Vec<Published>), ApiError> {
    let now = (now_ms / 1000) as i64;
    let id = |prefix: &str| -> Result<String, ApiError> {
        let random = ids::random_bytes()
            .map_err(|e| ApiError::internal(format!("no randomness available: {e}")))?;
        Ok(format!("{prefix}{}", ids::ulid(now_ms, random)))
    };
    let event_id = id("evt_")?;
    let subs = subscriptions::for_event(db, event_type)
        .await
        .map_err(unavailable("could not read subscriptions"))?;
    let text = Value::Object(payload.clone()).to_string();
    let published: Vec<Published> = subs
        .iter()
        .map(|s| {
            Ok(Published {
                id: id("res_")?,
                subscription: s.id.clone(),
            })
        })
        .collect::<Result<_, ApiError>>()?;
    let rows: Vec<NewResult<'_>> = published
        .iter()
        .map(|p| NewResult {
            id: &p.id,
            event_id: &event_id,
            event_type,
            subscription_id: &p.subscription,
            payload: &text,
        })
        .collect();
    results::insert_all(db, &rows, now)
        .await
        .map_err(unavailable("could not record the event"))?;
    let messages: Vec<DeliveryMessage> = published
        .iter()
        .map(|p| DeliveryMessage {
            v: MESSAGE_VERSION,
            result_id: p.id.clone(),
            attempt: 1,
        })
        .collect();
    if let Err(e) = enqueue_all(env, messages).await {
        log::emit(
            json!({"event": "publish", "outcome": "enqueue_failed", "event_id": event_id,
            "results": published.len(), "error": e}),
        );
    }
    Ok((event_id, published))
}

async fn enqueue_all(env: &Env, messages: Vec<DeliveryMessage>) -> Result<(), String> {
    if messages.is_empty() {
        return Ok(());
    }
    let queue = env.queue("DELIVERIES").map_err(|e| e.to_string())?;
    queue
        .send_batch(BatchMessageBuilder::new().messages(messages).build())
        .await
        .map_err(|e| e.to_string())
}

async fn enqueue(env: &Env, message: DeliveryMessage, delay_secs: u64) -> Result<(), String> {
    let queue = env.queue("DELIVERIES").map_err(|e| e.to_string())?;
    let mut builder = MessageBuilder::new(message);
    if delay_secs > 0 {
        builder = builder.delay_seconds(u32::try_from(delay_secs).unwrap_or(u32::MAX));
    }
    queue.send(builder.build()).await.map_err(|e| e.to_string())
}

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
                    "result_id": msg.result_id, "attempt": msg.attempt, "error": e}));
            }
        }
    });
    futures_util::future::join_all(work).await;
}

/// Makes attempt `msg.attempt` of a result, if it is still due and nobody else has.
/// Returns what happened, for the log; `Err` only for failures worth retrying the
/// message for (D1 or the queue unreachable before anything was sent).
async fn attempt(
    env: &Env,
    app: &App,
    db: &D1Database,
    msg: &DeliveryMessage,
) -> Result<String, String> {
    let started = worker::Date::now().as_millis();
    let now = (started / 1000) as i64;
    let Some(result) = results::get(db, &msg.result_id)
        .await
        .map_err(|e| e.to_string())?
    else {
        return Ok("unknown_result".into());
    };
    if result.status != "pending" || result.attempts >= msg.attempt {
        return Ok("already_done".into());
    }
    if !results::claim_attempt(db, &result.id, msg.attempt, now)
        .await
        .map_err(|e| e.to_string())?
    {
        return Ok("claimed_elsewhere".into());
    }
    let stored = subscriptions::get(db, &result.subscription_id)
        .await
        .map_err(|e| e.to_string())?;
    let failed = |reason: String| Outcome::Failed {
        reason,
        disable: false,
    };
    let prepared = match &stored {
        None => Err(failed("the subscription was deleted".to_string())),
        Some(s) if !s.subscription.enabled => Err(failed(format!(
            "the subscription is disabled ({})",
            s.subscription
                .disabled_reason
                .as_deref()
                .unwrap_or("by an operator")
        ))),
        Some(s) => match transformed(env, s, &result).await {
            Ok(payload) => {
                let payload = payload.as_deref().unwrap_or(&result.payload);
                prepare(env, app, s, &result.id, payload, now).map_err(failed)
            }
            Err(outcome) => Err(outcome),
        },
    };
    let (outcome, status_code, url) = match prepared {
        Err(outcome) => (outcome, None, None),
        Ok((url, signed)) => {
            let (outcome, code) =
                send_and_classify(&url, signed, app.config.dispatch.timeout_ms, now).await;
            (outcome, code, Some(url))
        }
    };
    let attempted = Attempted {
        outcome,
        attempt: msg.attempt,
        retry_base: result.retry_base,
        status_code,
        duration_ms: worker::Date::now().as_millis().saturating_sub(started),
        now_secs: now,
    };
    let settlement = settle(attempted, &app.config.dispatch.retry_schedule_secs);
    record(env, db, &result, settlement, now)
        .await
        .map(|o| match url {
            Some(_) => o,
            None => format!("{o}_without_sending"),
        })
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
            reason,
            disable: false,
        })?;
    let exchange = loader::call(env, plugin, None, &message, TRANSFORM_TIMEOUT_MS);
    let answer =
        match with_timeout(exchange, AbortController::default(), TRANSFORM_TIMEOUT_MS).await {
            Ok(reply) => classify_plugin(reply.status, &reply.body, reply.cut),
            Err(e) => PluginVerdict::Error(e.to_string()),
        };
    Ok(transform::decide(answer)?.map(|payload| Value::Object(payload).to_string()))
}

/// Checks the URL and signs the body; `Err` is a reason to fail the delivery.
fn prepare(
    env: &Env,
    app: &App,
    s: &subscriptions::Stored,
    result_id: &str,
    payload: &str,
    now: i64,
) -> Result<(String, Signed), String> {
    url_guard::check(&s.subscription.url, &policy(app))
        .map_err(|e| format!("url_refused: {}", e.0))?;
    let master = master_key(env).map_err(|e| e.message)?;
    let context = api_key_context(&s.subscription.id);
    let key = master.open(&s.api_key_enc, &context).map_err(|e| e.0)?;
    let previous = match (&s.previous_api_key_enc, s.subscription.previous_valid_until) {
        (Some(enc), Some(until)) if until > now => {
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
    let signed = sign::sign(body, result_id, now, &key, previous.as_deref(), &extra);
    Ok((s.subscription.url.clone(), signed))
}

/// An HTTP exchange's answer.
pub struct Answer {
    /// Status code.
    pub status: u16,
    /// Body bytes, at most [`ANSWER_LIMIT`].
    pub body: Vec<u8>,
    /// The body went on past [`ANSWER_LIMIT`] and the rest was cancelled unread.
    pub cut: bool,
    /// `Retry-After`, if sent.
    pub retry_after: Option<String>,
}

/// POSTs a signed request without following redirects, giving up after `timeout_ms`;
/// reads at most [`ANSWER_LIMIT`] of the answer.
pub async fn send(url: &str, signed: Signed, timeout_ms: u64) -> Result<Answer, BindingError> {
    let headers = Headers::new();
    for (k, v) in &signed.headers {
        headers.set(k, v).during(format!("header {k}"))?;
    }
    let mut init = RequestInit::new();
    init.with_method(Method::Post)
        .with_headers(headers)
        .with_body(Some(JsValue::from_str(&signed.body)))
        .with_redirect(RequestRedirect::Manual);
    let request = Request::new_with_init(url, &init).during("request")?;
    let controller = AbortController::default();
    let signal = controller.signal();
    let exchange = async {
        let mut resp = Fetch::Request(request)
            .send_with_signal(&signal)
            .await
            .during("network error")?;
        let retry_after = resp.headers().get("retry-after").ok().flatten();
        // A body that fails to read counts as empty: the status alone classifies it.
        let body = read_prefix(&mut resp, ANSWER_LIMIT)
            .await
            .unwrap_or_default();
        Ok(Answer {
            status: resp.status_code(),
            body: body.bytes,
            cut: body.cut,
            retry_after,
        })
    };
    with_timeout(exchange, controller, timeout_ms).await
}

async fn send_and_classify(
    url: &str,
    signed: Signed,
    timeout_ms: u64,
    now: i64,
) -> (Outcome, Option<u16>) {
    match send(url, signed, timeout_ms).await {
        Ok(a) => (
            classify::classify(a.status, &a.body, a.cut, a.retry_after.as_deref(), now),
            Some(a.status),
        ),
        Err(e) => (classify::unreachable(e.to_string()), None),
    }
}

/// Carries out an attempt's [`Settlement`]: the attempt row, the result, the next
/// attempt's message, a disabled subscription, rule actions.
async fn record(
    env: &Env,
    db: &D1Database,
    result: &ResultRecord,
    s: Settlement,
    now: i64,
) -> Result<String, String> {
    let result_id = result.id.as_str();
    attempts::insert(db, result_id, &s.row)
        .await
        .map_err(|e| e.to_string())?;
    update(db, result_id, &s.change, now)
        .await
        .map_err(|e| e.to_string())?;
    if let Some((attempt, delay)) = s.next {
        let next = DeliveryMessage {
            v: MESSAGE_VERSION,
            result_id: result_id.to_string(),
            attempt,
        };
        // If this fails the result stays due and the cron trigger enqueues it.
        if let Err(e) = enqueue(env, next, delay).await {
            log::emit(json!({"event": "deliver", "outcome": "reschedule_failed",
                "result_id": result_id, "error": e}));
        }
    }
    if let Some(reason) = &s.disable {
        subscriptions::disable(db, &result.subscription_id, reason, now)
            .await
            .map_err(|e| e.to_string())?;
    }
    apply_rules(
        env,
        db,
        result_id,
        &result.event_id,
        &result.event_type,
        &s.matched_rules,
        now,
    )
    .await?;
    Ok(s.row.outcome)
}

/// Writes a result's new state.
async fn update(
    db: &D1Database,
    result_id: &str,
    change: &ResultChange,
    now: i64,
) -> worker::Result<()> {
    let update = Update {
        status: change.status,
        results: change.results.as_deref(),
        matched_rules: change.matched_rules.as_deref(),
        next_attempt_at: change.next_attempt_at,
        last_error: change.last_error.as_deref(),
    };
    results::update(db, result_id, &update, now).await
}

/// A subscriber's later results (`PATCH /results/{id}`): the result is completed with
/// them, as if its attempt had answered them, and the rules they match act.
pub async fn complete(
    env: &Env,
    db: &D1Database,
    result: &ResultRecord,
    results: Value,
    now: i64,
) -> Result<(), String> {
    let matched = classify::matched_rules(&results);
    let outcome = Outcome::Completed {
        results,
        matched_rules: matched.clone(),
    };
    update(db, &result.id, &settle::change(&outcome, None), now)
        .await
        .map_err(|e| format!("the database failed: {e}"))?;
    apply_rules(
        env,
        db,
        &result.id,
        &result.event_id,
        &result.event_type,
        &matched,
        now,
    )
    .await
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
    now: i64,
) -> Result<(), String> {
    if matched.is_empty() {
        return Ok(());
    }
    let all = rules::list(db).await.map_err(|e| e.to_string())?;
    let (flag, notify) = actions(event_type, matched, &all);
    if flag {
        results::flag(db, result_id, now)
            .await
            .map_err(|e| e.to_string())?;
    }
    for rule in notify {
        let mut payload = Map::new();
        payload.insert("rule".into(), json!(rule));
        payload.insert("result_id".into(), json!(result_id));
        payload.insert("event_id".into(), json!(event_id));
        payload.insert("event_type".into(), json!(event_type));
        payload.insert("matched_rules".into(), json!(matched));
        publish(env, db, RULE_MATCHED, &payload, (now as u64) * 1000)
            .await
            .map_err(|e| e.message)?;
    }
    Ok(())
}

/// Enqueues attempts that are overdue (their message was lost), for the cron trigger.
pub async fn requeue_stuck(env: &Env, db: &D1Database, now: i64) -> Result<usize, String> {
    // Messages are due at next_attempt_at; a minute's slack avoids racing the queue.
    let stuck = results::stuck(db, now - 60, 500)
        .await
        .map_err(|e| e.to_string())?;
    let messages: Vec<DeliveryMessage> = stuck
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

/// Sends AShirt's `{"type":"test"}` to a subscription and reports the answer.
pub async fn test(
    env: &Env,
    app: &App,
    s: &subscriptions::Stored,
    now: i64,
) -> Result<Value, ApiError> {
    let url = url_guard::check(&s.subscription.url, &policy(app)).map_err(ApiError::from)?;
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
        now,
        &String::from_utf8_lossy(&key),
        None,
        &extra,
    );
    let started = worker::Date::now().as_millis();
    let answer = send(url.as_str(), signed, app.config.dispatch.timeout_ms).await;
    let duration_ms = worker::Date::now().as_millis().saturating_sub(started);
    Ok(match answer {
        Err(e) => {
            json!({"status_code": null, "outcome": "error", "duration_ms": duration_ms, "error": e.to_string()})
        }
        Ok(a) => {
            let body: Value = serde_json::from_slice(&a.body).unwrap_or_else(|_| {
                Value::String(
                    String::from_utf8_lossy(&a.body)
                        .chars()
                        .take(1000)
                        .collect(),
                )
            });
            // AShirt: 200/204 is ok, unless the body says {"status":"error"}; a body cut
            // at the bound fails as a delivery's would.
            let error = if a.cut && (200..300).contains(&a.status) {
                Some(classify::cut_reason(a.status, ANSWER_LIMIT))
            } else if (200..300).contains(&a.status)
                && body.get("status").and_then(Value::as_str) != Some("error")
            {
                None
            } else {
                Some(format!("the subscriber answered {}", a.status))
            };
            json!({"status_code": a.status, "outcome": if error.is_none() { "ok" } else { "error" },
                "duration_ms": duration_ms, "body": body, "body_cut": a.cut, "error": error})
        }
    })
}
