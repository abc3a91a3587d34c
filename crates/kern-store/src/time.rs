//! Timestamps in calendar form: the store's clock counts milliseconds since the Unix epoch
//! ([`now_millis`](crate::now_millis)); people and wire formats want `2025-06-10T12:00:00Z`.
//! One conversion for every crate above the store (the server's wire shapes, the agents'
//! pause requirements, the CLI's tables), without a date-time dependency for this much.
//! (kern-tools keeps its own, local-time variant: it depends on no other kern crate.)

/// A UTC instant, to the second, in the proleptic Gregorian calendar.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UtcTime {
    /// The year (may be before 1970 or after 9999 for extreme inputs).
    pub year: i64,
    /// The month, 1 to 12.
    pub month: u32,
    /// The day of the month, 1 to 31.
    pub day: u32,
    /// The hour, 0 to 23.
    pub hour: u32,
    /// The minute, 0 to 59.
    pub minute: u32,
    /// The second, 0 to 59.
    pub second: u32,
}

impl UtcTime {
    /// The instant `unix_secs` seconds after 1970-01-01T00:00:00Z (negative: before).
    pub fn from_unix_secs(unix_secs: i64) -> Self {
        let days = unix_secs.div_euclid(86_400);
        let secs = unix_secs.rem_euclid(86_400) as u32;
        // Howard Hinnant's civil_from_days.
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
        Self {
            year: yoe + era * 400 + i64::from(month <= 2),
            month,
            day,
            hour: secs / 3600,
            minute: secs % 3600 / 60,
            second: secs % 60,
        }
    }

    /// The instant `unix_millis` milliseconds after the epoch, to the second (rounded down).
    pub fn from_unix_millis(unix_millis: i64) -> Self {
        Self::from_unix_secs(unix_millis.div_euclid(1000))
    }

    /// `YYYY-MM-DD`.
    pub fn date(&self) -> String {
        format!("{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }

    /// `HH:MM:SS`.
    pub fn time(&self) -> String {
        format!("{:02}:{:02}:{:02}", self.hour, self.minute, self.second)
    }

    /// RFC 3339 with `zone` after the time: `"Z"` gives `2025-06-10T12:00:00Z`, `"+00:00"`
    /// the form Agno writes in some payloads.
    pub fn rfc3339(&self, zone: &str) -> String {
        format!("{}T{}{zone}", self.date(), self.time())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_instants() {
        assert_eq!(
            UtcTime::from_unix_secs(0).rfc3339("Z"),
            "1970-01-01T00:00:00Z"
        );
        assert_eq!(
            UtcTime::from_unix_secs(1_749_556_800).rfc3339("Z"),
            "2025-06-10T12:00:00Z"
        );
        // A leap day, the last second of a year, and before the epoch.
        assert_eq!(UtcTime::from_unix_secs(951_782_400).date(), "2000-02-29");
        assert_eq!(
            UtcTime::from_unix_secs(1_704_067_199).rfc3339("+00:00"),
            "2023-12-31T23:59:59+00:00"
        );
        assert_eq!(
            UtcTime::from_unix_secs(-1).rfc3339("Z"),
            "1969-12-31T23:59:59Z"
        );
        assert_eq!(
            UtcTime::from_unix_millis(1_749_556_800_999),
            UtcTime::from_unix_secs(1_749_556_800)
        );
    }
}
