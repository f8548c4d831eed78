//! How a task ended.

use std::process::ExitStatus;

use serde::{Deserialize, Serialize};

/// Added to a terminating signal's number to make the exit code, as shells and Nomad do.
const SIGNAL_EXIT_BASE: i32 = 128;

/// How a task ended: the exit code, the signal that ended it, and what went wrong
/// in the driver if anything did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ExitResult {
    /// The exit code; `128 + signal` when a signal ended the task; `None` when it is
    /// not known (a task recovered after an agent restart exits unseen).
    pub exit_code: Option<i32>,
    /// The number of the signal that ended the task, if one did.
    pub signal: Option<i32>,
    /// The kernel's OOM killer ended the task.
    pub oom_killed: bool,
    /// The driver lost track of the task; the task's own outcome is unknown.
    pub err: Option<String>,
}

impl ExitResult {
    /// A task that exited by itself with `code`.
    pub fn code(code: i32) -> Self {
        Self {
            exit_code: Some(code),
            ..Self::default()
        }
    }

    /// A task that a signal ended.
    pub fn signaled(signal: i32) -> Self {
        Self {
            exit_code: Some(SIGNAL_EXIT_BASE + signal),
            signal: Some(signal),
            ..Self::default()
        }
    }

    /// A task that is gone without anyone seeing how it ended.
    pub fn unknown() -> Self {
        Self::default()
    }

    /// The driver failed while watching the task.
    pub fn failed(err: impl Into<String>) -> Self {
        Self {
            err: Some(err.into()),
            ..Self::default()
        }
    }

    /// From a reaped child's status.
    pub fn from_status(status: ExitStatus) -> Self {
        use std::os::unix::process::ExitStatusExt;
        match (status.code(), status.signal()) {
            (Some(code), _) => Self::code(code),
            (None, Some(signal)) => Self::signaled(signal),
            (None, None) => Self::unknown(),
        }
    }

    /// Exit code 0, no signal, no driver error: the only outcome a restart policy
    /// treats as success.
    pub fn successful(&self) -> bool {
        self.exit_code == Some(0) && self.signal.is_none() && self.err.is_none() && !self.oom_killed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signal_exit_code_is_128_plus_the_signal() {
        let r = ExitResult::signaled(9);
        assert_eq!(r.exit_code, Some(137));
        assert!(!r.successful());
    }

    #[test]
    fn only_a_clean_zero_is_success() {
        assert!(ExitResult::code(0).successful());
        assert!(!ExitResult::code(1).successful());
        assert!(!ExitResult::unknown().successful());
        assert!(!ExitResult::failed("lost").successful());
    }
}
