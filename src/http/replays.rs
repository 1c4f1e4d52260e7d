//! `POST /admin/replay` (start a replay of archived records, or answer the one its id or
//! `Idempotency-Key` already names), `GET /admin/replay/{id}` (its progress) and
//! `GET /admin/replays` (the newest). The checks are `dispatch::replay`; the steps run
//! from the `DELIVERIES` queue (`dispatch::replay_step`).

use serde_json::{Value, json};
use worker::Response;

use super::admin::{d1_failed, db};
use super::call::{Call, json_response, read_json};
use super::stats::query_param;
use crate::collect::idempotency;
use crate::dispatch::replay::{self, ReplayRequest};
use crate::dispatch::replay_step;
use crate::error::{ApiError, ErrorCode};
use crate::ids;
use crate::inbound::HeaderMap;
use crate::log;
use crate::store::replays::{self, NewReplay, Replay};
use crate::store::subscriptions;

/// Newest replays `GET /admin/replays` answers unless `limit` says otherwise.
const DEFAULT_LIST: u32 = 50;

fn view(r: &Replay) -> Value {
    json!(r)
}

// Whether stored replay `r` is the one `req` (with these resolved subscriptions) asks for.
fn same(r: &Replay, req: &ReplayRequest, subscriptions: &[String]) -> bool {
    r.collector == req.collector
        && (r.from, r.to) == (req.from, req.to)
        && r.event_type == req.event_type
        && r.listed == req.subscriptions.is_some()
        && (!r.listed || {
            let (mut a, mut b) = (r.subscriptions.clone(), subscriptions.to_vec());
            a.sort_unstable();
            b.sort_unstable();
            a == b
        })
}

/// The subscriptions a replay publishes to: the listed ones (each must exist and
/// subscribe to the event type), or every subscriber of the event type now.
async fn resolve(db: &worker::D1Database, req: &ReplayRequest) -> Result<Vec<String>, ApiError> {
    let Some(list) = &req.subscriptions else {
        let subs = subscriptions::for_event(db, &req.event_type)
            .await
            .map_err(d1_failed)?;
        return Ok(subs.into_iter().map(|s| s.id).collect());
    };
    for id in list {
        let s = subscriptions::get(db, id)
            .await
            .map_err(d1_failed)?
            .ok_or_else(|| {
                ApiError::new(
                    ErrorCode::UnknownSubscription,
                    format!("no subscription has id {id:?}"),
                )
            })?
            .subscription;
        if !s.events.contains(&req.event_type) {
            return Err(ApiError::new(
                ErrorCode::NotSubscribed,
                format!(
                    "subscription {id} ({}) does not subscribe to {}: add it to its events first",
                    s.name, req.event_type
                ),
            ));
        }
    }
    Ok(list.clone())
}

/// `POST /admin/replay` `{collector, from, to, event_type, subscriptions?, id?}` →
/// `202` with the replay (its `id`, `status`, cursor and counts). The same `id`, or the
/// same `Idempotency-Key`, answers the replay it names instead of starting another
/// (`409 replay_conflict` if it names a different one).
pub async fn start(c: Call<'_>) -> Result<Response, ApiError> {
    let (now_ms, now_secs) = (c.now_ms, c.now_secs());
    let created_by = c
        .actor
        .as_ref()
        .map_or_else(|| "admin token".to_string(), |a| a.who.clone());
    let Call {
        mut req, env, app, ..
    } = c;
    let key = idempotency::key(&HeaderMap::from_pairs(req.headers().entries()))?;
    let input: ReplayRequest = read_json(&mut req).await?;
    input.check(now_secs)?;
    if app.config.collector(&input.collector).is_none() {
        return Err(ApiError::new(
            ErrorCode::UnknownCollector,
            format!("no collector is named {:?}", input.collector),
        ));
    }
    let db = db(env)?;
    let subscriptions = resolve(&db, &input).await?;
    let random = ids::random_bytes()
        .map_err(|e| ApiError::internal(format!("no randomness available: {e}")))?;
    let id = replay::replay_id(input.id.as_deref(), key.as_deref(), now_ms, random);
    let answer = |r: &Replay| -> Result<Response, ApiError> {
        if same(r, &input, &subscriptions) {
            Ok(json_response(202, &view(r)))
        } else {
            Err(ApiError::new(
                ErrorCode::ReplayConflict,
                format!(
                    "replay {} already replays {} [{}, {}) as {}: use another id or Idempotency-Key",
                    r.id, r.collector, r.from, r.to, r.event_type
                ),
            ))
        }
    };
    let existing = match key.as_deref().filter(|_| input.id.is_none()) {
        Some(k) => replays::by_key(&db, k).await,
        None => replays::get(&db, &id).await,
    }
    .map_err(d1_failed)?;
    if let Some(r) = existing {
        return answer(&r);
    }
    let new = NewReplay {
        id: &id,
        idempotency_key: key.as_deref(),
        collector: &input.collector,
        range: (input.from, input.to),
        event_type: &input.event_type,
        subscriptions: &subscriptions,
        listed: input.subscriptions.is_some(),
        created_by: &created_by,
    };
    let created = replays::insert(&db, &new, now_secs)
        .await
        .map_err(d1_failed)?;
    let r = replays::get(&db, &id)
        .await
        .map_err(d1_failed)?
        .ok_or_else(|| {
            ApiError::new(
                ErrorCode::ReplayConflict,
                "this Idempotency-Key already names another replay",
            )
        })?;
    if !created {
        return answer(&r);
    }
    // If the queue refuses, the cron asks for the first step once the replay looks stalled.
    if let Err(e) = replay_step::request_step(env, &id).await {
        log::emit(
            json!({"event": "replay", "replay": id, "outcome": "first_step_not_sent",
            "error": e.to_string()}),
        );
    }
    Ok(json_response(202, &view(&r)))
}

/// `GET /admin/replay/{id}`: the replay's status, cursor and counts.
pub async fn show(c: Call<'_>) -> Result<Response, ApiError> {
    let id = c.param("id");
    let r = replays::get(&db(c.env)?, id)
        .await
        .map_err(d1_failed)?
        .ok_or_else(|| {
            ApiError::new(ErrorCode::UnknownReplay, format!("no replay has id {id:?}"))
        })?;
    Ok(json_response(200, &view(&r)))
}

/// `GET /admin/replays[?limit=50]`: the newest replays (`limit` 1 to 500).
pub async fn list(c: Call<'_>) -> Result<Response, ApiError> {
    let url = c.url()?;
    let limit = match query_param(&url, "limit", &["limit"])? {
        None => DEFAULT_LIST,
        Some(l) => l
            .parse()
            .ok()
            .filter(|n| (1..=500).contains(n))
            .ok_or_else(|| ApiError::new(ErrorCode::InvalidQuery, "limit must be 1 to 500"))?,
    };
    let all = replays::list(&db(c.env)?, limit).await.map_err(d1_failed)?;
    let list: Vec<Value> = all.iter().map(view).collect();
    Ok(json_response(200, &json!({ "replays": list })))
}
