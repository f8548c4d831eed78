//! Time functions on RFC 3339 timestamps: formatdate and timeadd. No clock is read.

use hcl::Value;
use hcl::eval::FuncArgs;

use super::{Args, FnResult};

const NANOS_PER_SEC: i128 = 1_000_000_000;
const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const WEEKDAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];

/// An instant with the UTC offset it was written in.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Timestamp {
    /// Nanoseconds since 1970-01-01T00:00:00Z.
    utc_nanos: i128,
    /// Offset east of UTC, in seconds.
    offset: i64,
}

/// The calendar fields of a timestamp in its own offset.
#[derive(Debug)]
struct Civil {
    year: i64,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    second: u32,
    weekday: usize,
}

impl Timestamp {
    /// Parses `YYYY-MM-DDThh:mm:ss[.fraction](Z|+hh:mm|-hh:mm)`.
    fn parse(text: &str) -> Result<Timestamp, String> {
        let bad = |what: &str| format!("not a valid RFC3339 timestamp: {what}");
        let b = text.as_bytes();
        let num = |range: std::ops::Range<usize>, what: &str| -> Result<i64, String> {
            let part = b
                .get(range)
                .ok_or_else(|| bad(&format!("end of string before {what}")))?;
            if !part.iter().all(u8::is_ascii_digit) {
                return Err(bad(&format!(
                    "cannot use {:?} as {what}",
                    String::from_utf8_lossy(part)
                )));
            }
            Ok(part
                .iter()
                .fold(0i64, |acc, d| acc * 10 + i64::from(d - b'0')))
        };
        let expect = |i: usize, c: u8| -> Result<(), String> {
            match b.get(i) {
                Some(&x) if x == c => Ok(()),
                Some(&x) => Err(bad(&format!(
                    "found {:?} where {:?} is expected",
                    x as char, c as char
                ))),
                None => Err(bad(&format!(
                    "end of string where {:?} is expected",
                    c as char
                ))),
            }
        };
        let year = num(0..4, "year")?;
        expect(4, b'-')?;
        let month = num(5..7, "month")?;
        expect(7, b'-')?;
        let day = num(8..10, "day of month")?;
        if b.get(10) != Some(&b'T') {
            return Err(bad("missing required time introducer 'T'"));
        }
        let hour = num(11..13, "hour")?;
        expect(13, b':')?;
        let minute = num(14..16, "minute")?;
        expect(16, b':')?;
        let second = num(17..19, "second")?;
        let mut i = 19;
        let mut nanos: i128 = 0;
        if b.get(i) == Some(&b'.') {
            i += 1;
            let start = i;
            while b.get(i).is_some_and(u8::is_ascii_digit) {
                i += 1;
            }
            if i == start {
                return Err(bad("missing fractional seconds"));
            }
            let frac = &text[start..i.min(start + 9)];
            nanos = frac.parse::<i128>().unwrap_or(0) * 10i128.pow(9 - frac.len() as u32);
        }
        let offset = match b.get(i) {
            Some(b'Z') if i + 1 == b.len() => 0,
            Some(&sign @ (b'+' | b'-')) if i + 6 == b.len() => {
                let h = num(i + 1..i + 3, "UTC offset")?;
                expect(i + 3, b':')?;
                let m = num(i + 4..i + 6, "UTC offset")?;
                if h > 23 || m > 59 {
                    return Err(bad("UTC offset out of range"));
                }
                let secs = h * 3600 + m * 60;
                if sign == b'-' { -secs } else { secs }
            }
            None => return Err(bad("end of string before UTC offset")),
            Some(_) => return Err(bad(&format!("cannot use {:?} as UTC offset", &text[i..]))),
        };
        if !(1..=12).contains(&month) {
            return Err(bad("month out of range"));
        }
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        if day < 1 || day > i64::from(days_in_month(year, month as u32)) {
            return Err(bad("day out of range"));
        }
        if hour > 23 || minute > 59 || second > 59 {
            return Err(bad("time of day out of range"));
        }
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let days = days_from_civil(year, month as u32, day as u32);
        let local = days * 86_400 + hour * 3600 + minute * 60 + second;
        Ok(Timestamp {
            utc_nanos: i128::from(local - offset) * NANOS_PER_SEC + nanos,
            offset,
        })
    }

    fn civil(&self) -> Civil {
        let local_secs = self.utc_nanos.div_euclid(NANOS_PER_SEC) + i128::from(self.offset);
        #[allow(clippy::cast_possible_truncation)]
        let local_secs = local_secs as i64;
        let days = local_secs.div_euclid(86_400);
        let rem = local_secs.rem_euclid(86_400);
        let (year, month, day) = civil_from_days(days);
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        Civil {
            year,
            month,
            day,
            hour: (rem / 3600) as u32,
            minute: (rem % 3600 / 60) as u32,
            second: (rem % 60) as u32,
            // 1970-01-01 was a Thursday.
            weekday: (days + 4).rem_euclid(7) as usize,
        }
    }

    /// RFC 3339 with whole seconds, as Go's `time.RFC3339` layout writes it.
    fn rfc3339(&self) -> String {
        let c = self.civil();
        format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}{}",
            c.year,
            c.month,
            c.day,
            c.hour,
            c.minute,
            c.second,
            self.zone(true, true)
        )
    }

    /// The offset as `+hh:mm` (`colon`) or `+hhmm`; `Z` for UTC when `z_for_utc`.
    fn zone(&self, colon: bool, z_for_utc: bool) -> String {
        if self.offset == 0 && z_for_utc {
            return "Z".to_string();
        }
        let sign = if self.offset < 0 { '-' } else { '+' };
        let abs = self.offset.abs();
        let (h, m) = (abs / 3600, abs % 3600 / 60);
        if colon {
            format!("{sign}{h:02}:{m:02}")
        } else {
            format!("{sign}{h:02}{m:02}")
        }
    }
}

fn is_leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (the era-based method: years
/// start in March so the leap day falls at the end).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let year_of_era = y.rem_euclid(400);
    let shifted_month = i64::from((month + 9) % 12);
    let day_of_year = (153 * shifted_month + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The inverse of [`days_from_civil`].
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let day = (day_of_year - (153 * mp + 2) / 5 + 1) as u32;
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// `formatdate(spec, timestamp)`. The spec's letters are verbs, repeated to pick a form:
/// `YYYY YY`, `MMMM MMM MM M`, `DD D`, `EEEE EEE`, `hh h` (24-hour), `HH H` (12-hour),
/// `AA aa`, `mm m`, `ss s`, `ZZZZZ` (+07:00), `ZZZZ` (+0700), `ZZZ` (UTC or +0700),
/// `Z` (Z or +07:00). Text in single quotes is literal; `''` is a quote.
pub(super) fn formatdate(args: FuncArgs) -> FnResult {
    let a = Args::new("formatdate", &args);
    let spec = a.string(0)?;
    let ts = Timestamp::parse(&a.string(1)?).map_err(|e| a.err(e))?;
    let c = ts.civil();
    let chars: Vec<char> = spec.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        let ch = chars[i];
        if ch == '\'' {
            i += 1;
            if chars.get(i) == Some(&'\'') {
                out.push('\'');
                i += 1;
                continue;
            }
            loop {
                match chars.get(i) {
                    None => return Err(a.err("unterminated literal '")),
                    Some('\'') if chars.get(i + 1) == Some(&'\'') => {
                        out.push('\'');
                        i += 2;
                    }
                    Some('\'') => {
                        i += 1;
                        break;
                    }
                    Some(&c) => {
                        out.push(c);
                        i += 1;
                    }
                }
            }
            continue;
        }
        if !ch.is_ascii_alphabetic() {
            out.push(ch);
            i += 1;
            continue;
        }
        let start = i;
        while chars.get(i) == Some(&ch) {
            i += 1;
        }
        let n = i - start;
        let token: String = chars[start..i].iter().collect();
        let invalid = |why: &str| {
            let sep = if why.is_empty() { "" } else { ": " };
            a.err(format_args!("invalid date format verb {token:?}{sep}{why}"))
        };
        let month_name = MONTHS[(c.month as usize).saturating_sub(1) % 12];
        let hour12 = if c.hour % 12 == 0 { 12 } else { c.hour % 12 };
        match (ch, n) {
            ('Y', 2) => out.push_str(&format!("{:02}", c.year.rem_euclid(100))),
            ('Y', 4) => out.push_str(&format!("{:04}", c.year)),
            ('Y', _) => return Err(invalid("year must either be \"YY\" or \"YYYY\"")),
            ('M', 1) => out.push_str(&c.month.to_string()),
            ('M', 2) => out.push_str(&format!("{:02}", c.month)),
            ('M', 3) => out.push_str(&month_name[..3]),
            ('M', 4) => out.push_str(month_name),
            ('M', _) => {
                return Err(invalid("month must be \"M\", \"MM\", \"MMM\", or \"MMMM\""));
            }
            ('D', 1) => out.push_str(&c.day.to_string()),
            ('D', 2) => out.push_str(&format!("{:02}", c.day)),
            ('D', _) => return Err(invalid("day of month must either be \"D\" or \"DD\"")),
            ('E', 3) => out.push_str(&WEEKDAYS[c.weekday][..3]),
            ('E', 4) => out.push_str(WEEKDAYS[c.weekday]),
            ('E', _) => return Err(invalid("day of week must either be \"EEE\" or \"EEEE\"")),
            ('h', 1) => out.push_str(&c.hour.to_string()),
            ('h', 2) => out.push_str(&format!("{:02}", c.hour)),
            ('h', _) => return Err(invalid("24-hour must either be \"h\" or \"hh\"")),
            ('H', 1) => out.push_str(&hour12.to_string()),
            ('H', 2) => out.push_str(&format!("{hour12:02}")),
            ('H', _) => return Err(invalid("12-hour must either be \"H\" or \"HH\"")),
            ('A', 2) => out.push_str(if c.hour < 12 { "AM" } else { "PM" }),
            ('a', 2) => out.push_str(if c.hour < 12 { "am" } else { "pm" }),
            ('A' | 'a', _) => return Err(invalid(&format!("must be \"{ch}{ch}\""))),
            ('m', 1) => out.push_str(&c.minute.to_string()),
            ('m', 2) => out.push_str(&format!("{:02}", c.minute)),
            ('m', _) => return Err(invalid("minute must either be \"m\" or \"mm\"")),
            ('s', 1) => out.push_str(&c.second.to_string()),
            ('s', 2) => out.push_str(&format!("{:02}", c.second)),
            ('s', _) => return Err(invalid("second must either be \"s\" or \"ss\"")),
            ('Z', 1) => out.push_str(&ts.zone(true, true)),
            ('Z', 3) if ts.offset == 0 => out.push_str("UTC"),
            ('Z', 3 | 4) => out.push_str(&ts.zone(false, false)),
            ('Z', 5) => out.push_str(&ts.zone(true, false)),
            ('Z', _) => return Err(invalid("timezone must be Z, ZZZZ, or ZZZZZ")),
            _ => return Err(invalid("")),
        }
    }
    Ok(Value::String(out))
}

/// `timeadd(timestamp, duration)`: the duration in Go's syntax (`"1h30m"`, `"-10s"`,
/// `"1.5h"`; units ns, us, µs, ms, s, m, h). The result keeps the timestamp's offset and
/// drops fractional seconds, as Go's RFC 3339 layout does.
pub(super) fn timeadd(args: FuncArgs) -> FnResult {
    let a = Args::new("timeadd", &args);
    let ts = Timestamp::parse(&a.string(0)?).map_err(|e| a.err(e))?;
    let duration = parse_duration(&a.string(1)?).map_err(|e| a.err(e))?;
    let moved = Timestamp {
        utc_nanos: ts.utc_nanos + duration,
        offset: ts.offset,
    };
    Ok(Value::String(moved.rfc3339()))
}

/// A Go duration string in nanoseconds.
fn parse_duration(text: &str) -> Result<i128, String> {
    let invalid = || format!("invalid duration {text:?}");
    let (negative, mut rest) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    if rest == "0" {
        return Ok(0);
    }
    if rest.is_empty() {
        return Err(invalid());
    }
    let mut total: i128 = 0;
    while !rest.is_empty() {
        let int_len = rest.bytes().take_while(u8::is_ascii_digit).count();
        let int_part = &rest[..int_len];
        rest = &rest[int_len..];
        let mut frac_part = "";
        if let Some(after_dot) = rest.strip_prefix('.') {
            let frac_len = after_dot.bytes().take_while(u8::is_ascii_digit).count();
            frac_part = &after_dot[..frac_len];
            rest = &after_dot[frac_len..];
        }
        if int_part.is_empty() && frac_part.is_empty() {
            return Err(invalid());
        }
        let unit_len = rest
            .char_indices()
            .find(|(_, c)| c.is_ascii_digit() || *c == '.')
            .map_or(rest.len(), |(i, _)| i);
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let scale: i128 = match unit {
            "ns" => 1,
            "us" | "\u{b5}s" | "\u{3bc}s" => 1_000,
            "ms" => 1_000_000,
            "s" => NANOS_PER_SEC,
            "m" => 60 * NANOS_PER_SEC,
            "h" => 3600 * NANOS_PER_SEC,
            "" => return Err(format!("missing unit in duration {text:?}")),
            other => return Err(format!("unknown unit {other:?} in duration {text:?}")),
        };
        let whole: i128 = if int_part.is_empty() {
            0
        } else {
            int_part.parse().map_err(|_| invalid())?
        };
        let mut value = whole.checked_mul(scale).ok_or_else(invalid)?;
        if !frac_part.is_empty() {
            let digits = &frac_part[..frac_part.len().min(18)];
            let frac: i128 = digits.parse().map_err(|_| invalid())?;
            value += frac * scale / 10i128.pow(digits.len() as u32);
        }
        total = total.checked_add(value).ok_or_else(invalid)?;
    }
    Ok(if negative { -total } else { total })
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{fails, ok, s};
    use super::{civil_from_days, days_from_civil};

    #[test]
    fn civil_day_arithmetic_round_trips() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(days_from_civil(1969, 12, 31), -1);
        for days in [-800_000, -1, 0, 59, 60, 11_016, 19_000, 2_932_896] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
    }

    #[test]
    fn formatdate_examples() {
        assert_eq!(
            ok(r#"formatdate("DD MMM YYYY hh:mm ZZZ", "2018-01-02T23:12:01Z")"#),
            s("02 Jan 2018 23:12 UTC")
        );
        assert_eq!(
            ok(r#"formatdate("EEEE, DD-MMM-YY hh:mm:ss ZZZ", "2018-01-02T23:12:01Z")"#),
            s("Tuesday, 02-Jan-18 23:12:01 UTC")
        );
        assert_eq!(
            ok(r#"formatdate("EEE, DD MMM YYYY hh:mm:ss ZZZ", "2018-01-02T23:12:01-08:00")"#),
            s("Tue, 02 Jan 2018 23:12:01 -0800")
        );
        assert_eq!(
            ok(r#"formatdate("MMM DD, YYYY", "2018-01-02T23:12:01Z")"#),
            s("Jan 02, 2018")
        );
        assert_eq!(
            ok(r#"formatdate("HH:mmaa", "2018-01-02T23:12:01Z")"#),
            s("11:12pm")
        );
        assert_eq!(
            ok(r#"formatdate("H AA", "2018-01-02T00:05:01Z")"#),
            s("12 AM")
        );
        assert_eq!(
            ok(r#"formatdate("YYYY-MM-DD'T'hh:mm:ssZ", "2024-02-29T08:09:10.5+05:30")"#),
            s("2024-02-29T08:09:10+05:30")
        );
        assert_eq!(
            ok(r#"formatdate("M/D h:m:s Z", "2024-03-04T05:06:07Z")"#),
            s("3/4 5:6:7 Z")
        );
        assert_eq!(
            ok(r#"formatdate("ZZZZ ZZZZZ", "2024-03-04T05:06:07Z")"#),
            s("+0000 +00:00")
        );
        assert_eq!(
            ok(r#"formatdate("MMMM 'o''clock' ''", "2024-12-04T05:06:07Z")"#),
            s("December o'clock '")
        );
    }

    #[test]
    fn formatdate_errors() {
        fails(
            r#"formatdate("YYY", "2018-01-02T23:12:01Z")"#,
            "formatdate: invalid date format verb \"YYY\": year must either be \"YY\" or \"YYYY\"",
        );
        fails(
            r#"formatdate("x", "2018-01-02T23:12:01Z")"#,
            "invalid date format verb \"x\"",
        );
        fails(
            r#"formatdate("'abc", "2018-01-02T23:12:01Z")"#,
            "unterminated literal",
        );
        fails(
            r#"formatdate("YYYY", "2018-01-02")"#,
            "formatdate: not a valid RFC3339 timestamp: missing required time introducer 'T'",
        );
        fails(
            r#"formatdate("YYYY", "2018-13-02T00:00:00Z")"#,
            "month out of range",
        );
        fails(
            r#"formatdate("YYYY", "2019-02-29T00:00:00Z")"#,
            "day out of range",
        );
        fails(
            r#"formatdate("YYYY", "2018-01-02T00:00:00")"#,
            "end of string before UTC offset",
        );
        fails(
            r#"formatdate("YYYY", "2018-01-02T00:00:00+0100")"#,
            "cannot use \"+0100\" as UTC offset",
        );
    }

    #[test]
    fn timeadd_examples() {
        assert_eq!(
            ok(r#"timeadd("2017-11-22T00:00:00Z", "10m")"#),
            s("2017-11-22T00:10:00Z")
        );
        assert_eq!(
            ok(r#"timeadd("2017-11-22T00:00:00Z", "-1h30m")"#),
            s("2017-11-21T22:30:00Z")
        );
        assert_eq!(
            ok(r#"timeadd("2017-12-31T23:59:59+01:00", "1.5s")"#),
            s("2018-01-01T00:00:00+01:00")
        );
        assert_eq!(
            ok(r#"timeadd("2024-02-28T12:00:00Z", "24h")"#),
            s("2024-02-29T12:00:00Z")
        );
        assert_eq!(
            ok(r#"timeadd("2024-01-01T00:00:00Z", "0")"#),
            s("2024-01-01T00:00:00Z")
        );
        assert_eq!(
            ok(r#"timeadd("2024-01-01T00:00:00Z", "1500ms")"#),
            s("2024-01-01T00:00:01Z")
        );
        fails(
            r#"timeadd("2024-01-01T00:00:00Z", "1d")"#,
            "timeadd: unknown unit \"d\" in duration \"1d\"",
        );
        fails(
            r#"timeadd("2024-01-01T00:00:00Z", "10")"#,
            "missing unit in duration",
        );
        fails(r#"timeadd("2024-01-01T00:00:00Z", "")"#, "invalid duration");
        fails(
            r#"timeadd("yesterday", "1h")"#,
            "timeadd: not a valid RFC3339 timestamp",
        );
    }
}
