//! The docker driver's live bookkeeping for one container: which it is, and how it
//! ended.

use std::time::Duration;

use bollard::Docker;
use bollard::errors::Error;
use bollard::query_parameters::{KillContainerOptions, WaitContainerOptions};
use futures_util::StreamExt;
use nix::sys::signal::Signal;
use tokio::sync::watch;

use super::api;
use super::log_sink::LogSink;
use crate::{DriverError, ExitResult};

/// How long a stopped container's output may take to drain before the exit is
/// reported anyway.
const LOG_DRAIN_GRACE: Duration = Duration::from_secs(2);
/// How often a failing wait (the Engine unreachable) is retried, and the pause
/// between tries.
const WAIT_ATTEMPTS: u32 = 10;
const WAIT_RETRY_PAUSE: Duration = Duration::from_millis(500);
/// Exit codes above 128 up to this are read as `128 + signal`, as a shell does.
const LAST_SIGNAL_CODE: i64 = 128 + 64;

/// One task's container, started here or found again after an agent restart.
///
/// A tokio task watches it: it copies the output to the log files, waits for the
/// exit, then removes the container (its exit and output are kept here and in the
/// log files) and publishes the exit. It stops watching when every handle is gone.
#[derive(Debug)]
pub(crate) struct DockerTask {
    task_name: String,
    container_id: String,
    docker: Docker,
    /// False for a recorded container that is gone or turned out not to be the
    /// task's: it is never signalled or removed.
    ours: bool,
    exit: watch::Receiver<Option<ExitResult>>,
}

impl DockerTask {
    /// Watches a container that exists (running or stopped).
    pub(crate) fn watch(
        docker: Docker,
        task_name: &str,
        container_id: &str,
        logs: Option<LogSink>,
    ) -> Self {
        let (tx, rx) = watch::channel(None);
        let (d, id) = (docker.clone(), container_id.to_owned());
        tokio::spawn(async move {
            tokio::select! {
                exit = watch_container(&d, &id, logs) => {
                    tx.send_replace(Some(exit));
                }
                // Every handle is gone: nobody will ask any more.
                () = tx.closed() => {}
            }
        });
        Self {
            task_name: task_name.to_owned(),
            container_id: container_id.to_owned(),
            docker,
            ours: true,
            exit: rx,
        }
    }

    /// A recorded container that is gone, or is not the task's: its exit is unknown
    /// and it is left alone.
    pub(crate) fn gone(docker: Docker, task_name: &str, container_id: &str) -> Self {
        let (_, rx) = watch::channel(Some(ExitResult::unknown()));
        Self {
            task_name: task_name.to_owned(),
            container_id: container_id.to_owned(),
            docker,
            ours: false,
            exit: rx,
        }
    }

    pub(crate) fn task_name(&self) -> &str {
        &self.task_name
    }

    /// The exit, if the container has exited.
    pub(crate) fn exit_now(&self) -> Option<ExitResult> {
        self.exit.borrow().clone()
    }

    /// Resolves with the exit once the container has exited.
    pub(crate) async fn exited(&self) -> ExitResult {
        let mut rx = self.exit.clone();
        match rx.wait_for(Option::is_some).await {
            Ok(exit) => exit.clone().unwrap_or_default(),
            Err(_) => ExitResult::failed("the driver stopped watching the container"),
        }
    }

    /// Sends `signal` to the container's main process.
    pub(crate) async fn kill(&self, signal: Signal) -> Result<(), DriverError> {
        if self.exit_now().is_some() {
            return Err(self.not_running());
        }
        let options = KillContainerOptions {
            signal: signal.as_str().to_owned(),
        };
        match self
            .docker
            .kill_container(&self.container_id, Some(options))
            .await
        {
            Ok(()) => Ok(()),
            // Gone, or "is not running".
            Err(e) if api::is_not_found(&e) || api::is_conflict(&e) => Err(self.not_running()),
            Err(e) => Err(DriverError::Signal {
                task: self.task_name.clone(),
                signal: signal.as_str().to_owned(),
                source: std::io::Error::other(api::reason(&e)),
            }),
        }
    }

    /// Removes the container, running or not.
    pub(crate) async fn remove(&self) -> Result<(), DriverError> {
        if !self.ours {
            return Ok(());
        }
        api::remove_container(&self.docker, &self.container_id)
            .await
            .map_err(|e| DriverError::Docker {
                task: self.task_name.clone(),
                action: "remove the container",
                reason: api::reason(&e),
            })
    }

    fn not_running(&self) -> DriverError {
        DriverError::NotRunning {
            task: self.task_name.clone(),
        }
    }
}

/// Copies the output and waits for the exit side by side; then gives the output a
/// moment to drain, removes the container and returns the exit.
async fn watch_container(docker: &Docker, id: &str, logs: Option<LogSink>) -> ExitResult {
    let logs = async {
        if let Some(sink) = logs {
            sink.follow(docker, id).await;
        }
    };
    let wait = wait_exit(docker, id);
    tokio::pin!(logs, wait);
    let mut logs_done = false;
    let exit = loop {
        tokio::select! {
            exit = &mut wait => break exit,
            () = &mut logs, if !logs_done => logs_done = true,
        }
    };
    if !logs_done {
        let _ = tokio::time::timeout(LOG_DRAIN_GRACE, &mut logs).await;
    }
    // Removed before the exit is published, so whoever sees the exit finds no
    // container left (and a restarted agent does not find it again).
    let _ = api::remove_container(docker, id).await;
    exit
}

/// The container's exit, from the Engine's wait and, for the OOM flag, its state.
async fn wait_exit(docker: &Docker, id: &str) -> ExitResult {
    let mut attempts = 0;
    loop {
        let options = WaitContainerOptions {
            condition: "not-running".to_owned(),
        };
        let failure = match docker.wait_container(id, Some(options)).next().await {
            Some(Ok(response)) => return finished(docker, id, response.status_code).await,
            // bollard reports a non-zero status as an error carrying the code.
            Some(Err(Error::DockerContainerWaitError { code, .. })) => {
                return finished(docker, id, code).await;
            }
            // Removed behind our back: nobody can say how it ended.
            Some(Err(e)) if api::is_not_found(&e) => return ExitResult::unknown(),
            Some(Err(e)) => api::reason(&e),
            None => "the Engine ended the wait without a status".to_owned(),
        };
        attempts += 1;
        if attempts >= WAIT_ATTEMPTS {
            return ExitResult::failed(format!("waiting for container {id} failed: {failure}"));
        }
        tokio::time::sleep(WAIT_RETRY_PAUSE).await;
    }
}

async fn finished(docker: &Docker, id: &str, code: i64) -> ExitResult {
    let oom_killed = match docker.inspect_container(id, None).await {
        Ok(c) => c.state.and_then(|s| s.oom_killed).unwrap_or(false),
        Err(_) => false,
    };
    exit_result(code, oom_killed)
}

/// The Engine reports only a code; a code of `128 + n` is read as signal `n`, which
/// is what it reports for a container a signal ended.
fn exit_result(code: i64, oom_killed: bool) -> ExitResult {
    let mut exit = match i32::try_from(code) {
        Ok(c) if (129..=LAST_SIGNAL_CODE).contains(&code) => ExitResult::signaled(c - 128),
        Ok(c) => ExitResult::code(c),
        Err(_) => ExitResult::failed(format!("the Engine reported exit code {code}")),
    };
    exit.oom_killed = oom_killed;
    exit
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_above_128_are_signals() {
        assert_eq!(exit_result(0, false), ExitResult::code(0));
        assert_eq!(exit_result(3, false), ExitResult::code(3));
        assert_eq!(exit_result(128, false), ExitResult::code(128));
        assert_eq!(exit_result(143, false), ExitResult::signaled(15));
        assert_eq!(exit_result(255, false), ExitResult::code(255));
        let oom = exit_result(137, true);
        assert_eq!((oom.signal, oom.oom_killed), (Some(9), true));
        assert!(!oom.successful());
        assert!(exit_result(i64::MAX, false).err.is_some());
    }
}
