//! A catalog held in memory: what [`crate::SnapshotCatalog`] indexes a snapshot into,
//! and what tests, the benchmark and the fuzz target fill by hand.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;

use caravan_model::HealthStatus;

use crate::{CatalogView, NodeEntry, ServiceInstance};

/// Nodes, and service instances placed on them by node name, indexed by case-folded
/// name for the resolver's lookups.
#[derive(Debug, Clone, Default)]
pub struct MemoryCatalog {
    /// Lowercased service name to its instances.
    services: HashMap<String, Vec<Instance>>,
    nodes: Vec<Node>,
    /// Lowercased node name to its place in `nodes`.
    node_index: HashMap<String, usize>,
    serial: u32,
}

#[derive(Debug, Clone)]
struct Node {
    name: String,
    address: String,
    /// `address` parsed, when it is an IP address.
    ip: Option<IpAddr>,
    datacenter: String,
    meta: BTreeMap<String, String>,
}

#[derive(Debug, Clone)]
struct Instance {
    node: String,
    /// `node`, lowercased, to find it when it was added after the instance.
    node_key: String,
    /// Its node's place in `nodes`, when the node was there first.
    node_at: Option<usize>,
    /// Its own datacenter; its node's when absent.
    datacenter: Option<String>,
    address: String,
    /// `address` parsed, when it is an IP address.
    ip: Option<IpAddr>,
    port: u16,
    tags: Vec<String>,
    health: HealthStatus,
}

impl MemoryCatalog {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a node, or replaces the one with that name (ignoring case).
    pub fn add_node(&mut self, name: &str, address: &str, datacenter: &str) -> &mut Self {
        self.insert_node(name, address, datacenter, BTreeMap::new());
        self
    }

    pub(crate) fn insert_node(
        &mut self,
        name: &str,
        address: &str,
        datacenter: &str,
        meta: BTreeMap<String, String>,
    ) {
        let node = Node {
            name: name.to_owned(),
            address: address.to_owned(),
            ip: address.parse().ok(),
            datacenter: datacenter.to_owned(),
            meta,
        };
        let key = name.to_ascii_lowercase();
        match self.node_index.get(&key) {
            Some(&at) => self.nodes[at] = node,
            None => {
                self.node_index.insert(key, self.nodes.len());
                self.nodes.push(node);
            }
        }
    }

    /// Sets a meta entry of the node named `node`, if there is one.
    pub fn set_node_meta(&mut self, node: &str, key: &str, value: &str) -> &mut Self {
        if let Some(&at) = self.node_index.get(&node.to_ascii_lowercase()) {
            self.nodes[at].meta.insert(key.to_owned(), value.to_owned());
        }
        self
    }

    /// Adds an instance of `service` on `node` (by name; its datacenter is the node's).
    /// An empty `address` means the node's.
    pub fn add_instance(
        &mut self,
        service: &str,
        node: &str,
        address: &str,
        port: u16,
        tags: &[&str],
        health: HealthStatus,
    ) -> &mut Self {
        let tags = tags.iter().map(|t| (*t).to_owned()).collect();
        self.insert_instance(service, node, None, address, port, tags, health);
        self
    }

    #[expect(
        clippy::too_many_arguments,
        reason = "one instance's fields, crate-private"
    )]
    pub(crate) fn insert_instance(
        &mut self,
        service: &str,
        node: &str,
        datacenter: Option<&str>,
        address: &str,
        port: u16,
        tags: Vec<String>,
        health: HealthStatus,
    ) {
        let node_key = node.to_ascii_lowercase();
        let node_at = self.node_index.get(&node_key).copied();
        self.services
            .entry(service.to_ascii_lowercase())
            .or_default()
            .push(Instance {
                node: node.to_owned(),
                node_key,
                node_at,
                datacenter: datacenter.map(str::to_owned),
                address: address.to_owned(),
                ip: address.parse().ok(),
                port,
                tags,
                health,
            });
    }

    /// Sets the health of every instance of `service` on `node`.
    pub fn set_health(&mut self, service: &str, node: &str, health: HealthStatus) -> &mut Self {
        if let Some(instances) = self.services.get_mut(&service.to_ascii_lowercase()) {
            let key = node.to_ascii_lowercase();
            for instance in instances.iter_mut().filter(|i| i.node_key == key) {
                instance.health = health;
            }
        }
        self
    }

    pub fn set_serial(&mut self, serial: u32) -> &mut Self {
        self.serial = serial;
        self
    }

    fn find_node(&self, name: &str) -> Option<&Node> {
        let at = self
            .node_index
            .get(name)
            .or_else(|| self.node_index.get(&name.to_ascii_lowercase()))?;
        self.nodes.get(*at)
    }
}

impl CatalogView for MemoryCatalog {
    fn service_instances<'a>(&'a self, name: &str, visit: &mut dyn FnMut(ServiceInstance<'a>)) {
        // Most clients ask in lower case: try the name as asked before folding it.
        let Some(instances) = self
            .services
            .get(name)
            .or_else(|| self.services.get(&name.to_ascii_lowercase()))
        else {
            return;
        };
        for instance in instances {
            let node = instance
                .node_at
                .or_else(|| self.node_index.get(&instance.node_key).copied())
                .and_then(|at| self.nodes.get(at));
            visit(ServiceInstance {
                node: &instance.node,
                node_address: node.map_or("", |n| n.address.as_str()),
                datacenter: match &instance.datacenter {
                    Some(dc) => dc,
                    None => node.map_or("", |n| n.datacenter.as_str()),
                },
                address: &instance.address,
                ip: if instance.address.is_empty() {
                    node.and_then(|n| n.ip)
                } else {
                    instance.ip
                },
                port: instance.port,
                tags: &instance.tags,
                health: instance.health,
            });
        }
    }

    fn node(&self, name: &str) -> Option<NodeEntry<'_>> {
        self.find_node(name).map(entry)
    }

    fn nodes<'a>(&'a self, visit: &mut dyn FnMut(NodeEntry<'a>)) {
        for node in &self.nodes {
            visit(entry(node));
        }
    }

    fn serial(&self) -> u32 {
        self.serial
    }
}

fn entry(node: &Node) -> NodeEntry<'_> {
    NodeEntry {
        name: &node.name,
        address: &node.address,
        datacenter: &node.datacenter,
        meta: &node.meta,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instances_find_nodes_added_before_or_after_them() {
        let mut c = MemoryCatalog::new();
        c.add_node("early", "10.0.0.1", "dc1")
            .add_instance("svc", "early", "", 1, &[], HealthStatus::Passing)
            .add_instance("svc", "Late", "", 2, &[], HealthStatus::Passing)
            .add_node("late", "10.0.0.2", "dc2");
        let mut seen = Vec::new();
        c.service_instances("SVC", &mut |i| {
            seen.push((i.node_address.to_owned(), i.datacenter.to_owned()))
        });
        assert_eq!(
            seen,
            [
                ("10.0.0.1".to_owned(), "dc1".to_owned()),
                ("10.0.0.2".to_owned(), "dc2".to_owned())
            ]
        );
        c.add_node("EARLY", "10.0.0.9", "dc1");
        assert_eq!(
            c.node("early").map(|n| n.address),
            Some("10.0.0.9"),
            "replaced by name"
        );
    }

    #[test]
    fn instances_carry_their_effective_address_parsed() {
        let mut c = MemoryCatalog::new();
        c.add_instance("svc", "late", "", 1, &[], HealthStatus::Passing)
            .add_instance("svc", "late", "fd00::7", 2, &[], HealthStatus::Passing)
            .add_instance(
                "svc",
                "late",
                "db.example.com",
                3,
                &[],
                HealthStatus::Passing,
            )
            .add_node("late", "10.0.0.2", "dc1");
        let mut ips = Vec::new();
        c.service_instances("svc", &mut |i| {
            assert_eq!(i.ip, i.effective_address().parse().ok(), "port {}", i.port);
            ips.push(i.ip);
        });
        assert_eq!(
            ips,
            [
                Some("10.0.0.2".parse().expect("ip")),
                Some("fd00::7".parse().expect("ip")),
                None
            ]
        );
    }
}
