//! The log collector ("logmon"): a small process of its own that copies one stream of
//! a task's output from its stdin into the stream's rotating log files.
//!
//! raw_exec starts one per stream when it is given a collector command
//! ([`RawExecDriver::with_log_collector`](crate::RawExecDriver::with_log_collector)).
//! The task writes into a pipe whose only reader is the collector, so the task can
//! go on writing while the agent is stopped, killed or upgraded; the collector ends
//! when the last writer (the task and whatever it started) has closed the pipe.
//!
//! It is synchronous and single-threaded on purpose: it has one pipe to copy and
//! nothing else to do.

use std::ffi::{OsStr, OsString};
use std::io::{self, Read};
use std::path::PathBuf;
use std::process::ExitCode;

use nix::sys::signal::{SigSet, Signal};

use crate::RotatingLog;

/// What the collector could not do.
#[derive(Debug, thiserror::Error)]
pub enum LogmonError {
    /// The arguments are not `-path <base> -max-files <n> -max-file-bytes <n>`.
    #[error("logmon: {0}")]
    Usage(String),

    /// The log file could not be opened.
    #[error("logmon: cannot open log file {}: {source}", path.display())]
    Open {
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    /// Blocking the stop signals failed.
    #[error("logmon: cannot block signals: {0}")]
    Signals(#[source] nix::Error),
}

/// Where one stream goes: the arguments of a collector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogmonArgs {
    /// The stream's base path (`<log dir>/<task>.stdout`); files get `.0`, `.1`, ...
    pub base: PathBuf,
    /// How many files to keep (at least 1).
    pub max_files: u32,
    /// The size at which a file is rotated, in bytes (at least 1).
    pub max_file_bytes: u64,
}

impl LogmonArgs {
    /// The command-line form that [`LogmonArgs::parse`] reads back.
    pub fn to_args(&self) -> Vec<OsString> {
        vec![
            "-path".into(),
            self.base.clone().into_os_string(),
            "-max-files".into(),
            self.max_files.to_string().into(),
            "-max-file-bytes".into(),
            self.max_file_bytes.to_string().into(),
        ]
    }

    /// Reads `-path <base> -max-files <n> -max-file-bytes <n>`, in any order, each
    /// exactly once.
    pub fn parse(args: &[OsString]) -> Result<Self, LogmonError> {
        let usage = |what: String| LogmonError::Usage(what);
        let mut base = None;
        let mut max_files = None;
        let mut max_file_bytes = None;
        let mut rest = args.iter();
        while let Some(flag) = rest.next() {
            let value = rest
                .next()
                .ok_or_else(|| usage(format!("{} needs a value", flag.to_string_lossy())))?;
            let slot_taken = |taken: bool| {
                if taken {
                    Err(usage(format!("{} given twice", flag.to_string_lossy())))
                } else {
                    Ok(())
                }
            };
            match flag.to_str() {
                Some("-path") => {
                    slot_taken(base.is_some())?;
                    if value.is_empty() {
                        return Err(usage("-path must not be empty".to_owned()));
                    }
                    base = Some(PathBuf::from(value));
                }
                Some("-max-files") => {
                    slot_taken(max_files.is_some())?;
                    max_files = Some(number::<u32>(flag, value)?);
                }
                Some("-max-file-bytes") => {
                    slot_taken(max_file_bytes.is_some())?;
                    max_file_bytes = Some(number::<u64>(flag, value)?);
                }
                _ => {
                    return Err(usage(format!("unknown flag {}", flag.to_string_lossy())));
                }
            }
        }
        Ok(Self {
            base: base.ok_or_else(|| usage("-path is required".to_owned()))?,
            max_files: max_files.ok_or_else(|| usage("-max-files is required".to_owned()))?,
            max_file_bytes: max_file_bytes
                .ok_or_else(|| usage("-max-file-bytes is required".to_owned()))?,
        })
    }

    /// Opens the stream's newest log file for appending, creating its directory.
    pub fn open(&self) -> Result<RotatingLog, LogmonError> {
        let open_error = |source| LogmonError::Open {
            path: self.base.clone(),
            source,
        };
        if let Some(dir) = self.base.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(open_error)?;
        }
        RotatingLog::open(&self.base, self.max_files, self.max_file_bytes).map_err(open_error)
    }
}

fn number<T: std::str::FromStr>(flag: &OsStr, value: &OsStr) -> Result<T, LogmonError> {
    value.to_str().and_then(|v| v.parse().ok()).ok_or_else(|| {
        LogmonError::Usage(format!(
            "{} wants a number, not {:?}",
            flag.to_string_lossy(),
            value
        ))
    })
}

/// The collector process: `args` are the arguments after `logmon` (see
/// [`LogmonArgs::parse`]). Copies stdin into the log files until EOF.
///
/// SIGINT, SIGTERM, SIGHUP and SIGQUIT are blocked first: the collector runs in its
/// own process group, and a signal meant for the agent (a terminal's Ctrl-C or
/// hangup, a service manager's stop) must not end it while the task still writes.
/// Only the end of the pipe, or SIGKILL, ends it.
///
/// Nothing is printed: the collector's stdout and stderr are normally `/dev/null`, so
/// that it holds no pipe of the agent's open. Failures show in the exit code.
pub fn logmon_main(args: &[OsString]) -> ExitCode {
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // Whoever runs it by hand sees why; a closed stderr is no reason to panic.
            let _ = io::Write::write_all(&mut io::stderr(), format!("{e}\n").as_bytes());
            ExitCode::from(2)
        }
    }
}

fn run(args: &[OsString]) -> Result<(), LogmonError> {
    block_stop_signals()?;
    let args = LogmonArgs::parse(args)?;
    let log = args.open()?;
    copy_to_log(io::stdin().lock(), log);
    Ok(())
}

/// Blocks (rather than ignores: that needs `unsafe` here) the signals that stop a
/// process by default; a blocked signal stays pending and is never delivered, and
/// this process has only one thread.
fn block_stop_signals() -> Result<(), LogmonError> {
    let mut set = SigSet::empty();
    for signal in [
        Signal::SIGINT,
        Signal::SIGTERM,
        Signal::SIGHUP,
        Signal::SIGQUIT,
    ] {
        set.add(signal);
    }
    set.thread_block().map_err(LogmonError::Signals)
}

/// Reads `input` until every writer has closed it, writing each chunk to `log` at
/// once. A failing write loses that chunk but reading goes on: a full disk must not
/// block the task on a full pipe.
fn copy_to_log(mut input: impl Read, mut log: RotatingLog) {
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        match input.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => {
                let _lost = log.write(&buf[..n]);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log_files;
    use crate::testing::TempRoot;

    fn os(args: &[&str]) -> Vec<OsString> {
        args.iter().map(OsString::from).collect()
    }

    #[test]
    fn args_round_trip() -> Result<(), LogmonError> {
        let args = LogmonArgs {
            base: "/a/alloc/logs/web.stdout".into(),
            max_files: 3,
            max_file_bytes: 1 << 20,
        };
        assert_eq!(LogmonArgs::parse(&args.to_args())?, args);
        Ok(())
    }

    #[test]
    fn bad_args_are_refused_with_a_reason() {
        let err = |a: &[&str]| {
            LogmonArgs::parse(&os(a))
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default()
        };
        assert_eq!(err(&[]), "logmon: -path is required");
        assert_eq!(
            err(&["-path", "/x", "-max-files", "2"]),
            "logmon: -max-file-bytes is required"
        );
        assert_eq!(
            err(&["-path", "/x", "-max-files", "two", "-max-file-bytes", "1"]),
            "logmon: -max-files wants a number, not \"two\""
        );
        assert_eq!(err(&["-path"]), "logmon: -path needs a value");
        assert_eq!(
            err(&["-path", "/x", "-path", "/y"]),
            "logmon: -path given twice"
        );
        assert_eq!(err(&["-bogus", "1"]), "logmon: unknown flag -bogus");
    }

    #[test]
    fn copies_until_eof_and_rotates() -> Result<(), LogmonError> {
        let root = TempRoot::new("logmon-copy");
        let args = LogmonArgs {
            base: root.path().join("logs/t.stdout"),
            max_files: 2,
            max_file_bytes: 4,
        };
        copy_to_log(&b"abcdefghij"[..], args.open()?);
        let kept: Vec<(u64, Vec<u8>)> = log_files(&args.base)
            .expect("list")
            .into_iter()
            .map(|(i, p)| (i, std::fs::read(p).expect("read")))
            .collect();
        assert_eq!(kept, vec![(1, b"efgh".to_vec()), (2, b"ij".to_vec())]);
        Ok(())
    }
}
