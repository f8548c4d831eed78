//! The in-process seams of a dev agent: the client reaches the server, and the HTTP
//! API reaches the client, without a network hop.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use caravan_client::{
    AllocRunnerError, AllocUpdate, BoxFuture, ClientAgent, ClientAgentError, ServerApi,
    ServerApiError, TaskRunnerError,
};
use caravan_drivers::DriverError;
use caravan_http::{ClientApi, ClientApiError};
use caravan_model::{AllocId, Allocation, Node, NodeId};
use caravan_server::{Server, ServerError};
use caravan_state::{AllocClientUpdate, Table};

/// The client's view of a server in the same process.
#[derive(Debug)]
pub(crate) struct LocalServer(pub Arc<Server>);

fn api_error(e: ServerError, node: &NodeId) -> ServerApiError {
    match e {
        ServerError::NotFound(_) => ServerApiError::UnknownNode(node.clone()),
        other => ServerApiError::Other(other.to_string()),
    }
}

impl ServerApi for LocalServer {
    fn register_node(&self, node: Node) -> BoxFuture<'_, Result<Duration, ServerApiError>> {
        Box::pin(async move {
            let id = node.id.clone();
            self.0
                .register_node(node)
                .await
                .map(|(ttl, _)| ttl)
                .map_err(|e| api_error(e, &id))
        })
    }

    fn heartbeat<'a>(
        &'a self,
        node: &'a NodeId,
    ) -> BoxFuture<'a, Result<Duration, ServerApiError>> {
        Box::pin(async move { self.0.heartbeat(node).await.map_err(|e| api_error(e, node)) })
    }

    fn node_allocs<'a>(
        &'a self,
        node: &'a NodeId,
        min_index: u64,
        wait: Duration,
    ) -> BoxFuture<'a, Result<(Vec<Allocation>, u64), ServerApiError>> {
        Box::pin(async move {
            let snap = self
                .0
                .state()
                .wait_table(Table::Allocs, min_index, wait)
                .await;
            let allocs = snap.allocs_by_node(node).cloned().collect();
            Ok((allocs, snap.index(Table::Allocs)))
        })
    }

    fn update_allocs(
        &self,
        updates: Vec<AllocUpdate>,
    ) -> BoxFuture<'_, Result<(), ServerApiError>> {
        let updates = updates
            .into_iter()
            .map(|u| AllocClientUpdate {
                alloc_id: u.alloc_id,
                client_status: u.client_status,
                client_description: u.client_description,
                task_states: u.task_states,
                network_status: u.network_status,
            })
            .collect();
        Box::pin(async move {
            self.0
                .update_allocs(updates)
                .await
                .map(|_| ())
                .map_err(|e| ServerApiError::Other(e.to_string()))
        })
    }
}

/// The client's refusals in the HTTP API's terms: an unknown allocation or task is a
/// 404, an unknown signal a 400, the rest a failure to act.
fn client_api_error(e: ClientAgentError) -> ClientApiError {
    match e {
        ClientAgentError::UnknownAlloc(alloc) => ClientApiError::UnknownAlloc(alloc),
        ClientAgentError::Runner(AllocRunnerError::UnknownTask { alloc_id, task }) => {
            ClientApiError::UnknownTask {
                alloc: alloc_id,
                task,
            }
        }
        ClientAgentError::Runner(AllocRunnerError::Task(TaskRunnerError::Driver {
            source: DriverError::UnknownSignal(_),
            ..
        })) => ClientApiError::BadRequest(e.to_string()),
        other => ClientApiError::Failed(other.to_string()),
    }
}

/// The HTTP API's view of the client in the same process.
#[derive(Debug)]
pub(crate) struct LocalClient(pub Arc<ClientAgent>);

impl ClientApi for LocalClient {
    fn node_id(&self) -> NodeId {
        self.0.node_id().clone()
    }

    fn alloc_dir(&self, alloc: &AllocId) -> Option<PathBuf> {
        self.0.alloc_dir(alloc)
    }

    fn restart_alloc(
        &self,
        alloc: AllocId,
        task: Option<String>,
    ) -> BoxFuture<'_, Result<(), ClientApiError>> {
        Box::pin(async move {
            match task {
                Some(task) => self.0.restart_task(&alloc, task).await,
                None => self.0.restart_alloc(&alloc),
            }
            .map_err(client_api_error)
        })
    }

    fn signal_alloc(
        &self,
        alloc: AllocId,
        task: Option<String>,
        signal: String,
    ) -> BoxFuture<'_, Result<(), ClientApiError>> {
        Box::pin(async move {
            self.0
                .signal_alloc(&alloc, task, signal)
                .await
                .map_err(client_api_error)
        })
    }

    fn alloc_stats(
        &self,
        alloc: AllocId,
    ) -> BoxFuture<'_, Result<serde_json::Value, ClientApiError>> {
        Box::pin(async move {
            if self.0.alloc_dir(&alloc).is_none() {
                return Err(ClientApiError::UnknownAlloc(alloc));
            }
            Ok(serde_json::json!({ "ResourceUsage": null, "Tasks": {}, "Timestamp": 0 }))
        })
    }
}
