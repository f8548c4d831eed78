//! Where a container's output goes: the task's rotating log files, fed from the
//! Engine's log stream (`follow`, stdout and stderr apart, each line stamped).
//!
//! Every line comes with the Engine's timestamp, and the sink remembers the newest
//! one written per stream. That makes the stream resumable without duplicates: after
//! a dropped connection it is re-requested from that time. The stamp is also set as
//! the log file's modification time after each write (the kernel's own is too coarse
//! to compare with), so that after an agent restart the stream resumes exactly after
//! the last line the files hold.

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bollard::Docker;
use bollard::container::LogOutput;
use bollard::query_parameters::LogsOptions;
use futures_util::StreamExt;

use super::api;
use crate::{DriverError, LogSpec, RotatingLog, log_files};

/// How long to wait before asking again for the output of a container that still
/// runs but whose stream ended (the Engine restarted, a connection dropped).
const RECONNECT_PAUSE: Duration = Duration::from_millis(500);
const NANOS_PER_SEC: u128 = 1_000_000_000;

/// The two log files of one task, and how far each has been written.
#[derive(Debug)]
pub(crate) struct LogSink {
    stdout: RotatingLog,
    stderr: RotatingLog,
    /// Per stream (stdout, stderr): the Engine timestamp (ns since the epoch) of the
    /// newest line written; lines not newer are skipped.
    written_until: [Option<u128>; 2],
}

impl LogSink {
    /// Opens the task's log files. With `resume`, lines the files already hold (not
    /// newer than their last write) will be skipped.
    pub(crate) fn open(task: &str, logs: &LogSpec, resume: bool) -> Result<Self, DriverError> {
        let written_until = if resume {
            [last_write(&logs.stdout_base), last_write(&logs.stderr_base)]
        } else {
            [None, None]
        };
        Ok(Self {
            stdout: open_log(task, logs, &logs.stdout_base)?,
            stderr: open_log(task, logs, &logs.stderr_base)?,
            written_until,
        })
    }

    /// Copies the container's output until it has stopped, reconnecting while it
    /// still runs.
    pub(crate) async fn follow(mut self, docker: &Docker, container: &str) {
        loop {
            let options = LogsOptions {
                follow: true,
                stdout: true,
                stderr: true,
                timestamps: true,
                since: self.since_secs(),
                ..LogsOptions::default()
            };
            let mut stream = docker.logs(container, Some(options));
            while let Some(item) = stream.next().await {
                match item {
                    Ok(LogOutput::StdOut { message } | LogOutput::Console { message }) => {
                        self.write(0, &message);
                    }
                    Ok(LogOutput::StdErr { message }) => self.write(1, &message),
                    Ok(LogOutput::StdIn { .. }) => {}
                    // The Engine answered and refused (gone, or a log driver that
                    // cannot be read): asking again would not help.
                    Err(e) if api::is_refusal(&e) => return,
                    Err(_) => break,
                }
            }
            // The stream ends when the container stops, or when the connection drops.
            match docker.inspect_container(container, None).await {
                Ok(c) if c.state.as_ref().and_then(|s| s.running).unwrap_or(false) => {
                    tokio::time::sleep(RECONNECT_PAUSE).await;
                }
                _ => return,
            }
        }
    }

    /// Writes one stamped frame of stream `index` (0 stdout, 1 stderr).
    fn write(&mut self, index: usize, frame: &[u8]) {
        let (stamp, line) = split_timestamp(frame);
        if let Some(stamp) = stamp {
            if self.written_until[index].is_some_and(|until| stamp <= until) {
                return;
            }
            self.written_until[index] = Some(stamp);
        }
        let log = if index == 0 {
            &mut self.stdout
        } else {
            &mut self.stderr
        };
        // As in `pump_log`: a failed write loses the chunk, the stream goes on.
        if log.write(line).is_ok()
            && let Some(stamp) = stamp
        {
            let _ = log.set_modified(from_nanos(stamp));
        }
    }

    /// The `since` to ask for: the oldest point either stream may still lack (the
    /// Engine filters by whole seconds; `write` drops what is older).
    fn since_secs(&self) -> i32 {
        match self.written_until {
            [Some(a), Some(b)] => i32::try_from(a.min(b) / NANOS_PER_SEC).unwrap_or(0),
            _ => 0,
        }
    }
}

fn from_nanos(nanos: u128) -> SystemTime {
    let secs = u64::try_from(nanos / NANOS_PER_SEC).unwrap_or(u64::MAX);
    // The remainder is below 10^9.
    let sub = u32::try_from(nanos % NANOS_PER_SEC).unwrap_or(0);
    UNIX_EPOCH + Duration::new(secs, sub)
}

/// When the newest file of `base` was last written (the stamp of its last line), in
/// ns since the epoch.
fn last_write(base: &Path) -> Option<u128> {
    let (_, newest) = log_files(base).ok()?.pop()?;
    let modified = std::fs::metadata(newest).ok()?.modified().ok()?;
    Some(modified.duration_since(UNIX_EPOCH).ok()?.as_nanos())
}

fn open_log(task: &str, logs: &LogSpec, base: &Path) -> Result<RotatingLog, DriverError> {
    let log_error = |source| DriverError::Log {
        task: task.to_owned(),
        path: base.to_path_buf(),
        source,
    };
    if let Some(dir) = base.parent() {
        std::fs::create_dir_all(dir).map_err(log_error)?;
    }
    RotatingLog::open(base, logs.max_files, logs.max_file_bytes()).map_err(log_error)
}

/// Splits `<RFC 3339 timestamp> <line>` as the Engine writes it with `timestamps`;
/// a frame without a readable stamp is kept whole.
fn split_timestamp(frame: &[u8]) -> (Option<u128>, &[u8]) {
    let Some(space) = frame.iter().take(40).position(|b| *b == b' ') else {
        return (None, frame);
    };
    match std::str::from_utf8(&frame[..space])
        .ok()
        .and_then(parse_rfc3339)
    {
        Some(stamp) => (Some(stamp), &frame[space + 1..]),
        None => (None, frame),
    }
}

/// `2024-05-01T12:34:56.123456789Z` (or with a `+hh:mm` offset) in ns since the
/// epoch.
fn parse_rfc3339(s: &str) -> Option<u128> {
    let b = s.as_bytes();
    let shape_ok = b.len() >= 20
        && b[4] == b'-'
        && b[7] == b'-'
        && (b[10] == b'T' || b[10] == b't')
        && b[13] == b':'
        && b[16] == b':';
    if !shape_ok {
        return None;
    }
    let num = |from: usize, to: usize| -> Option<i64> {
        let digits = s.get(from..to)?;
        digits
            .bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| digits.parse().ok())?
    };
    let (year, month, day) = (num(0, 4)?, num(5, 7)?, num(8, 10)?);
    let (hour, minute, second) = (num(11, 13)?, num(14, 16)?, num(17, 19)?);
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let mut rest = &s[19..];
    let mut nanos: u128 = 0;
    if let Some(frac) = rest.strip_prefix('.') {
        let len = frac.bytes().take_while(u8::is_ascii_digit).count();
        if len == 0 {
            return None;
        }
        let kept = &frac[..len.min(9)];
        nanos = kept.parse::<u128>().ok()? * 10u128.pow(9 - kept.len() as u32);
        rest = &frac[len..];
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
            sign * (h.parse::<i64>().ok()? * 3600 + m.parse::<i64>().ok()? * 60)
        }
    };
    let secs = days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second
        - offset_secs;
    Some(u128::try_from(secs).ok()? * NANOS_PER_SEC + nanos)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{TempRoot, read_log};

    #[test]
    fn parses_the_engines_timestamps() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            parse_rfc3339("2024-02-29T12:00:00.5Z"),
            Some(1_709_208_000 * NANOS_PER_SEC + 500_000_000)
        );
        assert_eq!(
            parse_rfc3339("1999-12-31T23:59:59.000000001Z"),
            Some(946_684_799 * NANOS_PER_SEC + 1)
        );
        assert_eq!(
            parse_rfc3339("2024-02-29T14:00:00+02:00"),
            Some(1_709_208_000 * NANOS_PER_SEC)
        );
        for bad in [
            "",
            "2024-02-29",
            "2024-13-01T00:00:00Z",
            "2024-02-29T12:00:00",
            "x024-02-29T12:00:00Z",
            "2024-02-29T12:00:00.Z",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
    }

    #[test]
    fn splits_stamped_frames_and_keeps_unstamped_ones() {
        let (stamp, line) = split_timestamp(b"1970-01-01T00:00:01.000000000Z hello world\n");
        assert_eq!((stamp, line), (Some(NANOS_PER_SEC), &b"hello world\n"[..]));
        let (stamp, line) = split_timestamp(b"no stamp here\n");
        assert_eq!((stamp, line), (None, &b"no stamp here\n"[..]));
    }

    #[test]
    fn lines_not_newer_than_written_are_skipped_per_stream() {
        let root = TempRoot::new("docker-log-sink");
        let logs = LogSpec::new(root.path(), "t", None);
        let mut sink = LogSink::open("t", &logs, false).expect("open");
        sink.write(0, b"1970-01-01T00:00:02Z two\n");
        sink.write(0, b"1970-01-01T00:00:01Z one, replayed\n");
        sink.write(1, b"1970-01-01T00:00:01Z err one\n");
        sink.write(0, b"1970-01-01T00:00:02.5Z two and a half\n");
        assert_eq!(sink.since_secs(), 1);
        assert_eq!(read_log(&logs.stdout_base), "two\ntwo and a half\n");
        assert_eq!(read_log(&logs.stderr_base), "err one\n");
    }

    #[test]
    fn resuming_skips_what_the_files_already_hold() {
        let root = TempRoot::new("docker-log-resume");
        let logs = LogSpec::new(root.path(), "t", None);
        drop(LogSink::open("t", &logs, false).expect("open"));
        let mut sink = LogSink::open("t", &logs, true).expect("reopen");
        assert!(
            sink.since_secs() > 1_600_000_000,
            "resumes from the files' mtime"
        );
        sink.write(0, b"1970-01-01T00:00:02Z old\n");
        sink.write(0, b"2999-01-01T00:00:00Z new\n");
        assert_eq!(read_log(&logs.stdout_base), "new\n");
    }

    #[test]
    fn the_files_remember_the_stamp_of_their_last_line() {
        let root = TempRoot::new("docker-log-mtime");
        let logs = LogSpec::new(root.path(), "t", None);
        let mut sink = LogSink::open("t", &logs, false).expect("open");
        sink.write(0, b"2001-01-01T00:00:00.123456789Z one\n");
        drop(sink);
        let mut sink = LogSink::open("t", &logs, true).expect("reopen");
        sink.write(0, b"2001-01-01T00:00:00.123456789Z one, replayed\n");
        sink.write(0, b"2001-01-01T00:00:00.12345679Z two\n");
        assert_eq!(read_log(&logs.stdout_base), "one\ntwo\n");
    }
}
