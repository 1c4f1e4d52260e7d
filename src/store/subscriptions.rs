//! Tables `subscriptions`, `subscription_events` and `service_accounts`: subscribers,
//! the event types they receive, and their PATCH credentials. Secrets arrive sealed.

use std::collections::BTreeMap;

use serde::Deserialize;
use worker::{D1Database, D1PreparedStatement, wasm_bindgen::JsValue};

use crate::dispatch::Subscription;

const COLUMNS: &str = "id, name, url, events, headers, api_key_enc, previous_api_key_enc, \
    previous_valid_until, enabled, disabled_reason, created_at, updated_at, transform, flow, holding, destination";

#[derive(Deserialize)]
struct Row {
    id: String,
    name: String,
    url: String,
    events: String,
    headers: String,
    api_key_enc: String,
    previous_api_key_enc: Option<String>,
    previous_valid_until: Option<f64>,
    enabled: f64,
    disabled_reason: Option<String>,
    created_at: f64,
    updated_at: f64,
    transform: Option<String>,
    flow: Option<String>,
    holding: f64,
    destination: Option<String>,
}

/// A subscription with its sealed signing keys.
#[derive(Debug, Clone)]
pub struct Stored {
    /// What the API shows.
    pub subscription: Subscription,
    /// The sealed current key.
    pub api_key_enc: String,
    /// The sealed previous key, during a rotation.
    pub previous_api_key_enc: Option<String>,
}

impl From<Row> for Stored {
    fn from(r: Row) -> Stored {
        Stored {
            subscription: Subscription {
                id: r.id,
                name: r.name,
                // A destination subscription stores '' (the column is NOT NULL).
                url: Some(r.url).filter(|u| !u.is_empty()),
                // Stored by this code only, checked when it was stored.
                destination: r.destination.and_then(|t| serde_json::from_str(&t).ok()),
                events: serde_json::from_str(&r.events).unwrap_or_default(),
                headers: serde_json::from_str::<BTreeMap<String, String>>(&r.headers)
                    .unwrap_or_default(),
                enabled: r.enabled != 0.0,
                disabled_reason: r.disabled_reason,
                previous_valid_until: r.previous_valid_until.map(|t| t as i64),
                created_at: r.created_at as i64,
                updated_at: r.updated_at as i64,
                transform: r.transform,
                // Stored by this code only; an unreadable value falls back to the defaults.
                flow: r
                    .flow
                    .and_then(|t| serde_json::from_str(&t).ok())
                    .unwrap_or_default(),
                holding: r.holding != 0.0,
            },
            api_key_enc: r.api_key_enc,
            previous_api_key_enc: r.previous_api_key_enc,
        }
    }
}

fn text(s: &str) -> JsValue {
    JsValue::from_str(s)
}

fn num(n: i64) -> JsValue {
    JsValue::from_f64(n as f64)
}

fn json_text<T: serde::Serialize>(v: &T) -> JsValue {
    text(&serde_json::to_string(v).unwrap_or_else(|_| "null".into()))
}

fn destination(s: &Subscription) -> JsValue {
    s.destination.as_ref().map_or(JsValue::NULL, json_text)
}

fn event_rows(db: &D1Database, s: &Subscription) -> worker::Result<Vec<D1PreparedStatement>> {
    let mut out = vec![
        db.prepare("DELETE FROM subscription_events WHERE subscription_id = ?1")
            .bind(&[text(&s.id)])?,
    ];
    for e in &s.events {
        out.push(
            db.prepare(
                "INSERT OR IGNORE INTO subscription_events (event_type, subscription_id) VALUES (?1, ?2)",
            )
            .bind(&[text(e), text(&s.id)])?,
        );
    }
    Ok(out)
}

/// Stores a new subscription, its event types and its service account, atomically.
pub async fn insert(
    db: &D1Database,
    s: &Subscription,
    api_key_enc: &str,
    jwt_key: &str,
    jwt_secret_enc: &str,
) -> worker::Result<()> {
    let mut statements =
        vec![
        db.prepare(
            "INSERT INTO subscriptions (id, name, url, events, headers, api_key_enc, enabled,
               created_at, updated_at, transform, flow, destination)
               VALUES (?1, ?2, ?3, ?4, ?5, ?6, 1, ?7, ?7, ?8, ?9, ?10)",
        )
        .bind(&[
            text(&s.id),
            text(&s.name),
            text(s.url.as_deref().unwrap_or("")),
            json_text(&s.events),
            json_text(&s.headers),
            text(api_key_enc),
            num(s.created_at),
            s.transform.as_deref().map_or(JsValue::NULL, text),
            json_text(&s.flow),
            destination(s),
        ])?,
        db.prepare(
            "INSERT INTO service_accounts (jwt_key, subscription_id, jwt_secret_enc, created_at)
             VALUES (?1, ?2, ?3, ?4)",
        )
        .bind(&[text(jwt_key), text(&s.id), text(jwt_secret_enc), num(s.created_at)])?,
    ];
    statements.extend(event_rows(db, s)?);
    db.batch(statements).await?;
    Ok(())
}

fn subscriptions(rows: Vec<Row>) -> Vec<Subscription> {
    rows.into_iter()
        .map(|r| Stored::from(r).subscription)
        .collect()
}

/// Subscription `id` with its sealed keys, if it exists.
pub async fn get(db: &D1Database, id: &str) -> worker::Result<Option<Stored>> {
    let row: Option<Row> = db
        .prepare(format!("SELECT {COLUMNS} FROM subscriptions WHERE id = ?1"))
        .bind(&[text(id)])?
        .first(None)
        .await?;
    Ok(row.map(Stored::from))
}

/// Every subscription, newest first.
pub async fn list(db: &D1Database) -> worker::Result<Vec<Subscription>> {
    let rows: Vec<Row> = db
        .prepare(format!(
            "SELECT {COLUMNS} FROM subscriptions ORDER BY created_at DESC, id DESC"
        ))
        .all()
        .await?
        .results()?;
    Ok(subscriptions(rows))
}

/// The subscriptions an event of a type goes to: the enabled ones, and those holding
/// their deliveries (disabled by a failure streak), whose results are held.
pub async fn for_event(db: &D1Database, event_type: &str) -> worker::Result<Vec<Subscription>> {
    let rows: Vec<Row> = db
        .prepare(format!(
            "SELECT {COLUMNS} FROM subscriptions WHERE (enabled = 1 OR holding = 1) AND id IN
               (SELECT subscription_id FROM subscription_events WHERE event_type = ?1)
             ORDER BY created_at, id"
        ))
        .bind(&[text(event_type)])?
        .all()
        .await?
        .results()?;
    Ok(subscriptions(rows))
}

/// Saves changed fields (name, url, events, headers, enabled, reason, transform, flow,
/// holding, destination).
pub async fn update(db: &D1Database, s: &Subscription) -> worker::Result<()> {
    let mut statements = vec![
        db.prepare(
            "UPDATE subscriptions SET name = ?2, url = ?3, events = ?4, headers = ?5, enabled = ?6,
               disabled_reason = ?7, updated_at = ?8, transform = ?9, flow = ?10, holding = ?11,
               destination = ?12
             WHERE id = ?1",
        )
        .bind(&[
            text(&s.id),
            text(&s.name),
            text(s.url.as_deref().unwrap_or("")),
            json_text(&s.events),
            json_text(&s.headers),
            num(i64::from(s.enabled)),
            s.disabled_reason.as_deref().map_or(JsValue::NULL, text),
            num(s.updated_at),
            s.transform.as_deref().map_or(JsValue::NULL, text),
            json_text(&s.flow),
            num(i64::from(s.holding)),
            destination(s),
        ])?,
    ];
    statements.extend(event_rows(db, s)?);
    db.batch(statements).await?;
    Ok(())
}

/// Disables a subscription (a subscriber answered 410).
pub async fn disable(db: &D1Database, id: &str, reason: &str, now_secs: i64) -> worker::Result<()> {
    db.prepare(
        "UPDATE subscriptions SET enabled = 0, disabled_reason = ?2, updated_at = ?3 WHERE id = ?1",
    )
    .bind(&[text(id), text(reason), num(now_secs)])?
    .run()
    .await?;
    Ok(())
}

/// Disables a subscription whose failure streak lasted `disable_after_hours`: its
/// deliveries are held until it is enabled again. False when it was no longer enabled.
pub async fn disable_holding(
    db: &D1Database,
    id: &str,
    reason: &str,
    now_secs: i64,
) -> worker::Result<bool> {
    let result = db
        .prepare(
            "UPDATE subscriptions SET enabled = 0, holding = 1, disabled_reason = ?2, updated_at = ?3
             WHERE id = ?1 AND enabled = 1",
        )
        .bind(&[text(id), text(reason), num(now_secs)])?
        .run()
        .await?;
    Ok(result.meta()?.and_then(|m| m.changes).unwrap_or(0) == 1)
}

/// Installs a new key; the old one keeps signing until `previous_valid_until`.
pub async fn rotate(
    db: &D1Database,
    id: &str,
    api_key_enc: &str,
    previous_api_key_enc: &str,
    previous_valid_until: i64,
    now_secs: i64,
) -> worker::Result<()> {
    db.prepare(
        "UPDATE subscriptions SET api_key_enc = ?2, previous_api_key_enc = ?3,
           previous_valid_until = ?4, updated_at = ?5 WHERE id = ?1",
    )
    .bind(&[
        text(id),
        text(api_key_enc),
        text(previous_api_key_enc),
        num(previous_valid_until),
        num(now_secs),
    ])?
    .run()
    .await?;
    Ok(())
}

/// Deletes a subscription with its event types and service account; its results stay.
pub async fn delete(db: &D1Database, id: &str) -> worker::Result<()> {
    db.batch(vec![
        db.prepare("DELETE FROM subscription_events WHERE subscription_id = ?1")
            .bind(&[text(id)])?,
        db.prepare("DELETE FROM service_accounts WHERE subscription_id = ?1")
            .bind(&[text(id)])?,
        db.prepare("DELETE FROM subscriptions WHERE id = ?1")
            .bind(&[text(id)])?,
    ])
    .await?;
    Ok(())
}

/// The subscription and sealed secret of a service account.
pub async fn service_account(
    db: &D1Database,
    jwt_key: &str,
) -> worker::Result<Option<(String, String)>> {
    #[derive(Deserialize)]
    struct Account {
        subscription_id: String,
        jwt_secret_enc: String,
    }
    let row: Option<Account> = db
        .prepare("SELECT subscription_id, jwt_secret_enc FROM service_accounts WHERE jwt_key = ?1")
        .bind(&[text(jwt_key)])?
        .first(None)
        .await?;
    Ok(row.map(|a| (a.subscription_id, a.jwt_secret_enc)))
}
