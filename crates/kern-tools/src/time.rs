//! Unix timestamps as calendar dates (no date-time dependency needed for this much).

/// `unix_secs` shifted by `offset_secs` (a time zone's UTC offset), as `YYYY-MM-DD` or, with
/// `with_time`, `YYYY-MM-DD HH:MM`.
pub(crate) fn format_local(unix_secs: i64, offset_secs: i64, with_time: bool) -> String {
    let local = unix_secs + offset_secs;
    let days = local.div_euclid(86_400);
    let secs_of_day = local.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    if with_time {
        format!(
            "{year:04}-{month:02}-{day:02} {:02}:{:02}",
            secs_of_day / 3600,
            secs_of_day % 3600 / 60
        )
    } else {
        format!("{year:04}-{month:02}-{day:02}")
    }
}

/// `unix_secs` as an RFC 3339 UTC date-time, `YYYY-MM-DDTHH:MM:SS+00:00`.
pub(crate) fn format_rfc3339_utc(unix_secs: i64) -> String {
    let days = unix_secs.div_euclid(86_400);
    let secs_of_day = unix_secs.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}+00:00",
        secs_of_day / 3600,
        secs_of_day % 3600 / 60,
        secs_of_day % 60
    )
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian calendar (Howard
/// Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_dates() {
        assert_eq!(format_local(0, 0, false), "1970-01-01");
        // 2024-06-07 13:30 UTC = 09:30 in New York (UTC-4).
        assert_eq!(
            format_local(1_717_767_000, -14_400, true),
            "2024-06-07 09:30"
        );
        assert_eq!(format_local(951_782_400, 0, false), "2000-02-29");
        assert_eq!(
            format_rfc3339_utc(1_700_000_000),
            "2023-11-14T22:13:20+00:00"
        );
        assert_eq!(format_local(-1, 0, true), "1969-12-31 23:59");
    }
}
