//! Times as the CLI prints them: absolute RFC 3339 in UTC (`2024-05-01T10:00:00Z`) and
//! relative (`12s ago`), without a date crate.
//!
//! The API carries times as Unix nanoseconds (`CreateTime`, `SubmitTime`, task event
//! `Time`) or as RFC 3339 strings (`StartedAt`, file `ModTime`); both are handled here.
//! Only [`now_ns`] reads the clock; everything else takes `now` as an argument.

use std::time::{SystemTime, UNIX_EPOCH};

const NANOS_PER_SEC: i64 = 1_000_000_000;
const SECS_PER_DAY: i64 = 86_400;

/// The current time in Unix nanoseconds (the one place this module reads the clock).
pub(crate) fn now_ns() -> i64 {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_nanos()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_nanos()).unwrap_or(i64::MAX),
    }
}

/// Days since 1970-01-01 to a proleptic Gregorian (year, month 1-12, day 1-31).
///
/// Counts in 400-year eras whose years start in March, so that the leap day is the
/// last day of a year and month lengths follow a fixed 153-day pattern.
pub(crate) fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let shifted = days + 719_468; // days from 0000-03-01
    let era = shifted.div_euclid(146_097);
    let day_of_era = shifted.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let march_month = (5 * day_of_year + 2) / 153; // 0 = March .. 11 = February
    let day = day_of_year - (153 * march_month + 2) / 5 + 1;
    let month = if march_month < 10 {
        march_month + 3
    } else {
        march_month - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    // Both are in range by construction (1..=12 and 1..=31).
    (year, month as u32, day as u32)
}

/// The inverse of [`civil_from_days`].
pub(crate) fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year.rem_euclid(400);
    let march_month = i64::from((month + 9) % 12);
    let day_of_year = (153 * march_month + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// Unix nanoseconds as `2024-05-01T10:00:00Z` (UTC, whole seconds).
pub(crate) fn rfc3339(unix_ns: i64) -> String {
    let secs = unix_ns.div_euclid(NANOS_PER_SEC);
    let (year, month, day) = civil_from_days(secs.div_euclid(SECS_PER_DAY));
    let tod = secs.rem_euclid(SECS_PER_DAY);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        tod / 3_600,
        tod % 3_600 / 60,
        tod % 60
    )
}

/// Like [`rfc3339`], but `N/A` for an unset (zero or negative) time.
pub(crate) fn rfc3339_or_na(unix_ns: i64) -> String {
    if unix_ns <= 0 {
        "N/A".to_owned()
    } else {
        rfc3339(unix_ns)
    }
}

/// Parses RFC 3339 (`2024-05-01T10:00:00.123456789+02:00`, `...Z`) to Unix nanoseconds.
/// Go's zero time (`0001-01-01T00:00:00Z`) and anything unparsable give `None`.
pub(crate) fn parse_rfc3339(s: &str) -> Option<i64> {
    let s = s.trim();
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let num = |from: usize, to: usize| s.get(from..to)?.parse::<i64>().ok();
    let (year, month, day) = (num(0, 4)?, num(5, 7)?, num(8, 10)?);
    let (hour, minute, second) = (num(11, 13)?, num(14, 16)?, num(17, 19)?);
    if year <= 1 || !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    if hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let mut rest = &s[19..];
    let mut frac_ns = 0i64;
    if let Some(after_dot) = rest.strip_prefix('.') {
        let digits = after_dot.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        for (i, c) in after_dot[..digits].bytes().take(9).enumerate() {
            frac_ns += i64::from(c - b'0') * 10i64.pow(8 - i as u32);
        }
        rest = &after_dot[digits..];
    }
    let offset_secs = match rest {
        "Z" | "z" => 0,
        _ => {
            let sign = match rest.as_bytes().first()? {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let (h, m) = rest[1..].split_once(':')?;
            let (h, m) = (h.parse::<i64>().ok()?, m.parse::<i64>().ok()?);
            sign * (h * 3_600 + m * 60)
        }
    };
    let days = days_from_civil(year, month as u32, day as u32);
    let secs = days * SECS_PER_DAY + hour * 3_600 + minute * 60 + second - offset_secs;
    Some(secs * NANOS_PER_SEC + frac_ns)
}

/// An RFC 3339 string from the API, re-printed in UTC, or `N/A` when unset.
pub(crate) fn reformat_rfc3339(s: Option<&str>) -> String {
    s.and_then(parse_rfc3339)
        .map_or_else(|| "N/A".to_owned(), rfc3339)
}

/// A duration in nanoseconds as its two largest units: `12s`, `5m3s`, `2h`, `3d4h`.
pub(crate) fn short_duration(ns: i64) -> String {
    let mut secs = (ns.unsigned_abs() + 500_000_000) / 1_000_000_000;
    if secs == 0 {
        return "0s".to_owned();
    }
    let mut parts = Vec::with_capacity(2);
    for (unit, size) in [("d", 86_400u64), ("h", 3_600), ("m", 60), ("s", 1)] {
        let n = secs / size;
        secs %= size;
        if !parts.is_empty() {
            // Only the unit right after the largest one, and only when it is not zero.
            if n > 0 {
                parts.push(format!("{n}{unit}"));
            }
            break;
        }
        if n > 0 {
            parts.push(format!("{n}{unit}"));
        }
    }
    parts.concat()
}

/// How long before `now` a time was: `3s ago`, `1h2m ago`, `5s from now`; `N/A` when unset.
pub(crate) fn relative(then_ns: i64, now_ns: i64) -> String {
    if then_ns <= 0 {
        return "N/A".to_owned();
    }
    let diff = now_ns - then_ns;
    if diff >= 0 {
        format!("{} ago", short_duration(diff))
    } else {
        format!("{} from now", short_duration(diff))
    }
}

/// Parses a Go-style duration (`90s`, `1h30m`, `250ms`) to nanoseconds.
pub(crate) fn parse_duration(s: &str) -> Option<i64> {
    let s = s.trim();
    if s == "0" {
        return Some(0);
    }
    if s.is_empty() {
        return None;
    }
    let mut total: i64 = 0;
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest
            .bytes()
            .take_while(|b| b.is_ascii_digit() || *b == b'.')
            .count();
        let number: f64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit_len = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
        let scale: f64 = match &rest[..unit_len] {
            "ns" => 1.0,
            "us" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3_600e9,
            _ => return None,
        };
        rest = &rest[unit_len..];
        total = total.checked_add((number * scale).round() as i64)?;
    }
    Some(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: i64 = NANOS_PER_SEC;

    #[test]
    fn civil_round_trips_across_eras_and_leap_days() {
        for days in (-800_000..800_000).step_by(97) {
            let (y, m, d) = civil_from_days(days);
            assert!(
                (1..=12).contains(&m) && (1..=31).contains(&d),
                "{days}: {y}-{m}-{d}"
            );
            assert_eq!(days_from_civil(y, m, d), days);
        }
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(civil_from_days(11_017), (2000, 3, 1));
        assert_eq!(
            days_from_civil(2100, 3, 1) - days_from_civil(2100, 2, 28),
            1
        );
    }

    #[test]
    fn formats_unix_nanos_as_utc() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_714_557_600 * SEC + 999), "2024-05-01T10:00:00Z");
        assert_eq!(rfc3339(951_782_399 * SEC), "2000-02-28T23:59:59Z");
        assert_eq!(rfc3339(-SEC), "1969-12-31T23:59:59Z");
        assert_eq!(rfc3339_or_na(0), "N/A");
    }

    #[test]
    fn parses_rfc3339_with_fractions_and_offsets() {
        let base = 1_714_557_600 * SEC;
        assert_eq!(parse_rfc3339("2024-05-01T10:00:00Z"), Some(base));
        assert_eq!(
            parse_rfc3339("2024-05-01T10:00:00.5Z"),
            Some(base + SEC / 2)
        );
        assert_eq!(
            parse_rfc3339("2024-05-01T10:00:00.123456789Z"),
            Some(base + 123_456_789)
        );
        assert_eq!(parse_rfc3339("2024-05-01T12:00:00+02:00"), Some(base));
        assert_eq!(parse_rfc3339("2024-05-01T09:30:00.000-00:30"), Some(base));
        assert_eq!(parse_rfc3339("0001-01-01T00:00:00Z"), None);
        assert_eq!(parse_rfc3339("yesterday"), None);
        assert_eq!(parse_rfc3339("2024-05-01T10:00:00"), None);
        assert_eq!(
            reformat_rfc3339(Some("2024-05-01T12:00:00+02:00")),
            "2024-05-01T10:00:00Z"
        );
        assert_eq!(reformat_rfc3339(None), "N/A");
    }

    #[test]
    fn relative_times_keep_two_units() {
        let now = 1_000_000 * SEC;
        assert_eq!(relative(now - 3 * SEC, now), "3s ago");
        assert_eq!(relative(now, now), "0s ago");
        assert_eq!(relative(now - 62 * SEC, now), "1m2s ago");
        assert_eq!(relative(now - 3_600 * SEC, now), "1h ago");
        assert_eq!(relative(now - 3_725 * SEC, now), "1h2m ago");
        assert_eq!(relative(now - 3_605 * SEC, now), "1h ago");
        assert_eq!(
            relative(now - (2 * 86_400 + 3 * 3_600 + 7) * SEC, now),
            "2d3h ago"
        );
        assert_eq!(relative(now + 5 * SEC, now), "5s from now");
        assert_eq!(relative(0, now), "N/A");
        assert_eq!(short_duration(400_000_000), "0s");
        assert_eq!(short_duration(90 * SEC), "1m30s");
    }

    #[test]
    fn parses_go_durations() {
        assert_eq!(parse_duration("90s"), Some(90 * SEC));
        assert_eq!(parse_duration("1h30m"), Some(5_400 * SEC));
        assert_eq!(parse_duration("1.5s"), Some(1_500_000_000));
        assert_eq!(parse_duration("250ms"), Some(250_000_000));
        assert_eq!(parse_duration("0"), Some(0));
        for bad in ["", "5", "1d", "h", "1h-2m"] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
    }
}
