//! What the client asks for when an allocation needs a bridge network.

use std::path::PathBuf;

use caravan_model::{AllocId, DnsConfig};
use serde::{Deserialize, Serialize};

use crate::PortMapping;

/// One allocation's network request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AllocNetSpec {
    pub alloc_id: AllocId,
    pub netns: NetnsTarget,
    /// Host ports forwarded to the allocation (tcp and udp each).
    pub ports: Vec<PortMapping>,
    /// `network { dns { ... } }`; the host's resolv.conf fills what it leaves out.
    pub dns: Option<DnsConfig>,
}

/// Which network namespace the allocation's interface goes into.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum NetnsTarget {
    /// A namespace of our own, bind-mounted at `<netns_dir>/<prefix><short id>` as
    /// `ip netns add` does; raw_exec tasks run inside it. Removed on teardown.
    Create,
    /// A namespace someone else owns, such as `/proc/<pid>/ns/net` of a docker pause
    /// container. It is bind-mounted under our name too (as `ip netns attach`
    /// does), so that raw_exec tasks enter it like a namespace of our own. Teardown
    /// removes our veth and our name; the namespace lives on with its holder.
    Existing(PathBuf),
}
