//! The script probe: a command run inside the task, judged by its exit code (Consul's
//! rule: 0 passing, 1 warning, anything else critical).
//!
//! How a command runs "inside the task" depends on the driver, so it goes through
//! [`ScriptExecutor`]: raw_exec runs it on the host in the task directory with the
//! task's environment ([`super::HostScriptExecutor`]), docker execs it in the
//! container.

use std::fmt::Debug;
use std::time::Duration;

use super::error::CheckError;
use super::probe_result::{ProbeResult, output_text};
use super::spec::CheckSpec;
use crate::BoxFuture;

/// How long the probe waits past the timeout for an executor to kill its command
/// and return; after that it drops the executor's future.
pub const KILL_GRACE: Duration = Duration::from_secs(1);

/// What a finished script did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptOutput {
    /// The exit code; a command killed by signal N reports 128 + N, as shells do.
    pub exit_code: i64,
    /// Standard output and standard error, interleaved as written (only the first
    /// 4 KiB are kept in the result).
    pub output: Vec<u8>,
}

/// Runs a script check's command in a task. Implemented per driver.
pub trait ScriptExecutor: Send + Sync + Debug {
    /// Runs `command` with `args` and returns its exit code and combined output.
    ///
    /// Contract: when `timeout` passes, kill the command (and what it started) and
    /// return [`CheckError::TimedOut`]; when the future is dropped, kill it as well.
    fn exec<'a>(
        &'a self,
        command: &'a str,
        args: &'a [String],
        timeout: Duration,
    ) -> BoxFuture<'a, Result<ScriptOutput, CheckError>>;
}

/// Runs a script check once through `executor`.
pub async fn probe_script(check: &CheckSpec, executor: &dyn ScriptExecutor) -> ProbeResult {
    let command = &check.check.command;
    if command.is_empty() {
        return ProbeResult::failure("script check without a command");
    }
    let timeout = check.timeout();
    let run = executor.exec(command, &check.check.args, timeout);
    // The executor kills at `timeout`; the grace only bounds one that does not.
    let timed_out = || {
        ProbeResult::failure(format!(
            "Timed out ({}) running check",
            caravan_model::Duration::from(timeout)
        ))
    };
    match tokio::time::timeout(timeout + KILL_GRACE, run).await {
        Err(_) | Ok(Err(CheckError::TimedOut)) => timed_out(),
        Ok(Err(error)) => ProbeResult::failure(error.to_string()),
        Ok(Ok(done)) => {
            let output = output_text(&done.output);
            match done.exit_code {
                0 => ProbeResult::ok(output),
                1 => ProbeResult::warning(output),
                _ => ProbeResult::failure(output),
            }
        }
    }
}
