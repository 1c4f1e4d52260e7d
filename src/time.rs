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

/// Unix seconds of a UTC calendar date and time (Howard Hinnant's days_from_civil).
pub fn unix_from_civil(
    year: i64,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    second: u32,
) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    days * 86_400 + i64::from(hour) * 3600 + i64::from(minute) * 60 + i64::from(second)
}

/// Parses an RFC 1123 date in GMT (`Sun, 21 Oct 2018 12:16:24 GMT`) into Unix seconds.
pub fn parse_rfc1123(s: &str) -> Option<i64> {
    let parts: Vec<&str> = s.split_ascii_whitespace().collect();
    let [dow, day, month, year, time, zone] = parts.as_slice() else {
        return None;
    };
    if *zone != "GMT" || !dow.ends_with(',') {
        return None;
    }
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let month = MONTHS.iter().position(|m| m == month)? as u32 + 1;
    let num = |t: &str, max: u32| -> Option<u32> {
        (t.len() <= 2 && !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()))
            .then(|| t.parse().ok())
            .flatten()
            .filter(|v| *v <= max)
    };
    let day = num(day, 31).filter(|d| *d >= 1)?;
    let year: i64 = (year.len() == 4 && year.bytes().all(|b| b.is_ascii_digit()))
        .then(|| year.parse().ok())
        .flatten()?;
    let mut hms = time.split(':');
    let (h, m, sec) = (
        num(hms.next()?, 23)?,
        num(hms.next()?, 59)?,
        num(hms.next()?, 60)?,
    );
    if hms.next().is_some() {
        return None;
    }
    Some(unix_from_civil(year, month, day, h, m, sec))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_rfc1123_gmt_dates() {
        // `date -u -d 'Sun, 21 Oct 2018 12:16:24 GMT' +%s` → 1540124184
        assert_eq!(
            parse_rfc1123("Sun, 21 Oct 2018 12:16:24 GMT"),
            Some(1_540_124_184)
        );
        assert_eq!(parse_rfc1123("Thu, 01 Jan 1970 00:00:00 GMT"), Some(0));
        assert_eq!(parse_rfc1123("Sun, 21 Oct 2018 12:16:24 UTC"), None);
        assert_eq!(parse_rfc1123("Sun, 21 Oct 2018 12:16 GMT"), None);
        assert_eq!(parse_rfc1123("21 Oct 2018 12:16:24 GMT"), None);
        assert_eq!(parse_rfc1123("Sun, 32 Oct 2018 12:16:24 GMT"), None);
        assert_eq!(parse_rfc1123(""), None);
    }

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
