//! Table `seen_ids`: webhook ids (`webhook-id` / `Idempotency-Key`) per collector.
//!
//! A id is first *claimed* for a short hold while its webhook is queued, then
//! *confirmed* for the dedupe window, or *released* if queueing failed.

use serde::Deserialize;
use worker::{D1Database, wasm_bindgen::JsValue};

use super::int;

/// What a claim found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// The id is ours now.
    Claimed,
    /// Another request holds it: its record, and whether that one was queued.
    Seen {
        /// Record id answered to the first request.
        record_id: String,
        /// Whether the first request's record was queued (else it is still in flight).
        accepted: bool,
    },
}

#[derive(Deserialize)]
struct Row {
    record_id: String,
    accepted_at: Option<f64>,
}

/// Claims `key` for `record_id` until `hold_until`, unless a live row holds it.
pub async fn claim(
    db: &D1Database,
    collector: &str,
    key: &str,
    record_id: &str,
    now_secs: u64,
    hold_until: u64,
) -> worker::Result<Claim> {
    // An expired row is taken over; a live one is left alone (no row returned).
    let claimed: Option<Row> = db
        .prepare(
            "INSERT INTO seen_ids (collector, webhook_id, record_id, expires_at, accepted_at)
             VALUES (?1, ?2, ?3, ?4, NULL)
             ON CONFLICT (collector, webhook_id) DO UPDATE SET record_id = excluded.record_id,
               expires_at = excluded.expires_at, accepted_at = NULL
             WHERE seen_ids.expires_at <= ?5
             RETURNING record_id, accepted_at",
        )
        .bind(&[
            JsValue::from_str(collector),
            JsValue::from_str(key),
            JsValue::from_str(record_id),
            int(hold_until),
            int(now_secs),
        ])?
        .first(None)
        .await?;
    if claimed.is_some() {
        return Ok(Claim::Claimed);
    }
    let held: Option<Row> = db
        .prepare(
            "SELECT record_id, accepted_at FROM seen_ids WHERE collector = ?1 AND webhook_id = ?2",
        )
        .bind(&[JsValue::from_str(collector), JsValue::from_str(key)])?
        .first(None)
        .await?;
    Ok(match held {
        Some(r) => Claim::Seen {
            record_id: r.record_id,
            accepted: r.accepted_at.is_some(),
        },
        // Purged in between: nobody holds it, but do not race again; the sender retries.
        None => Claim::Seen {
            record_id: String::new(),
            accepted: false,
        },
    })
}

/// Confirms a claim once the webhook is queued: remembered until `expires_at`.
pub async fn confirm(
    db: &D1Database,
    collector: &str,
    key: &str,
    record_id: &str,
    now_secs: u64,
    expires_at: u64,
) -> worker::Result<()> {
    db.prepare(
        "UPDATE seen_ids SET accepted_at = ?4, expires_at = ?5
         WHERE collector = ?1 AND webhook_id = ?2 AND record_id = ?3",
    )
    .bind(&[
        JsValue::from_str(collector),
        JsValue::from_str(key),
        JsValue::from_str(record_id),
        int(now_secs),
        int(expires_at),
    ])?
    .run()
    .await?;
    Ok(())
}

/// Releases a claim whose webhook could not be queued, so the sender's retry is taken.
pub async fn release(
    db: &D1Database,
    collector: &str,
    key: &str,
    record_id: &str,
) -> worker::Result<()> {
    db.prepare(
        "DELETE FROM seen_ids WHERE collector = ?1 AND webhook_id = ?2 AND record_id = ?3
           AND accepted_at IS NULL",
    )
    .bind(&[
        JsValue::from_str(collector),
        JsValue::from_str(key),
        JsValue::from_str(record_id),
    ])?
    .run()
    .await?;
    Ok(())
}
