//! Job summaries: how many allocations of each group are in each state.

use std::collections::BTreeMap;

use caravan_model::JobId;
use serde::{Deserialize, Serialize};

/// A job's summary, in the shape of Nomad's `structs.JobSummary`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct JobSummary {
    #[serde(rename = "JobID")]
    pub job_id: JobId,
    pub namespace: String,
    /// Per task group.
    pub summary: BTreeMap<String, TaskGroupSummary>,
    pub children: JobChildrenSummary,
    pub create_index: u64,
    pub modify_index: u64,
}

/// Allocation counts of one group, in the shape of Nomad's `structs.TaskGroupSummary`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct TaskGroupSummary {
    /// Allocations the scheduler could not place yet (from the job's latest evaluation).
    pub queued: u64,
    pub complete: u64,
    pub failed: u64,
    pub running: u64,
    /// Placed, not running yet (client status "pending").
    pub starting: u64,
    pub lost: u64,
    pub unknown: u64,
}

/// Child jobs of a periodic or parameterized job. Always zero until those are scheduled.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct JobChildrenSummary {
    pub pending: u64,
    pub running: u64,
    pub dead: u64,
}
