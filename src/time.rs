//! Dates, free of any clock (callers pass `now`): Unix milliseconds as UTC calendar
//! fields (chrono) and HTTP dates read into Unix seconds (httpdate).

use chrono::{Datelike, Timelike};

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
    /// The UTC date and time `ms` milliseconds after the Unix epoch (chrono's calendar;
    /// instants beyond its ±262 000 years read as its last one).
    pub fn from_millis(ms: i64) -> Utc {
        let t = chrono::DateTime::from_timestamp_millis(ms)
            .unwrap_or(chrono::DateTime::<chrono::Utc>::MAX_UTC);
        Utc {
            year: i64::from(t.year()),
            month: t.month(),
            day: t.day(),
            hour: t.hour(),
            minute: t.minute(),
            second: t.second(),
            millis: t.timestamp_subsec_millis(),
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

/// The Unix second of an instant in Unix milliseconds (the runtime clock's unit).
/// Instants in seconds are `i64` throughout (JWT NumericDate, D1 columns, chrono);
/// milliseconds stay `u64`, as `worker::Date::as_millis` gives them.
pub fn secs(ms: u64) -> i64 {
    i64::try_from(ms / 1000).unwrap_or(i64::MAX)
}

/// Unix seconds of an HTTP date (RFC 9110 §5.6.7), read by `httpdate`: the IMF-fixdate
/// `Sun, 06 Nov 1994 08:49:37 GMT` (RFC 1123's form, always GMT, weekday checked), and
/// the obsolete RFC 850 and asctime forms every HTTP recipient must accept.
pub fn parse_http_date(s: &str) -> Option<i64> {
    let at = httpdate::parse_http_date(s.trim()).ok()?;
    let secs = at.duration_since(std::time::UNIX_EPOCH).ok()?.as_secs();
    i64::try_from(secs).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_http_dates() {
        // `date -u -d 'Sun, 21 Oct 2018 12:16:24 GMT' +%s` → 1540124184
        for form in [
            "Sun, 21 Oct 2018 12:16:24 GMT",
            "Sunday, 21-Oct-18 12:16:24 GMT",
            "Sun Oct 21 12:16:24 2018",
        ] {
            assert_eq!(parse_http_date(form), Some(1_540_124_184), "{form}");
        }
        assert_eq!(parse_http_date("Thu, 01 Jan 1970 00:00:00 GMT"), Some(0));
        assert_eq!(
            parse_http_date("Thu, 29 Feb 2024 00:00:00 GMT"),
            Some(1_709_164_800)
        );
        for bad in [
            "Sun, 21 Oct 2018 12:16:24 UTC",
            "Sun, 21 Oct 2018 12:16 GMT",
            "21 Oct 2018 12:16:24 GMT",
            "Sun, 32 Oct 2018 12:16:24 GMT",
            "Mon, 21 Oct 2018 12:16:24 GMT", // the wrong weekday
            "Fri, 29 Feb 2019 00:00:00 GMT", // no such day
            "Sun, 21 Oct 2018 12:16:60 GMT",
            "2018-10-21T12:16:24Z",
            "",
        ] {
            assert_eq!(parse_http_date(bad), None, "{bad}");
        }
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
