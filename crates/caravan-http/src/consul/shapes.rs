//! Consul's JSON shapes, built from Caravan's nodes and Consul-provider registrations:
//! nodes (with their `serfHealth` check), services as the agent, the catalog and the
//! health endpoints show them, and checks.

use std::collections::BTreeMap;

use caravan_model::{
    CheckStatus, Duration, HealthStatus, Node, NodeId, ServiceProvider, ServiceRegistration,
    ServiceWeights,
};
use caravan_state::Snapshot;
use serde::Serialize;

use crate::AgentInfo;

/// The id and name of the check every Consul node has: its gossip health.
pub(super) const SERF_CHECK_ID: &str = "serfHealth";
const SERF_CHECK_NAME: &str = "Serf Health Status";
/// The service Consul's servers register for themselves.
pub(super) const CONSUL_SERVICE: &str = "consul";

/// A node as Consul shows it (`/v1/catalog/nodes`, the `Node` of health entries).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct ConsulNode {
    #[serde(rename = "ID")]
    pub id: String,
    pub node: String,
    pub address: String,
    pub datacenter: String,
    pub tagged_addresses: BTreeMap<String, String>,
    pub meta: BTreeMap<String, String>,
    pub create_index: u64,
    pub modify_index: u64,
    /// Not down: its `serfHealth` check passes.
    #[serde(skip)]
    pub alive: bool,
}

impl ConsulNode {
    fn new(id: &str, name: &str, address: &str, datacenter: &str) -> Self {
        let tagged_addresses = ["lan", "lan_ipv4", "wan", "wan_ipv4"]
            .into_iter()
            .map(|k| (k.to_owned(), address.to_owned()))
            .collect();
        let meta = [("consul-network-segment".to_owned(), String::new())].into();
        Self {
            id: id.to_owned(),
            node: name.to_owned(),
            address: address.to_owned(),
            datacenter: datacenter.to_owned(),
            tagged_addresses,
            meta,
            create_index: 0,
            modify_index: 0,
            alive: true,
        }
    }

    fn of(node: &Node) -> Self {
        let address = node
            .attributes
            .get("unique.network.ip-address")
            .map(String::as_str)
            .filter(|a| !a.is_empty())
            .unwrap_or_else(|| host_of(&node.http_addr));
        let mut out = Self::new(node.id.as_str(), &node.name, address, &node.datacenter);
        out.meta
            .extend(node.meta.iter().map(|(k, v)| (k.clone(), v.clone())));
        out.create_index = node.create_index;
        out.modify_index = node.modify_index;
        out.alive = !matches!(node.status.as_str(), "down" | "disconnected");
        out
    }

    /// The node's `serfHealth` check.
    pub fn serf_check(&self) -> HealthCheck {
        let (status, output) = if self.alive {
            (HealthStatus::Passing, "Agent alive and reachable")
        } else {
            (HealthStatus::Critical, "Agent not live or unreachable")
        };
        HealthCheck {
            node: self.node.clone(),
            check_id: SERF_CHECK_ID.to_owned(),
            name: SERF_CHECK_NAME.to_owned(),
            status: status.as_str(),
            notes: String::new(),
            output: output.to_owned(),
            service_id: String::new(),
            service_name: String::new(),
            service_tags: Vec::new(),
            check_type: String::new(),
            interval: String::new(),
            timeout: String::new(),
            exposed_port: 0,
            definition: CheckDefinition::default(),
            create_index: self.create_index,
            modify_index: self.modify_index,
        }
    }
}

/// `ip:port` without the port (brackets of an IPv6 address dropped too).
pub(super) fn host_of(addr: &str) -> &str {
    let host = addr.rsplit_once(':').map_or(addr, |(h, _)| h);
    host.trim_start_matches('[').trim_end_matches(']')
}

pub(super) fn port_of(addr: &str) -> u16 {
    addr.rsplit_once(':')
        .and_then(|(_, p)| p.parse().ok())
        .unwrap_or(0)
}

/// Consul's view of the catalog at one snapshot: its nodes and the Consul-provider
/// instances on them, the `consul` service of the agent's server node included.
#[derive(Debug)]
pub(super) struct ConsulCatalog<'a> {
    snap: &'a Snapshot,
    /// Sorted by name.
    nodes: Vec<ConsulNode>,
    /// Caravan node id to its place in `nodes`.
    by_id: BTreeMap<NodeId, usize>,
    /// The `consul` service, on the server node, when this agent runs a server.
    consul: Option<ServiceRegistration>,
}

impl<'a> ConsulCatalog<'a> {
    pub fn new(agent: &AgentInfo, snap: &'a Snapshot) -> Self {
        let mut nodes: Vec<ConsulNode> = snap.nodes().map(ConsulNode::of).collect();
        let mut consul = None;
        if agent.server {
            // This server's node is the client node of the same name (dev mode), or
            // one of its own when the agent runs no client.
            let server_node = match snap.nodes().find(|n| n.name == agent.name) {
                Some(node) => node.id.clone(),
                None => {
                    nodes.push(ConsulNode::new(
                        "",
                        &agent.name,
                        host_of(&agent.rpc_addr),
                        &agent.datacenter,
                    ));
                    NodeId::default()
                }
            };
            consul = Some(ServiceRegistration {
                id: CONSUL_SERVICE.to_owned(),
                service_name: CONSUL_SERVICE.to_owned(),
                node_id: server_node,
                datacenter: agent.datacenter.clone(),
                port: port_of(&agent.rpc_addr),
                provider: ServiceProvider::Consul,
                create_index: 1,
                modify_index: 1,
                ..ServiceRegistration::default()
            });
        }
        nodes.sort_by(|a, b| a.node.cmp(&b.node));
        let by_id = nodes
            .iter()
            .enumerate()
            .map(|(i, n)| (NodeId::from(n.id.as_str()), i))
            .collect();
        Self {
            snap,
            nodes,
            by_id,
            consul,
        }
    }

    /// Every node, sorted by name.
    pub fn nodes(&self) -> &[ConsulNode] {
        &self.nodes
    }

    /// A node by its name (or, as our convenience, its id).
    pub fn node_named(&self, name: &str) -> Option<&ConsulNode> {
        self.nodes
            .iter()
            .find(|n| n.node == name)
            .or_else(|| self.nodes.iter().find(|n| !n.id.is_empty() && n.id == name))
    }

    /// The node a registration is on (one made up from its id if the node is gone).
    pub fn node_of(&self, reg: &ServiceRegistration) -> ConsulNode {
        match self.by_id.get(&reg.node_id) {
            Some(i) => self.nodes[*i].clone(),
            None => {
                let mut node = ConsulNode::new(
                    reg.node_id.as_str(),
                    reg.node_id.as_str(),
                    &reg.address,
                    &reg.datacenter,
                );
                node.alive = false;
                node
            }
        }
    }

    /// The instances of one service, sorted by id.
    pub fn service(&self, name: &str) -> Vec<&ServiceRegistration> {
        let mut out: Vec<&ServiceRegistration> = self.snap.consul_service(name).collect();
        if let Some(consul) = self.consul.as_ref().filter(|c| c.service_name == name) {
            out.push(consul);
            out.sort_by(|a, b| a.id.cmp(&b.id));
        }
        out
    }

    /// Every service with its instances, sorted by name.
    pub fn services(&self) -> BTreeMap<&str, Vec<&ServiceRegistration>> {
        let mut out: BTreeMap<&str, Vec<&ServiceRegistration>> =
            self.snap.consul_services().collect();
        if let Some(consul) = &self.consul {
            out.entry(CONSUL_SERVICE).or_default().push(consul);
        }
        out
    }

    /// The instances on a node, sorted by id.
    pub fn services_on(&self, node: &ConsulNode) -> Vec<&ServiceRegistration> {
        let id = NodeId::from(node.id.as_str());
        let mut out: Vec<&ServiceRegistration> = self
            .snap
            .services_on_node(&id)
            .filter(|r| r.provider == ServiceProvider::Consul)
            .collect();
        if let Some(consul) = self.consul.as_ref().filter(|c| c.node_id == id) {
            out.push(consul);
            out.sort_by(|a, b| a.id.cmp(&b.id));
        }
        out
    }

    /// Every instance, by node name then id.
    pub fn all_instances(&self) -> Vec<(&ConsulNode, &ServiceRegistration)> {
        self.nodes
            .iter()
            .flat_map(|n| self.services_on(n).into_iter().map(move |r| (n, r)))
            .collect()
    }
}

/// A check as Consul's health endpoints show it (`api.HealthCheck`).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct HealthCheck {
    pub node: String,
    #[serde(rename = "CheckID")]
    pub check_id: String,
    pub name: String,
    pub status: &'static str,
    pub notes: String,
    pub output: String,
    #[serde(rename = "ServiceID")]
    pub service_id: String,
    pub service_name: String,
    pub service_tags: Vec<String>,
    #[serde(rename = "Type")]
    pub check_type: String,
    pub interval: String,
    pub timeout: String,
    pub exposed_port: u16,
    pub definition: CheckDefinition,
    pub create_index: u64,
    pub modify_index: u64,
}

impl HealthCheck {
    pub fn of(node: &str, reg: &ServiceRegistration, check: &CheckStatus) -> Self {
        let interval = duration_text(check.interval);
        let timeout = duration_text(check.timeout);
        Self {
            node: node.to_owned(),
            check_id: reg.consul_check_id(check),
            name: check.name.clone(),
            status: check.status.as_str(),
            notes: check.notes.clone(),
            output: check.output.clone(),
            service_id: reg.id.clone(),
            service_name: reg.service_name.clone(),
            service_tags: reg.tags.clone(),
            check_type: check.check_type.clone(),
            definition: CheckDefinition {
                http: check.http.clone(),
                method: check.method.clone(),
                tcp: check.tcp.clone(),
                interval: interval.clone(),
                timeout: timeout.clone(),
            },
            interval,
            timeout,
            exposed_port: 0,
            create_index: reg.create_index,
            modify_index: reg.modify_index,
        }
    }

    pub fn is_passing(&self) -> bool {
        self.status == HealthStatus::Passing.as_str()
    }
}

/// What a check probes (`api.HealthCheckDefinition`): set for HTTP and TCP checks.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct CheckDefinition {
    #[serde(rename = "HTTP", skip_serializing_if = "String::is_empty")]
    pub http: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub method: String,
    #[serde(rename = "TCP", skip_serializing_if = "String::is_empty")]
    pub tcp: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub interval: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub timeout: String,
}

/// A duration in Go's syntax, empty for none.
fn duration_text(ns: i64) -> String {
    if ns == 0 {
        String::new()
    } else {
        Duration(ns).to_string()
    }
}

/// The checks of one instance: its node's `serfHealth` first, then its own.
pub(super) fn instance_checks(node: &ConsulNode, reg: &ServiceRegistration) -> Vec<HealthCheck> {
    std::iter::once(node.serf_check())
        .chain(
            reg.checks
                .iter()
                .map(|c| HealthCheck::of(&node.node, reg, c)),
        )
        .collect()
}

fn weights(reg: &ServiceRegistration) -> ServiceWeights {
    reg.weights.unwrap_or(ServiceWeights {
        passing: 1,
        warning: 1,
    })
}

/// A service instance as a node holds it (`structs.NodeService`): the `Service` of
/// health entries and the values of `/v1/catalog/node/:node`'s `Services`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct NodeService {
    #[serde(rename = "ID")]
    pub id: String,
    pub service: String,
    pub tags: Vec<String>,
    pub address: String,
    pub meta: BTreeMap<String, String>,
    pub port: u16,
    pub weights: ServiceWeights,
    pub enable_tag_override: bool,
    pub datacenter: String,
    pub create_index: u64,
    pub modify_index: u64,
}

impl NodeService {
    pub fn of(reg: &ServiceRegistration) -> Self {
        Self {
            id: reg.id.clone(),
            service: reg.service_name.clone(),
            tags: reg.tags.clone(),
            address: reg.address.clone(),
            meta: reg.meta.clone(),
            port: reg.port,
            weights: weights(reg),
            enable_tag_override: reg.enable_tag_override,
            datacenter: reg.datacenter.clone(),
            create_index: reg.create_index,
            modify_index: reg.modify_index,
        }
    }
}

/// A service as the agent shows its own (`api.AgentService`).
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct AgentService {
    #[serde(rename = "ID")]
    pub id: String,
    pub service: String,
    pub tags: Vec<String>,
    pub meta: BTreeMap<String, String>,
    pub port: u16,
    pub address: String,
    pub weights: ServiceWeights,
    pub enable_tag_override: bool,
    pub datacenter: String,
    /// Changes whenever the service does (`/v1/agent/service/:id` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content_hash: Option<String>,
}

impl AgentService {
    pub fn of(reg: &ServiceRegistration) -> Self {
        Self {
            id: reg.id.clone(),
            service: reg.service_name.clone(),
            tags: reg.tags.clone(),
            meta: reg.meta.clone(),
            port: reg.port,
            address: reg.address.clone(),
            weights: weights(reg),
            enable_tag_override: reg.enable_tag_override,
            datacenter: reg.datacenter.clone(),
            content_hash: None,
        }
    }
}

/// One instance as `/v1/catalog/service/:svc` lists it (`structs.ServiceNode`).
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct CatalogService {
    #[serde(rename = "ID")]
    pub id: String,
    pub node: String,
    pub address: String,
    pub datacenter: String,
    pub tagged_addresses: BTreeMap<String, String>,
    pub node_meta: BTreeMap<String, String>,
    pub service_kind: String,
    #[serde(rename = "ServiceID")]
    pub service_id: String,
    pub service_name: String,
    pub service_tags: Vec<String>,
    pub service_address: String,
    pub service_weights: ServiceWeights,
    pub service_meta: BTreeMap<String, String>,
    pub service_port: u16,
    pub service_enable_tag_override: bool,
    pub create_index: u64,
    pub modify_index: u64,
}

impl CatalogService {
    pub fn of(node: &ConsulNode, reg: &ServiceRegistration) -> Self {
        Self {
            id: node.id.clone(),
            node: node.node.clone(),
            address: node.address.clone(),
            datacenter: node.datacenter.clone(),
            tagged_addresses: node.tagged_addresses.clone(),
            node_meta: node.meta.clone(),
            service_kind: String::new(),
            service_id: reg.id.clone(),
            service_name: reg.service_name.clone(),
            service_tags: reg.tags.clone(),
            service_address: reg.address.clone(),
            service_weights: weights(reg),
            service_meta: reg.meta.clone(),
            service_port: reg.port,
            service_enable_tag_override: reg.enable_tag_override,
            create_index: reg.create_index,
            modify_index: reg.modify_index,
        }
    }
}

/// One entry of `/v1/health/service/:svc` (`api.ServiceEntry`).
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct ServiceEntry {
    pub node: ConsulNode,
    pub service: NodeService,
    pub checks: Vec<HealthCheck>,
}

impl ServiceEntry {
    pub fn of(node: ConsulNode, reg: &ServiceRegistration) -> Self {
        let checks = instance_checks(&node, reg);
        Self {
            service: NodeService::of(reg),
            checks,
            node,
        }
    }

    /// Whether every check, the node's included, passes (`?passing`).
    pub fn is_passing(&self) -> bool {
        self.checks.iter().all(HealthCheck::is_passing)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_lose_their_port() {
        assert_eq!(host_of("10.0.0.1:4646"), "10.0.0.1");
        assert_eq!(host_of("[fd00::1]:4646"), "fd00::1");
        assert_eq!(port_of("10.0.0.1:4647"), 4647);
        assert_eq!(port_of("nohost"), 0);
    }

    #[test]
    fn a_down_node_fails_its_serf_check() {
        let mut node = Node {
            id: "n1".into(),
            name: "node-1".into(),
            status: "ready".into(),
            http_addr: "10.0.0.1:4646".into(),
            ..Node::default()
        };
        let view = ConsulNode::of(&node);
        assert_eq!(view.address, "10.0.0.1");
        assert!(view.serf_check().is_passing());
        node.status = "down".into();
        let check = ConsulNode::of(&node).serf_check();
        assert_eq!(
            (check.status, check.check_id.as_str()),
            ("critical", "serfHealth")
        );
    }
}
