//! Table `api_keys`: issued keys, by the SHA-256 of their plaintext.

use serde::Deserialize;
use worker::{D1Database, wasm_bindgen::JsValue};

use crate::auth::api_key::{ApiKey, ApiKeyStore};

const COLUMNS: &str =
    "id, name, email, scopes, not_before, not_after, revoked_at, created_at, last_used_at";

// D1 numbers cross as f64; scopes is a JSON array in text.
#[derive(Deserialize)]
struct Row {
    id: String,
    name: String,
    email: String,
    scopes: String,
    not_before: f64,
    not_after: f64,
    revoked_at: Option<f64>,
    created_at: f64,
    last_used_at: Option<f64>,
}

impl From<Row> for ApiKey {
    fn from(r: Row) -> ApiKey {
        ApiKey {
            id: r.id,
            name: r.name,
            email: r.email,
            scopes: serde_json::from_str(&r.scopes).unwrap_or_default(),
            not_before: r.not_before as i64,
            not_after: r.not_after as i64,
            revoked_at: r.revoked_at.map(|t| t as i64),
            created_at: r.created_at as i64,
            last_used_at: r.last_used_at.map(|t| t as i64),
        }
    }
}

fn num(n: i64) -> JsValue {
    JsValue::from_f64(n as f64)
}

/// Stores a new key under `hash`.
pub async fn insert(db: &D1Database, hash: &str, key: &ApiKey) -> worker::Result<()> {
    db.prepare(
        "INSERT INTO api_keys (hash, id, name, email, scopes, not_before, not_after, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )
    .bind(&[
        JsValue::from_str(hash),
        JsValue::from_str(&key.id),
        JsValue::from_str(&key.name),
        JsValue::from_str(&key.email),
        JsValue::from_str(&serde_json::to_string(&key.scopes).unwrap_or_else(|_| "[]".into())),
        num(key.not_before),
        num(key.not_after),
        num(key.created_at),
    ])?
    .run()
    .await?;
    Ok(())
}

/// Every key, newest first.
pub async fn list(db: &D1Database) -> worker::Result<Vec<ApiKey>> {
    let rows: Vec<Row> = db
        .prepare(format!(
            "SELECT {COLUMNS} FROM api_keys ORDER BY created_at DESC, id DESC"
        ))
        .all()
        .await?
        .results()?;
    Ok(rows.into_iter().map(ApiKey::from).collect())
}

/// The key with public id `id`.
pub async fn find_by_id(db: &D1Database, id: &str) -> worker::Result<Option<ApiKey>> {
    let row: Option<Row> = db
        .prepare(format!("SELECT {COLUMNS} FROM api_keys WHERE id = ?1"))
        .bind(&[JsValue::from_str(id)])?
        .first(None)
        .await?;
    Ok(row.map(ApiKey::from))
}

/// Revokes key `id` at `now` unless already revoked.
pub async fn revoke(db: &D1Database, id: &str, now: i64) -> worker::Result<()> {
    db.prepare("UPDATE api_keys SET revoked_at = ?1 WHERE id = ?2 AND revoked_at IS NULL")
        .bind(&[num(now), JsValue::from_str(id)])?
        .run()
        .await?;
    Ok(())
}

/// [`ApiKeyStore`] on D1.
pub struct D1Keys<'a>(pub &'a D1Database);

impl ApiKeyStore for D1Keys<'_> {
    type Error = worker::Error;
    async fn find_by_hash(&self, hash: &str) -> worker::Result<Option<ApiKey>> {
        let row: Option<Row> = self
            .0
            .prepare(format!("SELECT {COLUMNS} FROM api_keys WHERE hash = ?1"))
            .bind(&[JsValue::from_str(hash)])?
            .first(None)
            .await?;
        Ok(row.map(ApiKey::from))
    }

    async fn touch(&self, hash: &str, now: i64) -> worker::Result<()> {
        // At most one write a minute per key: last_used_at is for humans, not billing.
        self.0
            .prepare(
                "UPDATE api_keys SET last_used_at = ?1
                 WHERE hash = ?2 AND (last_used_at IS NULL OR last_used_at < ?1 - 60)",
            )
            .bind(&[num(now), JsValue::from_str(hash)])?
            .run()
            .await?;
        Ok(())
    }
}
