//! `PUT|POST /v1/jobs/parse`: a job file (HCL2 or JSON) to the API's job JSON, for
//! clients that do not parse HCL themselves. The server's file system is off limits to
//! the file's functions (`file()`, `fileset()`...).

use axum::body::Bytes;
use axum::extract::State;
use axum::response::Response;
use caravan_jobspec::{Diagnostics, ParseOptions, SourceFile};
use serde::Deserialize;

use crate::blocking;
use crate::query::QueryOptions;
use crate::{Api, ApiError, body};

/// The name parse errors give the submitted file.
const SOURCE_NAME: &str = "job.nomad.hcl";
const VARIABLES_NAME: &str = "variables.hcl";

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct ParseRequest {
    #[serde(rename = "JobHCL")]
    job_hcl: Option<String>,
    /// The content of a variables file.
    variables: Option<String>,
    canonicalize: Option<bool>,
}

pub(crate) async fn parse(
    State(api): State<Api>,
    q: QueryOptions,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    let request: ParseRequest = body::decode(&bytes)?;
    let text = request.job_hcl.unwrap_or_default();
    if text.trim().is_empty() {
        return Err(ApiError::bad_request("job spec is empty"));
    }
    let source = SourceFile {
        name: SOURCE_NAME.into(),
        text,
    };
    let var_files = request
        .variables
        .filter(|v| !v.trim().is_empty())
        .map(|text| SourceFile {
            name: VARIABLES_NAME.into(),
            text,
        })
        .into_iter()
        .collect();
    let opts = ParseOptions {
        var_files,
        allow_fs: false,
        ..ParseOptions::default()
    };
    let mut job = caravan_jobspec::parse(&source, &opts)
        .map_err(|d| ApiError::bad_request(format!("failed to parse job: {}", summarize(&d))))?;
    if request.canonicalize == Some(true) {
        job.canonicalize();
    }
    let index = api.server.state().snapshot().latest_index();
    blocking::json(&api, index, &job, &q)
}

/// Diagnostics on one line: `file:line:col: message; ...`.
fn summarize(diagnostics: &Diagnostics) -> String {
    let parts: Vec<String> = diagnostics
        .iter()
        .map(|d| {
            if d.line == 0 {
                format!("{}: {}", d.file, d.message)
            } else {
                format!("{}:{}:{}: {}", d.file, d.line, d.col, d.message)
            }
        })
        .collect();
    if parts.is_empty() {
        "unknown error".to_owned()
    } else {
        parts.join("; ")
    }
}
