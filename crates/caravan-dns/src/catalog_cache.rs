//! Reusing one indexed catalog until the catalog changes, so that a server asking for
//! the current catalog on every query pays the indexing once per change.

use std::sync::{Arc, Mutex};

use caravan_state::{Snapshot, Table};

use crate::SnapshotCatalog;

/// Hands out a [`SnapshotCatalog`] for the newest snapshot, rebuilt only when the
/// services or nodes table has changed since the last one. The agent's catalog source:
///
/// ```
/// # use std::sync::Arc;
/// # use caravan_dns::{CatalogCache, CatalogView, CatalogViewOwned};
/// # let store = caravan_state::StateStore::new();
/// # let state = || store.snapshot();
/// let cache = CatalogCache::default();
/// let source = move || -> Arc<dyn CatalogViewOwned> { cache.catalog(state()) };
/// assert_eq!(source().serial(), 0);
/// ```
#[derive(Debug, Default)]
pub struct CatalogCache {
    current: Mutex<Option<Cached>>,
}

#[derive(Debug)]
struct Cached {
    services: u64,
    nodes: u64,
    catalog: Arc<SnapshotCatalog>,
}

impl CatalogCache {
    /// The catalog for `snapshot`: the cached one when its tables are at the same
    /// indexes, else a new one (which replaces it, unless it is older).
    pub fn catalog(&self, snapshot: Snapshot) -> Arc<SnapshotCatalog> {
        let (services, nodes) = (
            snapshot.index(Table::Services),
            snapshot.index(Table::Nodes),
        );
        let mut current = self.current.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(cached) = current.as_ref()
            && cached.services == services
            && cached.nodes == nodes
        {
            return Arc::clone(&cached.catalog);
        }
        let catalog = Arc::new(SnapshotCatalog::new(&snapshot));
        let newer = current
            .as_ref()
            .is_none_or(|c| (services, nodes) >= (c.services, c.nodes));
        if newer {
            *current = Some(Cached {
                services,
                nodes,
                catalog: Arc::clone(&catalog),
            });
        }
        catalog
    }
}
