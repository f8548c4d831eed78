//! Node heartbeats: a node that stays silent past its deadline is marked down.

use std::collections::HashMap;
use std::sync::Mutex;

use caravan_model::NodeId;
use tokio::time::{Duration, Instant};

/// Each node's deadline. Pure bookkeeping: the server's timer loop asks for the
/// expired ones and acts on them.
#[derive(Debug, Default)]
pub(crate) struct HeartbeatMonitor {
    deadlines: Mutex<HashMap<NodeId, Instant>>,
}

impl HeartbeatMonitor {
    /// The node was heard from: it has `ttl` more.
    pub fn reset(&self, node: &NodeId, ttl: Duration, now: Instant) {
        self.lock().insert(node.clone(), now + ttl);
    }

    /// Forgets every deadline (leadership lost).
    pub fn clear(&self) {
        self.lock().clear();
    }

    /// Removes and returns the nodes whose deadline has passed.
    pub fn take_expired(&self, now: Instant) -> Vec<NodeId> {
        let mut map = self.lock();
        let mut expired: Vec<NodeId> = map
            .iter()
            .filter(|(_, at)| **at <= now)
            .map(|(id, _)| id.clone())
            .collect();
        expired.sort();
        for id in &expired {
            map.remove(id);
        }
        expired
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<NodeId, Instant>> {
        self.deadlines.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expires_only_silent_nodes() {
        let hb = HeartbeatMonitor::default();
        let t0 = Instant::now();
        hb.reset(&"a".into(), Duration::from_secs(10), t0);
        hb.reset(&"b".into(), Duration::from_secs(10), t0);
        hb.reset(
            &"a".into(),
            Duration::from_secs(10),
            t0 + Duration::from_secs(5),
        );
        assert!(hb.take_expired(t0 + Duration::from_secs(9)).is_empty());
        assert_eq!(
            hb.take_expired(t0 + Duration::from_secs(10)),
            vec![NodeId::from("b")]
        );
        assert!(hb.take_expired(t0 + Duration::from_secs(12)).is_empty());
        assert_eq!(
            hb.take_expired(t0 + Duration::from_secs(15)),
            vec![NodeId::from("a")]
        );
    }
}
