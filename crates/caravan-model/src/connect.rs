//! `connect` blocks: the service mesh side of a service.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{Duration, LogConfig, Resources};

/// `connect { native sidecar_service sidecar_task gateway }`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Connect {
    pub native: bool,
    pub sidecar_service: Option<SidecarService>,
    pub sidecar_task: Option<SidecarTask>,
    /// Accepted and carried; the ingress issue gives it a typed shape.
    pub gateway: Option<serde_json::Value>,
}

/// `sidecar_service { port tags meta proxy disable_default_tcp_check }`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct SidecarService {
    pub tags: Vec<String>,
    pub port: String,
    pub proxy: Option<ConnectProxy>,
    #[serde(rename = "DisableDefaultTCPCheck")]
    pub disable_default_tcp_check: bool,
    pub meta: BTreeMap<String, String>,
}

/// `proxy { local_service_address local_service_port upstreams expose config }`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ConnectProxy {
    pub local_service_address: String,
    pub local_service_port: i64,
    pub upstreams: Vec<ConnectUpstream>,
    pub expose: Option<ConnectExpose>,
    pub config: BTreeMap<String, serde_json::Value>,
    pub transparent_proxy: Option<serde_json::Value>,
}

/// `upstreams { destination_name local_bind_port ... }`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ConnectUpstream {
    pub destination_name: String,
    pub destination_namespace: String,
    pub destination_peer: String,
    pub destination_partition: String,
    pub destination_type: String,
    pub local_bind_port: i64,
    pub local_bind_address: String,
    pub local_bind_socket_path: String,
    pub local_bind_socket_mode: String,
    pub datacenter: String,
    pub mesh_gateway: Option<MeshGateway>,
    pub config: BTreeMap<String, serde_json::Value>,
}

/// `mesh_gateway { mode }`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct MeshGateway {
    pub mode: String,
}

/// `expose { path { ... } }`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ConnectExpose {
    pub paths: Vec<ExposePath>,
}

/// One exposed path of a proxy.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ExposePath {
    pub path: String,
    pub protocol: String,
    pub local_path_port: i64,
    pub listener_port: String,
}

/// `sidecar_task { ... }`: overrides for the proxy task.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct SidecarTask {
    pub name: String,
    pub driver: String,
    pub user: String,
    pub config: BTreeMap<String, serde_json::Value>,
    pub env: BTreeMap<String, String>,
    pub resources: Option<Resources>,
    pub meta: BTreeMap<String, String>,
    pub kill_timeout: Option<Duration>,
    pub log_config: Option<LogConfig>,
    pub shutdown_delay: Option<Duration>,
    pub kill_signal: String,
}
