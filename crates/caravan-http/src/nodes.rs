//! Node routes: list, read, a node's allocations, drain and eligibility.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::Response;
use caravan_state::Table;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::blocking::{self, WriteMeta};
use crate::query::QueryOptions;
use crate::shapes::NodeListStub;
use crate::{Api, ApiError, body, lookup};

/// `GET /v1/nodes[?prefix=&os=true&resources=true]`.
pub(crate) async fn list(State(api): State<Api>, q: QueryOptions) -> Result<Response, ApiError> {
    let with_os = q.flag("os")?;
    let with_resources = q.flag("resources")?;
    let snap = blocking::snapshot(&api, Table::Nodes, &q).await;
    let stubs: Vec<NodeListStub<'_>> = snap
        .nodes_by_prefix(&q.prefix)
        .map(|n| NodeListStub::new(n, with_os, with_resources))
        .collect();
    blocking::json(&api, snap.index(Table::Nodes), &stubs, &q)
}

/// `GET /v1/node/:id`: the whole node.
pub(crate) async fn read(
    State(api): State<Api>,
    Path(id): Path<String>,
    q: QueryOptions,
) -> Result<Response, ApiError> {
    let snap = blocking::snapshot(&api, Table::Nodes, &q).await;
    let node = lookup::node(&snap, &id)?;
    blocking::json(&api, snap.index(Table::Nodes), node, &q)
}

/// `GET /v1/node/:id/allocations`: the node's allocations, whole (as Nomad returns them).
pub(crate) async fn allocations(
    State(api): State<Api>,
    Path(id): Path<String>,
    q: QueryOptions,
) -> Result<Response, ApiError> {
    let snap = blocking::snapshot(&api, Table::Allocs, &q).await;
    let node = lookup::node(&snap, &id)?;
    let allocs: Vec<_> = snap.allocs_by_node(&node.id).collect();
    blocking::json(&api, snap.index(Table::Allocs), &allocs, &q)
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct DrainRequest {
    /// `{Deadline, IgnoreSystemJobs}` starts a drain; null ends it.
    drain_spec: Option<Value>,
    /// When ending a drain: make the node eligible again (else it stays ineligible).
    mark_eligible: bool,
}

/// Nomad's `NodeDrainUpdateResponse` and `NodeEligibilityUpdateResponse`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct NodeUpdateResponse {
    node_modify_index: u64,
    #[serde(rename = "EvalIDs")]
    eval_ids: Vec<String>,
    eval_create_index: u64,
    #[serde(flatten)]
    meta: WriteMeta,
}

impl NodeUpdateResponse {
    fn new(index: u64) -> Self {
        Self {
            node_modify_index: index,
            eval_ids: Vec::new(),
            eval_create_index: 0,
            meta: WriteMeta::new(index),
        }
    }
}

/// `PUT|POST /v1/node/:id/drain`.
pub(crate) async fn drain(
    State(api): State<Api>,
    Path(id): Path<String>,
    q: QueryOptions,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    let request: DrainRequest = body::decode(&bytes)?;
    let node_id = lookup::node(&api.server.state().snapshot(), &id)?
        .id
        .clone();
    let draining = request.drain_spec.is_some();
    let mut index = api.server.set_node_drain(&node_id, draining).await?;
    if !draining && !request.mark_eligible {
        // Ending a drain makes the node eligible; Nomad keeps it ineligible unless asked.
        index = api.server.set_node_eligibility(&node_id, false).await?;
    }
    blocking::json(&api, index, &NodeUpdateResponse::new(index), &q)
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct EligibilityRequest {
    eligibility: String,
}

/// `PUT|POST /v1/node/:id/eligibility` (`{Eligibility: "eligible"|"ineligible"}`).
pub(crate) async fn eligibility(
    State(api): State<Api>,
    Path(id): Path<String>,
    q: QueryOptions,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    let request: EligibilityRequest = body::decode(&bytes)?;
    let eligible = match request.eligibility.as_str() {
        "eligible" => true,
        "ineligible" => false,
        other => {
            return Err(ApiError::bad_request(format!(
                "invalid scheduling eligibility {other:?}: want \"eligible\" or \"ineligible\""
            )));
        }
    };
    let node_id = lookup::node(&api.server.state().snapshot(), &id)?
        .id
        .clone();
    let index = api.server.set_node_eligibility(&node_id, eligible).await?;
    blocking::json(&api, index, &NodeUpdateResponse::new(index), &q)
}
