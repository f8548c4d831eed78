//! What the check runner tells its owner: reported results, and tasks to restart.

use super::state::CheckState;

/// A check result to send to the server (see [`super::CheckTracker`] for which
/// results are reported).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckUpdate {
    /// The [`super::CheckSpec::id`].
    pub id: String,
    pub status: CheckState,
    pub output: String,
    /// Unix nanoseconds of the result.
    pub timestamp: i64,
}

/// `check_restart` asks for a task to be restarted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestartRequest {
    pub task: String,
    pub check_id: String,
    pub check_name: String,
    /// For the task event, as Nomad words it: `healthcheck: check "alive" unhealthy`.
    pub reason: String,
    /// Unix nanoseconds of the result that decided it.
    pub timestamp: i64,
}

/// One message from the check runner, in the order things happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckEvent {
    Update(CheckUpdate),
    Restart(RestartRequest),
}
