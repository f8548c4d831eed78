//! Errors: [`RaftError`] for setting up and running a server's Raft, [`WriteError`] for
//! what goes through the log, saying whether to retry and where.

use openraft::BasicNode;
use openraft::error::{
    CheckIsLeaderError, ClientWriteError, ForwardToLeader, RaftError as OpenRaftError,
};

use crate::types::RaftId;

/// Setting up or running this server's Raft failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RaftError {
    #[error("invalid raft configuration: {0}")]
    Config(String),
    /// The log or snapshot store on disk failed; the server cannot go on safely.
    #[error("raft storage: {0}")]
    Storage(String),
    /// Raft has stopped (shut down, or a fatal storage error).
    #[error("raft stopped: {0}")]
    Stopped(String),
    #[error("raft bootstrap refused: {0}")]
    Bootstrap(String),
}

/// A write (or a membership change, or a linearizable read) did not go through.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WriteError {
    /// This server is not the leader: retry at the leader, if one is known, else a
    /// little later (an election is under way). Nothing was written.
    #[error("not the raft leader{}", leader_hint(.leader))]
    NotLeader { leader: Option<(RaftId, String)> },
    /// The command was committed but the state refused it (or the request is invalid):
    /// retrying the same request gives the same answer.
    #[error("refused: {0}")]
    Apply(String),
    /// Raft could not complete the request now (stopped, no quorum, a membership
    /// change in progress, a new server not caught up): it may be retried later.
    #[error("raft unavailable: {0}")]
    Unavailable(String),
}

fn leader_hint(leader: &Option<(RaftId, String)>) -> String {
    match leader {
        Some((id, addr)) => format!(" (leader is {id} at {addr})"),
        None => " (no leader known)".to_owned(),
    }
}

impl WriteError {
    /// Whether the same request may succeed if sent again (to the leader for
    /// [`WriteError::NotLeader`]).
    pub fn is_retryable(&self) -> bool {
        !matches!(self, Self::Apply(_))
    }

    fn not_leader(f: ForwardToLeader<RaftId, BasicNode>) -> Self {
        let leader = f
            .leader_id
            .map(|id| (id, f.leader_node.map(|n| n.addr).unwrap_or_default()));
        Self::NotLeader { leader }
    }
}

impl From<OpenRaftError<RaftId, ClientWriteError<RaftId, BasicNode>>> for WriteError {
    fn from(e: OpenRaftError<RaftId, ClientWriteError<RaftId, BasicNode>>) -> Self {
        match e {
            OpenRaftError::APIError(ClientWriteError::ForwardToLeader(f)) => Self::not_leader(f),
            OpenRaftError::APIError(ClientWriteError::ChangeMembershipError(e)) => {
                use openraft::error::ChangeMembershipError as C;
                match e {
                    C::InProgress(_) => Self::Unavailable(e.to_string()),
                    _ => Self::Apply(e.to_string()),
                }
            }
            OpenRaftError::Fatal(f) => Self::Unavailable(f.to_string()),
        }
    }
}

impl From<OpenRaftError<RaftId, CheckIsLeaderError<RaftId, BasicNode>>> for WriteError {
    fn from(e: OpenRaftError<RaftId, CheckIsLeaderError<RaftId, BasicNode>>) -> Self {
        match e {
            OpenRaftError::APIError(CheckIsLeaderError::ForwardToLeader(f)) => Self::not_leader(f),
            OpenRaftError::APIError(e @ CheckIsLeaderError::QuorumNotEnough(_)) => {
                Self::Unavailable(e.to_string())
            }
            OpenRaftError::Fatal(f) => Self::Unavailable(f.to_string()),
        }
    }
}
