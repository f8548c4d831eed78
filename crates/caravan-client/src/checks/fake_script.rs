//! A scripted [`ScriptExecutor`] that records what it was asked to run.

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use super::error::CheckError;
use super::script::{ScriptExecutor, ScriptOutput};
use crate::BoxFuture;

/// One command the fake was asked to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptCall {
    pub command: String,
    pub args: Vec<String>,
    pub timeout: Duration,
}

#[derive(Debug, Default)]
struct State {
    /// (exit code, output, how long the "command" runs)
    steps: VecDeque<(i64, String, Duration)>,
    /// The step returned last, repeated while nothing new is queued.
    last: Option<(i64, String, Duration)>,
    calls: Vec<ScriptCall>,
}

/// Returns scripted exits in order (the last one repeats; exit 0 with no output when
/// nothing is scripted). A step that runs longer than the timeout is "killed" at the
/// timeout, as the trait's contract says.
#[derive(Debug, Default)]
pub struct FakeScriptExecutor {
    state: Mutex<State>,
}

impl FakeScriptExecutor {
    pub fn new() -> Self {
        Self::default()
    }

    /// Queues an exit with `exit_code` and `output`, after `runs_for`.
    pub fn push(&self, exit_code: i64, output: &str, runs_for: Duration) {
        self.lock()
            .steps
            .push_back((exit_code, output.to_owned(), runs_for));
    }

    pub fn calls(&self) -> Vec<ScriptCall> {
        self.lock().calls.clone()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Each mutation is a single push: a poisoned lock holds consistent data.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl ScriptExecutor for FakeScriptExecutor {
    fn exec<'a>(
        &'a self,
        command: &'a str,
        args: &'a [String],
        timeout: Duration,
    ) -> BoxFuture<'a, Result<ScriptOutput, CheckError>> {
        let step = {
            let mut state = self.lock();
            state.calls.push(ScriptCall {
                command: command.to_owned(),
                args: args.to_vec(),
                timeout,
            });
            if let Some(step) = state.steps.pop_front() {
                state.last = Some(step);
            }
            state.last.clone()
        };
        let (exit_code, output, runs_for) = step.unwrap_or_default();
        Box::pin(async move {
            if runs_for > timeout {
                tokio::time::sleep(timeout).await;
                return Err(CheckError::TimedOut);
            }
            tokio::time::sleep(runs_for).await;
            Ok(ScriptOutput {
                exit_code,
                output: output.into_bytes(),
            })
        })
    }
}
