//! How a fake task behaves.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;

use crate::{DriverError, parse_signal};

/// What a [`FakeDriver`](crate::FakeDriver) task does. Set per task name with
/// [`FakeDriver::script`](crate::FakeDriver::script), or read from the task's
/// driver config (keys `start_error`, `run_for_ms`, `exit_code`, `handled_signals`,
/// `stdout`, `stderr`), as Nomad's mock driver does.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FakeScript {
    /// `start` fails with this message.
    pub start_error: Option<String>,
    /// The task exits by itself this long after it starts; `None`: it runs until it
    /// is stopped, killed by a signal, or ended with `FakeDriver::exit_task`.
    pub run_for: Option<Duration>,
    /// The exit code when it exits by itself.
    pub exit_code: i32,
    /// Signals the task handles and survives (e.g. `SIGHUP` for a reload, `SIGTERM`
    /// for a task that ignores stops); any other terminating signal ends it.
    pub handled_signals: Vec<String>,
    /// Written to the stdout log when the task starts.
    pub stdout: String,
    /// Written to the stderr log when the task starts.
    pub stderr: String,
}

impl FakeScript {
    /// A task that runs until stopped.
    pub fn running() -> Self {
        Self::default()
    }

    /// A task that exits with `code` after `after`.
    pub fn exits(code: i32, after: Duration) -> Self {
        Self {
            run_for: Some(after),
            exit_code: code,
            ..Self::default()
        }
    }

    /// Reads the script from a task's driver config.
    pub fn from_config(task: &str, config: &BTreeMap<String, Value>) -> Result<Self, DriverError> {
        let invalid = |key: &str, reason: &str| DriverError::InvalidConfig {
            task: task.to_owned(),
            key: key.to_owned(),
            reason: reason.to_owned(),
        };
        let string = |key: &str| match config.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(invalid(key, "must be a string")),
        };
        let run_for = match config.get("run_for_ms") {
            None => None,
            Some(v) => Some(Duration::from_millis(v.as_u64().ok_or_else(|| {
                invalid("run_for_ms", "must be a non-negative integer")
            })?)),
        };
        let exit_code = match config.get("exit_code") {
            None => 0,
            Some(v) => v
                .as_i64()
                .and_then(|c| i32::try_from(c).ok())
                .ok_or_else(|| invalid("exit_code", "must be an integer"))?,
        };
        let handled_signals = match config.get("handled_signals") {
            None => Vec::new(),
            Some(Value::Array(items)) => items
                .iter()
                .map(|s| {
                    let name = s
                        .as_str()
                        .ok_or_else(|| invalid("handled_signals", "must be a list of strings"))?;
                    parse_signal(name)?;
                    Ok(name.to_owned())
                })
                .collect::<Result<_, DriverError>>()?,
            Some(_) => return Err(invalid("handled_signals", "must be a list of strings")),
        };
        Ok(Self {
            start_error: string("start_error")?,
            run_for,
            exit_code,
            handled_signals,
            stdout: string("stdout")?.unwrap_or_default(),
            stderr: string("stderr")?.unwrap_or_default(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_every_key() -> Result<(), DriverError> {
        let config: BTreeMap<String, Value> = serde_json::from_value(json!({
            "run_for_ms": 5, "exit_code": 3, "handled_signals": ["SIGHUP"],
            "stdout": "o", "stderr": "e", "start_error": "no"
        }))
        .expect("object");
        let s = FakeScript::from_config("t", &config)?;
        assert_eq!(s.run_for, Some(Duration::from_millis(5)));
        assert_eq!(
            (s.exit_code, s.stdout.as_str(), s.stderr.as_str()),
            (3, "o", "e")
        );
        assert_eq!(s.handled_signals, ["SIGHUP"]);
        assert_eq!(s.start_error.as_deref(), Some("no"));
        Ok(())
    }

    #[test]
    fn rejects_wrong_shapes() {
        for bad in [
            json!({"run_for_ms": "x"}),
            json!({"exit_code": 1.5}),
            json!({"handled_signals": ["SIGNOPE"]}),
        ] {
            let config: BTreeMap<String, Value> = serde_json::from_value(bad).expect("object");
            assert!(FakeScript::from_config("t", &config).is_err());
        }
    }
}
