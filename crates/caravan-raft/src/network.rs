//! The transport seam: [`Transport`] carries a [`RaftRequest`] to a server's address and
//! brings back its [`RaftResponse`]; the server answers through
//! [`Raft::handle`](crate::Raft::handle). Here it is adapted to openraft's network traits.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use openraft::BasicNode;
use openraft::error::{
    InstallSnapshotError, NetworkError, RPCError, RaftError as OpenRaftError, RemoteError,
    Unreachable,
};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};

use crate::types::{RaftId, RaftRequest, RaftResponse, TypeConfig};

/// A boxed, sendable future (what [`Transport::send`] returns).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The least time a message gets to be answered.
const MIN_RPC_TTL: std::time::Duration = std::time::Duration::from_secs(1);

/// Why a message did not get an answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransportError {
    /// The server could not be reached (connection refused, no route, cut off). Raft
    /// backs off before trying again.
    #[error("raft peer {addr} unreachable: {reason}")]
    Unreachable { addr: String, reason: String },
    /// The message went out but no proper answer came back (reset, timeout, garbage).
    #[error("raft rpc to {addr} failed: {reason}")]
    Failed { addr: String, reason: String },
}

/// Carries Raft messages between servers. The server's RPC layer implements it; tests
/// use an in-memory one.
pub trait Transport: Send + Sync + std::fmt::Debug + 'static {
    /// Sends `req` to the server at `addr` and waits for its answer. Callers bound the
    /// wait themselves.
    fn send(
        &self,
        addr: &str,
        req: RaftRequest,
    ) -> BoxFuture<'_, Result<RaftResponse, TransportError>>;
}

type RpcResult<T, E = openraft::error::Infallible> =
    Result<T, RPCError<RaftId, BasicNode, OpenRaftError<RaftId, E>>>;

/// Makes one [`PeerClient`] per target for openraft's replication tasks.
#[derive(Debug, Clone)]
pub(crate) struct NetworkFactory {
    pub transport: Arc<dyn Transport>,
}

impl RaftNetworkFactory<TypeConfig> for NetworkFactory {
    type Network = PeerClient;

    async fn new_client(&mut self, target: RaftId, node: &BasicNode) -> PeerClient {
        PeerClient {
            transport: self.transport.clone(),
            target,
            addr: node.addr.clone(),
        }
    }
}

/// Sends to one peer.
#[derive(Debug)]
pub(crate) struct PeerClient {
    transport: Arc<dyn Transport>,
    target: RaftId,
    addr: String,
}

impl PeerClient {
    async fn call<E>(
        &self,
        req: RaftRequest,
        option: &RPCOption,
    ) -> Result<RaftResponse, RPCError<RaftId, BasicNode, OpenRaftError<RaftId, E>>>
    where
        E: std::error::Error,
    {
        // openraft allows one heartbeat interval; a large append (a plan of a thousand
        // allocations) fsynced by a busy follower takes longer, and cutting it off
        // only makes the leader send it again. Heartbeats answer well within this.
        let ttl = option.hard_ttl().max(MIN_RPC_TTL);
        let sent = tokio::time::timeout(ttl, self.transport.send(&self.addr, req)).await;
        match sent {
            Ok(Ok(resp)) => Ok(resp),
            Ok(Err(e @ TransportError::Unreachable { .. })) => {
                Err(RPCError::Unreachable(Unreachable::new(&e)))
            }
            Ok(Err(e @ TransportError::Failed { .. })) => {
                Err(RPCError::Network(NetworkError::new(&e)))
            }
            Err(_) => {
                let e = TransportError::Failed {
                    addr: self.addr.clone(),
                    reason: format!("no answer within {ttl:?}"),
                };
                Err(RPCError::Network(NetworkError::new(&e)))
            }
        }
    }

    fn remote<T, E: std::error::Error>(
        &self,
        result: Result<T, OpenRaftError<RaftId, E>>,
    ) -> RpcResult<T, E> {
        result.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e)))
    }

    fn mismatched<E: std::error::Error>(
        &self,
        resp: &RaftResponse,
    ) -> RPCError<RaftId, BasicNode, OpenRaftError<RaftId, E>> {
        let e = TransportError::Failed {
            addr: self.addr.clone(),
            reason: format!("answer of the wrong kind: {resp:?}"),
        };
        RPCError::Network(NetworkError::new(&e))
    }
}

impl RaftNetwork<TypeConfig> for PeerClient {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> RpcResult<AppendEntriesResponse<RaftId>> {
        match self.call(RaftRequest::Append(rpc), &option).await? {
            RaftResponse::Append(r) => self.remote(r),
            other => Err(self.mismatched(&other)),
        }
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> RpcResult<InstallSnapshotResponse<RaftId>, InstallSnapshotError> {
        match self
            .call(RaftRequest::InstallSnapshot(rpc), &option)
            .await?
        {
            RaftResponse::InstallSnapshot(r) => self.remote(r),
            other => Err(self.mismatched(&other)),
        }
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<RaftId>,
        option: RPCOption,
    ) -> RpcResult<VoteResponse<RaftId>> {
        match self.call(RaftRequest::Vote(rpc), &option).await? {
            RaftResponse::Vote(r) => self.remote(r),
            other => Err(self.mismatched(&other)),
        }
    }
}
