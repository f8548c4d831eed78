//! `PUT|POST /v1/validate/job`: the server's verdict on a job without registering it.
//! Problems are the answer, not an error: 200 with `ValidationErrors` filled, as Nomad.

use axum::body::Bytes;
use axum::extract::State;
use axum::response::Response;
use serde::Serialize;

use crate::error::one_line;
use crate::jobs::fill_namespace;
use crate::query::QueryOptions;
use crate::{Api, ApiError, blocking, body};

/// Nomad's `JobValidateResponse`.
#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
struct ValidateResponse {
    /// Drivers check their config on the client, when the task starts.
    driver_config_validated: bool,
    validation_errors: Vec<String>,
    /// Every problem on one line; empty when the job is valid.
    error: String,
    warnings: String,
}

pub(crate) async fn validate(
    State(api): State<Api>,
    q: QueryOptions,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    let mut request = body::object(&bytes)?;
    let mut job = body::take_job(&mut request)?;
    fill_namespace(&mut job, &q)?;
    job.canonicalize();
    let mut response = ValidateResponse::default();
    if let Err(errors) = job.validate() {
        response.validation_errors = errors.iter().map(ToString::to_string).collect();
        response.error = one_line(&errors.to_string());
    }
    let index = api.server.state().snapshot().latest_index();
    blocking::json(&api, index, &response, &q)
}
