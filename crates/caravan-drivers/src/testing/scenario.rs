//! The tasks the driver battery runs.

use std::collections::BTreeMap;

use serde_json::{Value, json};

/// The line a long-running scenario prints once it is ready for signals.
pub const READY: &str = "ready";
/// The line [`Scenario::PrintLogs`] prints to stdout.
pub const STDOUT_LINE: &str = "battery stdout line";
/// The line [`Scenario::PrintLogs`] prints to stderr.
pub const STDERR_LINE: &str = "battery stderr line";

/// A task the battery asks the driver under test to run. `make_spec` must turn each
/// into a task of that driver that behaves as documented, in fresh directories on
/// every call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scenario {
    /// Exits 0 at once.
    ExitZero,
    /// Exits 3 at once.
    ExitCode3,
    /// Prints [`STDOUT_LINE`] to stdout and [`STDERR_LINE`] to stderr, then exits 0.
    PrintLogs,
    /// Prints [`READY`] to stdout, then runs until a signal ends it; SIGTERM, SIGINT
    /// and SIGUSR1 have their default action (they end it).
    LongRunning,
    /// Ignores SIGTERM and SIGINT, then prints [`READY`] and runs until SIGKILL.
    IgnoresTerm,
    /// A config the driver must refuse at `start`.
    BadConfig,
}

impl Scenario {
    pub const ALL: [Scenario; 6] = [
        Scenario::ExitZero,
        Scenario::ExitCode3,
        Scenario::PrintLogs,
        Scenario::LongRunning,
        Scenario::IgnoresTerm,
        Scenario::BadConfig,
    ];

    /// A short name, usable as a task name.
    pub fn as_str(self) -> &'static str {
        match self {
            Scenario::ExitZero => "exit-zero",
            Scenario::ExitCode3 => "exit-code-3",
            Scenario::PrintLogs => "print-logs",
            Scenario::LongRunning => "long-running",
            Scenario::IgnoresTerm => "ignores-term",
            Scenario::BadConfig => "bad-config",
        }
    }

    /// The scenario as a `command`/`args` config running `sh` (raw_exec, exec).
    pub fn command_config(self) -> BTreeMap<String, Value> {
        let sh = |script: String| json!({ "command": "sh", "args": ["-c", script] });
        let config = match self {
            Scenario::ExitZero => json!({ "command": "true" }),
            Scenario::ExitCode3 => sh("exit 3".to_owned()),
            Scenario::PrintLogs => sh(format!("echo '{STDOUT_LINE}'; echo '{STDERR_LINE}' >&2")),
            // `exec` leaves one process, so the signal is seen by the one that exits.
            Scenario::LongRunning => sh(format!("echo {READY}; exec sleep 1000")),
            // An ignored signal stays ignored across exec.
            Scenario::IgnoresTerm => sh(format!("trap '' TERM INT; echo {READY}; exec sleep 1000")),
            Scenario::BadConfig => json!({ "args": ["no command"] }),
        };
        to_map(config)
    }

    /// The scenario as a [`FakeDriver`](crate::FakeDriver) config.
    pub fn fake_config(self) -> BTreeMap<String, Value> {
        let ready = format!("{READY}\n");
        let config = match self {
            Scenario::ExitZero => json!({ "run_for_ms": 0 }),
            Scenario::ExitCode3 => json!({ "run_for_ms": 0, "exit_code": 3 }),
            Scenario::PrintLogs => json!({
                "run_for_ms": 0,
                "stdout": format!("{STDOUT_LINE}\n"),
                "stderr": format!("{STDERR_LINE}\n"),
            }),
            Scenario::LongRunning => json!({ "stdout": ready }),
            Scenario::IgnoresTerm => {
                json!({ "stdout": ready, "handled_signals": ["SIGTERM", "SIGINT"] })
            }
            Scenario::BadConfig => json!({ "run_for_ms": "soon" }),
        };
        to_map(config)
    }
}

fn to_map(value: Value) -> BTreeMap<String, Value> {
    match value {
        Value::Object(map) => map.into_iter().collect(),
        _ => BTreeMap::new(),
    }
}
