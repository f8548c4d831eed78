//! What the resolver reads: the catalog at one moment, behind a small trait so that
//! the resolver knows nothing of the state store and tests can hand it a literal one.

use crate::{NodeEntry, ServiceInstance};

/// A read-only view of the service catalog and the nodes. Names are compared
/// ASCII-case-insensitively: DNS names fold case.
pub trait CatalogView {
    /// Calls `visit` with every instance of the service named `name`, in every
    /// datacenter and namespace, whatever its health; the resolver filters.
    fn service_instances<'a>(&'a self, name: &str, visit: &mut dyn FnMut(ServiceInstance<'a>));

    /// The node named `name`.
    fn node(&self, name: &str) -> Option<NodeEntry<'_>>;

    /// Calls `visit` with every node.
    fn nodes<'a>(&'a self, visit: &mut dyn FnMut(NodeEntry<'a>));

    /// The SOA serial: a number that grows when the catalog changes.
    fn serial(&self) -> u32;

    /// Whether `datacenter` has a node. The default scans [`CatalogView::nodes`].
    fn has_datacenter(&self, datacenter: &str) -> bool {
        let mut found = false;
        self.nodes(&mut |node| found |= node.datacenter.eq_ignore_ascii_case(datacenter));
        found
    }
}

/// A [`CatalogView`] that can be shared between server tasks: what the server's
/// catalog source returns.
pub trait CatalogViewOwned: CatalogView + Send + Sync {}

impl<T: CatalogView + Send + Sync + ?Sized> CatalogViewOwned for T {}
