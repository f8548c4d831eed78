//! The replicated state as the server reads it: snapshots, and waiting for an index.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use caravan_state::{Snapshot, StateStore, Table};
use tokio::sync::watch;

/// Shared access to the state store. Writers are the command log; everyone else reads
/// snapshots and may wait for a table to move past an index (blocking queries).
#[derive(Debug, Clone)]
pub struct StateHandle {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    store: RwLock<StateStore>,
    latest: watch::Sender<u64>,
}

impl Default for StateHandle {
    fn default() -> Self {
        Self::new(StateStore::new())
    }
}

impl StateHandle {
    pub fn new(store: StateStore) -> Self {
        let (latest, _) = watch::channel(store.latest_index());
        Self {
            inner: Arc::new(Inner {
                store: RwLock::new(store),
                latest,
            }),
        }
    }

    pub fn snapshot(&self) -> Snapshot {
        self.inner
            .store
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .snapshot()
    }

    /// Runs `f` on the store under the write lock, then wakes waiters. Only a command
    /// log calls this.
    pub fn write<R>(&self, f: impl FnOnce(&mut StateStore) -> R) -> R {
        let mut store = self.inner.store.write().unwrap_or_else(|e| e.into_inner());
        let result = f(&mut store);
        let latest = store.latest_index();
        drop(store);
        self.inner.latest.send_if_modified(|v| {
            let changed = *v != latest;
            *v = latest;
            changed
        });
        result
    }

    /// A snapshot at or after `index`, waiting up to `timeout` for it; the newest
    /// snapshot when the wait runs out.
    pub async fn snapshot_min_index(&self, index: u64, timeout: Duration) -> Snapshot {
        let mut rx = self.inner.latest.subscribe();
        let _ = tokio::time::timeout(timeout, rx.wait_for(|latest| *latest >= index)).await;
        self.snapshot()
    }

    /// A blocking query: returns once `table`'s index is above `min_index`, or when
    /// `wait` has passed, with the snapshot to answer from.
    pub async fn wait_table(&self, table: Table, min_index: u64, wait: Duration) -> Snapshot {
        let mut rx = self.inner.latest.subscribe();
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let snap = self.snapshot();
            if snap.index(table) > min_index {
                return snap;
            }
            rx.borrow_and_update();
            if tokio::time::timeout_at(deadline, rx.changed())
                .await
                .is_err()
            {
                return self.snapshot();
            }
        }
    }
}
