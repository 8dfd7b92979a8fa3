//! Calendar time as the formats atelier writes want it.

/// Seconds since 1970 as `YYYY-MM-DDTHH:MM:SSZ` (RFC 3339, UTC).
pub fn utc(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rest = secs % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

/// A point in time, as [`utc`] writes it (times before 1970 as 1970).
pub fn utc_of(time: std::time::SystemTime) -> String {
    utc(time
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs()))
}

/// Now, as [`utc`] writes it.
pub fn utc_now() -> String {
    utc_of(std::time::SystemTime::now())
}

#[cfg(test)]
mod tests {
    #[test]
    fn utc_writes_rfc3339() {
        assert_eq!(super::utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(super::utc(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(super::utc(1_796_428_799), "2026-12-04T23:59:59Z");
    }
}
