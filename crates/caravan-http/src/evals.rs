//! Evaluation routes: list, read, and the allocations an evaluation placed.

use axum::extract::{Path, State};
use axum::response::Response;
use caravan_model::Evaluation;
use caravan_state::Table;
use serde::Serialize;

use crate::blocking;
use crate::query::QueryOptions;
use crate::shapes::{AllocListStub, EvalStub};
use crate::{Api, ApiError, lookup};

/// `GET /v1/evaluations[?prefix=&namespace=&job=&status=]`.
pub(crate) async fn list(State(api): State<Api>, q: QueryOptions) -> Result<Response, ApiError> {
    let snap = blocking::snapshot(&api, Table::Evals, &q).await;
    let job = q.get("job").filter(|j| !j.is_empty());
    let status = q.get("status").filter(|s| !s.is_empty());
    let evals: Vec<&Evaluation> = snap
        .evals_by_prefix(&q.prefix)
        .filter(|e| q.in_namespace(&e.namespace))
        .filter(|e| job.is_none_or(|j| e.job_id.as_str() == j))
        .filter(|e| status.is_none_or(|s| e.status == s))
        .collect();
    blocking::json(&api, snap.index(Table::Evals), &evals, &q)
}

/// An evaluation with `?related=true`: the job's other evaluations as stubs.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct WithRelated<'a> {
    #[serde(flatten)]
    eval: &'a Evaluation,
    related_evals: Vec<EvalStub<'a>>,
}

/// `GET /v1/evaluation/:id[?related=true]`.
pub(crate) async fn read(
    State(api): State<Api>,
    Path(id): Path<String>,
    q: QueryOptions,
) -> Result<Response, ApiError> {
    let related = q.flag("related")?;
    let snap = blocking::snapshot(&api, Table::Evals, &q).await;
    let eval = lookup::eval(&snap, &id)?;
    let index = snap.index(Table::Evals);
    if !related {
        return blocking::json(&api, index, eval, &q);
    }
    let related_evals = snap
        .evals_by_job(&eval.namespace, &eval.job_id)
        .filter(|e| e.id != eval.id)
        .map(EvalStub::new)
        .collect();
    blocking::json(
        &api,
        index,
        &WithRelated {
            eval,
            related_evals,
        },
        &q,
    )
}

/// `GET /v1/evaluation/:id/allocations`: stubs of the allocations it created or updated.
pub(crate) async fn allocations(
    State(api): State<Api>,
    Path(id): Path<String>,
    q: QueryOptions,
) -> Result<Response, ApiError> {
    let snap = blocking::snapshot(&api, Table::Allocs, &q).await;
    let eval = lookup::eval(&snap, &id)?;
    let stubs: Vec<AllocListStub<'_>> = snap
        .allocs_by_eval(&eval.id)
        .map(|a| AllocListStub::new(a, false))
        .collect();
    blocking::json(&api, snap.index(Table::Allocs), &stubs, &q)
}
