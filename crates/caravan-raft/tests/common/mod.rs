//! Test helpers: an in-memory transport that can cut servers off, a key/value state
//! machine over `caravan_state::StateStore`, and a cluster of in-process servers with
//! real redb stores in temp dirs. Shared by the tests and the bench example.

#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use caravan_raft::{
    BoxFuture, Raft, RaftConfig, RaftId, RaftRequest, RaftResponse, StateMachine, Transport,
    TransportError, WriteError,
};
use caravan_state::{ApplyOutcome, Command, StateStore};

/// Generous: the machine may be slow and shared; only a hang waits this long.
pub const DEADLINE: Duration = Duration::from_secs(60);

/// Routes messages between in-process servers by address; a cut-off server neither
/// sends nor receives.
#[derive(Debug, Default)]
pub struct Router {
    nodes: Mutex<BTreeMap<String, Raft>>,
    cut: Mutex<BTreeSet<String>>,
    /// Whether messages go through serde_json, as on a real wire.
    pub serialize: bool,
}

impl Router {
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            serialize: true,
            ..Self::default()
        })
    }

    pub fn add(&self, addr: &str, raft: Raft) {
        self.nodes
            .lock()
            .expect("lock")
            .insert(addr.to_owned(), raft);
    }

    pub fn remove(&self, addr: &str) {
        self.nodes.lock().expect("lock").remove(addr);
    }

    pub fn cut(&self, addr: &str) {
        self.cut.lock().expect("lock").insert(addr.to_owned());
    }

    pub fn heal(&self, addr: &str) {
        self.cut.lock().expect("lock").remove(addr);
    }

    fn is_cut(&self, addr: &str) -> bool {
        self.cut.lock().expect("lock").contains(addr)
    }

    fn get(&self, addr: &str) -> Option<Raft> {
        self.nodes.lock().expect("lock").get(addr).cloned()
    }
}

/// One server's view of the [`Router`].
#[derive(Debug)]
pub struct MemTransport {
    pub from: String,
    pub router: Arc<Router>,
}

fn wire<T: serde::Serialize + serde::de::DeserializeOwned>(value: T, serialize: bool) -> T {
    if !serialize {
        return value;
    }
    let bytes = serde_json::to_vec(&value).expect("raft message serializes");
    serde_json::from_slice(&bytes).expect("raft message deserializes")
}

impl Transport for MemTransport {
    fn send(
        &self,
        addr: &str,
        req: RaftRequest,
    ) -> BoxFuture<'_, Result<RaftResponse, TransportError>> {
        let addr = addr.to_owned();
        Box::pin(async move {
            let unreachable = |reason: &str| TransportError::Unreachable {
                addr: addr.clone(),
                reason: reason.to_owned(),
            };
            if self.router.is_cut(&self.from) || self.router.is_cut(&addr) {
                return Err(unreachable("cut off"));
            }
            let raft = self
                .router
                .get(&addr)
                .ok_or_else(|| unreachable("not running"))?;
            let serialize = self.router.serialize;
            let resp =
                raft.handle(wire(req, serialize))
                    .await
                    .map_err(|e| TransportError::Failed {
                        addr: addr.clone(),
                        reason: e.to_string(),
                    })?;
            // Cut off meanwhile: the answer is lost too.
            if self.router.is_cut(&self.from) || self.router.is_cut(&addr) {
                return Err(unreachable("cut off"));
            }
            Ok(wire(resp, serialize))
        })
    }
}

/// A state machine over a `StateStore`, counting restores.
#[derive(Debug, Default)]
pub struct KvMachine {
    store: Mutex<StateStore>,
    pub restores: AtomicUsize,
}

impl KvMachine {
    pub fn get(&self, key: &str) -> Option<String> {
        let snap = self.store.lock().expect("lock").snapshot();
        snap.kv_get(key)
            .map(|e| String::from_utf8_lossy(&e.value).into_owned())
    }

    pub fn keys(&self) -> usize {
        self.store
            .lock()
            .expect("lock")
            .snapshot()
            .kv_list("")
            .count()
    }

    pub fn restores(&self) -> usize {
        self.restores.load(Ordering::SeqCst)
    }
}

impl StateMachine for KvMachine {
    fn apply(&self, index: u64, cmd: Command) -> Result<ApplyOutcome, String> {
        self.store
            .lock()
            .expect("lock")
            .apply(index, cmd)
            .map_err(|e| e.to_string())
    }

    fn snapshot(&self) -> caravan_state::Snapshot {
        self.store.lock().expect("lock").snapshot()
    }

    fn restore(&self, store: StateStore) {
        *self.store.lock().expect("lock") = store;
        self.restores.fetch_add(1, Ordering::SeqCst);
    }
}

pub fn kv_set(key: &str, value: &str) -> Command {
    Command::KvSet {
        key: key.to_owned(),
        value: value.as_bytes().to_vec(),
        flags: 0,
        cas: None,
    }
}

/// A running server.
#[derive(Debug)]
pub struct Node {
    pub id: RaftId,
    pub addr: String,
    pub dir: PathBuf,
    pub raft: Raft,
    pub sm: Arc<KvMachine>,
}

/// In-process servers sharing a router, with their data under one temp dir.
#[derive(Debug)]
pub struct Cluster {
    pub router: Arc<Router>,
    pub nodes: BTreeMap<RaftId, Node>,
    pub snapshot_after_logs: u64,
    tmp: tempfile::TempDir,
}

pub fn addr(id: RaftId) -> String {
    format!("mem://server-{id}")
}

impl Cluster {
    /// `n` servers (ids 1..=n), all bootstrapped with the same members.
    pub async fn start(n: u64, snapshot_after_logs: u64) -> Cluster {
        let mut cluster = Cluster {
            router: Router::new(),
            nodes: BTreeMap::new(),
            snapshot_after_logs,
            tmp: tempfile::tempdir().expect("temp dir"),
        };
        for id in 1..=n {
            cluster.open(id).await;
        }
        let members: BTreeMap<RaftId, String> = (1..=n).map(|id| (id, addr(id))).collect();
        for node in cluster.nodes.values() {
            node.raft
                .bootstrap(members.clone())
                .await
                .expect("bootstrap");
        }
        cluster
    }

    pub fn config(&self, id: RaftId) -> RaftConfig {
        RaftConfig {
            id,
            addr: addr(id),
            data_dir: self.tmp.path().join(format!("server-{id}")),
            heartbeat_interval: Duration::from_millis(50),
            election_timeout: (Duration::from_millis(300), Duration::from_millis(600)),
            snapshot_after_logs: self.snapshot_after_logs,
        }
    }

    /// Opens server `id` from its data dir (fresh or not) with an empty state machine.
    pub async fn open(&mut self, id: RaftId) -> &Node {
        let config = self.config(id);
        let dir = config.data_dir.clone();
        let sm = Arc::new(KvMachine::default());
        let transport = Arc::new(MemTransport {
            from: addr(id),
            router: self.router.clone(),
        });
        let raft = Raft::open(config, sm.clone(), transport)
            .await
            .expect("raft opens");
        self.router.add(&addr(id), raft.clone());
        self.nodes.insert(
            id,
            Node {
                id,
                addr: addr(id),
                dir,
                raft,
                sm,
            },
        );
        &self.nodes[&id]
    }

    /// Stops server `id`; its data dir stays.
    pub async fn stop(&mut self, id: RaftId) {
        if let Some(node) = self.nodes.remove(&id) {
            self.router.remove(&node.addr);
            node.raft.shutdown().await;
        }
    }

    pub async fn stop_all(&mut self) {
        let ids: Vec<RaftId> = self.nodes.keys().copied().collect();
        for id in ids {
            self.stop(id).await;
        }
    }

    pub fn node(&self, id: RaftId) -> &Node {
        &self.nodes[&id]
    }

    /// Waits until the servers in `among` agree on a leader that is one of them.
    pub async fn wait_leader(&self, among: &[RaftId]) -> RaftId {
        wait_until("a leader", || {
            let leaders: BTreeSet<Option<RaftId>> = among
                .iter()
                .map(|id| self.node(*id).raft.leader().map(|(l, _)| l))
                .collect();
            match leaders.into_iter().collect::<Vec<_>>().as_slice() {
                [Some(l)] if among.contains(l) && self.node(*l).raft.is_leader() => Some(*l),
                _ => None,
            }
        })
        .await
    }

    /// Writes through whichever of `among` leads, retrying across elections.
    pub async fn write(&self, among: &[RaftId], cmd: Command) -> ApplyOutcome {
        let deadline = Instant::now() + DEADLINE;
        loop {
            let leader = self.wait_leader(among).await;
            match self.node(leader).raft.write(cmd.clone()).await {
                Ok(outcome) => return outcome,
                Err(e @ (WriteError::NotLeader { .. } | WriteError::Unavailable(_))) => {
                    assert!(Instant::now() < deadline, "write kept failing: {e}");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Err(e) => panic!("write refused: {e}"),
            }
        }
    }

    /// Waits until every server in `ids` has `key` = `value`.
    pub async fn wait_value(&self, ids: &[RaftId], key: &str, value: Option<&str>) {
        for id in ids {
            let sm = &self.node(*id).sm;
            wait_until(&format!("server {id} to have {key}={value:?}"), || {
                (sm.get(key).as_deref() == value).then_some(())
            })
            .await;
        }
    }
}

/// Polls `check` until it answers, panicking after [`DEADLINE`].
pub async fn wait_until<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + DEADLINE;
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
