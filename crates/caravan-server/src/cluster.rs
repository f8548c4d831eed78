//! The cluster as the server sees it: who leads, who votes, and the operator's
//! actions on the replicated log. Raft answers it in a cluster; a single server
//! answers for itself.

use std::fmt::Debug;

use crate::{BoxFuture, ServerError};

/// One server of the Raft configuration, in `/v1/operator/raft/configuration` terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RaftServer {
    pub id: String,
    pub node: String,
    /// The server's RPC address.
    pub address: String,
    pub leader: bool,
    pub voter: bool,
}

/// Who leads a cluster of servers and who its members are (by RPC address), and
/// what an operator may do to it.
pub trait ClusterView: Send + Sync + Debug {
    /// The leader's RPC address, if there is one now.
    fn leader(&self) -> Option<String>;

    /// Every member of the configuration.
    fn servers(&self) -> Vec<RaftServer>;

    /// The RPC addresses of the voters.
    fn peers(&self) -> Vec<String> {
        self.servers()
            .into_iter()
            .filter(|s| s.voter)
            .map(|s| s.address)
            .collect()
    }

    /// Removes a server (by id or RPC address) from the configuration.
    fn remove_peer(&self, _peer: String) -> BoxFuture<'_, Result<(), ServerError>> {
        Box::pin(async { Err(not_clustered()) })
    }

    /// The whole state, as `operator snapshot save` writes it.
    fn save_snapshot(&self) -> BoxFuture<'_, Result<Vec<u8>, ServerError>> {
        Box::pin(async { Err(not_clustered()) })
    }

    /// Replaces the whole state with a saved one, on every server; returns the index
    /// it was committed at.
    fn restore_snapshot(&self, _bytes: Vec<u8>) -> BoxFuture<'_, Result<u64, ServerError>> {
        Box::pin(async { Err(not_clustered()) })
    }
}

fn not_clustered() -> ServerError {
    ServerError::BadRequest("this agent keeps its state in memory (dev mode): no Raft".into())
}

/// A single server in dev mode: it leads, and its own RPC address is the only peer.
#[derive(Debug)]
pub(crate) struct Solo(pub String);

impl ClusterView for Solo {
    fn leader(&self) -> Option<String> {
        Some(self.0.clone())
    }

    fn servers(&self) -> Vec<RaftServer> {
        vec![RaftServer {
            id: self.0.clone(),
            node: self.0.clone(),
            address: self.0.clone(),
            leader: true,
            voter: true,
        }]
    }
}
