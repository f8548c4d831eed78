//! The task: one process or container, run by a driver.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{Affinity, Constraint, Duration, NetworkResource, RestartPolicy, Service, Template};

/// A task, in the shape of Nomad's `api.Task`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Task {
    pub name: String,
    pub driver: String,
    pub user: String,
    /// The driver's configuration, free-form; each driver checks its own keys.
    pub config: BTreeMap<String, serde_json::Value>,
    pub constraints: Vec<Constraint>,
    pub affinities: Vec<Affinity>,
    pub env: BTreeMap<String, String>,
    pub services: Vec<Service>,
    pub resources: Option<Resources>,
    pub restart_policy: Option<RestartPolicy>,
    pub meta: BTreeMap<String, String>,
    pub kill_timeout: Option<Duration>,
    pub log_config: Option<LogConfig>,
    pub artifacts: Vec<TaskArtifact>,
    pub templates: Vec<Template>,
    pub volume_mounts: Vec<VolumeMount>,
    pub leader: bool,
    pub shutdown_delay: Duration,
    pub kill_signal: String,
    pub kind: String,
    pub lifecycle: Option<Lifecycle>,
    pub dispatch_payload: Option<DispatchPayloadConfig>,
    /// Accepted and carried, not acted on.
    pub vault: Option<serde_json::Value>,
    pub identity: Option<serde_json::Value>,
    pub consul: Option<serde_json::Value>,
    #[serde(rename = "CSIPluginConfig")]
    pub csi_plugin_config: Option<serde_json::Value>,
}

impl Task {
    /// The driver config's `ports` list: the port labels a mapping driver publishes.
    pub fn config_ports(&self) -> Vec<&str> {
        match self.config.get("ports") {
            Some(serde_json::Value::Array(items)) => {
                items.iter().filter_map(serde_json::Value::as_str).collect()
            }
            _ => Vec::new(),
        }
    }
}

/// `resources { cpu cores memory memory_max }`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Resources {
    /// MHz.
    #[serde(rename = "CPU")]
    pub cpu: Option<i64>,
    pub cores: Option<i64>,
    #[serde(rename = "MemoryMB")]
    pub memory_mb: Option<i64>,
    #[serde(rename = "MemoryMaxMB")]
    pub memory_max_mb: Option<i64>,
    #[serde(rename = "DiskMB")]
    pub disk_mb: Option<i64>,
    /// Deprecated task-level networks (Nomad < 0.12 style); accepted for old job files.
    pub networks: Vec<NetworkResource>,
    pub devices: Vec<RequestedDevice>,
}

/// `device "nvidia/gpu" { count = 1 }`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct RequestedDevice {
    pub name: String,
    pub count: Option<u64>,
    pub constraints: Vec<Constraint>,
    pub affinities: Vec<Affinity>,
}

/// `lifecycle { hook sidecar }`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Lifecycle {
    /// "prestart", "poststart" or "poststop".
    pub hook: String,
    pub sidecar: bool,
}

/// `logs { max_files max_file_size disabled }`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct LogConfig {
    pub max_files: Option<i64>,
    #[serde(rename = "MaxFileSizeMB")]
    pub max_file_size_mb: Option<i64>,
    pub disabled: Option<bool>,
}

/// `artifact { source destination mode options headers }`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct TaskArtifact {
    pub getter_source: Option<String>,
    pub getter_options: BTreeMap<String, String>,
    pub getter_headers: BTreeMap<String, String>,
    pub getter_mode: Option<String>,
    pub relative_dest: Option<String>,
}

/// `volume_mount { volume destination read_only propagation_mode }`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct VolumeMount {
    pub volume: Option<String>,
    pub destination: Option<String>,
    pub read_only: Option<bool>,
    pub propagation_mode: Option<String>,
}

/// `dispatch_payload { file }`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct DispatchPayloadConfig {
    pub file: String,
}
