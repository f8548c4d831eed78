//! `PUT|POST /v1/job/:id/plan`: what registering a job would do, without doing it.
//!
//! The server runs the scheduler on a scratch copy of the state; this module turns the
//! resulting plan into Nomad's per-group annotations (how many allocations would be
//! placed, stopped, updated in place or replaced, and how many left alone) and, with
//! `Diff`, the diff from the registered job.

use std::collections::{BTreeMap, BTreeSet};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::Response;
use caravan_model::{AllocId, AllocMetric, Allocation, Evaluation, Job, Plan};
use caravan_state::{Snapshot, Table};
use serde::Serialize;
use serde_json::Value;

use crate::blocking::{self, WriteMeta};
use crate::diff::{self, GroupUpdates};
use crate::jobs::{fill_namespace, namespace_of};
use crate::query::QueryOptions;
use crate::time::GO_ZERO_TIME;
use crate::{Api, ApiError, body};

/// What the plan would do to one group, in Nomad's `DesiredUpdates` shape.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct DesiredUpdates {
    pub ignore: u64,
    pub place: u64,
    pub migrate: u64,
    pub stop: u64,
    pub in_place_update: u64,
    pub destructive_update: u64,
    pub canary: u64,
    pub preemptions: u64,
    pub disconnect: u64,
    pub reconnect: u64,
    pub reschedule_now: u64,
    pub reschedule_later: u64,
}

impl DesiredUpdates {
    /// The counts as a job diff's `Updates`, under Nomad's names, zeros left out.
    fn as_diff_updates(&self) -> BTreeMap<&'static str, u64> {
        [
            ("ignore", self.ignore),
            ("create", self.place),
            ("destroy", self.stop),
            ("migrate", self.migrate),
            ("in-place update", self.in_place_update),
            ("create/destroy update", self.destructive_update),
            ("canary", self.canary),
            ("preemption", self.preemptions),
        ]
        .into_iter()
        .filter(|(_, n)| *n > 0)
        .collect()
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct PlanAnnotations {
    #[serde(rename = "DesiredTGUpdates")]
    desired_tg_updates: BTreeMap<String, DesiredUpdates>,
    preempted_allocs: Option<Vec<Value>>,
}

/// Nomad's `JobPlanResponse`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct PlanResponse {
    annotations: PlanAnnotations,
    #[serde(rename = "FailedTGAllocs")]
    failed_tg_allocs: Option<BTreeMap<String, AllocMetric>>,
    /// The registered job's modify index, for `job run -check-index`.
    job_modify_index: u64,
    created_evals: Option<Vec<Evaluation>>,
    diff: Option<Value>,
    next_periodic_launch: &'static str,
    warnings: String,
    #[serde(flatten)]
    meta: WriteMeta,
}

pub(crate) async fn plan(
    State(api): State<Api>,
    Path(id): Path<String>,
    q: QueryOptions,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    let mut request = body::object(&bytes)?;
    let mut job = body::take_job(&mut request)?;
    if job.id.as_str() != id {
        return Err(ApiError::bad_request(
            "job ID does not match the job ID in the URL",
        ));
    }
    fill_namespace(&mut job, &q)?;
    let want_diff = body::flag(&request, "Diff")?;
    let snap = api.server.state().snapshot();

    // The scheduler is CPU work: keep it off the request threads.
    let server = api.server.clone();
    let planned = job.clone();
    let (plan, eval) = tokio::task::spawn_blocking(move || server.plan_job(planned))
        .await
        .map_err(|e| ApiError::Internal(format!("planning failed: {e}")))??;

    job.canonicalize();
    let updates = desired_updates(&snap, &job, &plan);
    let registered = snap.job(namespace_of(&job), &job.id);
    let diff = want_diff.then(|| {
        let by_group: GroupUpdates = updates
            .iter()
            .map(|(g, u)| (g.clone(), u.as_diff_updates()))
            .collect();
        diff::job_diff(registered, Some(&job), Some(&by_group))
    });
    let mut failed = eval.failed_tg_allocs;
    for (group, metric) in plan.failed_tg_allocs {
        failed.entry(group).or_insert(metric);
    }
    let index = snap.index(Table::Jobs);
    let response = PlanResponse {
        annotations: PlanAnnotations {
            desired_tg_updates: updates,
            preempted_allocs: None,
        },
        failed_tg_allocs: (!failed.is_empty()).then_some(failed),
        job_modify_index: registered.and_then(|j| j.job_modify_index).unwrap_or(0),
        created_evals: None,
        diff,
        next_periodic_launch: GO_ZERO_TIME,
        warnings: String::new(),
        meta: WriteMeta::new(index),
    };
    blocking::json(&api, index, &response, &q)
}

/// Counts, per group, what `plan` does to the allocations `snap` holds for `job`:
/// new allocations are placements, unless they replace an allocation the plan stops
/// (same name, or named as the previous allocation), which makes both one destructive
/// update; existing allocations in the plan are in-place updates; other stops are
/// stops; live allocations the plan does not touch are ignored.
pub(crate) fn desired_updates(
    snap: &Snapshot,
    job: &Job,
    plan: &Plan,
) -> BTreeMap<String, DesiredUpdates> {
    let mut out: BTreeMap<String, DesiredUpdates> = job
        .task_groups
        .iter()
        .map(|g| (g.name.clone(), DesiredUpdates::default()))
        .collect();
    let stops: Vec<&Allocation> = plan
        .node_update
        .values()
        .flatten()
        .filter_map(|u| snap.alloc(&u.alloc_id))
        .collect();
    let mut unpaired: BTreeSet<&AllocId> = stops.iter().map(|a| &a.id).collect();
    let mut touched: BTreeSet<&AllocId> = unpaired.clone();

    for alloc in plan.node_allocation.values().flatten() {
        let group = out.entry(alloc.task_group.clone()).or_default();
        if snap.alloc(&alloc.id).is_some() {
            group.in_place_update += 1;
            touched.insert(&alloc.id);
            continue;
        }
        let replaced = alloc
            .previous_allocation
            .as_ref()
            .filter(|prev| unpaired.contains(prev))
            .or_else(|| {
                stops
                    .iter()
                    .find(|s| unpaired.contains(&s.id) && s.name == alloc.name)
                    .map(|s| &s.id)
            });
        match replaced {
            Some(prev) => {
                unpaired.remove(prev);
                group.destructive_update += 1;
            }
            None => group.place += 1,
        }
    }
    for stop in stops.iter().filter(|s| unpaired.contains(&s.id)) {
        out.entry(stop.task_group.clone()).or_default().stop += 1;
    }
    let live = snap
        .allocs_by_job(namespace_of(job), &job.id)
        .filter(|a| !a.is_terminal() && a.desired_status == "run" && !touched.contains(&a.id));
    for alloc in live {
        out.entry(alloc.task_group.clone()).or_default().ignore += 1;
    }
    out
}
