//! Caravan's bridge networking, built into the agent: a bridge (`caravan0`), a
//! network namespace and a veth pair per allocation over netlink, an address from
//! an allocator that survives restarts, port mappings and masquerade in an nftables
//! table of our own, and a reconcile that removes whatever a crash left behind.
//! No CNI plugins and no iptables.
//!
//! [`NetOps`] is the seam the client's network hook calls; [`LinuxNetOps`] is the
//! real thing and [`FakeNetOps`] records calls for fast tests. This crate decides
//! no policy (which allocation gets which host port is the scheduler's) and knows
//! nothing of drivers: it hands back a namespace path that they join.

mod alloc_network;
mod config;
mod error;
mod fake;
mod ip_allocator;
mod linux_net_ops;
mod names;
mod net_ops;
mod netlink;
mod netns;
mod nft;
mod port_mapping;
mod reconcile_report;
mod resolv_conf;
mod spec;
mod subnet;
mod sysctl;
mod worker;

pub use alloc_network::AllocNetwork;
pub use config::BridgeConfig;
pub use error::NetError;
pub use fake::{FakeNetOps, NetCall};
pub use ip_allocator::{IP_STATE_FILE, IpAllocator};
pub use linux_net_ops::LinuxNetOps;
pub use names::AllocNames;
pub use net_ops::{BoxFuture, NetOps};
pub use port_mapping::PortMapping;
pub use reconcile_report::ReconcileReport;
pub use resolv_conf::{ETC_NETNS_DIR, FALLBACK_SERVERS, render_resolv_conf};
pub use spec::{AllocNetSpec, NetnsTarget};
pub use subnet::Ipv4Subnet;
