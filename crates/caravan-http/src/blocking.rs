//! Blocking queries and the headers every answer carries.
//!
//! A read names the table it answers from; with `?index=N` it waits until that table's
//! index is above N (or `wait` runs out, which is not an error) and answers from the
//! snapshot that ended the wait, so the data and `X-Nomad-Index` agree.

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use caravan_state::{Snapshot, Table};
use serde::Serialize;

use crate::query::QueryOptions;
use crate::{Api, ApiError};

pub(crate) const INDEX_HEADER: &str = "x-nomad-index";
pub(crate) const KNOWN_LEADER_HEADER: &str = "x-nomad-knownleader";
pub(crate) const LAST_CONTACT_HEADER: &str = "x-nomad-lastcontact";

/// The snapshot to answer from: at once without `index`, else after `table` moves past it.
pub(crate) async fn snapshot(api: &Api, table: Table, q: &QueryOptions) -> Snapshot {
    let state = api.server.state();
    if q.index == 0 {
        state.snapshot()
    } else {
        state.wait_table(table, q.index, q.wait).await
    }
}

/// A JSON answer with the query headers. An index of 0 is sent as 1, as Nomad does, so a
/// client that feeds it back blocks instead of spinning.
pub(crate) fn json<T: Serialize + ?Sized>(
    api: &Api,
    index: u64,
    body: &T,
    q: &QueryOptions,
) -> Result<Response, ApiError> {
    let bytes = if q.pretty {
        serde_json::to_vec_pretty(body)
    } else {
        serde_json::to_vec(body)
    }
    .map_err(|e| ApiError::Internal(format!("encoding the response: {e}")))?;
    let mut response = Response::new(Body::from(bytes));
    *response.status_mut() = StatusCode::OK;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(INDEX_HEADER, HeaderValue::from(index.max(1)));
    let known_leader = if api.server.leader().is_empty() {
        "false"
    } else {
        "true"
    };
    headers.insert(KNOWN_LEADER_HEADER, HeaderValue::from_static(known_leader));
    headers.insert(LAST_CONTACT_HEADER, HeaderValue::from_static("0"));
    Ok(response)
}

/// The `Index`, `LastContact` and `KnownLeader` members Nomad embeds in write responses.
#[derive(Debug, Clone, Copy, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct WriteMeta {
    pub index: u64,
    pub last_contact: u64,
    pub known_leader: bool,
}

impl WriteMeta {
    pub fn new(index: u64) -> Self {
        Self {
            index,
            last_contact: 0,
            known_leader: true,
        }
    }
}
