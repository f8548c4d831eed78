//! The concrete openraft types: what a log entry carries, what applying it answers, and
//! the messages servers exchange.

use std::io::Cursor;

use caravan_state::{ApplyOutcome, Command};
use openraft::error::{InstallSnapshotError, RaftError as OpenRaftError};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use openraft::{BasicNode, TokioRuntime};
use serde::{Deserialize, Serialize};

/// A server's Raft id: stable for the life of its data directory.
pub type RaftId = u64;

/// What one application log entry carries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum LogPayload {
    /// A write to the state store.
    Command(Box<Command>),
    /// An operator restore: the whole state, as [`caravan_state::Snapshot::encode`]
    /// wrote it, replacing every server's state when applied.
    Restore(Vec<u8>),
}

/// What applying an entry answers: a command the state refuses is still committed, and
/// answers why it was refused.
pub type ApplyResult = Result<ApplyOutcome, String>;

openraft::declare_raft_types!(
    /// Caravan's openraft configuration: fixed, concrete types.
    pub TypeConfig:
        D = LogPayload,
        R = ApplyResult,
        NodeId = RaftId,
        Node = BasicNode,
        Entry = openraft::Entry<TypeConfig>,
        SnapshotData = Cursor<Vec<u8>>,
        AsyncRuntime = TokioRuntime,
);

pub(crate) type LogId = openraft::LogId<RaftId>;
pub(crate) type Entry = openraft::Entry<TypeConfig>;
pub(crate) type StorageError = openraft::StorageError<RaftId>;
pub(crate) type StoredMembership = openraft::StoredMembership<RaftId, BasicNode>;
pub(crate) type SnapshotMeta = openraft::SnapshotMeta<RaftId, BasicNode>;

/// A message from one server's Raft to another's. Opaque to the transport, which only
/// serializes it and hands it to [`Raft::handle`](crate::Raft::handle) on the other side.
#[derive(Debug, Serialize, Deserialize)]
pub enum RaftRequest {
    Append(AppendEntriesRequest<TypeConfig>),
    Vote(VoteRequest<RaftId>),
    InstallSnapshot(InstallSnapshotRequest<TypeConfig>),
}

/// The answer to a [`RaftRequest`], of the same kind. A refusal by the receiving Raft
/// (it is shutting down, or a snapshot chunk arrived out of order) travels inside, so
/// that the sender can react to it as openraft expects.
#[derive(Debug, Serialize, Deserialize)]
pub enum RaftResponse {
    Append(Result<AppendEntriesResponse<RaftId>, OpenRaftError<RaftId>>),
    Vote(Result<VoteResponse<RaftId>, OpenRaftError<RaftId>>),
    InstallSnapshot(
        Result<InstallSnapshotResponse<RaftId>, OpenRaftError<RaftId, InstallSnapshotError>>,
    ),
}

/// A member of the cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Peer {
    pub id: RaftId,
    /// Its RPC address, as given when it joined.
    pub addr: String,
    /// Voters elect leaders and commit; a non-voter (learner) only receives the log.
    pub voter: bool,
}
