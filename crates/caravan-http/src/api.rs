//! What the router serves from: the server, this agent's description and, on an agent
//! that is also a client node, the client.

use std::fmt::Debug;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;

use caravan_model::{AllocId, NodeId};
use caravan_server::Server;

/// A boxed future, so that [`ClientApi`] can be a trait object.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Why the client could not do what was asked of one of its allocations.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientApiError {
    /// The allocation is not (or no longer) on this node.
    #[error("allocation {0} is not running on this node")]
    UnknownAlloc(AllocId),
    #[error("task {task:?} not found in allocation {alloc}")]
    UnknownTask { alloc: AllocId, task: String },
    /// The request is wrong (an unknown signal, say); retrying will not help.
    #[error("{0}")]
    BadRequest(String),
    /// The client tried and failed.
    #[error("{0}")]
    Failed(String),
}

/// What only the client node running an allocation can answer. The client agent
/// implements it; the HTTP layer only translates.
pub trait ClientApi: Send + Sync + Debug {
    /// The id of this client node.
    fn node_id(&self) -> NodeId;

    /// The allocation directory of an allocation on this node (holding `alloc/`,
    /// `alloc/logs/` and one directory per task), if the node has it.
    fn alloc_dir(&self, alloc: &AllocId) -> Option<PathBuf>;

    /// Restarts one task of the allocation, or every task with `None`.
    fn restart_alloc(
        &self,
        alloc: AllocId,
        task: Option<String>,
    ) -> BoxFuture<'_, Result<(), ClientApiError>>;

    /// Sends a signal (`SIGHUP`, `SIGUSR1`, ...) to one task, or every task with `None`.
    fn signal_alloc(
        &self,
        alloc: AllocId,
        task: Option<String>,
        signal: String,
    ) -> BoxFuture<'_, Result<(), ClientApiError>>;

    /// Resource usage in Nomad's `AllocResourceUsage` shape
    /// (`{ResourceUsage, Tasks, Timestamp}`).
    fn alloc_stats(
        &self,
        alloc: AllocId,
    ) -> BoxFuture<'_, Result<serde_json::Value, ClientApiError>>;
}

/// This agent, as `/v1/agent/self` and `/v1/agent/members` describe it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentInfo {
    /// The node name (a host name by default).
    pub name: String,
    pub region: String,
    pub datacenter: String,
    /// Caravan's version, shown where Nomad shows its own.
    pub version: String,
    /// `ip:port` of the HTTP API.
    pub http_addr: String,
    /// `ip:port` of server RPC.
    pub rpc_addr: String,
    /// `ip:port` of gossip (Serf in Nomad), shown as the member address.
    pub serf_addr: String,
    /// Whether this agent runs a server.
    pub server: bool,
    /// Whether this agent runs a client.
    pub client: bool,
}

impl Default for AgentInfo {
    fn default() -> Self {
        Self {
            name: "caravan".into(),
            region: "global".into(),
            datacenter: "dc1".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            http_addr: "127.0.0.1:4646".into(),
            rpc_addr: "127.0.0.1:4647".into(),
            serf_addr: "127.0.0.1:4648".into(),
            server: true,
            client: false,
        }
    }
}

/// Everything the handlers share. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Api {
    pub(crate) server: Arc<Server>,
    pub(crate) client: Option<Arc<dyn ClientApi>>,
    pub(crate) agent: Arc<AgentInfo>,
}

impl Api {
    /// A server-only API: the client routes answer 501.
    pub fn new(server: Arc<Server>, agent: AgentInfo) -> Self {
        Self {
            server,
            client: None,
            agent: Arc::new(agent),
        }
    }

    /// Adds the client node's answers (files, logs, stats, restart, signal).
    #[must_use]
    pub fn with_client(mut self, client: Arc<dyn ClientApi>) -> Self {
        self.client = Some(client);
        self
    }

    pub fn server(&self) -> &Arc<Server> {
        &self.server
    }

    pub fn agent(&self) -> &AgentInfo {
        &self.agent
    }
}
