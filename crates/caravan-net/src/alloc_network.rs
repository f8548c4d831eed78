//! What an allocation got: what the client needs for the task environment, to
//! start tasks inside the namespace, and to write resolv.conf.

use std::net::Ipv4Addr;
use std::path::PathBuf;

use caravan_model::AllocId;
use serde::{Deserialize, Serialize};

use crate::PortMapping;

/// The result of setting up one allocation's bridge network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AllocNetwork {
    pub alloc_id: AllocId,
    /// The allocation's address on the bridge (`NOMAD_ALLOC_IP_*`).
    pub ip: Ipv4Addr,
    pub prefix_len: u8,
    /// The bridge's address: the allocation's default route.
    pub gateway: Ipv4Addr,
    /// The namespace tasks run in: always the named one,
    /// `<netns_dir>/<prefix><short id>`, also when another process holds it.
    pub netns_path: PathBuf,
    /// The host side of the veth pair, attached to the bridge.
    pub host_veth: String,
    /// The name of the interface inside the namespace (`eth0`).
    pub interface: String,
    pub ports: Vec<PortMapping>,
    /// The allocation's `/etc/resolv.conf`, also written to
    /// `/etc/netns/<netns name>/resolv.conf` for `ip netns exec`.
    pub resolv_conf: String,
}
