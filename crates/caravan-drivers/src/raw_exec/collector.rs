//! raw_exec's log collectors: one `logmon` process per output stream, so that a
//! task's output pipes do not die with the agent (see [`crate::logmon`]).
//!
//! The agent makes the pipe, gives its read end to the collector and its write end
//! to the task, and keeps neither: the task's writes never depend on the agent.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io::PipeWriter;
use std::process::Stdio;
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use serde::{Deserialize, Serialize};
use tokio::process::{Child, Command};
use tokio::time::Instant;

use super::task::as_pid;
use crate::{DriverError, LogmonArgs, ProcStat, TaskHandleState};

/// The key of [`TaskHandleState::driver_state`] that lists a task's collectors.
pub(crate) const STATE_KEY: &str = "log_collectors";

/// How long a finished task's collectors may take to write what is left in their
/// pipes and exit before they are killed. Longer than the in-process pumps' grace:
/// a collector that is cut short loses the task's last lines for good, and the
/// wait is that long only when a process that left the task's group holds a pipe.
pub(crate) const DRAIN_GRACE: Duration = Duration::from_secs(5);

/// The first and the longest pause between two looks at a collector that is not
/// our child.
const POLL_MIN: Duration = Duration::from_millis(10);
const POLL_MAX: Duration = Duration::from_millis(250);

/// A collector named so that a reused pid is never mistaken for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct CollectorId {
    pub(crate) pid: u32,
    pub(crate) start_ticks: u64,
}

impl CollectorId {
    fn is_live(self) -> bool {
        ProcStat::is_same_live(self.pid, self.start_ticks)
    }
}

/// The collectors started for one task, still our children.
#[derive(Debug, Default)]
pub(crate) struct Collectors {
    children: Vec<Child>,
    ids: Vec<CollectorId>,
}

impl Collectors {
    /// Starts `argv_prefix` followed by the collector arguments of `stream`, and
    /// returns the write end of its stdin pipe, for the task.
    pub(crate) fn spawn(
        &mut self,
        argv_prefix: &[OsString],
        task: &str,
        stream: &LogmonArgs,
    ) -> Result<PipeWriter, DriverError> {
        let failed = |source| DriverError::LogCollector {
            task: task.to_owned(),
            source,
        };
        let Some((program, prefix_args)) = argv_prefix.split_first() else {
            return Err(failed(std::io::Error::other(
                "the collector command is empty",
            )));
        };
        // Both ends are close-on-exec: only the processes they are given to below
        // inherit them, never another task started meanwhile.
        let (reader, writer) = std::io::pipe().map_err(failed)?;
        let mut cmd = Command::new(program);
        cmd.args(prefix_args)
            .args(stream.to_args())
            .stdin(reader)
            // It must hold none of the agent's pipes (a supervisor reading the
            // agent's output until EOF would wait for it), so it prints nothing.
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // It keeps no directory busy (an allocation's may be unmounted).
            .current_dir("/")
            // Its own group: a signal to the agent's group does not reach it, and
            // the task's group kill does not either (it blocks the rest itself).
            .process_group(0)
            .kill_on_drop(false);
        let child = cmd.spawn().map_err(failed)?;
        // `cmd` holds our copy of the read end: the collector must be its only reader.
        drop(cmd);
        let id = child.id().and_then(|pid| {
            let stat = ProcStat::read(pid).ok().flatten()?;
            Some(CollectorId {
                pid,
                start_ticks: stat.start_ticks,
            })
        });
        self.ids.extend(id);
        self.children.push(child);
        Ok(writer)
    }

    /// Records the collectors in a handle's `driver_state`, for a later `recover`.
    pub(crate) fn record(&self, driver_state: &mut BTreeMap<String, serde_json::Value>) {
        if self.children.is_empty() {
            return;
        }
        if let Ok(ids) = serde_json::to_value(&self.ids) {
            driver_state.insert(STATE_KEY.to_owned(), ids);
        }
    }

    /// Once the task is gone: lets the collectors drain their pipes for up to
    /// `grace`, then kills any still there (a process that left the task's group may
    /// hold a pipe open), and reaps them.
    pub(crate) async fn finish(mut self, grace: Duration) {
        let drained = tokio::time::timeout(grace, async {
            for child in &mut self.children {
                let _ = child.wait().await;
            }
        })
        .await;
        if drained.is_err() {
            for child in &mut self.children {
                // One that has exited meanwhile refuses the kill, which is fine.
                let _ = child.start_kill();
            }
            for child in &mut self.children {
                let _ = child.wait().await;
            }
        }
    }
}

/// The collectors recorded in a recovered task's state. Entries that are not
/// collectors' (pid 0, 1, or beyond a pid's range) are dropped: they must never
/// turn into a signal to a group or to init.
pub(crate) fn recorded(state: &TaskHandleState) -> Vec<CollectorId> {
    let Some(value) = state.driver_state.get(STATE_KEY) else {
        return Vec::new();
    };
    serde_json::from_value::<Vec<CollectorId>>(value.clone())
        .unwrap_or_default()
        .into_iter()
        .filter(|id| id.pid > 1 && i32::try_from(id.pid).is_ok())
        .collect()
}

/// [`Collectors::finish`] for collectors that are not our children (a recovered
/// task's): polls them for up to `grace`, then kills the ones still there and waits,
/// as long again at most, for them to be gone.
pub(crate) async fn finish_recorded(ids: &[CollectorId], grace: Duration) {
    if !wait_gone(ids, grace).await {
        for id in ids.iter().filter(|id| id.is_live()) {
            let _ = kill(as_pid(id.pid), Signal::SIGKILL);
        }
        wait_gone(ids, grace).await;
    }
}

/// Whether every collector of `ids` was gone within `limit`.
async fn wait_gone(ids: &[CollectorId], limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    let mut pause = POLL_MIN;
    loop {
        if !ids.iter().any(|id| id.is_live()) {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(pause.min(deadline - Instant::now())).await;
        pause = (pause * 2).min(POLL_MAX);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_plausible_recorded_pids_are_kept() {
        let mut state = TaskHandleState::default();
        assert!(recorded(&state).is_empty());
        state.driver_state.insert(
            STATE_KEY.to_owned(),
            json!([
                {"pid": 0, "start_ticks": 1},
                {"pid": 1, "start_ticks": 1},
                {"pid": u32::MAX, "start_ticks": 1},
                {"pid": 4242, "start_ticks": 7},
            ]),
        );
        assert_eq!(
            recorded(&state),
            vec![CollectorId {
                pid: 4242,
                start_ticks: 7
            }]
        );
        state
            .driver_state
            .insert(STATE_KEY.to_owned(), json!("nonsense"));
        assert!(recorded(&state).is_empty());
    }
}
