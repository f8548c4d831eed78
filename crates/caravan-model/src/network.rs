//! Group networks and their ports.

use serde::{Deserialize, Serialize};

/// A group's `network` block, in the shape of Nomad's `api.NetworkResource`.
///
/// Every `port` block is decoded into `dynamic_ports`; canonicalization moves the
/// ones with `static > 0` to `reserved_ports`, as Nomad's parser does.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct NetworkResource {
    /// "host" (default), "bridge", "none" or "cni/<name>".
    pub mode: String,
    pub device: String,
    #[serde(rename = "CIDR")]
    pub cidr: String,
    #[serde(rename = "IP")]
    pub ip: String,
    pub hostname: String,
    #[serde(rename = "MBits")]
    pub mbits: Option<i64>,
    #[serde(rename = "DNS")]
    pub dns: Option<DnsConfig>,
    pub reserved_ports: Vec<Port>,
    pub dynamic_ports: Vec<Port>,
    #[serde(rename = "CNI")]
    pub cni: Option<CniConfig>,
}

impl NetworkResource {
    /// Every port, static ones first.
    pub fn ports(&self) -> impl Iterator<Item = &Port> {
        self.reserved_ports.iter().chain(&self.dynamic_ports)
    }

    pub fn port(&self, label: &str) -> Option<&Port> {
        self.ports().find(|p| p.label == label)
    }

    /// The mode, with the empty string read as Nomad's default, "host".
    pub fn mode(&self) -> &str {
        if self.mode.is_empty() {
            "host"
        } else {
            &self.mode
        }
    }
}

/// `port "label" { static to host_network ignore_collision }`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Port {
    pub label: String,
    /// The host port: the `static` value, or 0 until the scheduler picks one.
    pub value: i64,
    /// The port inside the namespace or container; 0 for none, -1 for "same as host port".
    pub to: i64,
    pub host_network: String,
    pub ignore_collision: bool,
}

/// `dns { servers searches options }`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct DnsConfig {
    pub servers: Vec<String>,
    pub searches: Vec<String>,
    pub options: Vec<String>,
}

/// `cni { args = {...} }`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct CniConfig {
    pub args: std::collections::BTreeMap<String, String>,
}
