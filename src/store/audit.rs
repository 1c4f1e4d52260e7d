//! Table `audit_log`: who changed what through the admin API, when, from where
//! (migration 0012).

use serde::{Deserialize, Serialize};
use worker::{D1Database, wasm_bindgen::JsValue};

use super::int;

/// One audited admin change: who, with which role, what, and its status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Entry {
    /// When, Unix seconds.
    pub at: i64,
    /// The Access email, or `admin token`.
    pub actor: String,
    /// `admin` or `viewer`.
    pub role: String,
    /// `access` or `token`.
    pub via: String,
    /// HTTP method.
    pub method: String,
    /// The request's path.
    pub path: String,
    /// The route's pattern.
    pub route: String,
    /// The answer's status.
    pub status: u16,
    /// `CF-Connecting-IP`, when sent.
    pub ip: Option<String>,
}

#[derive(Deserialize)]
struct Row {
    id: f64,
    at: f64,
    actor: String,
    role: String,
    via: String,
    method: String,
    path: String,
    route: String,
    status: f64,
    ip: Option<String>,
}

/// Records an entry.
pub async fn insert(db: &D1Database, e: &Entry) -> worker::Result<()> {
    db.prepare(
        "INSERT INTO audit_log (at, actor, role, via, method, path, route, status, ip)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )
    .bind(&[
        int(e.at),
        JsValue::from_str(&e.actor),
        JsValue::from_str(&e.role),
        JsValue::from_str(&e.via),
        JsValue::from_str(&e.method),
        JsValue::from_str(&e.path),
        JsValue::from_str(&e.route),
        int(u64::from(e.status)),
        e.ip.as_deref().map_or(JsValue::NULL, JsValue::from_str),
    ])?
    .run()
    .await?;
    Ok(())
}

/// The newest entries (with their ids, for paging with `before`).
pub async fn list(
    db: &D1Database,
    before: Option<u64>,
    limit: u64,
) -> worker::Result<Vec<(u64, Entry)>> {
    let rows: Vec<Row> = db
        .prepare(
            "SELECT id, at, actor, role, via, method, path, route, status, ip FROM audit_log
             WHERE (?1 IS NULL OR id < ?1) ORDER BY id DESC LIMIT ?2",
        )
        .bind(&[before.map_or(JsValue::NULL, int), int(limit)])?
        .all()
        .await?
        .results()?;
    Ok(rows
        .into_iter()
        .map(|r| {
            (
                r.id as u64,
                Entry {
                    at: r.at as i64,
                    actor: r.actor,
                    role: r.role,
                    via: r.via,
                    method: r.method,
                    path: r.path,
                    route: r.route,
                    status: r.status as u16,
                    ip: r.ip,
                },
            )
        })
        .collect())
}
