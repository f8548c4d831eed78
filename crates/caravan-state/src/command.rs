//! Commands: every write to the store. Raft replicates exactly these, so each one carries
//! every timestamp and id it needs, and applying it reads nothing else.

use std::collections::BTreeMap;

use caravan_model::{
    AllocId, AllocNetworkStatus, AllocUpdate, Allocation, CheckStatus, EvalId, Evaluation,
    HealthStatus, Job, JobId, Node, NodeId, Plan, ServiceRegistration, TaskState,
};
use serde::{Deserialize, Serialize};

/// One write to the state store.
///
/// Besides what each command says, every command keeps the catalog derived from the
/// allocations: an allocation the command makes terminal or deletes (client update,
/// node down, plan stop, garbage collection), or whose job it purges, loses its service
/// registrations in the same command.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Command {
    /// Registers or updates a job. A changed spec becomes a new version; an unchanged one
    /// keeps its version. The evaluation, if any, is stored with the job's modify index.
    RegisterJob {
        job: Box<Job>,
        eval: Option<Evaluation>,
        submit_time: i64,
    },
    /// Stops a job (a new version with `Stop = true`) or, with `purge`, deletes it and
    /// its versions. Its allocations and evaluations stay until garbage collection.
    DeregisterJob {
        namespace: String,
        job_id: JobId,
        purge: bool,
        eval: Option<Evaluation>,
        now: i64,
    },
    /// Registers a node or updates its fingerprint. Eligibility and drain, which only
    /// operators change, are kept from the stored node.
    UpsertNode {
        node: Box<Node>,
    },
    /// Sets a node's status. `down` marks its unfinished allocations `lost`.
    UpdateNodeStatus {
        node_id: NodeId,
        status: String,
        now: i64,
        evals: Vec<Evaluation>,
    },
    UpdateNodeEligibility {
        node_id: NodeId,
        eligible: bool,
        evals: Vec<Evaluation>,
    },
    /// Starts (node becomes ineligible) or ends (node becomes eligible) a drain.
    UpdateNodeDrain {
        node_id: NodeId,
        drain: bool,
        evals: Vec<Evaluation>,
    },
    UpsertEvals {
        evals: Vec<Evaluation>,
    },
    /// Commits a plan the plan applier has checked.
    ApplyPlanResult(Box<PlanResult>),
    /// What clients report about their allocations. Updates for allocations that no
    /// longer exist (garbage collected) are skipped.
    UpdateAllocsFromClient {
        updates: Vec<AllocClientUpdate>,
        evals: Vec<Evaluation>,
        now: i64,
    },
    /// Stops one allocation (`alloc stop`); the evaluation lets the scheduler replace it.
    StopAlloc {
        alloc_id: AllocId,
        description: String,
        eval: Option<Evaluation>,
        now: i64,
    },
    /// Garbage collection. Allocations that are not terminal and evaluations that are
    /// pending or blocked are skipped.
    DeleteEvalsAndAllocs {
        evals: Vec<EvalId>,
        allocs: Vec<AllocId>,
    },
    /// Creates or replaces service registrations, health and checks included; a
    /// replaced one keeps its create index (and its maintenance check, if the new one
    /// has none). Agent registrations (no allocation, see
    /// [`ServiceRegistration::is_agent_owned`]) need a node that exists and keep out
    /// of the allocation rules below. Registrations of an allocation that is gone
    /// or terminal, or whose job was purged, are skipped, so the catalog never holds an
    /// instance of a stopped allocation. Namespace, job and node come from the allocation when left empty
    /// (and must match it otherwise), the datacenter from its node.
    UpsertServiceRegistrations {
        regs: Vec<ServiceRegistration>,
    },
    /// Deletes registrations by id; unknown ids are skipped.
    DeleteServiceRegistrations {
        ids: Vec<String>,
    },
    /// Deletes every registration of the allocations.
    DeleteServicesByAlloc {
        alloc_ids: Vec<AllocId>,
    },
    /// Registers a service through the Consul agent API: an agent registration,
    /// owned by its node (see [`ServiceRegistration::is_agent_owned`]), which must
    /// exist. Re-registering keeps, for each check of the same `CheckID`, its status,
    /// output and TTL clock; the checks the new definition leaves out are kept unless
    /// `replace_existing_checks`, and a maintenance check is always kept. The health
    /// is the worst of the checks.
    RegisterAgentService {
        reg: Box<ServiceRegistration>,
        replace_existing_checks: bool,
    },
    /// Adds one check to a registration, or replaces the one with its `CheckID`.
    UpsertServiceCheck {
        service_id: String,
        check: Box<CheckStatus>,
    },
    /// Removes one check (by Consul check id) from a registration.
    DeleteServiceCheck {
        service_id: String,
        check_id: String,
    },
    /// Sets one check's status and output (Consul's pass, warn and fail); a TTL
    /// check's clock restarts at `now`.
    UpdateServiceCheck {
        service_id: String,
        check_id: String,
        status: HealthStatus,
        output: String,
        now: i64,
    },
    /// Turns critical the TTL checks, given as (registration id, check id), that are
    /// still expired at `now`; those updated since they were found are skipped.
    ExpireTtlChecks {
        checks: Vec<(String, String)>,
        now: i64,
    },
    /// Sets a key. With `cas`, only if the key's modify index is that number, 0
    /// meaning "only if absent"; [`ApplyOutcome::kv_applied`] says whether it did.
    ///
    /// [`ApplyOutcome::kv_applied`]: crate::ApplyOutcome::kv_applied
    KvSet {
        key: String,
        value: Vec<u8>,
        flags: u64,
        cas: Option<u64>,
    },
    /// Deletes a key, or with `recurse` every key starting with it (then `cas` is
    /// ignored, as in Consul). With `cas`, only if the key's modify index is that
    /// number (a missing key counts as deleted).
    KvDelete {
        key: String,
        recurse: bool,
        cas: Option<u64>,
    },
}

/// A plan, as committed: stops, placements and in-place updates, plus the evaluations
/// the scheduler produced (its updated evaluation, a blocked one, follow-ups).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PlanResult {
    pub eval_id: EvalId,
    /// The job version the placed allocations run; attached to each of them that does
    /// not carry one, as plans leave it out.
    pub job: Option<Job>,
    pub node_update: BTreeMap<NodeId, Vec<AllocUpdate>>,
    pub node_allocation: BTreeMap<NodeId, Vec<Allocation>>,
    pub evals: Vec<Evaluation>,
    /// Unix nanoseconds.
    pub now: i64,
}

impl PlanResult {
    /// The result of committing `plan` whole.
    pub fn from_plan(plan: Plan, evals: Vec<Evaluation>, now: i64) -> Self {
        Self {
            eval_id: plan.eval_id,
            job: plan.job.map(|job| *job),
            node_update: plan.node_update,
            node_allocation: plan.node_allocation,
            evals,
            now,
        }
    }
}

/// A client's report about one allocation.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AllocClientUpdate {
    pub alloc_id: AllocId,
    /// Empty keeps the stored status.
    pub client_status: String,
    pub client_description: String,
    pub task_states: BTreeMap<String, TaskState>,
    pub network_status: Option<AllocNetworkStatus>,
}
