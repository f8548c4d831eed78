//! The server's state replicated with Raft: the state machine over the shared store,
//! the command log that commits through the leader, the cluster view, and the
//! transport that carries Raft's messages over the RPC port.

use std::sync::Arc;
use std::time::Duration;

use caravan_raft::{Raft, RaftRequest, RaftResponse, Transport, TransportError, WriteError};
use caravan_rpc::{ErrorKind, RpcClient, RpcError};
use caravan_server::{BoxFuture, ClusterView, CommandLog, RaftServer, ServerError, StateHandle};
use caravan_state::{ApplyOutcome, Command, Snapshot, StateError, StateStore};

/// How long a write waits for a leader (an election) before it fails as retryable.
const WRITE_DEADLINE: Duration = Duration::from_secs(10);
/// How long one forwarded write may take.
const FORWARD_TIMEOUT: Duration = Duration::from_secs(30);

/// The RPC method a follower forwards a command with; the leader commits it through
/// its `Server::commit`, so the leader's broker sees the evaluations it carries.
pub(crate) const COMMIT_METHOD: &str = "server.commit";
/// The RPC method that carries Raft's own messages.
pub(crate) const RAFT_METHOD: &str = "raft";

/// The Raft state machine: the server's store, shared with everything that reads it.
#[derive(Debug, Clone)]
pub(crate) struct ReplicatedState(pub StateHandle);

impl caravan_raft::StateMachine for ReplicatedState {
    fn apply(&self, index: u64, cmd: Command) -> Result<ApplyOutcome, String> {
        // A refused command travels as its `StateError` in JSON, so the writer (maybe
        // on another server) gets the same error a local store would give.
        self.0
            .write(|store| store.apply(index, cmd))
            .map_err(|e| serde_json::to_string(&e).unwrap_or_else(|_| e.to_string()))
    }

    fn snapshot(&self) -> Snapshot {
        self.0.snapshot()
    }

    fn restore(&self, store: StateStore) {
        self.0.write(|current| *current = store);
    }
}

/// The error a refused command answered, as the state store gave it.
fn apply_error(message: String) -> ServerError {
    match serde_json::from_str::<StateError>(&message) {
        Ok(e) => ServerError::State(e),
        Err(_) => ServerError::BadRequest(message),
    }
}

/// Commits through Raft: on the leader directly, from a follower by forwarding the
/// command to the leader. Either way the outcome is returned once the command is
/// committed and applied here too, so a reader on this server sees the write.
#[derive(Debug)]
pub(crate) struct RaftLog {
    pub raft: Raft,
    pub rpc: RpcClient,
    pub state: StateHandle,
}

impl CommandLog for RaftLog {
    fn commit(&self, cmd: Command) -> BoxFuture<'_, Result<ApplyOutcome, ServerError>> {
        Box::pin(async move {
            let deadline = tokio::time::Instant::now() + WRITE_DEADLINE;
            loop {
                let attempt = if self.raft.is_leader() {
                    self.raft.write(cmd.clone()).await.map_err(write_error)
                } else if let Some((_, leader)) = self.raft.leader() {
                    let left = deadline.saturating_duration_since(tokio::time::Instant::now());
                    self.forward(&leader, &cmd, left.max(Duration::from_secs(1)))
                        .await
                } else {
                    Err(ServerError::Unavailable("no cluster leader".into()))
                };
                match attempt {
                    Err(e) if e.is_retryable() && tokio::time::Instant::now() < deadline => {
                        tracing::debug!(error = %e, "write not committed yet; retrying");
                        wait_for_leader(&self.raft, deadline).await;
                    }
                    result => return result,
                }
            }
        })
    }
}

impl RaftLog {
    async fn forward(
        &self,
        leader: &str,
        cmd: &Command,
        timeout: Duration,
    ) -> Result<ApplyOutcome, ServerError> {
        let outcome: ApplyOutcome = self
            .rpc
            .call_typed(leader, COMMIT_METHOD, cmd, timeout.min(FORWARD_TIMEOUT))
            .await
            .map_err(server_error)?;
        // Read-your-writes on this server.
        self.state
            .snapshot_min_index(outcome.index, FORWARD_TIMEOUT)
            .await;
        Ok(outcome)
    }
}

/// Waits a little for a (new) leader to be known, at most until `deadline`.
async fn wait_for_leader(raft: &Raft, deadline: tokio::time::Instant) {
    let mut changes = raft.leader_changes();
    let pause = tokio::time::Instant::now() + Duration::from_millis(100);
    let _ = tokio::time::timeout_at(
        deadline.min(pause + Duration::from_millis(900)),
        changes.wait_for(Option::is_some),
    )
    .await;
    tokio::time::sleep_until(pause.min(deadline)).await;
}

pub(crate) fn write_error(e: WriteError) -> ServerError {
    match e {
        WriteError::Apply(message) => apply_error(message),
        WriteError::NotLeader { .. } => ServerError::Unavailable("leadership moved".into()),
        WriteError::Unavailable(m) => ServerError::Unavailable(m),
    }
}

/// A server's error as it crosses the RPC port.
pub(crate) fn rpc_error(e: ServerError) -> RpcError {
    match e {
        ServerError::NotFound(what) => RpcError::new(ErrorKind::NotFound, what),
        ServerError::State(e) => RpcError::new(
            ErrorKind::BadRequest,
            serde_json::to_string(&e).unwrap_or_else(|_| e.to_string()),
        ),
        e @ (ServerError::BadRequest(_) | ServerError::InvalidJob(_)) => {
            RpcError::new(ErrorKind::BadRequest, e.to_string())
        }
        ServerError::Unavailable(m) => {
            let mut e = RpcError::new(ErrorKind::Unavailable, m);
            e.retry = true;
            e
        }
    }
}

/// The server's error back from the RPC port.
pub(crate) fn server_error(e: RpcError) -> ServerError {
    match e.kind {
        ErrorKind::NotFound => ServerError::NotFound(e.message),
        ErrorKind::BadRequest => apply_error(e.message),
        _ => ServerError::Unavailable(e.message),
    }
}

/// The RPC methods that carry an operator's action to the leader.
pub(crate) const REMOVE_PEER_METHOD: &str = "operator.remove_peer";
pub(crate) const RESTORE_METHOD: &str = "operator.restore";

/// Who leads and who is a member, as Raft knows it. The operator's actions run on
/// the leader: a follower forwards them.
#[derive(Debug, Clone)]
pub(crate) struct RaftCluster {
    pub raft: Raft,
    pub rpc: RpcClient,
    /// Server names by RPC address, for the configuration's rows.
    pub names: Arc<std::sync::Mutex<std::collections::BTreeMap<String, String>>>,
}

impl RaftCluster {
    /// The leader's address when it is another server.
    fn leader_elsewhere(&self) -> Option<String> {
        match self.raft.leader() {
            Some((_, addr)) if !self.raft.is_leader() => Some(addr),
            _ => None,
        }
    }
}

impl ClusterView for RaftCluster {
    fn leader(&self) -> Option<String> {
        self.raft.leader().map(|(_, addr)| addr)
    }

    fn servers(&self) -> Vec<RaftServer> {
        let leader = self.raft.leader().map(|(id, _)| id);
        let names = self.names.lock().unwrap_or_else(|e| e.into_inner()).clone();
        self.raft
            .members()
            .into_iter()
            .map(|peer| RaftServer {
                id: peer.id.to_string(),
                node: names
                    .get(&peer.addr)
                    .cloned()
                    .unwrap_or_else(|| peer.addr.clone()),
                address: peer.addr.clone(),
                leader: Some(peer.id) == leader,
                voter: peer.voter,
            })
            .collect()
    }

    fn remove_peer(&self, peer: String) -> BoxFuture<'_, Result<(), ServerError>> {
        Box::pin(async move {
            if let Some(leader) = self.leader_elsewhere() {
                return self
                    .rpc
                    .call_typed(&leader, REMOVE_PEER_METHOD, &peer, FORWARD_TIMEOUT)
                    .await
                    .map_err(server_error);
            }
            let member = self
                .raft
                .members()
                .into_iter()
                .find(|m| m.addr == peer || m.id.to_string() == peer)
                .ok_or_else(|| ServerError::NotFound(format!("raft peer {peer:?}")))?;
            self.raft.remove_peer(member.id).await.map_err(write_error)
        })
    }

    fn save_snapshot(&self) -> BoxFuture<'_, Result<Vec<u8>, ServerError>> {
        Box::pin(async move {
            self.raft
                .save_snapshot()
                .await
                .map_err(|e| ServerError::Unavailable(e.to_string()))
        })
    }

    fn restore_snapshot(&self, bytes: Vec<u8>) -> BoxFuture<'_, Result<u64, ServerError>> {
        Box::pin(async move {
            if let Some(leader) = self.leader_elsewhere() {
                return self
                    .rpc
                    .call_typed(&leader, RESTORE_METHOD, &bytes, FORWARD_TIMEOUT)
                    .await
                    .map_err(server_error);
            }
            self.raft.restore_snapshot(bytes).await.map_err(write_error)
        })
    }
}

/// Raft's messages over the RPC port.
#[derive(Debug, Clone)]
pub(crate) struct RpcTransport(pub RpcClient);

/// How long one Raft message may take (snapshots are sent in chunks).
const RAFT_TIMEOUT: Duration = Duration::from_secs(10);

impl Transport for RpcTransport {
    fn send(
        &self,
        addr: &str,
        req: RaftRequest,
    ) -> caravan_raft::BoxFuture<'_, Result<RaftResponse, TransportError>> {
        let addr = addr.to_owned();
        Box::pin(async move {
            self.0
                .call_typed(&addr, RAFT_METHOD, &req, RAFT_TIMEOUT)
                .await
                .map_err(|e| match e.kind {
                    ErrorKind::Transport | ErrorKind::Tls => TransportError::Unreachable {
                        addr: addr.clone(),
                        reason: e.message,
                    },
                    _ => TransportError::Failed {
                        addr: addr.clone(),
                        reason: e.to_string(),
                    },
                })
        })
    }
}
