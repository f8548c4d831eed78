//! One instance of a service as the resolver sees it.

use std::net::IpAddr;

use caravan_model::HealthStatus;

/// One registered instance: where it answers, on which node, and how healthy it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServiceInstance<'a> {
    /// The name of the node it runs on (an SRV target is `<node>.node.<dc>.<domain>`).
    pub node: &'a str,
    /// The node's address, used when the instance has none of its own.
    pub node_address: &'a str,
    /// The datacenter it is registered in.
    pub datacenter: &'a str,
    /// The instance's own address; empty when it answers on the node's.
    pub address: &'a str,
    /// [`Self::effective_address`] as an IP address, when it is one (`None` for a host
    /// name). The catalog parses it once when it is built, so that a query reads no
    /// address text.
    pub ip: Option<IpAddr>,
    pub port: u16,
    pub tags: &'a [String],
    /// The worst of the instance's checks and its node's health.
    pub health: HealthStatus,
}

impl<'a> ServiceInstance<'a> {
    /// The address it answers on: its own, else its node's.
    pub fn effective_address(&self) -> &'a str {
        if self.address.is_empty() {
            self.node_address
        } else {
            self.address
        }
    }

    /// Whether it has an address of its own that differs from its node's, which makes
    /// its SRV target an `<hex>.addr` name instead of the node's.
    pub fn has_own_address(&self) -> bool {
        !self.address.is_empty() && self.address != self.node_address
    }

    /// Whether one of its tags is `tag`, ignoring ASCII case as DNS does.
    pub fn has_tag(&self, tag: &str) -> bool {
        self.tags.iter().any(|t| t.eq_ignore_ascii_case(tag))
    }
}
