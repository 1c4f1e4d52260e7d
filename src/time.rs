//! Calendar arithmetic on Unix milliseconds, free of any clock (callers pass `now`).

/// A UTC calendar date and time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Utc {
    /// Year, e.g. 2026.
    pub year: i64,
    /// Month 1–12.
    pub month: u32,
    /// Day 1–31.
    pub day: u32,
    /// Hour 0–23.
    pub hour: u32,
    /// Minute 0–59.
    pub minute: u32,
    /// Second 0–59.
    pub second: u32,
    /// Millisecond 0–999.
    pub millis: u32,
}

impl Utc {
    /// The UTC date and time `ms` milliseconds after the Unix epoch.
    pub fn from_millis(ms: i64) -> Utc {
        let days = ms.div_euclid(86_400_000);
        let rem = ms.rem_euclid(86_400_000);
        // Howard Hinnant's civil_from_days.
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
        let year = yoe + era * 400 + i64::from(month <= 2);
        Utc {
            year,
            month,
            day,
            hour: (rem / 3_600_000) as u32,
            minute: (rem / 60_000 % 60) as u32,
            second: (rem / 1000 % 60) as u32,
            millis: (rem % 1000) as u32,
        }
    }

    /// `YYYY-MM-DD`.
    pub fn date(&self) -> String {
        format!("{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }

    /// RFC 3339 with milliseconds, e.g. `2026-11-22T09:49:13.042Z`.
    pub fn rfc3339(&self) -> String {
        format!(
            "{}T{:02}:{:02}:{:02}.{:03}Z",
            self.date(),
            self.hour,
            self.minute,
            self.second,
            self.millis
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_instants() {
        assert_eq!(Utc::from_millis(0).rfc3339(), "1970-01-01T00:00:00.000Z");
        // `date -u -d @1614265330` → Thu Feb 25 15:02:10 UTC 2021
        assert_eq!(
            Utc::from_millis(1_614_265_330_123).rfc3339(),
            "2021-02-25T15:02:10.123Z"
        );
        // Leap day and end of year.
        assert_eq!(Utc::from_millis(1_709_208_000_000).date(), "2024-02-29");
        assert_eq!(
            Utc::from_millis(1_798_761_599_999).rfc3339(),
            "2026-12-31T23:59:59.999Z"
        );
    }
}
