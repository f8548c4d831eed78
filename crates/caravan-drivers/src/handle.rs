//! The client's grip on a started task, and what of it survives an agent restart.

use std::any::Any;
use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use caravan_model::AllocId;
use serde::{Deserialize, Serialize};

/// What the client persists about a running task so that, after an agent restart,
/// [`TaskDriver::recover`](crate::TaskDriver::recover) can re-attach to it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TaskHandleState {
    /// The driver that started the task.
    pub driver: String,
    pub alloc_id: AllocId,
    pub task_name: String,
    /// The process id, for drivers that run a host process (also its process group).
    pub pid: Option<u32>,
    /// The process's start time in clock ticks since boot (`/proc/<pid>/stat` field
    /// 22): with the pid, it names the process uniquely, so a reused pid is never
    /// mistaken for the task.
    pub start_ticks: Option<u64>,
    /// Wall-clock start, in milliseconds since the Unix epoch.
    pub started_at_unix_ms: u64,
    /// The network namespace the task runs in, if any.
    pub netns_path: Option<PathBuf>,
    /// Whatever else a driver needs (e.g. a container id).
    pub driver_state: BTreeMap<String, serde_json::Value>,
}

/// A started (or recovered) task: its persistable state, plus the driver's live
/// bookkeeping for it. Clones share the bookkeeping, so one clone can `wait` while
/// another `stop`s.
#[derive(Clone)]
pub struct TaskHandle {
    state: TaskHandleState,
    live: Arc<dyn Any + Send + Sync>,
}

impl TaskHandle {
    /// A handle carrying `live`, the driver's own per-task bookkeeping.
    pub fn new<T: Any + Send + Sync>(state: TaskHandleState, live: Arc<T>) -> Self {
        Self { state, live }
    }

    /// What to persist to recover the task later.
    pub fn state(&self) -> &TaskHandleState {
        &self.state
    }

    /// The driver's bookkeeping, if it is of type `T` (i.e. this driver made it).
    pub fn live<T: Any + Send + Sync>(&self) -> Option<&T> {
        self.live.downcast_ref::<T>()
    }
}

impl fmt::Debug for TaskHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskHandle")
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_round_trips_through_json() -> Result<(), serde_json::Error> {
        let state = TaskHandleState {
            driver: "raw_exec".into(),
            alloc_id: AllocId::new("a1"),
            task_name: "web".into(),
            pid: Some(42),
            start_ticks: Some(1234),
            started_at_unix_ms: 99,
            netns_path: Some("/var/run/netns/x".into()),
            driver_state: BTreeMap::from([("k".into(), serde_json::json!(["v"]))]),
        };
        let back: TaskHandleState = serde_json::from_str(&serde_json::to_string(&state)?)?;
        assert_eq!(back, state);
        Ok(())
    }

    #[test]
    fn live_downcasts_only_to_its_own_type() {
        let h = TaskHandle::new(TaskHandleState::default(), Arc::new(7u32));
        assert_eq!(h.live::<u32>(), Some(&7));
        assert!(h.live::<String>().is_none());
    }
}
