//! Allocations: a task group placed on a node.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{AllocId, EvalId, Job, JobId, NodeId};

/// An allocation, in the shape of Nomad's `structs.Allocation`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Allocation {
    #[serde(rename = "ID")]
    pub id: AllocId,
    pub namespace: String,
    #[serde(rename = "EvalID")]
    pub eval_id: EvalId,
    /// `<job>.<group>[<index>]`.
    pub name: String,
    #[serde(rename = "NodeID")]
    pub node_id: NodeId,
    pub node_name: String,
    #[serde(rename = "JobID")]
    pub job_id: JobId,
    /// The job version this allocation runs.
    pub job: Option<Box<Job>>,
    pub task_group: String,
    pub allocated_resources: AllocatedResources,
    /// "run", "stop" or "evict".
    pub desired_status: String,
    pub desired_description: String,
    /// "pending", "running", "complete", "failed", "lost" or "unknown".
    pub client_status: String,
    pub client_description: String,
    pub task_states: BTreeMap<String, TaskState>,
    pub network_status: Option<AllocNetworkStatus>,
    pub previous_allocation: Option<AllocId>,
    pub next_allocation: Option<AllocId>,
    pub reschedule_tracker: Option<RescheduleTracker>,
    pub metrics: Option<AllocMetric>,
    pub create_index: u64,
    pub modify_index: u64,
    pub alloc_modify_index: u64,
    /// Unix nanoseconds.
    pub create_time: i64,
    pub modify_time: i64,
}

impl Allocation {
    /// The index in the alloc name, `web.api[3]` -> 3.
    pub fn index(&self) -> u32 {
        self.name
            .rsplit_once('[')
            .and_then(|(_, rest)| rest.strip_suffix(']'))
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    }

    /// Whether the client has stopped running it for good.
    pub fn is_terminal(&self) -> bool {
        matches!(self.client_status.as_str(), "complete" | "failed" | "lost")
            || (matches!(self.desired_status.as_str(), "stop" | "evict")
                && self.client_status != "running")
    }
}

/// Resources granted to an allocation.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct AllocatedResources {
    pub tasks: BTreeMap<String, AllocatedTaskResources>,
    pub shared: AllocatedSharedResources,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct AllocatedTaskResources {
    pub cpu: AllocatedCpu,
    pub memory: AllocatedMemory,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct AllocatedCpu {
    pub cpu_shares: i64,
    pub reserved_cores: Vec<u16>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct AllocatedMemory {
    #[serde(rename = "MemoryMB")]
    pub memory_mb: i64,
    #[serde(rename = "MemoryMaxMB")]
    pub memory_max_mb: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct AllocatedSharedResources {
    #[serde(rename = "DiskMB")]
    pub disk_mb: i64,
    pub networks: Vec<crate::NetworkResource>,
    pub ports: Vec<AllocatedPortMapping>,
}

/// A port granted on the node: `value` is the host port, `to` the inner one.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct AllocatedPortMapping {
    pub label: String,
    pub value: u16,
    pub to: i64,
    #[serde(rename = "HostIP")]
    pub host_ip: String,
}

/// The state of one task, as the client reports it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct TaskState {
    /// "pending", "running" or "dead".
    pub state: String,
    pub failed: bool,
    pub restarts: u64,
    pub last_restart: Option<String>,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    pub events: Vec<TaskEvent>,
}

/// One event in a task's life, shown by `alloc status`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct TaskEvent {
    #[serde(rename = "Type")]
    pub event_type: String,
    /// Unix nanoseconds.
    pub time: i64,
    pub display_message: String,
    pub details: BTreeMap<String, String>,
    pub exit_code: Option<i64>,
    pub signal: Option<i64>,
}

/// The allocation's own network namespace, in bridge mode.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct AllocNetworkStatus {
    pub interface_name: String,
    pub address: String,
    #[serde(rename = "DNS")]
    pub dns: Option<crate::DnsConfig>,
}

/// Past reschedules of an allocation's lineage.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct RescheduleTracker {
    pub events: Vec<RescheduleEvent>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct RescheduleEvent {
    pub reschedule_time: i64,
    #[serde(rename = "PrevAllocID")]
    pub prev_alloc_id: AllocId,
    #[serde(rename = "PrevNodeID")]
    pub prev_node_id: NodeId,
    pub delay: crate::Duration,
}

/// Why a placement went where it did, or failed: what `job status` prints.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct AllocMetric {
    pub nodes_evaluated: u64,
    pub nodes_filtered: u64,
    pub nodes_in_pool: u64,
    pub nodes_available: BTreeMap<String, u64>,
    pub class_filtered: BTreeMap<String, u64>,
    pub constraint_filtered: BTreeMap<String, u64>,
    pub nodes_exhausted: u64,
    pub class_exhausted: BTreeMap<String, u64>,
    pub dimension_exhausted: BTreeMap<String, u64>,
    pub coalesced_failures: u64,
    /// Nanoseconds spent deciding.
    pub allocation_time: i64,
}
