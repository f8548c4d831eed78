//! Reads as fresh as the leader's: a follower asked a `GET` without `?stale` first
//! learns the leader's commit index (Raft's read index, which also confirms the
//! leader still leads) and waits until it has applied that much, then answers from
//! its own state. `?stale` answers at once from whatever this server has.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use caravan_raft::Raft;
use caravan_rpc::RpcClient;
use caravan_server::StateHandle;

/// The RPC method that answers the leader's read index.
pub(crate) const READ_INDEX_METHOD: &str = "server.read_index";
const TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, Clone)]
pub(crate) struct Consistency {
    pub raft: Raft,
    pub rpc: RpcClient,
    pub state: StateHandle,
}

impl Consistency {
    /// Waits until this server has applied what the leader had committed when asked.
    async fn catch_up(&self) -> Result<(), String> {
        if self.raft.is_leader() {
            return Ok(());
        }
        // An election may be under way: wait for its outcome a little.
        let mut leaders = self.raft.leader_changes();
        let _ = tokio::time::timeout(TIMEOUT, leaders.wait_for(Option::is_some)).await;
        let index = match self.raft.leader() {
            None => return Err("no cluster leader".into()),
            Some(_) if self.raft.is_leader() => return Ok(()),
            Some((_, leader)) => self
                .rpc
                .call_typed::<_, u64>(&leader, READ_INDEX_METHOD, &(), TIMEOUT)
                .await
                .map_err(|e| e.to_string())?,
        };
        let snap = self.state.snapshot_min_index(index, TIMEOUT).await;
        if snap.latest_index() < index {
            return Err(format!(
                "this server has applied index {} of the leader's {index}",
                snap.latest_index()
            ));
        }
        Ok(())
    }
}

/// Whether the request may be answered from this server's state as it is: it asks
/// for `?stale`, or for this agent's own view (status, agent, Raft configuration).
fn is_local(req: &Request) -> bool {
    const LOCAL: &[&str] = &[
        "/v1/status/",
        "/v1/agent/",
        "/v1/operator/raft/",
        "/v1/regions",
    ];
    let path = req.uri().path();
    LOCAL.iter().any(|p| path.starts_with(p))
        || req.uri().query().is_some_and(|q| {
            q.split('&')
                .any(|p| p == "stale" || p.starts_with("stale="))
        })
}

/// The middleware.
pub(crate) async fn layer(State(c): State<Arc<Consistency>>, req: Request, next: Next) -> Response {
    if req.method() == Method::GET
        && !is_local(&req)
        && !c.raft.is_leader()
        && let Err(e) = c.catch_up().await
    {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "no consistent read possible now ({e}); add ?stale to read this server's state"
            ),
        )
            .into_response();
    }
    next.run(req).await
}
