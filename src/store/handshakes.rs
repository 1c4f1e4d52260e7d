//! Table `handshake_secrets`: the secret a provider gave a collector in its handshake
//! (Asana, Notion), sealed with `MASTER_KEY`.

use serde::Deserialize;
use worker::{D1Database, wasm_bindgen::JsValue};

use super::int;

/// One collector's stored handshake secret, still sealed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    /// The collector the handshake's secret belongs to.
    pub collector: String,
    /// Whose handshake gave it.
    pub provider: String,
    /// The secret, sealed (`crate::dispatch::sealed`).
    pub secret_sealed: String,
    /// When the secret was kept, Unix seconds.
    pub created_at: i64,
}

#[derive(Deserialize)]
struct Row {
    collector: String,
    provider: String,
    secret_sealed: String,
    created_at: f64,
}

impl From<Row> for Stored {
    fn from(r: Row) -> Stored {
        Stored {
            collector: r.collector,
            provider: r.provider,
            secret_sealed: r.secret_sealed,
            created_at: r.created_at as i64,
        }
    }
}

/// The AEAD associated data of `collector`'s sealed secret: a value copied to another
/// collector's row does not open.
pub fn seal_context(collector: &str) -> String {
    format!("handshake_secrets:{collector}")
}

/// Stores `collector`'s secret unless it has one already; then answers what is stored.
pub async fn insert_first(
    db: &D1Database,
    collector: &str,
    provider: &str,
    sealed: &str,
    now_secs: i64,
) -> worker::Result<Option<Stored>> {
    db.prepare(
        "INSERT INTO handshake_secrets (collector, provider, secret_sealed, created_at)
         VALUES (?1, ?2, ?3, ?4) ON CONFLICT (collector) DO NOTHING",
    )
    .bind(&[
        JsValue::from_str(collector),
        JsValue::from_str(provider),
        JsValue::from_str(sealed),
        int(now_secs),
    ])?
    .run()
    .await?;
    get(db, collector).await
}

/// `collector`'s stored secret.
pub async fn get(db: &D1Database, collector: &str) -> worker::Result<Option<Stored>> {
    db.prepare("SELECT collector, provider, secret_sealed, created_at FROM handshake_secrets WHERE collector = ?1")
        .bind(&[JsValue::from_str(collector)])?
        .first::<Row>(None)
        .await
        .map(|r| r.map(Stored::from))
}

/// Every stored secret, by collector.
pub async fn list(db: &D1Database) -> worker::Result<Vec<Stored>> {
    db.prepare("SELECT collector, provider, secret_sealed, created_at FROM handshake_secrets ORDER BY collector")
        .all()
        .await?
        .results::<Row>()
        .map(|rows| rows.into_iter().map(Stored::from).collect())
}

/// Forgets `collector`'s secret; `false` when it had none.
pub async fn delete(db: &D1Database, collector: &str) -> worker::Result<bool> {
    let result = db
        .prepare("DELETE FROM handshake_secrets WHERE collector = ?1")
        .bind(&[JsValue::from_str(collector)])?
        .run()
        .await?;
    Ok(result.meta()?.and_then(|m| m.changes).unwrap_or(0) > 0)
}
