//! Expiry of short-lived rows (`seen_ids`, `jwt_nonces`, `written_records`), of long-dead
//! API keys and, past `dispatch.retention_days`, of finished results and their delivery
//! attempts; run by the cron trigger.

use worker::D1Database;

use super::int;

/// API keys are kept this long after they expire or are revoked, for the audit trail.
pub const KEY_RETENTION_SECS: i64 = 30 * 86_400;

/// Record claims outlive any redelivery: Queues keep a message at most 14 days.
pub const CLAIM_RETENTION_SECS: i64 = 15 * 86_400;

/// Deletes expired rows; returns how many rows each statement removed.
pub async fn expired(db: &D1Database, now_secs: i64) -> worker::Result<Vec<u64>> {
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

/// At most this many results (with their attempts) are purged per cron run, so one D1
/// call stays small: 1 000 every 5 minutes is 288 000 a day.
pub const RETENTION_BATCH: u64 = 1_000;

/// Results in these states are still to be delivered and are never purged, however old.
pub const UNFINISHED: [&str; 2] = ["pending", "held"];

/// The retention horizon: results last changed before it (strictly) are purged.
pub fn retention_cutoff(now_secs: i64, retention_days: u32) -> i64 {
    now_secs
        .saturating_sub(i64::from(retention_days) * 86_400)
        .max(0)
}

/// The finished results last changed before `cutoff`, oldest first, at most `batch`.
fn purgeable() -> String {
    let unfinished = UNFINISHED.map(|s| format!("'{s}'")).join(", ");
    format!(
        "SELECT id FROM results WHERE updated_at < ?1 AND status NOT IN ({unfinished}) \
         ORDER BY updated_at LIMIT ?2"
    )
}

/// Deletes up to `batch` finished results last changed before `cutoff`, and their
/// delivery attempts, in one transaction; returns `(results, attempts)` removed.
pub async fn retention(db: &D1Database, cutoff: i64, batch: u64) -> worker::Result<(u64, u64)> {
    let which = purgeable();
    let statements = vec![
        db.prepare(format!(
            "DELETE FROM delivery_attempts WHERE result_id IN ({which})"
        ))
        .bind(&[int(cutoff), int(batch)])?,
        db.prepare(format!("DELETE FROM results WHERE id IN ({which})"))
            .bind(&[int(cutoff), int(batch)])?,
    ];
    let done = db.batch(statements).await?;
    let changes = |i: usize| {
        done.get(i)
            .and_then(|r| r.meta().ok().flatten())
            .and_then(|m| m.changes)
            .unwrap_or(0) as u64
    };
    Ok((changes(1), changes(0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_retention_cutoff_is_whole_days_back_and_never_before_the_epoch() {
        let now = 1_700_000_000;
        assert_eq!(retention_cutoff(now, 30), now - 30 * 86_400);
        assert_eq!(retention_cutoff(now, 1), now - 86_400);
        assert_eq!(retention_cutoff(86_399, 1), 0, "saturates");
    }

    #[test]
    fn only_finished_results_are_purgeable_oldest_first_and_bounded() {
        let q = purgeable();
        assert!(
            q.contains("updated_at < ?1"),
            "strictly before the cutoff: {q}"
        );
        assert!(q.contains("status NOT IN ('pending', 'held')"), "{q}");
        assert!(q.ends_with("ORDER BY updated_at LIMIT ?2"), "{q}");
    }
}
