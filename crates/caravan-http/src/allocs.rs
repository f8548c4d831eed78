//! Allocation routes: list, read, stop, and what the client running one answers
//! (restart, signal, stats).

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::Response;
use caravan_state::Table;
use serde::{Deserialize, Serialize};

use crate::blocking::{self, WriteMeta};
use crate::client::local_alloc;
use crate::query::QueryOptions;
use crate::shapes::AllocListStub;
use crate::{Api, ApiError, body, lookup};

/// `GET /v1/allocations[?prefix=&namespace=&resources=true]`.
pub(crate) async fn list(State(api): State<Api>, q: QueryOptions) -> Result<Response, ApiError> {
    let with_resources = q.flag("resources")?;
    let snap = blocking::snapshot(&api, Table::Allocs, &q).await;
    let stubs: Vec<AllocListStub<'_>> = snap
        .allocs_by_prefix(&q.prefix)
        .filter(|a| q.in_namespace(&a.namespace))
        .map(|a| AllocListStub::new(a, with_resources))
        .collect();
    blocking::json(&api, snap.index(Table::Allocs), &stubs, &q)
}

/// `GET /v1/allocation/:id`: the whole allocation, with its job.
pub(crate) async fn read(
    State(api): State<Api>,
    Path(id): Path<String>,
    q: QueryOptions,
) -> Result<Response, ApiError> {
    let snap = blocking::snapshot(&api, Table::Allocs, &q).await;
    let alloc = lookup::alloc(&snap, &id)?;
    blocking::json(&api, snap.index(Table::Allocs), alloc, &q)
}

/// Nomad's `AllocStopResponse`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct StopResponse {
    #[serde(rename = "EvalID")]
    eval_id: String,
    #[serde(flatten)]
    meta: WriteMeta,
}

/// `PUT|POST /v1/allocation/:id/stop`: stops it; the scheduler replaces it if needed.
pub(crate) async fn stop(
    State(api): State<Api>,
    Path(id): Path<String>,
    q: QueryOptions,
) -> Result<Response, ApiError> {
    let alloc_id = lookup::alloc(&api.server.state().snapshot(), &id)?
        .id
        .clone();
    let r = api.server.stop_alloc(&alloc_id).await?;
    let response = StopResponse {
        eval_id: r.eval_id.unwrap_or_default(),
        meta: WriteMeta::new(r.index),
    };
    blocking::json(&api, r.index, &response, &q)
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct RestartRequest {
    task_name: Option<String>,
    all_tasks: bool,
}

/// `PUT|POST /v1/client/allocation/:id/restart` (`{TaskName, AllTasks}`).
pub(crate) async fn restart(
    State(api): State<Api>,
    Path(id): Path<String>,
    q: QueryOptions,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    let request: RestartRequest = body::decode(&bytes)?;
    let task = request
        .task_name
        .filter(|t| !t.is_empty() && !request.all_tasks);
    let snap = api.server.state().snapshot();
    let (alloc, client) = local_alloc(&api, &snap, &id)?;
    client.restart_alloc(alloc.id, task).await?;
    blocking::json(&api, snap.index(Table::Allocs), &serde_json::json!({}), &q)
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct SignalRequest {
    task: Option<String>,
    signal: String,
}

/// `PUT|POST /v1/client/allocation/:id/signal` (`{Task, Signal}`).
pub(crate) async fn signal(
    State(api): State<Api>,
    Path(id): Path<String>,
    q: QueryOptions,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    let request: SignalRequest = body::decode(&bytes)?;
    if request.signal.is_empty() {
        return Err(ApiError::bad_request("missing signal"));
    }
    let task = request.task.filter(|t| !t.is_empty());
    let snap = api.server.state().snapshot();
    let (alloc, client) = local_alloc(&api, &snap, &id)?;
    client.signal_alloc(alloc.id, task, request.signal).await?;
    blocking::json(&api, snap.index(Table::Allocs), &serde_json::json!({}), &q)
}

/// `GET /v1/client/allocation/:id/stats`: resource usage, as the client reports it.
pub(crate) async fn stats(
    State(api): State<Api>,
    Path(id): Path<String>,
    q: QueryOptions,
) -> Result<Response, ApiError> {
    let snap = api.server.state().snapshot();
    let (alloc, client) = local_alloc(&api, &snap, &id)?;
    let stats = client.alloc_stats(alloc.id).await?;
    blocking::json(&api, snap.index(Table::Allocs), &stats, &q)
}
