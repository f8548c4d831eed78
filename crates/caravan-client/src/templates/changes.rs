//! What wakes a task's templates: a change in the node's catalog cache or in its KV
//! cache, seen through one receiver.

use tokio::sync::watch;

/// The change notices of the caches a task's templates read.
#[derive(Debug)]
pub struct TemplateChanges {
    catalog: Option<watch::Receiver<u64>>,
    kv: Option<watch::Receiver<u64>>,
}

impl TemplateChanges {
    /// Notices from these caches; `None` without any (nothing can change).
    pub fn new(
        catalog: Option<watch::Receiver<u64>>,
        kv: Option<watch::Receiver<u64>>,
    ) -> Option<Self> {
        (catalog.is_some() || kv.is_some()).then_some(Self { catalog, kv })
    }

    /// Resolves at the next change of either cache (true), or once both are gone
    /// (false).
    pub async fn changed(&mut self) -> bool {
        loop {
            if self.catalog.is_none() && self.kv.is_none() {
                return false;
            }
            let (catalog_open, kv_open) = tokio::select! {
                open = changed(self.catalog.as_mut()) => (open, true),
                open = changed(self.kv.as_mut()) => (true, open),
            };
            if catalog_open && kv_open {
                return true;
            }
            if !catalog_open {
                self.catalog = None;
            }
            if !kv_open {
                self.kv = None;
            }
        }
    }
}

/// Whether `rx` saw a change (true) or its cache is gone (false); never without one.
async fn changed(rx: Option<&mut watch::Receiver<u64>>) -> bool {
    match rx {
        Some(rx) => rx.changed().await.is_ok(),
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn either_cache_wakes_it_and_it_ends_when_both_are_gone() {
        let (catalog_tx, catalog_rx) = watch::channel(0);
        let (kv_tx, kv_rx) = watch::channel(0);
        let mut changes = TemplateChanges::new(Some(catalog_rx), Some(kv_rx)).expect("two caches");
        kv_tx.send_replace(1);
        assert!(changes.changed().await);
        catalog_tx.send_replace(1);
        assert!(changes.changed().await);
        // One gone: the other still wakes it.
        drop(catalog_tx);
        kv_tx.send_replace(2);
        assert!(changes.changed().await);
        drop(kv_tx);
        assert!(!changes.changed().await);
        assert!(TemplateChanges::new(None, None).is_none());
    }
}
