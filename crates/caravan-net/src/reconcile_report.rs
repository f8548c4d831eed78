//! What a reconcile removed.

use caravan_model::AllocId;

/// The pieces `reconcile` found without a live allocation, and removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReconcileReport {
    /// Named network namespaces (file names under the netns directory).
    pub netns: Vec<String>,
    /// Host-side veth interfaces that were attached to the bridge.
    pub links: Vec<String>,
    /// nftables chains (`alloc-<id>`), with their port map entries.
    pub chains: Vec<String>,
    /// Allocations whose address was freed.
    pub addresses: Vec<AllocId>,
    /// Namespaces' resolv.conf directories (`/etc/netns/<name>`), by namespace name.
    pub resolv_confs: Vec<String>,
}

impl ReconcileReport {
    pub fn is_empty(&self) -> bool {
        self.netns.is_empty()
            && self.links.is_empty()
            && self.chains.is_empty()
            && self.addresses.is_empty()
            && self.resolv_confs.is_empty()
    }
}
