//! One scheduler run: reconcile, choose nodes, and write the plan and evaluations.

use std::collections::BTreeMap;

use caravan_model::{
    AllocId, AllocMetric, AllocUpdate, Allocation, Duration, EvalId, Evaluation, Job, JobType,
    Node, Plan, RescheduleEvent, RescheduleTracker,
};
use caravan_state::{DEFAULT_NAMESPACE, Snapshot};

use crate::decisions::{Decisions, PlaceRequest};
use crate::group_state::GroupState;
use crate::placer::{Placer, bump};
use crate::reconcile::{reconcile_generic, stop_all};
use crate::system::reconcile_system;
use crate::{Outcome, Rng, SchedContext, SchedError};

/// How long a rolling update waits between steps when `min_healthy_time` is unset
/// (Nomad's default for it).
const DEFAULT_MIN_HEALTHY_TIME: Duration = Duration::from_secs(10);

/// Runs the scheduler for one evaluation on a snapshot. Pure: the same snapshot,
/// evaluation and context give the same outcome.
///
/// The plan's allocations carry no `job` (the plan's `job` is the version they run, as
/// in Nomad's plans); the state store attaches it when committing.
pub fn process(snap: &Snapshot, eval: &Evaluation, ctx: &SchedContext) -> Outcome {
    match run(snap, eval, ctx) {
        Ok(outcome) => outcome,
        Err(e) => Outcome {
            plan: Plan {
                eval_id: eval.id.clone(),
                priority: eval.priority,
                ..Plan::default()
            },
            eval_update: Evaluation {
                status: "failed".to_owned(),
                status_description: e.to_string(),
                modify_time: ctx.now,
                ..eval.clone()
            },
            blocked: None,
            follow_ups: Vec::new(),
        },
    }
}

fn run(snap: &Snapshot, eval: &Evaluation, ctx: &SchedContext) -> Result<Outcome, SchedError> {
    if eval.job_id.is_empty() {
        return Err(SchedError::MissingJobId);
    }
    let namespace = if eval.namespace.is_empty() {
        DEFAULT_NAMESPACE
    } else {
        &eval.namespace
    };
    let job = snap.job(namespace, &eval.job_id);
    if let Some(job_type) = job.and_then(|j| j.job_type.as_deref())
        && JobType::parse(job_type).is_none()
    {
        return Err(SchedError::UnknownJobType {
            job_id: eval.job_id.clone(),
            job_type: job_type.to_owned(),
        });
    }
    let allocs: Vec<&Allocation> = snap
        .allocs_of_current_job(namespace, &eval.job_id)
        .collect();
    let mut rng = Rng::new(ctx.seed);
    let mut plan = Plan {
        eval_id: eval.id.clone(),
        priority: eval.priority,
        job: job.map(|j| Box::new(j.clone())),
        ..Plan::default()
    };

    let active = job.filter(|j| j.stop != Some(true));
    let mut placer = active.map(|j| Placer::new(snap, ctx, j, &mut rng));
    let decisions = match (active, placer.as_mut()) {
        (Some(j), _) if j.is_periodic() || j.is_parameterized() => Decisions::default(),
        (Some(j), Some(p)) if matches!(j.kind(), JobType::System | JobType::Sysbatch) => {
            reconcile_system(snap, j, &allocs, &p.position, &mut p.matcher)
        }
        (Some(j), _) => reconcile_generic(snap, j, &allocs, ctx.now),
        (None, _) => stop_all(&allocs),
    };

    for stop in &decisions.stops {
        plan.node_update
            .entry(stop.alloc.node_id.clone())
            .or_default()
            .push(AllocUpdate {
                alloc_id: stop.alloc.id.clone(),
                desired_status: "stop".to_owned(),
                desired_description: stop.description.to_owned(),
            });
    }
    for alloc in &decisions.in_place {
        let updated = Allocation {
            job: None,
            eval_id: eval.id.clone(),
            desired_description: String::new(),
            modify_time: ctx.now,
            ..Allocation::clone(alloc)
        };
        plan.node_allocation
            .entry(alloc.node_id.clone())
            .or_default()
            .push(updated);
    }

    let mut failed: BTreeMap<String, AllocMetric> = BTreeMap::new();
    // Every group is reported, 0 when all placed (or the job is stopped), so the job
    // summary's queued counts come back down.
    let mut queued: BTreeMap<String, u64> = job
        .iter()
        .flat_map(|j| &j.task_groups)
        .map(|g| (g.name.clone(), 0))
        .collect();
    if let (Some(job), Some(placer)) = (active, placer.as_mut()) {
        let stopped: Vec<&Allocation> = decisions.stops.iter().map(|s| s.alloc).collect();
        placer.begin(&stopped, &decisions.live);
        let placed = place_all(
            snap,
            ctx,
            eval,
            job,
            placer,
            &decisions,
            &mut failed,
            &mut queued,
        );
        for alloc in placed {
            plan.node_allocation
                .entry(alloc.node_id.clone())
                .or_default()
                .push(alloc);
        }
    }
    plan.failed_tg_allocs = failed.clone();

    let mut ids = rng.fork(3);
    let blocked = match active {
        Some(job) if !failed.is_empty() => {
            let mut blocked = derived_eval(eval, job, EvalId::from(ids.uuid()), ctx.now);
            blocked.status = "blocked".to_owned();
            blocked.triggered_by = "queued-allocs".to_owned();
            blocked.status_description = "created to place remaining allocations".to_owned();
            blocked.queued_allocations = queued.clone();
            Some(blocked)
        }
        _ => None,
    };
    let follow_ups = match active {
        Some(job) => follow_ups(snap, eval, job, ctx, &decisions, &mut ids),
        None => Vec::new(),
    };
    let eval_update = Evaluation {
        status: "complete".to_owned(),
        status_description: String::new(),
        failed_tg_allocs: failed,
        queued_allocations: queued,
        blocked_eval: blocked.as_ref().map(|b| b.id.clone()),
        next_eval: follow_ups.first().map(|f| f.id.clone()),
        modify_time: ctx.now,
        ..eval.clone()
    };
    Ok(Outcome {
        plan,
        eval_update,
        blocked,
        follow_ups,
    })
}

/// Chooses a node for every placement request, group by group. A group that fails once
/// does not try its other unpinned placements (they would fail the same way): they are
/// counted as coalesced failures.
#[allow(clippy::too_many_arguments)]
fn place_all<'a>(
    snap: &'a Snapshot,
    ctx: &SchedContext,
    eval: &Evaluation,
    job: &'a Job,
    placer: &mut Placer<'a>,
    decisions: &Decisions<'a>,
    failed: &mut BTreeMap<String, AllocMetric>,
    queued: &mut BTreeMap<String, u64>,
) -> Vec<Allocation> {
    let system = matches!(job.kind(), JobType::System | JobType::Sysbatch);
    let mut placed: Vec<Allocation> = Vec::new();
    for group in &job.task_groups {
        let requests: Vec<&PlaceRequest> = decisions
            .places
            .iter()
            .filter(|r| r.group.name == group.name)
            .collect();
        if requests.is_empty() {
            continue;
        }
        let live: Vec<&Allocation> = decisions
            .live
            .iter()
            .copied()
            .chain(placed.iter())
            .collect();
        let mut g = GroupState::new(snap, job, group, &placer.nodes, &placer.position, &live);
        g.anti_affinity = !system;
        let mut group_failure: Option<AllocMetric> = None;
        for req in requests {
            if req.node.is_none()
                && let Some(metric) = group_failure.as_mut()
            {
                metric.coalesced_failures += 1;
                *queued.entry(group.name.clone()).or_default() += 1;
                continue;
            }
            let mut metric = placer.new_metric();
            let chosen = match req.node {
                Some(idx) => placer.try_node(&mut g, idx, &mut metric).then_some(idx),
                None => {
                    let penalty = penalty_nodes(placer, req);
                    placer.select(&mut g, &penalty, &mut metric)
                }
            };
            let granted = chosen.and_then(|idx| match placer.commit(&mut g, idx) {
                Ok(resources) => Some((idx, resources)),
                Err(dimension) => {
                    metric.nodes_exhausted += 1;
                    bump(&mut metric.dimension_exhausted, dimension);
                    None
                }
            });
            match granted {
                Some((idx, resources)) => {
                    let node = placer.nodes[idx];
                    let id = placer.new_id();
                    placed.push(new_alloc(
                        id, eval, job, req, node, resources, metric, ctx.now,
                    ));
                }
                None => {
                    placer.add_pool_figures(&mut metric);
                    *queued.entry(group.name.clone()).or_default() += 1;
                    match group_failure.as_mut() {
                        Some(total) => merge(total, metric),
                        None => group_failure = Some(metric),
                    }
                }
            }
        }
        if let Some(metric) = group_failure {
            failed.insert(group.name.clone(), metric);
        }
    }
    placed
}

/// Nodes a rescheduled allocation should avoid: where its lineage failed before.
fn penalty_nodes(placer: &Placer<'_>, req: &PlaceRequest<'_>) -> Vec<usize> {
    let Some(prev) = req.previous.filter(|_| req.reschedule_delay.is_some()) else {
        return Vec::new();
    };
    let earlier = prev
        .reschedule_tracker
        .iter()
        .flat_map(|t| &t.events)
        .map(|e| &e.prev_node_id);
    std::iter::once(&prev.node_id)
        .chain(earlier)
        .filter_map(|id| placer.position.get(id.as_str()).copied())
        .collect()
}

/// Adds a failed placement's figures to the group's.
fn merge(total: &mut AllocMetric, more: AllocMetric) {
    total.nodes_evaluated += more.nodes_evaluated;
    total.nodes_filtered += more.nodes_filtered;
    total.nodes_exhausted += more.nodes_exhausted;
    for (k, v) in more.constraint_filtered {
        *total.constraint_filtered.entry(k).or_default() += v;
    }
    for (k, v) in more.dimension_exhausted {
        *total.dimension_exhausted.entry(k).or_default() += v;
    }
}

#[allow(clippy::too_many_arguments)]
fn new_alloc(
    id: String,
    eval: &Evaluation,
    job: &Job,
    req: &PlaceRequest<'_>,
    node: &Node,
    resources: caravan_model::AllocatedResources,
    metric: AllocMetric,
    now: i64,
) -> Allocation {
    let reschedule_tracker = req.reschedule_delay.zip(req.previous).map(|(delay, prev)| {
        let mut events = prev.reschedule_tracker.clone().unwrap_or_default().events;
        events.push(RescheduleEvent {
            reschedule_time: now,
            prev_alloc_id: prev.id.clone(),
            prev_node_id: prev.node_id.clone(),
            delay,
        });
        RescheduleTracker { events }
    });
    Allocation {
        id: AllocId::from(id),
        namespace: job
            .namespace
            .clone()
            .unwrap_or_else(|| DEFAULT_NAMESPACE.to_owned()),
        eval_id: eval.id.clone(),
        name: format!("{}.{}[{}]", job.id, req.group.name, req.index),
        node_id: node.id.clone(),
        node_name: node.name.clone(),
        job_id: job.id.clone(),
        job: None,
        task_group: req.group.name.clone(),
        allocated_resources: resources,
        desired_status: "run".to_owned(),
        client_status: "pending".to_owned(),
        previous_allocation: req.previous.map(|p| p.id.clone()),
        reschedule_tracker,
        metrics: Some(metric),
        create_time: now,
        modify_time: now,
        ..Allocation::default()
    }
}

/// A new evaluation for the same job, following `eval`.
fn derived_eval(eval: &Evaluation, job: &Job, id: EvalId, now: i64) -> Evaluation {
    Evaluation {
        id,
        namespace: eval.namespace.clone(),
        priority: eval.priority,
        eval_type: if eval.eval_type.is_empty() {
            job.kind().as_str().to_owned()
        } else {
            eval.eval_type.clone()
        },
        job_id: job.id.clone(),
        job_modify_index: job.job_modify_index.unwrap_or(0),
        status: "pending".to_owned(),
        previous_eval: Some(eval.id.clone()),
        create_time: now,
        modify_time: now,
        ..Evaluation::default()
    }
}

/// Evaluations for later: the earliest delayed reschedule, and the next step of a
/// rolling update. One already pending for the same purpose is not duplicated.
fn follow_ups(
    snap: &Snapshot,
    eval: &Evaluation,
    job: &Job,
    ctx: &SchedContext,
    decisions: &Decisions<'_>,
    ids: &mut Rng,
) -> Vec<Evaluation> {
    let namespace = job.namespace.as_deref().unwrap_or(DEFAULT_NAMESPACE);
    let pending: Vec<&Evaluation> = snap
        .evals_by_job(namespace, &job.id)
        .filter(|e| e.status == "pending" && e.id != eval.id)
        .collect();
    let mut out = Vec::new();
    if let Some(at) = decisions.reschedule_at
        && !pending.iter().any(|e| e.wait_until == Some(at))
    {
        let mut e = derived_eval(eval, job, EvalId::from(ids.uuid()), ctx.now);
        e.triggered_by = "alloc-failure".to_owned();
        e.status_description = "created for delayed rescheduling".to_owned();
        e.wait_until = Some(at);
        out.push(e);
    }
    if decisions.rolling && !pending.iter().any(|e| e.triggered_by == "rolling-update") {
        // Wait for the new allocations to prove healthy; never re-run at once, which
        // would spin while they start.
        let wait = job
            .task_groups
            .iter()
            .filter_map(|g| g.update.as_ref().or(job.update.as_ref()))
            .filter_map(|u| u.min_healthy_time)
            .map(|d| d.as_nanos())
            .max()
            .filter(|w| *w > 0)
            .unwrap_or(DEFAULT_MIN_HEALTHY_TIME.as_nanos());
        let mut e = derived_eval(eval, job, EvalId::from(ids.uuid()), ctx.now);
        e.triggered_by = "rolling-update".to_owned();
        e.status_description = "created to continue a rolling update".to_owned();
        e.wait_until = Some(ctx.now.saturating_add(wait));
        out.push(e);
    }
    out
}
