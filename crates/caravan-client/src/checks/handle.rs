//! The owner's side of a running [`super::CheckRunner`].

use std::collections::BTreeMap;

use tokio::sync::watch;
use tokio::task::JoinSet;

/// Keeps the checks running; dropping it (or [`CheckRunnerHandle::stop`]) stops them.
#[derive(Debug)]
pub struct CheckRunnerHandle {
    checks: JoinSet<()>,
    task_started: watch::Sender<BTreeMap<String, i64>>,
}

impl CheckRunnerHandle {
    pub(super) fn new(
        checks: JoinSet<()>,
        task_started: watch::Sender<BTreeMap<String, i64>>,
    ) -> Self {
        Self {
            checks,
            task_started,
        }
    }

    /// Tells the runner that `task` (re)started at `at_unix_ns`: its checks'
    /// `check_restart` grace starts again from there, and a task restarted for a
    /// check may be restarted again.
    pub fn task_started(&self, task: &str, at_unix_ns: i64) {
        self.task_started.send_modify(|started| {
            started.insert(task.to_owned(), at_unix_ns);
        });
    }

    /// Stops every check and waits until none runs (a probe in flight is dropped,
    /// which kills a script's command).
    pub async fn stop(mut self) {
        self.checks.shutdown().await;
    }
}
