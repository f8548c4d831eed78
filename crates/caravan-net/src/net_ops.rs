//! The seam between the client's network hook and the host's network stack.

use std::fmt::Debug;
use std::future::Future;
use std::pin::Pin;

use caravan_model::AllocId;

use crate::{AllocNetSpec, AllocNetwork, BridgeConfig, NetError, ReconcileReport};

/// A boxed, sendable future, so that the client can hold `Arc<dyn NetOps>`.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Builds and removes allocations' bridge networks.
///
/// Every operation is idempotent: calling it again after a success, or after a
/// failure halfway, converges on the same result. Operations on different
/// allocations may run concurrently.
pub trait NetOps: Send + Sync + Debug {
    fn config(&self) -> &BridgeConfig;

    /// Creates the bridge with the gateway address, enables forwarding and
    /// `route_localnet` on the bridge, and installs our nftables table (base chains,
    /// port map, masquerade). Called at agent start; `setup` calls it when needed.
    fn ensure_bridge(&self) -> BoxFuture<'_, Result<(), NetError>>;

    /// Gives the allocation an address, a named namespace (made, or the one given
    /// bind-mounted under its name), a veth pair on the bridge with `eth0` inside,
    /// `lo` up, a default route via the bridge, its port mappings, and its
    /// resolv.conf, written to `/etc/netns/<name>/resolv.conf` for `ip netns exec`.
    /// A failed setup may leave pieces behind: call `teardown`.
    fn setup(&self, spec: AllocNetSpec) -> BoxFuture<'_, Result<AllocNetwork, NetError>>;

    /// Removes exactly this allocation's pieces (port mappings, veth, the namespace's
    /// name, which ends a namespace we made, its resolv.conf) and frees its address. Nothing to remove is not an error.
    fn teardown<'a>(&'a self, alloc: &'a AllocId) -> BoxFuture<'a, Result<(), NetError>>;

    /// Removes every namespace, resolv.conf, veth, nftables chain and address whose allocation
    /// is not in `live`: run at agent start, so nothing leaks after a crash.
    fn reconcile<'a>(
        &'a self,
        live: &'a [AllocId],
    ) -> BoxFuture<'a, Result<ReconcileReport, NetError>>;
}
