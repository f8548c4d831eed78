//! Everything a driver needs to start one task.

use std::collections::BTreeMap;
use std::path::PathBuf;

use caravan_model::{AllocId, AllocatedPortMapping, Resources};

use crate::{LogSpec, TaskDirs};

/// One task to start, fully resolved by the client: the driver interpolates nothing
/// and inherits nothing.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskSpec {
    pub alloc_id: AllocId,
    pub task_name: String,
    /// The task's driver `config`, already interpolated by the client.
    pub driver_config: BTreeMap<String, serde_json::Value>,
    /// The process's whole environment: nothing of the agent's is added.
    pub env: BTreeMap<String, String>,
    pub dirs: TaskDirs,
    /// The user to run as; `None` runs as the agent's user.
    pub user: Option<String>,
    pub logs: LogSpec,
    pub resources: TaskResources,
    /// A network namespace to run in (`/var/run/netns/<name>`), for bridge mode.
    pub netns_path: Option<PathBuf>,
    /// For container drivers in bridge mode: the id or name of the container that
    /// holds the group's network namespace; the task joins it (`container:<id>`).
    /// Host-process drivers ignore it.
    pub network_container: Option<String>,
    /// The group asked for no network (`network { mode = "none" }`): container drivers
    /// give the task only a loopback; raw_exec, which isolates nothing, ignores it (as
    /// Nomad's does).
    pub no_network: bool,
    /// The allocation's port mappings (host port `value` to the task's `to`). Drivers
    /// that publish ports (docker's `ports = ["label"]`) look labels up here; raw_exec
    /// ignores them.
    pub ports: Vec<AllocatedPortMapping>,
}

impl TaskSpec {
    /// A spec with the conventional directory and log layout under `alloc_root`, an
    /// empty config and environment, and no resources; callers fill in the rest.
    pub fn new(alloc_id: AllocId, task_name: &str, alloc_root: impl Into<PathBuf>) -> Self {
        let dirs = TaskDirs::new(alloc_root, task_name);
        Self {
            logs: LogSpec::new(&dirs.log_dir, task_name, None),
            alloc_id,
            task_name: task_name.to_owned(),
            driver_config: BTreeMap::new(),
            env: BTreeMap::new(),
            dirs,
            user: None,
            resources: TaskResources::default(),
            netns_path: None,
            network_container: None,
            no_network: false,
            ports: Vec::new(),
        }
    }
}

/// The resources the scheduler granted the task. raw_exec records them only; the
/// isolating drivers enforce them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TaskResources {
    pub cpu_mhz: u64,
    pub memory_mb: u64,
    /// The hard limit when memory oversubscription is used; 0 when unset.
    pub memory_max_mb: u64,
}

impl TaskResources {
    /// From the task's `resources` block; negative or absent values are 0.
    pub fn from_model(resources: &Resources) -> Self {
        let v = |x: Option<i64>| x.and_then(|x| u64::try_from(x).ok()).unwrap_or(0);
        Self {
            cpu_mhz: v(resources.cpu),
            memory_mb: v(resources.memory_mb),
            memory_max_mb: v(resources.memory_max_mb),
        }
    }
}
