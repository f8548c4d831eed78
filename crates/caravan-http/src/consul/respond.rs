//! Consul's read conventions: blocking queries over the tables an answer depends on,
//! the `X-Consul-*` headers, `?dc` and the parameters we refuse rather than ignore.

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use caravan_state::{Snapshot, Table};
use serde::Serialize;

use crate::query::QueryOptions;
use crate::{Api, ApiError};

const INDEX_HEADER: &str = "x-consul-index";
const KNOWN_LEADER_HEADER: &str = "x-consul-knownleader";
const LAST_CONTACT_HEADER: &str = "x-consul-lastcontact";

/// The highest index of `tables`: what a blocking query on an answer built from them
/// compares with.
pub(super) fn index_of(snap: &Snapshot, tables: &[Table]) -> u64 {
    tables.iter().map(|t| snap.index(*t)).max().unwrap_or(0)
}

/// The snapshot to answer from: at once without `?index`, else once one of `tables`
/// has moved past it (or `?wait` ran out, which is not an error).
pub(super) async fn snapshot(api: &Api, tables: &[Table], q: &QueryOptions) -> Snapshot {
    let state = api.server.state();
    if q.index == 0 {
        return state.snapshot();
    }
    let deadline = tokio::time::Instant::now() + q.wait;
    loop {
        let snap = state.snapshot();
        let now = tokio::time::Instant::now();
        if index_of(&snap, tables) > q.index || now >= deadline {
            return snap;
        }
        // Any write wakes this; one to another table loops.
        state
            .snapshot_min_index(snap.latest_index() + 1, deadline - now)
            .await;
    }
}

/// Refuses a request for another datacenter (Consul's 500 "No path to datacenter")
/// and the parameters that would change the answer in ways we do not implement.
pub(super) fn check_query(api: &Api, q: &QueryOptions) -> Result<(), ApiError> {
    if let Some(dc) = q.get("dc").filter(|dc| !dc.is_empty())
        && dc != api.agent.datacenter
    {
        return Err(ApiError::Internal("No path to datacenter".into()));
    }
    for unsupported in ["filter", "node-meta", "peer"] {
        if q.get(unsupported).is_some_and(|v| !v.is_empty()) {
            return Err(ApiError::bad_request(format!(
                "the {unsupported:?} parameter is not supported"
            )));
        }
    }
    Ok(())
}

/// A JSON read answer with Consul's query headers; an index of 0 is sent as 1, so a
/// client that feeds it back blocks instead of spinning.
pub(super) fn json<T: Serialize + ?Sized>(
    api: &Api,
    index: u64,
    body: &T,
    q: &QueryOptions,
) -> Result<Response, ApiError> {
    let mut response = plain_json(body, q)?;
    with_query_headers(api, index, &mut response);
    Ok(response)
}

/// A JSON answer without query headers (the agent's endpoints, writes).
pub(super) fn plain_json<T: Serialize + ?Sized>(
    body: &T,
    q: &QueryOptions,
) -> Result<Response, ApiError> {
    let mut bytes = if q.pretty {
        serde_json::to_vec_pretty(body)
    } else {
        serde_json::to_vec(body)
    }
    .map_err(|e| ApiError::Internal(format!("encoding the response: {e}")))?;
    if q.pretty {
        bytes.push(b'\n');
    }
    let mut response = Response::new(Body::from(bytes));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Ok(response)
}

/// An empty 200: what Consul's agent writes answer.
pub(super) fn ok() -> Response {
    Response::new(Body::empty())
}

/// A 404 with Consul's query headers and no body (a missing key).
pub(super) fn not_found(api: &Api, index: u64) -> Response {
    let mut response = Response::new(Body::empty());
    *response.status_mut() = StatusCode::NOT_FOUND;
    with_query_headers(api, index, &mut response);
    response
}

pub(super) fn with_query_headers(api: &Api, index: u64, response: &mut Response) {
    let headers = response.headers_mut();
    headers.insert(INDEX_HEADER, HeaderValue::from(index.max(1)));
    let known_leader = if api.server.leader().is_empty() {
        "false"
    } else {
        "true"
    };
    headers.insert(KNOWN_LEADER_HEADER, HeaderValue::from_static(known_leader));
    headers.insert(LAST_CONTACT_HEADER, HeaderValue::from_static("0"));
}
