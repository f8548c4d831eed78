//! Wall-clock time as a seam, so runners record event times a test can predict.
//!
//! Waiting (restart delays, kill timeouts) uses tokio's timer, which tests can pause;
//! this clock only says what time it is, for task events and the restart window.

use std::fmt::Debug;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Tells the wall-clock time.
pub trait Clock: Send + Sync + Debug {
    /// Nanoseconds since the Unix epoch.
    fn now_unix_ns(&self) -> i64;
}

/// The system's clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_unix_ns(&self) -> i64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
    }
}

/// A clock that says what it is told, and moves one nanosecond per reading so that
/// events keep their order.
#[derive(Debug, Default)]
pub struct FakeClock {
    now: AtomicI64,
}

impl FakeClock {
    pub fn new(start_unix_ns: i64) -> Self {
        Self {
            now: AtomicI64::new(start_unix_ns),
        }
    }

    pub fn set(&self, unix_ns: i64) {
        self.now.store(unix_ns, Ordering::SeqCst);
    }

    pub fn advance(&self, by: std::time::Duration) {
        let ns = i64::try_from(by.as_nanos()).unwrap_or(i64::MAX);
        self.now.fetch_add(ns, Ordering::SeqCst);
    }
}

impl Clock for FakeClock {
    fn now_unix_ns(&self) -> i64 {
        self.now.fetch_add(1, Ordering::SeqCst)
    }
}

/// Formats Unix nanoseconds as RFC 3339 in UTC with nanoseconds, the way Nomad's
/// JSON writes `StartedAt`/`FinishedAt`: `2024-03-01T12:00:00.000000001Z`.
pub fn rfc3339_nanos(unix_ns: i64) -> String {
    let secs = unix_ns.div_euclid(1_000_000_000);
    let nanos = unix_ns.rem_euclid(1_000_000_000);
    let days = secs.div_euclid(86_400);
    let day_secs = secs.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{nanos:09}Z",
        day_secs / 3600,
        (day_secs % 3600) / 60,
        day_secs % 60
    )
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (an era-based
/// computation over 400-year cycles).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (
        year,
        u32::try_from(month).unwrap_or(1),
        u32::try_from(day).unwrap_or(1),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_instants() {
        assert_eq!(rfc3339_nanos(0), "1970-01-01T00:00:00.000000000Z");
        assert_eq!(rfc3339_nanos(1), "1970-01-01T00:00:00.000000001Z");
        assert_eq!(
            rfc3339_nanos(951_782_400 * 1_000_000_000),
            "2000-02-29T00:00:00.000000000Z"
        );
        assert_eq!(
            rfc3339_nanos(1_709_294_400_123_000_000),
            "2024-03-01T12:00:00.123000000Z"
        );
        assert_eq!(rfc3339_nanos(-1), "1969-12-31T23:59:59.999999999Z");
    }

    #[test]
    fn fake_clock_moves_only_when_read_or_told() {
        let c = FakeClock::new(100);
        assert_eq!(c.now_unix_ns(), 100);
        assert_eq!(c.now_unix_ns(), 101);
        c.advance(std::time::Duration::from_nanos(10));
        assert_eq!(c.now_unix_ns(), 112);
        c.set(5);
        assert_eq!(c.now_unix_ns(), 5);
    }
}
