//! The host ports Caravan's own allocations hold on this node, from the moment the
//! network hook has checked them until every task of the allocation has stopped.
//!
//! Two readers need it: the agent, so a task's listening socket is not reported as a
//! foreign port; and the network hook, so a port still held by an allocation that is
//! being stopped (a destructive update reusing a static port) is waited for rather
//! than refused as taken by another process.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;
use std::time::Duration;

use caravan_model::AllocId;
use tokio::sync::watch;

/// The claims of every allocation on this node.
#[derive(Debug)]
pub struct PortClaims {
    held: Mutex<BTreeMap<AllocId, BTreeSet<u16>>>,
    /// Bumped on every release, to wake waiters.
    released: watch::Sender<u64>,
}

impl Default for PortClaims {
    fn default() -> Self {
        Self {
            held: Mutex::new(BTreeMap::new()),
            released: watch::Sender::new(0),
        }
    }
}

impl PortClaims {
    /// Records the ports `alloc` holds (replacing what it held before).
    pub fn claim(&self, alloc: &AllocId, ports: impl IntoIterator<Item = u16>) {
        self.lock()
            .insert(alloc.clone(), ports.into_iter().collect());
    }

    /// Forgets `alloc`'s ports: its tasks are gone. Idempotent.
    pub fn release(&self, alloc: &AllocId) {
        if self.lock().remove(alloc).is_some() {
            self.released.send_modify(|n| *n = n.wrapping_add(1));
        }
    }

    /// Whether an allocation other than `alloc` holds `port`.
    pub fn held_by_other(&self, alloc: &AllocId, port: u16) -> bool {
        self.lock()
            .iter()
            .any(|(id, ports)| id != alloc && ports.contains(&port))
    }

    /// Every port some allocation on this node holds.
    pub fn all(&self) -> BTreeSet<u16> {
        self.lock().values().flatten().copied().collect()
    }

    /// Waits until no allocation other than `alloc` holds `port`, for at most
    /// `patience`; true if it was released.
    pub async fn wait_released(&self, alloc: &AllocId, port: u16, patience: Duration) -> bool {
        let mut released = self.released.subscribe();
        let wait = async {
            while self.held_by_other(alloc, port) {
                if released.changed().await.is_err() {
                    return;
                }
            }
        };
        tokio::time::timeout(patience, wait).await.is_ok() && !self.held_by_other(alloc, port)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<AllocId, BTreeSet<u16>>> {
        // A panic while holding the lock cannot leave the map half-written: every
        // change is one insert or remove.
        self.held.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[test]
    fn claims_are_per_allocation() {
        let claims = PortClaims::default();
        let (a, b) = (AllocId::new("a"), AllocId::new("b"));
        claims.claim(&a, [6379, 20000]);
        claims.claim(&b, [20001]);
        assert!(claims.held_by_other(&b, 6379));
        assert!(
            !claims.held_by_other(&a, 6379),
            "its own claim is not another's"
        );
        assert_eq!(claims.all(), BTreeSet::from([6379, 20000, 20001]));
        claims.release(&a);
        claims.release(&a);
        assert_eq!(claims.all(), BTreeSet::from([20001]));
    }

    #[tokio::test(start_paused = true)]
    async fn a_waiter_wakes_on_release_or_gives_up() {
        let claims = Arc::new(PortClaims::default());
        let (old, new) = (AllocId::new("old"), AllocId::new("new"));
        claims.claim(&old, [6379]);
        assert!(
            !claims
                .wait_released(&new, 6379, Duration::from_secs(1))
                .await,
            "nobody released it"
        );

        let releaser = claims.clone();
        let old_id = old.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            releaser.release(&old_id);
        });
        assert!(
            claims
                .wait_released(&new, 6379, Duration::from_secs(5))
                .await
        );
        assert!(
            claims
                .wait_released(&new, 6379, Duration::from_secs(5))
                .await,
            "a free port needs no wait"
        );
    }
}
