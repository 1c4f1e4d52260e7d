//! The retry schedule: data, not code (svix-server's `core/retry.rs`).
//!
//! Attempt 1 goes out at once; after failed attempt `n` the next waits `schedule[n-1]`,
//! or the subscriber's `Retry-After` when that is longer. When the schedule is used up
//! the delivery has failed.

/// Svix / Standard Webhooks: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h (8 attempts).
pub const DEFAULT_SCHEDULE_SECS: [u64; 7] = [5, 300, 1_800, 7_200, 18_000, 36_000, 36_000];

/// Cloudflare Queues delays a message by at most 12 hours.
pub const MAX_DELAY_SECS: u64 = 43_200;

/// The delay before the attempt after failed attempt `attempt` (1-based, counted from
/// the start of this round of retries), or `None` when the schedule is used up.
/// `retry_after` (seconds the subscriber asked for) lengthens the wait, never shortens it.
pub fn next_delay(schedule: &[u64], attempt: u32, retry_after: Option<u64>) -> Option<u64> {
    let index = usize::try_from(attempt.checked_sub(1)?).ok()?;
    let planned = *schedule.get(index)?;
    Some(planned.max(retry_after.unwrap_or(0)).min(MAX_DELAY_SECS))
}

/// Seconds from a `Retry-After` value: delta-seconds or an HTTP date (RFC 9110),
/// relative to `now_secs`. Unreadable values are ignored.
pub fn parse_retry_after(value: &str, now_secs: i64) -> Option<u64> {
    let v = value.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(secs);
    }
    let at = crate::time::parse_http_date(v)?;
    Some(u64::try_from(at - now_secs).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follows_the_svix_schedule_then_gives_up() {
        let delays: Vec<Option<u64>> = (1..=8)
            .map(|n| next_delay(&DEFAULT_SCHEDULE_SECS, n, None))
            .collect();
        assert_eq!(
            delays,
            vec![
                Some(5),
                Some(300),
                Some(1_800),
                Some(7_200),
                Some(18_000),
                Some(36_000),
                Some(36_000),
                None
            ]
        );
        assert_eq!(next_delay(&DEFAULT_SCHEDULE_SECS, 0, None), None);
        assert_eq!(next_delay(&[], 1, None), None);
    }

    #[test]
    fn retry_after_lengthens_but_never_shortens_and_is_capped() {
        assert_eq!(next_delay(&[5, 300], 1, Some(60)), Some(60));
        assert_eq!(next_delay(&[5, 300], 2, Some(60)), Some(300));
        assert_eq!(next_delay(&[5], 1, Some(999_999)), Some(MAX_DELAY_SECS));
    }

    #[test]
    fn reads_retry_after_seconds_and_dates() {
        assert_eq!(parse_retry_after(" 120 ", 0), Some(120));
        // Sun, 06 Nov 1994 08:49:37 GMT = 784111777
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", 784_111_700),
            Some(77)
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", 784_111_800),
            Some(0)
        );
        assert_eq!(parse_retry_after("soon", 0), None);
    }
}
