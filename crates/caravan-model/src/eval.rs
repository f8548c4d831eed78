//! Evaluations and plans: the scheduler's input and output.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{AllocId, AllocMetric, Allocation, EvalId, Job, JobId, NodeId};

/// An evaluation: a request to reconcile a job with the cluster.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Evaluation {
    #[serde(rename = "ID")]
    pub id: EvalId,
    pub namespace: String,
    pub priority: i64,
    /// The job type, which picks the scheduler.
    #[serde(rename = "Type")]
    pub eval_type: String,
    /// "job-register", "job-deregister", "node-update", "alloc-failure", ...
    pub triggered_by: String,
    #[serde(rename = "JobID")]
    pub job_id: JobId,
    pub job_modify_index: u64,
    #[serde(rename = "NodeID")]
    pub node_id: Option<NodeId>,
    /// "pending", "complete", "failed", "blocked" or "canceled".
    pub status: String,
    pub status_description: String,
    pub next_eval: Option<EvalId>,
    pub previous_eval: Option<EvalId>,
    pub blocked_eval: Option<EvalId>,
    /// Groups that could not be placed, with why.
    #[serde(rename = "FailedTGAllocs")]
    pub failed_tg_allocs: BTreeMap<String, AllocMetric>,
    pub queued_allocations: BTreeMap<String, u64>,
    /// Unix nanoseconds before which the eval must not run (delayed reschedules).
    pub wait_until: Option<i64>,
    pub create_index: u64,
    pub modify_index: u64,
    pub create_time: i64,
    pub modify_time: i64,
}

/// What a scheduler decided for one evaluation; the plan applier re-checks it on fresh
/// state before anything is committed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Plan {
    #[serde(rename = "EvalID")]
    pub eval_id: EvalId,
    pub priority: i64,
    pub job: Option<Box<Job>>,
    /// Allocations to stop, by node.
    pub node_update: BTreeMap<NodeId, Vec<AllocUpdate>>,
    /// Allocations to place or update in place, by node.
    pub node_allocation: BTreeMap<NodeId, Vec<Allocation>>,
    /// Groups that could not be placed.
    pub failed_tg_allocs: BTreeMap<String, AllocMetric>,
}

impl Plan {
    pub fn is_no_op(&self) -> bool {
        self.node_update.is_empty() && self.node_allocation.is_empty()
    }
}

/// A stop decided by a plan.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct AllocUpdate {
    #[serde(rename = "AllocID")]
    pub alloc_id: AllocId,
    pub desired_status: String,
    pub desired_description: String,
}
