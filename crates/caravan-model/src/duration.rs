//! Durations as Nomad's API carries them: signed 64-bit nanoseconds.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A duration in nanoseconds. Signed, as in Go, so that validation can name a
/// negative value instead of the parser silently refusing it.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Duration(pub i64);

const NS_PER_US: i64 = 1_000;
const NS_PER_MS: i64 = 1_000_000;
const NS_PER_S: i64 = 1_000_000_000;
const NS_PER_M: i64 = 60 * NS_PER_S;
const NS_PER_H: i64 = 60 * NS_PER_M;

/// A duration string that is not in Go's `time.ParseDuration` syntax.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid duration {input:?}: {reason}")]
pub struct ParseDurationError {
    pub input: String,
    pub reason: &'static str,
}

impl Duration {
    pub const ZERO: Duration = Duration(0);

    pub const fn from_nanos(ns: i64) -> Self {
        Self(ns)
    }

    pub const fn from_millis(ms: i64) -> Self {
        Self(ms * NS_PER_MS)
    }

    pub const fn from_secs(s: i64) -> Self {
        Self(s * NS_PER_S)
    }

    pub const fn from_mins(m: i64) -> Self {
        Self(m * NS_PER_M)
    }

    pub const fn from_hours(h: i64) -> Self {
        Self(h * NS_PER_H)
    }

    pub const fn as_nanos(self) -> i64 {
        self.0
    }

    pub const fn is_negative(self) -> bool {
        self.0 < 0
    }

    /// The std duration; a negative value becomes zero.
    pub fn to_std(self) -> std::time::Duration {
        std::time::Duration::from_nanos(u64::try_from(self.0).unwrap_or(0))
    }

    /// Parses Go's duration syntax: `300ms`, `1.5h`, `2h45m`, `-5s`, `0`.
    pub fn parse(input: &str) -> Result<Self, ParseDurationError> {
        let err = |reason| ParseDurationError {
            input: input.to_owned(),
            reason,
        };
        let mut s = input.trim();
        let negative = match s.as_bytes().first() {
            Some(b'-') => {
                s = &s[1..];
                true
            }
            Some(b'+') => {
                s = &s[1..];
                false
            }
            _ => false,
        };
        if s == "0" {
            return Ok(Self::ZERO);
        }
        if s.is_empty() {
            return Err(err("empty"));
        }
        let mut total: f64 = 0.0;
        while !s.is_empty() {
            let num_len = s
                .find(|c: char| !(c.is_ascii_digit() || c == '.'))
                .ok_or_else(|| err("missing unit"))?;
            if num_len == 0 {
                return Err(err("expected a number"));
            }
            let value: f64 = s[..num_len].parse().map_err(|_| err("bad number"))?;
            s = &s[num_len..];
            let unit_len = s
                .find(|c: char| c.is_ascii_digit() || c == '.')
                .unwrap_or(s.len());
            let scale = match &s[..unit_len] {
                "ns" => 1,
                "us" | "µs" | "μs" => NS_PER_US,
                "ms" => NS_PER_MS,
                "s" => NS_PER_S,
                "m" => NS_PER_M,
                "h" => NS_PER_H,
                "" => return Err(err("missing unit")),
                _ => return Err(err("unknown unit (use ns, us, ms, s, m or h)")),
            };
            s = &s[unit_len..];
            total += value * scale as f64;
        }
        if total > i64::MAX as f64 {
            return Err(err("overflows 64-bit nanoseconds"));
        }
        let ns = total.round() as i64;
        Ok(Self(if negative { -ns } else { ns }))
    }
}

impl fmt::Display for Duration {
    /// Formats as Go's `time.Duration.String()` does for whole units: `1h30m0s`, `5s`, `250ms`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut ns = self.0;
        if ns == 0 {
            return f.write_str("0s");
        }
        if ns < 0 {
            f.write_str("-")?;
            ns = ns.checked_neg().unwrap_or(i64::MAX);
        }
        if ns < NS_PER_S {
            return if ns % NS_PER_MS == 0 {
                write!(f, "{}ms", ns / NS_PER_MS)
            } else if ns % NS_PER_US == 0 {
                write!(f, "{}µs", ns / NS_PER_US)
            } else {
                write!(f, "{ns}ns")
            };
        }
        let h = ns / NS_PER_H;
        let m = (ns % NS_PER_H) / NS_PER_M;
        let s = (ns % NS_PER_M) / NS_PER_S;
        let frac = ns % NS_PER_S;
        if h > 0 {
            write!(f, "{h}h{m}m")?;
        } else if m > 0 {
            write!(f, "{m}m")?;
        }
        if frac == 0 {
            write!(f, "{s}s")
        } else {
            let digits = format!("{frac:09}");
            write!(f, "{s}.{}s", digits.trim_end_matches('0'))
        }
    }
}

impl From<std::time::Duration> for Duration {
    fn from(d: std::time::Duration) -> Self {
        Self(i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_go_syntax() {
        assert_eq!(Duration::parse("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(Duration::parse("300ms"), Ok(Duration::from_millis(300)));
        assert_eq!(Duration::parse("1h30m"), Ok(Duration::from_mins(90)));
        assert_eq!(Duration::parse("1.5h"), Ok(Duration::from_mins(90)));
        assert_eq!(Duration::parse("-5s"), Ok(Duration::from_secs(-5)));
        assert_eq!(Duration::parse("0"), Ok(Duration::ZERO));
        assert_eq!(Duration::parse("10us"), Ok(Duration::from_nanos(10_000)));
    }

    #[test]
    fn refuses_bad_input() {
        for bad in ["", "5", "5x", "s", "1h 30m", "--5s"] {
            assert!(Duration::parse(bad).is_err(), "{bad:?} should not parse");
        }
    }

    #[test]
    fn displays_like_go() {
        assert_eq!(Duration::from_secs(5).to_string(), "5s");
        assert_eq!(Duration::from_mins(90).to_string(), "1h30m0s");
        assert_eq!(Duration::from_millis(250).to_string(), "250ms");
        assert_eq!(Duration::from_millis(1500).to_string(), "1.5s");
        assert_eq!(Duration::from_secs(-3).to_string(), "-3s");
        assert_eq!(Duration::ZERO.to_string(), "0s");
    }

    #[test]
    fn display_parses_back() {
        for ns in [
            1,
            999,
            1_000,
            5 * NS_PER_S,
            90 * NS_PER_M + 7,
            25 * NS_PER_H,
        ] {
            let d = Duration(ns);
            assert_eq!(Duration::parse(&d.to_string()), Ok(d));
        }
    }

    #[test]
    fn serializes_as_nanoseconds() {
        assert_eq!(
            serde_json::to_string(&Duration::from_secs(5)).ok(),
            Some("5000000000".into())
        );
    }
}
