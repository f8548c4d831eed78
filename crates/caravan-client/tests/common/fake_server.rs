//! A fake of the servers as one client agent sees them: it hands out the node's
//! allocations through a blocking query (each change bumps the index), lets a test
//! stop or forget them, and records every registration and status report.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use caravan_client::{
    AllocUpdate, BoxFuture, KvPair, KvPath, ServerApi, ServerApiError, ServiceLists,
};
use caravan_model::{AllocId, Allocation, Node, NodeId, ServiceRegistration};

/// What the agent told the servers, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Seen {
    /// A registration, with the node's reserved host ports.
    Register(String),
    /// A status report: allocation, client status.
    Update(String, String),
}

/// The servers, as far as one agent can tell: they hand out `allocs` and record
/// every registration and report.
#[derive(Debug)]
pub struct FakeServer {
    ttl: Duration,
    allocs: Mutex<Vec<Allocation>>,
    /// Bumped by every change of `allocs`: the blocking query's index.
    version: Mutex<u64>,
    seen: Mutex<Vec<Seen>>,
    updates: Mutex<Vec<AllocUpdate>>,
}

impl FakeServer {
    pub fn new(ttl: Duration) -> Arc<Self> {
        Arc::new(Self {
            ttl,
            allocs: Mutex::new(Vec::new()),
            version: Mutex::new(0),
            seen: Mutex::new(Vec::new()),
            updates: Mutex::new(Vec::new()),
        })
    }

    pub fn place(&self, alloc: Allocation) {
        self.allocs.lock().unwrap().push(alloc);
        *self.version.lock().unwrap() += 1;
    }

    /// Sets the allocation's desired status (`"stop"`), as a job stop does.
    pub fn set_desired(&self, alloc: &str, desired: &str) {
        for a in self.allocs.lock().unwrap().iter_mut() {
            if a.id.as_str() == alloc {
                a.desired_status = desired.into();
            }
        }
        *self.version.lock().unwrap() += 1;
    }

    /// Forgets the allocation, as a garbage collection does.
    pub fn forget(&self, alloc: &str) {
        self.allocs
            .lock()
            .unwrap()
            .retain(|a| a.id.as_str() != alloc);
        *self.version.lock().unwrap() += 1;
    }

    /// How many status reports of the allocation came so far.
    pub fn update_count(&self, alloc: &str) -> usize {
        let updates = self.updates.lock().unwrap();
        updates
            .iter()
            .filter(|u| u.alloc_id.as_str() == alloc)
            .count()
    }

    /// The status reports of the allocation after the first `skip` of them.
    pub fn updates_after(&self, alloc: &str, skip: usize) -> Vec<AllocUpdate> {
        let updates = self.updates.lock().unwrap();
        updates
            .iter()
            .filter(|u| u.alloc_id.as_str() == alloc)
            .skip(skip)
            .cloned()
            .collect()
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    pub fn registrations(&self) -> Vec<String> {
        self.seen()
            .into_iter()
            .filter_map(|s| match s {
                Seen::Register(ports) => Some(ports),
                Seen::Update(..) => None,
            })
            .collect()
    }

    pub fn last_update(&self, alloc: &str) -> Option<AllocUpdate> {
        let updates = self.updates.lock().unwrap();
        updates
            .iter()
            .rev()
            .find(|u| u.alloc_id.as_str() == alloc)
            .cloned()
    }
}

impl ServerApi for FakeServer {
    fn register_node(&self, node: Node) -> BoxFuture<'_, Result<Duration, ServerApiError>> {
        let ports = node.reserved_resources.networks.reserved_host_ports.clone();
        self.seen.lock().unwrap().push(Seen::Register(ports));
        Box::pin(async move { Ok(self.ttl) })
    }

    fn heartbeat<'a>(
        &'a self,
        _node: &'a NodeId,
    ) -> BoxFuture<'a, Result<Duration, ServerApiError>> {
        Box::pin(async move { Ok(self.ttl) })
    }

    fn node_allocs<'a>(
        &'a self,
        _node: &'a NodeId,
        min_index: u64,
        wait: Duration,
    ) -> BoxFuture<'a, Result<(Vec<Allocation>, u64), ServerApiError>> {
        Box::pin(async move {
            let current = || {
                let allocs = self.allocs.lock().unwrap().clone();
                let index = *self.version.lock().unwrap();
                (allocs, index)
            };
            let deadline = tokio::time::Instant::now() + wait;
            loop {
                let (allocs, index) = current();
                if index > min_index || tokio::time::Instant::now() >= deadline {
                    return Ok((allocs, index));
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
    }

    fn update_allocs(
        &self,
        updates: Vec<AllocUpdate>,
    ) -> BoxFuture<'_, Result<(), ServerApiError>> {
        let mut seen = self.seen.lock().unwrap();
        for u in &updates {
            seen.push(Seen::Update(
                u.alloc_id.as_str().to_owned(),
                u.client_status.clone(),
            ));
        }
        self.updates.lock().unwrap().extend(updates);
        Box::pin(async { Ok(()) })
    }

    // These jobs have no services and no templates: the catalog stays empty.
    fn upsert_services(
        &self,
        _regs: Vec<ServiceRegistration>,
    ) -> BoxFuture<'_, Result<(), ServerApiError>> {
        Box::pin(async { Ok(()) })
    }

    fn delete_services(
        &self,
        _regs: Vec<ServiceRegistration>,
    ) -> BoxFuture<'_, Result<(), ServerApiError>> {
        Box::pin(async { Ok(()) })
    }

    fn delete_services_for_alloc<'a>(
        &'a self,
        _alloc: &'a AllocId,
    ) -> BoxFuture<'a, Result<(), ServerApiError>> {
        Box::pin(async { Ok(()) })
    }

    fn watch_services(
        &self,
        _names: Vec<(String, String)>,
        min_index: u64,
        wait: Duration,
    ) -> BoxFuture<'_, Result<(ServiceLists, u64), ServerApiError>> {
        Box::pin(async move {
            if min_index > 0 {
                tokio::time::sleep(wait).await;
            }
            Ok((ServiceLists::new(), 1))
        })
    }

    fn watch_kv(
        &self,
        _paths: Vec<KvPath>,
        min_index: u64,
        wait: Duration,
    ) -> BoxFuture<'_, Result<(Vec<KvPair>, u64), ServerApiError>> {
        Box::pin(async move {
            if min_index > 0 {
                tokio::time::sleep(wait).await;
            }
            Ok((Vec::new(), 1))
        })
    }
}

/// An agent configuration over `dir`, publishing on 127.0.0.1.
pub fn config(dir: &std::path::Path, reserved: &str) -> caravan_client::ClientConfig {
    caravan_client::ClientConfig {
        data_dir: dir.to_path_buf(),
        address: "127.0.0.1".into(),
        reserved_ports: reserved.into(),
        ..caravan_client::ClientConfig::default()
    }
}

/// Waits until `done` holds; panics after [`super::PATIENCE`].
pub async fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let waited = tokio::time::timeout(super::PATIENCE, async {
        while !done() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    assert!(waited.is_ok(), "timed out waiting for {what}");
}
