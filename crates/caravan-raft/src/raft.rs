//! [`Raft`]: one server's replica. Opens the log and snapshot store, runs openraft over
//! them, and exposes writes, membership, leadership and operator snapshots.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use caravan_state::{ApplyOutcome, Command, StateStore};
use openraft::error::InitializeError;
use openraft::{BasicNode, ChangeMembers, RaftMetrics, ServerState};
use tokio::sync::watch;

use crate::config::RaftConfig;
use crate::db;
use crate::error::{RaftError, WriteError};
use crate::log_flusher::{FlushCounters, LogFlushStats};
use crate::log_store::LogStore;
use crate::network::{NetworkFactory, Transport};
use crate::snapshot_file;
use crate::state_machine::{SmStore, StateMachine};
use crate::types::{LogPayload, Peer, RaftId, RaftRequest, RaftResponse, SnapshotMeta, TypeConfig};

/// How long [`Raft::add_voter`] waits for a new server to catch up before promoting it.
const CATCH_UP_TIMEOUT: Duration = Duration::from_secs(120);
/// How long [`Raft::shutdown`] waits for openraft's tasks to let go of the store.
const RELEASE_TIMEOUT: Duration = Duration::from_secs(10);

/// One server's Raft replica. Cheap to clone: clones share the replica.
#[derive(Clone)]
pub struct Raft {
    inner: Arc<Inner>,
}

struct Inner {
    id: RaftId,
    raft: openraft::Raft<TypeConfig>,
    /// Taken at shutdown, so the store file is closed once openraft lets go of it.
    sm: Mutex<Option<SmStore>>,
    leader: watch::Receiver<Option<RaftId>>,
    /// Had a membership when opened (metrics may not show it yet) or was bootstrapped.
    initialized: AtomicBool,
    flush_counters: Arc<FlushCounters>,
}

impl std::fmt::Debug for Raft {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let metrics = self.metrics();
        f.debug_struct("Raft")
            .field("id", &self.inner.id)
            .field("state", &metrics.state)
            .field("term", &metrics.current_term)
            .field("leader", &metrics.current_leader)
            .field("last_applied", &metrics.last_applied)
            .finish()
    }
}

impl Raft {
    /// Opens the store under `config.data_dir`, loads the latest snapshot into `sm` and
    /// starts the replica; openraft then re-applies the committed log after the snapshot.
    /// A fresh replica has no membership until [`Raft::bootstrap`] or a leader adds it.
    pub async fn open(
        config: RaftConfig,
        sm: Arc<dyn StateMachine>,
        transport: Arc<dyn Transport>,
    ) -> Result<Raft, RaftError> {
        let raft_config = config
            .to_openraft()
            .map_err(|e| RaftError::Config(e.to_string()))?;
        let dir = config.data_dir.clone();
        let db = tokio::task::spawn_blocking(move || db::open(&dir))
            .await
            .map_err(|e| RaftError::Storage(e.to_string()))?
            .map_err(|e| {
                RaftError::Storage(format!("opening {}: {e}", config.data_dir.display()))
            })?;
        let sm = {
            let db = db.clone();
            tokio::task::spawn_blocking(move || SmStore::open(sm, db))
                .await
                .map_err(|e| RaftError::Storage(e.to_string()))?
                .map_err(|e| RaftError::Storage(e.to_string()))?
        };
        let log_store = LogStore::new(db)
            .map_err(|e| RaftError::Storage(format!("starting the log writer: {e}")))?;
        let flush_counters = log_store.flush_counters();
        let raft = openraft::Raft::new(
            config.id,
            Arc::new(raft_config),
            NetworkFactory { transport },
            log_store,
            sm.clone(),
        )
        .await
        .map_err(|e| RaftError::Storage(e.to_string()))?;
        let initialized = raft
            .with_raft_state(|st| {
                st.membership_state
                    .effective()
                    .membership()
                    .nodes()
                    .next()
                    .is_some()
            })
            .await
            .map_err(|e| RaftError::Stopped(e.to_string()))?;
        let leader = watch_leader(&raft);
        Ok(Raft {
            inner: Arc::new(Inner {
                id: config.id,
                raft,
                sm: Mutex::new(Some(sm)),
                leader,
                initialized: AtomicBool::new(initialized),
                flush_counters,
            }),
        })
    }

    /// Answers a message from another server's Raft (the RPC server calls this).
    /// Refusals by this replica travel inside the response.
    pub async fn handle(&self, req: RaftRequest) -> Result<RaftResponse, RaftError> {
        let raft = &self.inner.raft;
        Ok(match req {
            RaftRequest::Append(r) => RaftResponse::Append(raft.append_entries(r).await),
            RaftRequest::Vote(r) => RaftResponse::Vote(raft.vote(r).await),
            RaftRequest::InstallSnapshot(r) => {
                RaftResponse::InstallSnapshot(raft.install_snapshot(r).await)
            }
        })
    }

    /// Commits `cmd` and applies it; answers once it is committed and applied here.
    pub async fn write(&self, cmd: Command) -> Result<ApplyOutcome, WriteError> {
        let resp = self
            .inner
            .raft
            .client_write(LogPayload::Command(Box::new(cmd)))
            .await?;
        resp.data.map_err(WriteError::Apply)
    }

    /// Makes `members` the first membership; a no-op when this replica already has one
    /// (from its disk, an earlier bootstrap or a leader). Every server of a new cluster
    /// may call it with the same members.
    pub async fn bootstrap(&self, members: BTreeMap<RaftId, String>) -> Result<(), RaftError> {
        if self.is_initialized() {
            return Ok(());
        }
        let nodes: BTreeMap<RaftId, BasicNode> = members
            .into_iter()
            .map(|(id, addr)| (id, BasicNode::new(addr)))
            .collect();
        match self.inner.raft.initialize(nodes).await {
            // Initialized meanwhile (a leader reached us first): what was wanted.
            Ok(()) | Err(openraft::error::RaftError::APIError(InitializeError::NotAllowed(_))) => {
                self.inner.initialized.store(true, Ordering::SeqCst);
                Ok(())
            }
            Err(openraft::error::RaftError::APIError(e)) => {
                Err(RaftError::Bootstrap(e.to_string()))
            }
            Err(openraft::error::RaftError::Fatal(f)) => Err(RaftError::Stopped(f.to_string())),
        }
    }

    /// Whether this replica has a membership (from disk, a bootstrap or a leader).
    pub fn is_initialized(&self) -> bool {
        if self.inner.initialized.load(Ordering::SeqCst) {
            return true;
        }
        let metrics = self.inner.raft.metrics();
        let m = metrics.borrow();
        m.membership_config.nodes().next().is_some()
    }

    /// Adds a server as a voter: first as a learner, waits until it has caught up (from
    /// the log or a snapshot), then promotes it. Leader only. A voter already is a no-op.
    pub async fn add_voter(&self, id: RaftId, addr: String) -> Result<(), WriteError> {
        let (is_voter, is_node) = {
            let metrics = self.inner.raft.metrics();
            let m = metrics.borrow();
            let membership = m.membership_config.membership();
            (
                membership.voter_ids().any(|v| v == id),
                membership.get_node(&id).is_some(),
            )
        };
        if is_voter {
            return Ok(());
        }
        if !is_node {
            let added = tokio::time::timeout(
                CATCH_UP_TIMEOUT,
                self.inner.raft.add_learner(id, BasicNode::new(addr), true),
            )
            .await
            .map_err(|_| {
                WriteError::Unavailable(format!(
                    "server {id} did not catch up within {CATCH_UP_TIMEOUT:?}; it stays a non-voter"
                ))
            })?;
            added?;
        }
        self.inner
            .raft
            .change_membership(ChangeMembers::AddVoterIds(BTreeSet::from([id])), false)
            .await?;
        Ok(())
    }

    /// Removes a server (voter or not) from the cluster; unknown ids are a no-op.
    pub async fn remove_peer(&self, id: RaftId) -> Result<(), WriteError> {
        let (is_voter, is_node) = {
            let metrics = self.inner.raft.metrics();
            let m = metrics.borrow();
            let membership = m.membership_config.membership();
            (
                membership.voter_ids().any(|v| v == id),
                membership.get_node(&id).is_some(),
            )
        };
        let change = if is_voter {
            ChangeMembers::RemoveVoters(BTreeSet::from([id]))
        } else if is_node {
            ChangeMembers::RemoveNodes(BTreeSet::from([id]))
        } else {
            return Ok(());
        };
        self.inner.raft.change_membership(change, false).await?;
        Ok(())
    }

    /// The leader this replica knows of, with its address.
    pub fn leader(&self) -> Option<(RaftId, String)> {
        let metrics = self.metrics();
        let id = metrics.current_leader?;
        let addr = metrics
            .membership_config
            .membership()
            .get_node(&id)
            .map(|n| n.addr.clone())
            .unwrap_or_default();
        Some((id, addr))
    }

    /// Whether this replica is the leader now.
    pub fn is_leader(&self) -> bool {
        let metrics = self.metrics();
        metrics.state == ServerState::Leader && metrics.current_leader == Some(self.inner.id)
    }

    /// The current leader's id, updated on every change (`None` during an election).
    pub fn leader_changes(&self) -> watch::Receiver<Option<RaftId>> {
        self.inner.leader.clone()
    }

    /// The cluster's members, by id.
    pub fn members(&self) -> Vec<Peer> {
        let metrics = self.metrics();
        let membership = metrics.membership_config.membership();
        let voters: BTreeSet<RaftId> = membership.voter_ids().collect();
        membership
            .nodes()
            .map(|(id, node)| Peer {
                id: *id,
                addr: node.addr.clone(),
                voter: voters.contains(id),
            })
            .collect()
    }

    /// The index of the last log entry applied here (0 before any).
    pub fn applied_index(&self) -> u64 {
        self.metrics().last_applied.map_or(0, |l| l.index)
    }

    /// The last log index covered by the latest snapshot here, if any.
    pub fn snapshot_index(&self) -> Option<u64> {
        self.metrics().snapshot.map(|l| l.index)
    }

    /// The last log index purged here (entries up to it live only in the snapshot).
    pub fn purged_index(&self) -> Option<u64> {
        self.metrics().purged.map(|l| l.index)
    }

    /// Confirms this replica is still the leader (a quorum answers a heartbeat) and
    /// waits until everything committed before the call is applied here; answers that
    /// log index. A read of local state after it is linearizable, with no further wait.
    /// (A log index: the state's own latest index may be lower, as membership and
    /// leader no-op entries do not change the state.)
    pub async fn read_index(&self) -> Result<u64, WriteError> {
        let read = self.inner.raft.ensure_linearizable().await?;
        Ok(read.map_or(0, |l| l.index))
    }

    /// The current state as snapshot bytes (operator `snapshot save`): self-describing,
    /// with the log index and membership it stands for.
    pub async fn save_snapshot(&self) -> Result<Vec<u8>, RaftError> {
        let (state, applied) = self.sm()?.current();
        let meta = SnapshotMeta {
            last_log_id: applied.last_applied,
            last_membership: applied.membership,
            snapshot_id: format!(
                "operator-{}-{}",
                applied.last_applied.map_or(0, |l| l.leader_id.term),
                applied.last_applied.map_or(0, |l| l.index)
            ),
        };
        tokio::task::spawn_blocking(move || snapshot_file::write(&meta, &state.encode()))
            .await
            .map_err(|e| RaftError::Stopped(e.to_string()))
    }

    /// Replaces the state of every server with a saved snapshot (operator `snapshot
    /// restore`), through the log; answers the log index of the restore. Accepts what
    /// [`Raft::save_snapshot`] wrote or bare [`caravan_state::Snapshot::encode`] bytes.
    /// The membership is kept as it is. A snapshot from further along than this
    /// cluster's log is refused: state indexes are log indexes, and the restored state
    /// would refuse every later command as stale.
    pub async fn restore_snapshot(&self, bytes: Vec<u8>) -> Result<u64, WriteError> {
        // Refuse bad bytes here, before they are in everyone's log.
        let state = tokio::task::spawn_blocking(move || -> Result<(Vec<u8>, u64), String> {
            let state = if snapshot_file::is_snapshot_file(&bytes) {
                snapshot_file::read(&bytes)
                    .map_err(|e| e.to_string())?
                    .1
                    .to_vec()
            } else {
                bytes
            };
            let store = StateStore::decode(&state).map_err(|e| e.to_string())?;
            Ok((state, store.latest_index()))
        })
        .await
        .map_err(|e| WriteError::Unavailable(e.to_string()))?
        .map_err(|e| WriteError::Apply(format!("snapshot refused: {e}")))?;
        let (state, state_index) = state;
        // Checked again, deterministically, when the entry applies.
        let applied = self.applied_index();
        if state_index > applied {
            return Err(WriteError::Apply(format!(
                "snapshot refused: it is at index {state_index} but this cluster's log is only \
                 at {applied}"
            )));
        }
        let resp = self
            .inner
            .raft
            .client_write(LogPayload::Restore(state))
            .await?;
        resp.data.map(|o| o.index).map_err(WriteError::Apply)
    }

    /// Stops the replica and closes its store (waiting, within reason, for openraft's
    /// tasks to let go of it), so the same data directory can be opened again.
    pub async fn shutdown(&self) {
        if let Err(e) = self.inner.raft.shutdown().await {
            tracing::warn!(error = %e, "raft shutdown");
        }
        let sm = self
            .inner
            .sm
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(sm) = sm {
            let deadline = Instant::now() + RELEASE_TIMEOUT;
            while !sm.is_last_store_handle() && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }

    /// How many fsynced transactions this replica's log took, and the entries they held
    /// (appends are grouped: one transaction takes whatever queued while the last ran).
    pub fn log_flush_stats(&self) -> LogFlushStats {
        self.inner.flush_counters.stats()
    }

    fn metrics(&self) -> RaftMetrics<RaftId, BasicNode> {
        self.inner.raft.metrics().borrow().clone()
    }

    fn sm(&self) -> Result<SmStore, RaftError> {
        self.inner
            .sm
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .ok_or_else(|| RaftError::Stopped("shut down".to_owned()))
    }
}

/// A watch of the leader id, fed from openraft's metrics until the replica stops.
fn watch_leader(raft: &openraft::Raft<TypeConfig>) -> watch::Receiver<Option<RaftId>> {
    let mut metrics = raft.metrics();
    let (tx, rx) = watch::channel(metrics.borrow().current_leader);
    tokio::spawn(async move {
        while metrics.changed().await.is_ok() {
            let leader = metrics.borrow().current_leader;
            tx.send_if_modified(|current| {
                let changed = *current != leader;
                *current = leader;
                changed
            });
        }
    });
    rx
}
