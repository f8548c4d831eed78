//! The raw_exec driver: a task is a plain host process, in its own process group,
//! with no isolation beyond an optional network namespace.

mod collector;
mod config;
mod task;

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::sync::Arc;
use std::time::Duration;

use nix::sys::signal::Signal;

pub use config::RawExecConfig;
use task::RawExecTask;

use crate::{
    BoxFuture, DriverError, DriverFingerprint, ExitResult, TaskDriver, TaskHandle, TaskHandleState,
    TaskSpec, parse_signal,
};

/// The name jobs use: `driver = "raw_exec"`.
pub const NAME: &str = "raw_exec";
/// The signal `stop` sends when the task sets no `kill_signal`, as Nomad's raw_exec.
pub const DEFAULT_KILL_SIGNAL: Signal = Signal::SIGINT;
/// How long `stop` and `destroy` wait for a process after SIGKILL before giving up.
const KILL_GRACE: Duration = Duration::from_secs(10);

/// Runs tasks as host processes.
#[derive(Debug, Default, Clone)]
pub struct RawExecDriver {
    /// The argv prefix of the log collector (`[caravan, logmon]`), if tasks' output
    /// goes through collector processes rather than through this one.
    log_collector: Option<Arc<[OsString]>>,
}

impl RawExecDriver {
    /// A driver that copies tasks' output to their log files itself: the output
    /// pipes close when this process ends, so tasks outlive it only until their
    /// next write. Right for tests and embedders whose tasks die with them.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sends each task's stdout and stderr through a log collector process of its
    /// own (see [`logmon_main`](crate::logmon_main)), started as `argv_prefix`
    /// followed by the collector's arguments, so that tasks keep running and logging
    /// while the agent is gone. The agent passes `[current_exe, "logmon"]`. An empty
    /// prefix keeps the in-process copying.
    pub fn with_log_collector(mut self, argv_prefix: Vec<OsString>) -> Self {
        self.log_collector = (!argv_prefix.is_empty()).then(|| argv_prefix.into());
        self
    }

    fn live<'h>(&self, handle: &'h TaskHandle) -> Result<&'h RawExecTask, DriverError> {
        handle
            .live::<RawExecTask>()
            .ok_or_else(|| DriverError::ForeignHandle {
                driver: NAME.to_owned(),
                other: handle.state().driver.clone(),
            })
    }

    async fn stop_task(
        &self,
        handle: &TaskHandle,
        signal: &str,
        timeout: Duration,
    ) -> Result<(), DriverError> {
        let task = self.live(handle)?;
        let signal = if signal.trim().is_empty() {
            DEFAULT_KILL_SIGNAL
        } else {
            parse_signal(signal)?
        };
        if task.exit_now().is_some() {
            return Ok(());
        }
        task.signal_group(signal)?;
        if tokio::time::timeout(timeout, task.exited()).await.is_ok() {
            return Ok(());
        }
        kill_and_reap(task).await
    }
}

/// SIGKILLs the task's group and waits for the exit to be seen.
async fn kill_and_reap(task: &RawExecTask) -> Result<(), DriverError> {
    task.signal_group(Signal::SIGKILL)?;
    tokio::time::timeout(KILL_GRACE, task.exited())
        .await
        .map(drop)
        .map_err(|_| DriverError::StopTimedOut {
            task: task.task_name().to_owned(),
            waited_secs: KILL_GRACE.as_secs(),
        })
}

impl TaskDriver for RawExecDriver {
    fn name(&self) -> &str {
        NAME
    }

    fn fingerprint(&self) -> BoxFuture<'_, DriverFingerprint> {
        Box::pin(async {
            DriverFingerprint {
                detected: true,
                healthy: true,
                description: "runs tasks as host processes, without isolation".to_owned(),
                attributes: BTreeMap::from([(format!("driver.{NAME}"), "1".to_owned())]),
            }
        })
    }

    fn start(&self, spec: TaskSpec) -> BoxFuture<'_, Result<TaskHandle, DriverError>> {
        Box::pin(async move {
            let config = RawExecConfig::parse(&spec.task_name, &spec.driver_config)?;
            let (live, state) = RawExecTask::spawn(&spec, &config, self.log_collector.as_deref())?;
            Ok(TaskHandle::new(state, Arc::new(live)))
        })
    }

    fn wait<'a>(&'a self, handle: &'a TaskHandle) -> BoxFuture<'a, ExitResult> {
        Box::pin(async move {
            match self.live(handle) {
                Ok(task) => task.exited().await,
                Err(e) => ExitResult::failed(e.to_string()),
            }
        })
    }

    fn stop<'a>(
        &'a self,
        handle: &'a TaskHandle,
        signal: &'a str,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<(), DriverError>> {
        Box::pin(self.stop_task(handle, signal, timeout))
    }

    fn signal<'a>(
        &'a self,
        handle: &'a TaskHandle,
        signal: &'a str,
    ) -> BoxFuture<'a, Result<(), DriverError>> {
        Box::pin(async move {
            let task = self.live(handle)?;
            task.signal_leader(parse_signal(signal)?)
        })
    }

    fn recover<'a>(
        &'a self,
        state: &'a TaskHandleState,
    ) -> BoxFuture<'a, Result<TaskHandle, DriverError>> {
        Box::pin(async move {
            if state.driver != NAME {
                return Err(DriverError::ForeignHandle {
                    driver: NAME.to_owned(),
                    other: state.driver.clone(),
                });
            }
            let live = RawExecTask::adopt(state)?;
            Ok(TaskHandle::new(state.clone(), Arc::new(live)))
        })
    }

    fn destroy<'a>(&'a self, handle: &'a TaskHandle) -> BoxFuture<'a, Result<(), DriverError>> {
        Box::pin(async move {
            let task = self.live(handle)?;
            if task.exit_now().is_some() {
                return Ok(());
            }
            kill_and_reap(task).await
        })
    }
}
