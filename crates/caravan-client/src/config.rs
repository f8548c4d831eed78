//! The client agent's settings.

use std::collections::BTreeMap;
use std::path::PathBuf;

/// How the client agent runs on this node.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Allocation directories and the node id live here.
    pub data_dir: PathBuf,
    /// Defaults to the host name.
    pub node_name: Option<String>,
    pub datacenter: String,
    pub region: String,
    pub node_class: String,
    pub node_pool: String,
    pub meta: BTreeMap<String, String>,
    /// The address tasks' ports are published on (`NOMAD_IP_*`).
    pub address: String,
    /// This agent's HTTP address, shown in `node status`.
    pub http_addr: String,
    /// MHz and MB kept back from scheduling.
    pub reserved_cpu: i64,
    pub reserved_memory_mb: i64,
    /// Host ports kept back from scheduling, Nomad's syntax: "22,80,8000-8100".
    pub reserved_ports: String,
    pub min_dynamic_port: u16,
    pub max_dynamic_port: u16,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            data_dir: std::env::temp_dir().join("caravan-client"),
            node_name: None,
            datacenter: "dc1".into(),
            region: "global".into(),
            node_class: String::new(),
            node_pool: "default".into(),
            meta: BTreeMap::new(),
            address: "127.0.0.1".into(),
            http_addr: "127.0.0.1:4646".into(),
            reserved_cpu: 0,
            reserved_memory_mb: 0,
            reserved_ports: String::new(),
            min_dynamic_port: 20000,
            max_dynamic_port: 32000,
        }
    }
}
