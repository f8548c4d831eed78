//! The RPC port's methods. Servers answer Raft's messages, forwarded writes and the
//! clients' calls; a client reaches the servers through [`RpcServerApi`], the same
//! calls over the RPC port (or in process, on an agent that is both).
//!
//! Client writes (register, heartbeat, status, services) run on the leader, which
//! alone keeps heartbeat deadlines and schedules: a follower forwards them. Client
//! reads (blocking queries on allocations, services and keys) are answered from the
//! receiving server's own state.

use std::sync::Arc;
use std::time::Duration;

use caravan_client::{
    AllocUpdate, BoxFuture, KvPair, KvPath, ServerApi, ServerApiError, ServiceLists,
};
use caravan_model::{AllocId, Allocation, Node, NodeId, ServiceRegistration};
use caravan_raft::{Raft, RaftId, RaftRequest};
use caravan_rpc::{ErrorKind, Handler, PeerInfo, RpcClient, RpcError};
use caravan_server::Server;
use caravan_state::Command;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::local::LocalServer;
use super::replicated::{COMMIT_METHOD, RAFT_METHOD, rpc_error};

/// Asks a server who it is and what it knows of the cluster (joining).
pub(crate) const PEER_METHOD: &str = "status.peer";
/// Asks the leader to add a server to the configuration.
pub(crate) const JOIN_METHOD: &str = "raft.join";

/// What a server says about itself when asked by a joining one.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct PeerStatus {
    pub id: RaftId,
    pub addr: String,
    pub name: String,
    pub initialized: bool,
    pub leader: Option<String>,
}

/// A server asking to join.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct JoinRequest {
    pub id: RaftId,
    pub addr: String,
}

/// A server's side of the RPC port.
#[derive(Debug)]
pub(crate) struct ServerRpc {
    pub server: Arc<Server>,
    /// The agent's HTTP router, set once it is built: forwarded HTTP requests run on it.
    pub router: Arc<std::sync::OnceLock<axum::Router>>,
    pub raft: Raft,
    pub rpc: RpcClient,
    pub id: RaftId,
    pub addr: String,
    pub name: String,
}

impl Handler for ServerRpc {
    fn call(
        &self,
        method: String,
        body: Value,
        _peer: PeerInfo,
    ) -> caravan_rpc::BoxFuture<'static, Result<Value, RpcError>> {
        let this = ServerRpc {
            server: self.server.clone(),
            router: self.router.clone(),
            raft: self.raft.clone(),
            rpc: self.rpc.clone(),
            id: self.id,
            addr: self.addr.clone(),
            name: self.name.clone(),
        };
        Box::pin(async move { this.dispatch(&method, body).await })
    }
}

impl ServerRpc {
    pub(crate) async fn dispatch(&self, method: &str, body: Value) -> Result<Value, RpcError> {
        match method {
            RAFT_METHOD => {
                let req: RaftRequest = decode(body)?;
                let resp = self
                    .raft
                    .handle(req)
                    .await
                    .map_err(|e| RpcError::new(ErrorKind::Internal, e.to_string()))?;
                encode(&resp)
            }
            PEER_METHOD => encode(&PeerStatus {
                id: self.id,
                addr: self.addr.clone(),
                name: self.name.clone(),
                initialized: self.raft.is_initialized(),
                leader: self.raft.leader().map(|(_, addr)| addr),
            }),
            JOIN_METHOD => {
                self.leader_only()?;
                let req: JoinRequest = decode(body)?;
                if !self.raft.members().iter().any(|m| m.id == req.id) {
                    tracing::info!(id = req.id, addr = %req.addr, "adding a server to the cluster");
                    self.raft
                        .add_voter(req.id, req.addr)
                        .await
                        .map_err(|e| rpc_error(super::replicated::write_error(e)))?;
                }
                encode(&())
            }
            super::http_forward::HTTP_METHOD => {
                let req = decode(body)?;
                encode(&super::http_forward::answer(&self.router, req).await?)
            }
            super::consistent::READ_INDEX_METHOD => {
                self.leader_only()?;
                // Confirms this server still leads; its state has then applied
                // everything committed before the question.
                self.raft
                    .read_index()
                    .await
                    .map_err(|e| rpc_error(super::replicated::write_error(e)))?;
                encode(&self.server.state().snapshot().latest_index())
            }
            super::replicated::REMOVE_PEER_METHOD => {
                self.leader_only()?;
                let peer: String = decode(body)?;
                self.server
                    .cluster()
                    .remove_peer(peer)
                    .await
                    .map_err(rpc_error)?;
                encode(&())
            }
            super::replicated::RESTORE_METHOD => {
                self.leader_only()?;
                let bytes: Vec<u8> = decode(body)?;
                let index = self
                    .server
                    .cluster()
                    .restore_snapshot(bytes)
                    .await
                    .map_err(rpc_error)?;
                encode(&index)
            }
            COMMIT_METHOD => {
                self.leader_only()?;
                let cmd: Command = decode(body)?;
                let outcome = self.server.commit(cmd).await.map_err(rpc_error)?;
                encode(&outcome)
            }
            m if CLIENT_WRITES.contains(&m) && !self.raft.is_leader() => {
                self.forward(method, body).await
            }
            m if m.starts_with("client.") => {
                client_call(&LocalServer(self.server.clone()), m, body).await
            }
            other => Err(RpcError::new(
                ErrorKind::UnknownMethod,
                format!("unknown method {other:?}"),
            )),
        }
    }

    fn leader_only(&self) -> Result<(), RpcError> {
        if self.raft.is_leader() {
            Ok(())
        } else {
            Err(RpcError::not_leader(self.raft.leader().map(|(_, a)| a)))
        }
    }

    /// Sends a client's write on to the leader, waiting briefly for one to be elected.
    async fn forward(&self, method: &str, body: Value) -> Result<Value, RpcError> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            match self.raft.leader() {
                Some((id, _)) if id == self.id => {
                    return client_call(&LocalServer(self.server.clone()), method, body).await;
                }
                Some((_, leader)) => {
                    return self.rpc.call(&leader, method, body, CALL_TIMEOUT).await;
                }
                None if tokio::time::Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                None => {
                    let mut e = RpcError::new(ErrorKind::Unavailable, "no cluster leader");
                    e.retry = true;
                    return Err(e);
                }
            }
        }
    }
}

/// Client calls that change state: the leader's to run.
const CLIENT_WRITES: &[&str] = &[
    "client.register_node",
    "client.heartbeat",
    "client.update_allocs",
    "client.upsert_services",
    "client.delete_services",
    "client.delete_services_for_alloc",
];

/// How long a call that does not block may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// Added to a blocking query's wait for the call's own timeout.
const BLOCKING_SLACK: Duration = Duration::from_secs(15);

#[derive(Debug, Serialize, Deserialize)]
struct NodeRef {
    node_id: NodeId,
}

#[derive(Debug, Serialize, Deserialize)]
struct AllocRef {
    alloc_id: AllocId,
}

#[derive(Debug, Serialize, Deserialize)]
struct Ttl {
    ttl_ms: u64,
}

#[derive(Debug, Serialize, Deserialize)]
struct Blocking<T> {
    what: T,
    min_index: u64,
    wait_ms: u64,
}

#[derive(Debug, Serialize, Deserialize)]
struct Indexed<T> {
    value: T,
    index: u64,
}

/// Service lists on the wire: JSON object keys must be strings, so pairs.
type WireServiceLists = Vec<((String, String), Vec<ServiceRegistration>)>;

fn decode<T: DeserializeOwned>(body: Value) -> Result<T, RpcError> {
    serde_json::from_value(body)
        .map_err(|e| RpcError::new(ErrorKind::BadRequest, format!("malformed request: {e}")))
}

fn encode<T: Serialize>(value: &T) -> Result<Value, RpcError> {
    serde_json::to_value(value)
        .map_err(|e| RpcError::new(ErrorKind::Internal, format!("encoding the answer: {e}")))
}

fn api_rpc_error(e: ServerApiError) -> RpcError {
    match e {
        ServerApiError::UnknownNode(node) => RpcError::new(
            ErrorKind::NotFound,
            format!("node {node} is not registered"),
        ),
        ServerApiError::Other(m) => {
            let mut e = RpcError::new(ErrorKind::Unavailable, m);
            e.retry = true;
            e
        }
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Runs a client call against a server in this process.
async fn client_call(server: &LocalServer, method: &str, body: Value) -> Result<Value, RpcError> {
    match method {
        "client.register_node" => {
            let node: Node = decode(body)?;
            let ttl = server.register_node(node).await.map_err(api_rpc_error)?;
            encode(&Ttl {
                ttl_ms: millis(ttl),
            })
        }
        "client.heartbeat" => {
            let req: NodeRef = decode(body)?;
            let ttl = server
                .heartbeat(&req.node_id)
                .await
                .map_err(api_rpc_error)?;
            encode(&Ttl {
                ttl_ms: millis(ttl),
            })
        }
        "client.node_allocs" => {
            let req: Blocking<NodeId> = decode(body)?;
            let (value, index) = server
                .node_allocs(&req.what, req.min_index, Duration::from_millis(req.wait_ms))
                .await
                .map_err(api_rpc_error)?;
            encode(&Indexed { value, index })
        }
        "client.update_allocs" => {
            let updates: Vec<AllocUpdate> = decode(body)?;
            server.update_allocs(updates).await.map_err(api_rpc_error)?;
            encode(&())
        }
        "client.upsert_services" => {
            let regs: Vec<ServiceRegistration> = decode(body)?;
            server.upsert_services(regs).await.map_err(api_rpc_error)?;
            encode(&())
        }
        "client.delete_services" => {
            let regs: Vec<ServiceRegistration> = decode(body)?;
            server.delete_services(regs).await.map_err(api_rpc_error)?;
            encode(&())
        }
        "client.delete_services_for_alloc" => {
            let req: AllocRef = decode(body)?;
            server
                .delete_services_for_alloc(&req.alloc_id)
                .await
                .map_err(api_rpc_error)?;
            encode(&())
        }
        "client.watch_services" => {
            let req: Blocking<Vec<(String, String)>> = decode(body)?;
            let (lists, index) = server
                .watch_services(req.what, req.min_index, Duration::from_millis(req.wait_ms))
                .await
                .map_err(api_rpc_error)?;
            let value: WireServiceLists = lists.into_iter().collect();
            encode(&Indexed { value, index })
        }
        "client.watch_kv" => {
            let req: Blocking<Vec<KvPath>> = decode(body)?;
            let (value, index) = server
                .watch_kv(req.what, req.min_index, Duration::from_millis(req.wait_ms))
                .await
                .map_err(api_rpc_error)?;
            encode(&Indexed { value, index })
        }
        other => Err(RpcError::new(
            ErrorKind::UnknownMethod,
            format!("unknown method {other:?}"),
        )),
    }
}

/// How a client reaches the servers.
#[derive(Debug, Clone)]
enum Route {
    /// A server in this process.
    InProcess(Arc<ServerRpc>),
    /// Servers over the RPC port, tried in turn.
    Remote {
        rpc: RpcClient,
        servers: Arc<Vec<String>>,
        next: Arc<std::sync::atomic::AtomicUsize>,
    },
}

/// The servers as a client sees them, over the RPC port.
#[derive(Debug, Clone)]
pub(crate) struct RpcServerApi(Route);

impl RpcServerApi {
    pub(crate) fn in_process(server: Arc<ServerRpc>) -> Self {
        Self(Route::InProcess(server))
    }

    pub(crate) fn remote(rpc: RpcClient, servers: Vec<String>) -> Self {
        Self(Route::Remote {
            rpc,
            servers: Arc::new(servers),
            next: Arc::default(),
        })
    }

    async fn call<Req: Serialize, Resp: DeserializeOwned>(
        &self,
        method: &str,
        req: &Req,
        timeout: Duration,
    ) -> Result<Resp, ServerApiError> {
        self.raw_call(method, req, timeout)
            .await
            .map_err(|e| match e.kind {
                ErrorKind::NotFound => ServerApiError::UnknownNode(NodeId::from(
                    e.message
                        .strip_prefix("node ")
                        .and_then(|m| m.strip_suffix(" is not registered"))
                        .unwrap_or_default(),
                )),
                _ => ServerApiError::Other(e.to_string()),
            })
    }

    /// A call to the servers: in process, or to each remote one in turn until one
    /// answers.
    pub(crate) async fn raw_call<Req: Serialize, Resp: DeserializeOwned>(
        &self,
        method: &str,
        req: &Req,
        timeout: Duration,
    ) -> Result<Resp, RpcError> {
        let body = encode(req)?;
        let answer = match &self.0 {
            Route::InProcess(server) => server.dispatch(method, body).await,
            Route::Remote { rpc, servers, next } => {
                let mut last = RpcError::new(ErrorKind::Unavailable, "no servers configured");
                let mut answer = Err(last.clone());
                for _ in 0..servers.len() {
                    let at = next.load(std::sync::atomic::Ordering::Relaxed) % servers.len();
                    answer = rpc.call(&servers[at], method, body.clone(), timeout).await;
                    match &answer {
                        Err(e)
                            if matches!(
                                e.kind,
                                ErrorKind::Transport | ErrorKind::Timeout | ErrorKind::Tls
                            ) =>
                        {
                            tracing::debug!(server = %servers[at], error = %e, "server unreachable; trying the next");
                            last = e.clone();
                            next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        }
                        _ => break,
                    }
                }
                answer.map_err(|e| {
                    if e.kind == ErrorKind::Transport {
                        last
                    } else {
                        e
                    }
                })
            }
        };
        serde_json::from_value(answer?)
            .map_err(|e| RpcError::new(ErrorKind::Internal, format!("malformed answer: {e}")))
    }
}

impl ServerApi for RpcServerApi {
    fn register_node(&self, node: Node) -> BoxFuture<'_, Result<Duration, ServerApiError>> {
        Box::pin(async move {
            let ttl: Ttl = self
                .call("client.register_node", &node, CALL_TIMEOUT)
                .await?;
            Ok(Duration::from_millis(ttl.ttl_ms))
        })
    }

    fn heartbeat<'a>(
        &'a self,
        node: &'a NodeId,
    ) -> BoxFuture<'a, Result<Duration, ServerApiError>> {
        Box::pin(async move {
            let req = NodeRef {
                node_id: node.clone(),
            };
            let ttl: Ttl = self.call("client.heartbeat", &req, CALL_TIMEOUT).await?;
            Ok(Duration::from_millis(ttl.ttl_ms))
        })
    }

    fn node_allocs<'a>(
        &'a self,
        node: &'a NodeId,
        min_index: u64,
        wait: Duration,
    ) -> BoxFuture<'a, Result<(Vec<Allocation>, u64), ServerApiError>> {
        Box::pin(async move {
            let req = Blocking {
                what: node.clone(),
                min_index,
                wait_ms: millis(wait),
            };
            let answer: Indexed<Vec<Allocation>> = self
                .call("client.node_allocs", &req, wait + BLOCKING_SLACK)
                .await?;
            Ok((answer.value, answer.index))
        })
    }

    fn update_allocs(
        &self,
        updates: Vec<AllocUpdate>,
    ) -> BoxFuture<'_, Result<(), ServerApiError>> {
        Box::pin(async move {
            self.call("client.update_allocs", &updates, CALL_TIMEOUT)
                .await
        })
    }

    fn upsert_services(
        &self,
        regs: Vec<ServiceRegistration>,
    ) -> BoxFuture<'_, Result<(), ServerApiError>> {
        Box::pin(async move {
            self.call("client.upsert_services", &regs, CALL_TIMEOUT)
                .await
        })
    }

    fn delete_services(
        &self,
        regs: Vec<ServiceRegistration>,
    ) -> BoxFuture<'_, Result<(), ServerApiError>> {
        Box::pin(async move {
            self.call("client.delete_services", &regs, CALL_TIMEOUT)
                .await
        })
    }

    fn delete_services_for_alloc<'a>(
        &'a self,
        alloc: &'a AllocId,
    ) -> BoxFuture<'a, Result<(), ServerApiError>> {
        Box::pin(async move {
            let req = AllocRef {
                alloc_id: alloc.clone(),
            };
            self.call("client.delete_services_for_alloc", &req, CALL_TIMEOUT)
                .await
        })
    }

    fn watch_services(
        &self,
        names: Vec<(String, String)>,
        min_index: u64,
        wait: Duration,
    ) -> BoxFuture<'_, Result<(ServiceLists, u64), ServerApiError>> {
        Box::pin(async move {
            let req = Blocking {
                what: names,
                min_index,
                wait_ms: millis(wait),
            };
            let answer: Indexed<WireServiceLists> = self
                .call("client.watch_services", &req, wait + BLOCKING_SLACK)
                .await?;
            Ok((answer.value.into_iter().collect(), answer.index))
        })
    }

    fn watch_kv(
        &self,
        paths: Vec<KvPath>,
        min_index: u64,
        wait: Duration,
    ) -> BoxFuture<'_, Result<(Vec<KvPair>, u64), ServerApiError>> {
        Box::pin(async move {
            let req = Blocking {
                what: paths,
                min_index,
                wait_ms: millis(wait),
            };
            let answer: Indexed<Vec<KvPair>> = self
                .call("client.watch_kv", &req, wait + BLOCKING_SLACK)
                .await?;
            Ok((answer.value, answer.index))
        })
    }
}
