//! Expiry of short-lived rows (`seen_ids`, `jwt_nonces`, `written_records`) and of long-dead API keys,
//! run by the cron trigger.

use worker::D1Database;

use super::int;

/// API keys are kept this long after they expire or are revoked, for the audit trail.
pub const KEY_RETENTION_SECS: u64 = 30 * 86_400;

/// Record claims outlive any redelivery: Queues keep a message at most 14 days.
pub const CLAIM_RETENTION_SECS: u64 = 15 * 86_400;

/// Deletes expired rows; returns how many rows each statement removed.
pub async fn expired(db: &D1Database, now_secs: u64) -> worker::Result<Vec<u64>> {
    let horizon = now_secs.saturating_sub(KEY_RETENTION_SECS);
    let statements = vec![
        db.prepare("DELETE FROM seen_ids WHERE expires_at <= ?1")
            .bind(&[int(now_secs)])?,
        db.prepare("DELETE FROM jwt_nonces WHERE expires_at <= ?1")
            .bind(&[int(now_secs)])?,
        db.prepare(
            "DELETE FROM api_keys WHERE not_after <= ?1 OR (revoked_at IS NOT NULL AND revoked_at <= ?1)",
        )
        .bind(&[int(horizon)])?,
        db.prepare("DELETE FROM written_records WHERE claimed_at <= ?1")
            .bind(&[int(now_secs.saturating_sub(CLAIM_RETENTION_SECS))])?,
    ];
    let results = db.batch(statements).await?;
    Ok(results
        .iter()
        .map(|r| r.meta().ok().flatten().and_then(|m| m.changes).unwrap_or(0) as u64)
        .collect())
}
