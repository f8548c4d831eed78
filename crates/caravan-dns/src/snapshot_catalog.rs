//! The state store's snapshot as a [`CatalogView`].

use std::collections::HashMap;

use caravan_model::{HealthStatus, Node};
use caravan_state::{Snapshot, Table};

use crate::{CatalogView, MemoryCatalog, NodeEntry, ServiceInstance};

/// A [`CatalogView`] of a state snapshot: what the agent's DNS server answers from.
///
/// The snapshot keys services by exact (namespace, name) and nodes by id, in persistent
/// B-trees, while DNS asks by case-folded name across namespaces, several times per
/// query. So construction copies what DNS serves into hash-indexed tables once,
/// O(catalog) (about 2 ms for 5,000 instances on 100 nodes), and each query is then a
/// hash lookup. Build one per catalog change, not per query: [`crate::CatalogCache`].
///
/// Every namespace is served under the one DNS name, as a Consul catalog without
/// namespaces holds Nomad's services from all of them. An instance on a node that is
/// down or disconnected counts as critical, as Consul's node health check would make it.
#[derive(Debug, Clone)]
pub struct SnapshotCatalog {
    index: MemoryCatalog,
}

impl SnapshotCatalog {
    pub fn new(snapshot: &Snapshot) -> Self {
        let mut index = MemoryCatalog::new();
        // Two nodes may share a name (a host that re-registered with a new id): add the
        // better one last, so that it wins: up before down, then the newest.
        let mut nodes: Vec<&Node> = snapshot.nodes().collect();
        nodes.sort_by_key(|n| (!node_is_down(n), n.modify_index));
        for node in nodes {
            index.insert_node(
                node_name(node),
                node_address(node),
                &node.datacenter,
                node.meta.clone(),
            );
        }
        let mut node_state: HashMap<&str, (&str, HealthStatus)> = HashMap::new();
        for node in snapshot.nodes() {
            let health = if node_is_down(node) {
                HealthStatus::Critical
            } else {
                HealthStatus::Passing
            };
            node_state.insert(node.id.as_str(), (node_name(node), health));
        }
        for reg in snapshot.service_registrations() {
            let (node, node_health) = node_state
                .get(reg.node_id.as_str())
                .copied()
                .unwrap_or((reg.node_id.as_str(), HealthStatus::Passing));
            index.insert_instance(
                &reg.service_name,
                node,
                Some(&reg.datacenter)
                    .filter(|dc| !dc.is_empty())
                    .map(String::as_str),
                &reg.address,
                reg.port,
                reg.tags.clone(),
                reg.health.max(node_health),
            );
        }
        let serial = snapshot
            .index(Table::Services)
            .max(snapshot.index(Table::Nodes));
        // Serial numbers compare modulo 2^32 (RFC 1982): wrapping is what they expect.
        index.set_serial(serial as u32);
        Self { index }
    }
}

impl CatalogView for SnapshotCatalog {
    fn service_instances<'a>(&'a self, name: &str, visit: &mut dyn FnMut(ServiceInstance<'a>)) {
        self.index.service_instances(name, visit);
    }

    fn node(&self, name: &str) -> Option<NodeEntry<'_>> {
        self.index.node(name)
    }

    fn nodes<'a>(&'a self, visit: &mut dyn FnMut(NodeEntry<'a>)) {
        self.index.nodes(visit);
    }

    fn serial(&self) -> u32 {
        self.index.serial()
    }
}

/// Its name, or its id when it registered without one.
fn node_name(node: &Node) -> &str {
    if node.name.is_empty() {
        node.id.as_str()
    } else {
        &node.name
    }
}

fn node_is_down(node: &Node) -> bool {
    matches!(node.status.as_str(), "down" | "disconnected")
}

/// The node's address: its fingerprinted IP, else its first network's, else the host
/// of its HTTP address (the same order the HTTP API shows).
fn node_address(node: &Node) -> &str {
    if let Some(ip) = node.attributes.get("unique.network.ip-address") {
        return ip;
    }
    if let Some(net) = node
        .node_resources
        .networks
        .iter()
        .find(|n| !n.ip.is_empty())
    {
        return &net.ip;
    }
    let host = node
        .http_addr
        .rsplit_once(':')
        .map_or(node.http_addr.as_str(), |(host, _)| host);
    host.trim_start_matches('[').trim_end_matches(']')
}
