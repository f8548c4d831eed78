//! Client nodes: what the scheduler places allocations on.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::NodeId;

/// A client node, in the shape of Nomad's `structs.Node`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Node {
    #[serde(rename = "ID")]
    pub id: NodeId,
    pub name: String,
    pub datacenter: String,
    pub node_class: String,
    pub node_pool: String,
    #[serde(rename = "HTTPAddr")]
    pub http_addr: String,
    /// Fingerprinted attributes: `kernel.name`, `cpu.arch`, `unique.hostname`, `driver.raw_exec`, ...
    pub attributes: BTreeMap<String, String>,
    pub meta: BTreeMap<String, String>,
    pub node_resources: NodeResources,
    pub reserved_resources: NodeReservedResources,
    pub drivers: BTreeMap<String, DriverInfo>,
    pub host_networks: BTreeMap<String, HostNetwork>,
    /// "initializing", "ready", "down" or "disconnected".
    pub status: String,
    pub status_description: String,
    /// "eligible" or "ineligible".
    pub scheduling_eligibility: String,
    pub drain: bool,
    pub create_index: u64,
    pub modify_index: u64,
}

impl Node {
    pub fn is_ready(&self) -> bool {
        self.status == "ready"
    }

    pub fn is_eligible(&self) -> bool {
        self.scheduling_eligibility != "ineligible" && !self.drain
    }
}

/// What a node has to give.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct NodeResources {
    pub cpu: NodeCpuResources,
    pub memory: NodeMemoryResources,
    pub disk: NodeDiskResources,
    pub networks: Vec<NodeNetwork>,
    pub min_dynamic_port: u16,
    pub max_dynamic_port: u16,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct NodeCpuResources {
    /// Total MHz.
    pub cpu_shares: i64,
    pub total_cpu_cores: u16,
    pub reservable_cpu_cores: Vec<u16>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct NodeMemoryResources {
    #[serde(rename = "MemoryMB")]
    pub memory_mb: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct NodeDiskResources {
    #[serde(rename = "DiskMB")]
    pub disk_mb: i64,
}

/// One of a node's addresses.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct NodeNetwork {
    pub mode: String,
    pub device: String,
    #[serde(rename = "IP")]
    pub ip: String,
    #[serde(rename = "CIDR")]
    pub cidr: String,
}

/// What the agent config keeps back from scheduling.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct NodeReservedResources {
    pub cpu: NodeCpuResources,
    pub memory: NodeMemoryResources,
    pub disk: NodeDiskResources,
    pub networks: NodeReservedNetworks,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct NodeReservedNetworks {
    /// Nomad's syntax: "22,80,8000-8100".
    pub reserved_host_ports: String,
}

/// A driver as fingerprinted on a node.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct DriverInfo {
    pub detected: bool,
    pub healthy: bool,
    pub health_description: String,
    pub attributes: BTreeMap<String, String>,
}

/// `host_network "name" { cidr interface reserved_ports }` in the client config.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct HostNetwork {
    pub name: String,
    #[serde(rename = "CIDR")]
    pub cidr: String,
    pub interface: String,
    pub reserved_ports: String,
}
