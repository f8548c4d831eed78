//! Job routes: list, register, read, stop, and the job's allocations, evaluations,
//! versions and summary.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::Response;
use caravan_model::{Job, JobId};
use caravan_server::JobRegistration;
use caravan_state::{DEFAULT_NAMESPACE, Snapshot, Table};
use serde::Serialize;
use serde_json::Value;

use crate::blocking::{self, WriteMeta};
use crate::query::QueryOptions;
use crate::shapes::{AllocListStub, JobListStub};
use crate::{Api, ApiError, body, diff};

/// `GET /v1/jobs`: job stubs with their summaries, by namespace then id.
pub(crate) async fn list(State(api): State<Api>, q: QueryOptions) -> Result<Response, ApiError> {
    // Stubs carry status and summary, which move with allocations and evaluations too.
    let snap = blocking::snapshot(&api, Table::JobSummaries, &q).await;
    let with_meta = q.flag("meta")?;
    let stubs: Vec<JobListStub<'_>> = jobs_matching(&snap, &q)
        .map(|job| {
            let summary = snap.job_summary(namespace_of(job), &job.id);
            JobListStub::new(job, summary, with_meta)
        })
        .collect();
    blocking::json(&api, snap.index(Table::JobSummaries), &stubs, &q)
}

fn jobs_matching<'a>(
    snap: &'a Snapshot,
    q: &'a QueryOptions,
) -> Box<dyn Iterator<Item = &'a Job> + 'a> {
    if q.all_namespaces() {
        Box::new(snap.jobs().filter(|j| j.id.as_str().starts_with(&q.prefix)))
    } else {
        Box::new(snap.jobs_by_prefix(&q.namespace, &q.prefix))
    }
}

pub(crate) fn namespace_of(job: &Job) -> &str {
    job.namespace
        .as_deref()
        .filter(|ns| !ns.is_empty())
        .unwrap_or(DEFAULT_NAMESPACE)
}

/// `PUT|POST /v1/jobs`: registers the job in the body.
pub(crate) async fn register(
    State(api): State<Api>,
    q: QueryOptions,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    register_job(&api, &q, None, &bytes).await
}

/// `PUT|POST /v1/job/:id`: the same, where the body's job must be the one in the URL.
pub(crate) async fn register_at(
    State(api): State<Api>,
    Path(id): Path<String>,
    q: QueryOptions,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    register_job(&api, &q, Some(&id), &bytes).await
}

/// Nomad's `JobRegisterResponse`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct RegisterResponse {
    #[serde(rename = "EvalID")]
    eval_id: String,
    eval_create_index: u64,
    job_modify_index: u64,
    warnings: String,
    #[serde(flatten)]
    meta: WriteMeta,
}

impl From<JobRegistration> for RegisterResponse {
    fn from(r: JobRegistration) -> Self {
        Self {
            eval_id: r.eval_id.unwrap_or_default(),
            eval_create_index: r.eval_create_index,
            job_modify_index: r.job_modify_index,
            warnings: r.warnings,
            meta: WriteMeta::new(r.index),
        }
    }
}

async fn register_job(
    api: &Api,
    q: &QueryOptions,
    path_id: Option<&str>,
    bytes: &[u8],
) -> Result<Response, ApiError> {
    let mut request = body::object(bytes)?;
    let mut job = body::take_job(&mut request)?;
    if path_id.is_some_and(|id| id != job.id.as_str()) {
        return Err(ApiError::bad_request(
            "job ID does not match the job ID in the URL",
        ));
    }
    fill_namespace(&mut job, q)?;
    if body::flag(&request, "EnforceIndex")? {
        let want = request
            .get("JobModifyIndex")
            .and_then(Value::as_u64)
            .unwrap_or(0);
        let snap = api.server.state().snapshot();
        enforce_index(snap.job(namespace_of(&job), &job.id), want)?;
    }
    let registration = api.server.register_job(job).await?;
    let index = registration.index;
    blocking::json(api, index, &RegisterResponse::from(registration), q)
}

/// A job without a namespace goes in the request's.
pub(crate) fn fill_namespace(job: &mut Job, q: &QueryOptions) -> Result<(), ApiError> {
    if job.namespace.as_deref().is_none_or(str::is_empty) {
        job.namespace = Some(q.single_namespace()?.to_owned());
    }
    Ok(())
}

/// `EnforceIndex`: register only if the job's modify index is the one the caller saw
/// (0: only if the job does not exist yet).
fn enforce_index(current: Option<&Job>, want: u64) -> Result<(), ApiError> {
    let have = current.map(|j| j.job_modify_index.unwrap_or(0));
    match (have, want) {
        (None, 0) => Ok(()),
        (None, want) => Err(ApiError::bad_request(format!(
            "enforcing job modify index {want}: job does not exist"
        ))),
        (Some(_), 0) => Err(ApiError::bad_request(
            "enforcing job modify index 0: job already exists",
        )),
        (Some(have), want) if have != want => Err(ApiError::bad_request(format!(
            "enforcing job modify index {want}: job exists with conflicting job modify index: {have}"
        ))),
        (Some(_), _) => Ok(()),
    }
}

/// `GET /v1/job/:id`.
pub(crate) async fn read(
    State(api): State<Api>,
    Path(id): Path<String>,
    q: QueryOptions,
) -> Result<Response, ApiError> {
    let ns = q.single_namespace()?;
    let snap = blocking::snapshot(&api, Table::Jobs, &q).await;
    let job = snap
        .job(ns, &JobId::from(id))
        .ok_or_else(|| ApiError::not_found("job"))?;
    blocking::json(&api, snap.index(Table::Jobs), job, &q)
}

/// Nomad's `JobDeregisterResponse`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct DeregisterResponse {
    #[serde(rename = "EvalID")]
    eval_id: String,
    eval_create_index: u64,
    job_modify_index: u64,
    #[serde(flatten)]
    meta: WriteMeta,
}

/// `DELETE /v1/job/:id[?purge=true]`: stops the job, or deletes it with `purge`.
pub(crate) async fn deregister(
    State(api): State<Api>,
    Path(id): Path<String>,
    q: QueryOptions,
) -> Result<Response, ApiError> {
    let ns = q.single_namespace()?;
    let purge = q.flag("purge")?;
    let id = JobId::from(id);
    if api.server.state().snapshot().job(ns, &id).is_none() {
        return Err(ApiError::not_found("job"));
    }
    let r = api.server.deregister_job(ns, &id, purge).await?;
    let response = DeregisterResponse {
        eval_id: r.eval_id.unwrap_or_default(),
        eval_create_index: r.eval_create_index,
        job_modify_index: r.job_modify_index,
        meta: WriteMeta::new(r.index),
    };
    blocking::json(&api, r.index, &response, &q)
}

/// `PUT|POST /v1/job/:id/evaluate`: a new evaluation of the job as it is.
pub(crate) async fn evaluate(
    State(api): State<Api>,
    Path(id): Path<String>,
    q: QueryOptions,
) -> Result<Response, ApiError> {
    let ns = q.single_namespace()?;
    let id = JobId::from(id);
    if api.server.state().snapshot().job(ns, &id).is_none() {
        return Err(ApiError::not_found("job"));
    }
    let r = api.server.evaluate_job(ns, &id).await?;
    let index = r.index;
    blocking::json(&api, index, &RegisterResponse::from(r), &q)
}

/// `GET /v1/job/:id/allocations`: stubs of every allocation of the job. Like Nomad, an
/// unknown job has none rather than a 404.
pub(crate) async fn allocations(
    State(api): State<Api>,
    Path(id): Path<String>,
    q: QueryOptions,
) -> Result<Response, ApiError> {
    let ns = q.single_namespace()?;
    let with_resources = q.flag("resources")?;
    // `?all=true` adds the allocations of earlier jobs of the same id (purged, then
    // registered again), as in Nomad.
    let all = q.flag("all")?;
    let snap = blocking::snapshot(&api, Table::Allocs, &q).await;
    let id = JobId::from(id);
    let allocs: Vec<&caravan_model::Allocation> = if all {
        snap.allocs_by_job(ns, &id).collect()
    } else {
        snap.allocs_of_current_job(ns, &id).collect()
    };
    let stubs: Vec<AllocListStub<'_>> = allocs
        .into_iter()
        .map(|a| AllocListStub::new(a, with_resources))
        .collect();
    blocking::json(&api, snap.index(Table::Allocs), &stubs, &q)
}

/// `GET /v1/job/:id/evaluations`: the job's evaluations ([] for an unknown job, as Nomad).
pub(crate) async fn evaluations(
    State(api): State<Api>,
    Path(id): Path<String>,
    q: QueryOptions,
) -> Result<Response, ApiError> {
    let ns = q.single_namespace()?;
    let snap = blocking::snapshot(&api, Table::Evals, &q).await;
    let evals: Vec<_> = snap.evals_by_job(ns, &JobId::from(id)).collect();
    blocking::json(&api, snap.index(Table::Evals), &evals, &q)
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct VersionsResponse<'a> {
    versions: Vec<&'a Job>,
    /// With `?diffs=true`: `Diffs[i]` goes from `Versions[i+1]` to `Versions[i]`.
    diffs: Option<Vec<Value>>,
    #[serde(flatten)]
    meta: WriteMeta,
}

/// `GET /v1/job/:id/versions[?diffs=true]`: the kept versions, newest first.
pub(crate) async fn versions(
    State(api): State<Api>,
    Path(id): Path<String>,
    q: QueryOptions,
) -> Result<Response, ApiError> {
    let ns = q.single_namespace()?;
    let with_diffs = q.flag("diffs")?;
    let snap = blocking::snapshot(&api, Table::Jobs, &q).await;
    let versions = snap.job_versions(ns, &JobId::from(id));
    if versions.is_empty() {
        return Err(ApiError::not_found("job versions"));
    }
    let diffs = with_diffs.then(|| {
        versions
            .windows(2)
            .map(|pair| diff::job_diff(Some(pair[1]), Some(pair[0]), None))
            .collect()
    });
    let index = snap.index(Table::Jobs);
    let response = VersionsResponse {
        versions,
        diffs,
        meta: WriteMeta::new(index),
    };
    blocking::json(&api, index, &response, &q)
}

/// `GET /v1/job/:id/summary`: allocation counts per group.
pub(crate) async fn summary(
    State(api): State<Api>,
    Path(id): Path<String>,
    q: QueryOptions,
) -> Result<Response, ApiError> {
    let ns = q.single_namespace()?;
    let snap = blocking::snapshot(&api, Table::JobSummaries, &q).await;
    let summary = snap
        .job_summary(ns, &JobId::from(id))
        .ok_or_else(|| ApiError::not_found("job"))?;
    blocking::json(&api, snap.index(Table::JobSummaries), &summary, &q)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enforce_index_rules() {
        let job = Job {
            job_modify_index: Some(7),
            ..Job::default()
        };
        assert!(enforce_index(None, 0).is_ok());
        assert!(enforce_index(None, 3).is_err());
        assert!(enforce_index(Some(&job), 0).is_err());
        assert!(enforce_index(Some(&job), 6).is_err());
        assert!(enforce_index(Some(&job), 7).is_ok());
    }
}
