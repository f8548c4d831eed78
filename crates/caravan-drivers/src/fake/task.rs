//! A pretend process of the fake driver.

use caravan_model::AllocId;
use nix::sys::signal::Signal;
use tokio::sync::watch;

use crate::{ExitResult, parse_signal};

/// A fake task: a name, a fake pid, and an exit that is set once.
#[derive(Debug)]
pub(crate) struct FakeTask {
    pub(crate) alloc_id: AllocId,
    pub(crate) task_name: String,
    pub(crate) pid: u32,
    handled: Vec<Signal>,
    exit: watch::Sender<Option<ExitResult>>,
}

impl FakeTask {
    pub(crate) fn new(alloc_id: AllocId, task_name: String, pid: u32, handled: &[String]) -> Self {
        Self {
            alloc_id,
            task_name,
            pid,
            // The script was validated when it was read; a name that fails here is skipped.
            handled: handled
                .iter()
                .filter_map(|s| parse_signal(s).ok())
                .collect(),
            exit: watch::channel(None).0,
        }
    }

    /// Ends the task with `result`, unless it has already ended. Returns whether it did.
    pub(crate) fn finish(&self, result: ExitResult) -> bool {
        self.exit.send_if_modified(|exit| {
            if exit.is_some() {
                return false;
            }
            *exit = Some(result);
            true
        })
    }

    pub(crate) fn exit_now(&self) -> Option<ExitResult> {
        self.exit.borrow().clone()
    }

    pub(crate) async fn exited(&self) -> ExitResult {
        let mut rx = self.exit.subscribe();
        match rx.wait_for(Option::is_some).await {
            Ok(exit) => exit.clone().unwrap_or_default(),
            Err(_) => ExitResult::failed("the fake task was dropped"),
        }
    }

    pub(crate) fn handles(&self, signal: Signal) -> bool {
        signal != Signal::SIGKILL && self.handled.contains(&signal)
    }
}
