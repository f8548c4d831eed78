//! `service` and `check` blocks: what a group or task advertises, and how its health is judged.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{Connect, Duration};

/// A service, in the shape of Nomad's `api.Service`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Service {
    pub name: String,
    pub tags: Vec<String>,
    pub canary_tags: Vec<String>,
    pub enable_tag_override: bool,
    /// A port label of the group network, or a number as a string.
    pub port_label: String,
    /// "auto" (default), "host", "driver", "alloc" or "alloc_ipv6".
    pub address_mode: String,
    pub address: String,
    pub checks: Vec<ServiceCheck>,
    pub check_restart: Option<CheckRestart>,
    pub connect: Option<Connect>,
    pub meta: BTreeMap<String, String>,
    pub canary_meta: BTreeMap<String, String>,
    pub tagged_addresses: BTreeMap<String, String>,
    pub task_name: String,
    pub on_update: String,
    /// "consul" (default) or "nomad".
    pub provider: String,
    pub weights: Option<ServiceWeights>,
    pub cluster: String,
    pub kind: String,
    /// Accepted and carried, not acted on.
    pub identity: Option<serde_json::Value>,
}

impl Service {
    /// The provider, with the empty string read as Nomad's default, "consul".
    pub fn provider(&self) -> &str {
        if self.provider.is_empty() {
            "consul"
        } else {
            &self.provider
        }
    }
}

/// `weights { passing warning }` (Consul DNS SRV weights).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ServiceWeights {
    pub passing: i64,
    pub warning: i64,
}

/// A check, in the shape of Nomad's `api.ServiceCheck`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ServiceCheck {
    pub name: String,
    /// "http", "tcp", "script" or "grpc".
    #[serde(rename = "Type")]
    pub check_type: String,
    pub command: String,
    pub args: Vec<String>,
    pub path: String,
    pub protocol: String,
    pub port_label: String,
    pub expose: bool,
    pub address_mode: String,
    pub advertise: String,
    pub interval: Duration,
    pub timeout: Duration,
    pub initial_status: String,
    pub notes: String,
    #[serde(rename = "TLSServerName")]
    pub tls_server_name: String,
    #[serde(rename = "TLSSkipVerify")]
    pub tls_skip_verify: bool,
    pub header: BTreeMap<String, Vec<String>>,
    pub method: String,
    pub body: String,
    pub check_restart: Option<CheckRestart>,
    #[serde(rename = "GRPCService")]
    pub grpc_service: String,
    #[serde(rename = "GRPCUseTLS")]
    pub grpc_use_tls: bool,
    pub task_name: String,
    pub success_before_passing: i64,
    pub failures_before_critical: i64,
    pub failures_before_warning: i64,
    pub on_update: String,
}

/// `check_restart { limit grace ignore_warnings }`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct CheckRestart {
    pub limit: i64,
    pub grace: Option<Duration>,
    pub ignore_warnings: bool,
}
