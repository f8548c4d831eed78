//! What the allocation runner reports to the server after every change.

use std::collections::BTreeMap;

use caravan_model::{AllocId, AllocNetworkStatus, TaskState};

/// An allocation's client-side status: what `Allocation.ClientStatus`,
/// `ClientDescription` and `TaskStates` become on the server. It travels to remote
/// servers as it is (serde).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AllocUpdate {
    pub alloc_id: AllocId,
    /// "pending", "running", "complete" or "failed".
    pub client_status: String,
    pub client_description: String,
    pub task_states: BTreeMap<String, TaskState>,
    /// The allocation's own network (bridge mode), once the network hook set it up:
    /// what `Allocation.NetworkStatus` becomes on the server.
    pub network_status: Option<AllocNetworkStatus>,
}

impl AllocUpdate {
    /// The update for these task states, with the status derived from them.
    pub fn from_states(alloc_id: AllocId, task_states: BTreeMap<String, TaskState>) -> Self {
        let (status, description) = client_status(&task_states);
        Self {
            alloc_id,
            client_status: status.to_owned(),
            client_description: description.to_owned(),
            task_states,
            network_status: None,
        }
    }

    /// Whether the allocation has reached a terminal client status.
    pub fn is_terminal(&self) -> bool {
        matches!(self.client_status.as_str(), "complete" | "failed")
    }
}

/// Nomad's rule: any failed task makes the allocation failed; else any running task
/// makes it running; else any pending task keeps it pending; else it is complete.
pub fn client_status(task_states: &BTreeMap<String, TaskState>) -> (&'static str, &'static str) {
    let any = |f: &dyn Fn(&TaskState) -> bool| task_states.values().any(f);
    if any(&|s| s.state == "dead" && s.failed) {
        ("failed", "Failed tasks")
    } else if any(&|s| s.state == "running") {
        ("running", "Tasks are running")
    } else if any(&|s| s.state == "pending" || s.state.is_empty()) {
        ("pending", "No tasks have started")
    } else {
        ("complete", "All tasks have completed")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn states(list: &[(&str, &str, bool)]) -> BTreeMap<String, TaskState> {
        list.iter()
            .map(|(name, state, failed)| {
                (
                    (*name).to_owned(),
                    TaskState {
                        state: (*state).to_owned(),
                        failed: *failed,
                        ..TaskState::default()
                    },
                )
            })
            .collect()
    }

    #[test]
    fn status_table() {
        let cases = [
            (vec![("a", "pending", false)], "pending"),
            (
                vec![("a", "pending", false), ("b", "running", false)],
                "running",
            ),
            (
                vec![("a", "dead", false), ("b", "running", false)],
                "running",
            ),
            (vec![("a", "dead", true), ("b", "running", false)], "failed"),
            (vec![("a", "dead", false), ("b", "dead", false)], "complete"),
            (
                vec![("a", "dead", false), ("b", "pending", false)],
                "pending",
            ),
            (vec![], "complete"),
        ];
        for (list, want) in cases {
            assert_eq!(client_status(&states(&list)).0, want, "{list:?}");
        }
    }
}
