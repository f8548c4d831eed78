//! The operator's view of Raft: `/v1/operator/raft/configuration`,
//! `/v1/operator/raft/peer` (remove), and `/v1/operator/snapshot` (save, restore).

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::blocking;
use crate::query::QueryOptions;
use crate::{Api, ApiError};

/// The largest snapshot `PUT /v1/operator/snapshot` accepts.
pub const MAX_SNAPSHOT_BYTES: usize = 1024 * 1024 * 1024;

/// `GET /v1/operator/raft/configuration`: every server of the Raft configuration.
pub(crate) async fn configuration(
    State(api): State<Api>,
    q: QueryOptions,
) -> Result<Response, ApiError> {
    let servers: Vec<_> = api
        .server
        .cluster()
        .servers()
        .into_iter()
        .map(|s| {
            json!({
                "ID": s.id,
                "Node": s.node,
                "Address": s.address,
                "Leader": s.leader,
                "Voter": s.voter,
                "RaftProtocol": "3",
            })
        })
        .collect();
    let index = api.server.state().snapshot().latest_index();
    blocking::json(&api, 0, &json!({ "Index": index, "Servers": servers }), &q)
}

/// `DELETE /v1/operator/raft/peer?address=` (or `?id=`): removes a server.
pub(crate) async fn remove_peer(
    State(api): State<Api>,
    q: QueryOptions,
) -> Result<Response, ApiError> {
    let peer = q
        .get("address")
        .or_else(|| q.get("id"))
        .filter(|p| !p.is_empty())
        .ok_or_else(|| ApiError::bad_request("missing ?address= or ?id= of the peer"))?
        .to_owned();
    api.server.cluster().remove_peer(peer).await?;
    Ok(StatusCode::OK.into_response())
}

/// `GET /v1/operator/snapshot`: the whole state, as bytes.
pub(crate) async fn save_snapshot(State(api): State<Api>) -> Result<Response, ApiError> {
    let bytes = api.server.cluster().save_snapshot().await?;
    Ok(([(header::CONTENT_TYPE, "application/octet-stream")], bytes).into_response())
}

/// `PUT /v1/operator/snapshot`: replaces the whole state on every server.
pub(crate) async fn restore_snapshot(
    State(api): State<Api>,
    q: QueryOptions,
    body: Bytes,
) -> Result<Response, ApiError> {
    if body.is_empty() {
        return Err(ApiError::bad_request("the snapshot is empty"));
    }
    let index = api.server.cluster().restore_snapshot(body.to_vec()).await?;
    blocking::json(&api, index, &json!({ "Index": index }), &q)
}
