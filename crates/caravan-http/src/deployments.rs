//! Deployments: Caravan rolls updates out without deployment objects, so a job has
//! none. These routes answer as Nomad does for a job without one, so that tools that
//! ask (`nomad job status`) carry on.

use axum::extract::{Path, State};
use axum::response::Response;
use caravan_state::Table;

use crate::query::QueryOptions;
use crate::{Api, ApiError, blocking};

/// `GET /v1/job/:id/deployment`: the latest deployment, `null`.
pub(crate) async fn latest(
    State(api): State<Api>,
    Path(_id): Path<String>,
    q: QueryOptions,
) -> Result<Response, ApiError> {
    let snap = blocking::snapshot(&api, Table::Jobs, &q).await;
    blocking::json(&api, snap.index(Table::Jobs), &serde_json::Value::Null, &q)
}

/// `GET /v1/job/:id/deployments`: `[]`.
pub(crate) async fn list(
    State(api): State<Api>,
    Path(_id): Path<String>,
    q: QueryOptions,
) -> Result<Response, ApiError> {
    let snap = blocking::snapshot(&api, Table::Jobs, &q).await;
    blocking::json(&api, snap.index(Table::Jobs), &[(); 0], &q)
}
