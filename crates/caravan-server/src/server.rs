//! The server's API: what the HTTP layer and clients call.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use caravan_model::{AllocId, Evaluation, Job, JobId, JobType, Node, NodeId, Plan};
use caravan_scheduler::SchedContext;
use caravan_state::{
    AllocClientUpdate, ApplyOutcome, Command, DEFAULT_NAMESPACE, Snapshot, StateStore,
};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::blocked::BlockedEvals;
use crate::broker::EvalBroker;
use crate::heartbeat::HeartbeatMonitor;
use crate::planner::{PlanApplied, PlanRequest};
use crate::{Clock, ClusterView, CommandLog, ServerConfig, ServerError, StateHandle, new_uuid};

/// What registering (or stopping) a job answered, in Nomad's `JobRegisterResponse` terms.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobRegistration {
    pub eval_id: Option<String>,
    pub eval_create_index: u64,
    pub job_modify_index: u64,
    pub index: u64,
    pub warnings: String,
}

/// The server: owns the broker, the workers, the plan applier and heartbeats. Every
/// server of a cluster answers reads and turns requests into commands; only the
/// leader runs the broker, the workers, the plan applier and the timers
/// ([`Server::set_leader`]).
#[derive(Debug)]
pub struct Server {
    config: ServerConfig,
    state: StateHandle,
    log: Arc<dyn CommandLog>,
    clock: Arc<dyn Clock>,
    cluster: Arc<dyn ClusterView>,
    pub(crate) broker: EvalBroker,
    blocked: BlockedEvals,
    heartbeats: HeartbeatMonitor,
    leader: AtomicBool,
    /// The plan applier's queue, while this server leads.
    plans: Mutex<Option<mpsc::Sender<PlanRequest>>>,
    /// The loops that run while this server leads, aborted when it stops leading.
    leader_tasks: Mutex<Vec<JoinHandle<()>>>,
}

impl Server {
    pub fn new(
        config: ServerConfig,
        state: StateHandle,
        log: Arc<dyn CommandLog>,
        clock: Arc<dyn Clock>,
    ) -> Arc<Self> {
        let cluster = Arc::new(crate::cluster::Solo(config.rpc_addr.clone()));
        Self::with_cluster(config, state, log, clock, cluster)
    }

    /// A server of a cluster: `cluster` tells who leads and who the peers are.
    pub fn with_cluster(
        config: ServerConfig,
        state: StateHandle,
        log: Arc<dyn CommandLog>,
        clock: Arc<dyn Clock>,
        cluster: Arc<dyn ClusterView>,
    ) -> Arc<Self> {
        Arc::new(Self {
            config,
            state,
            log,
            clock,
            cluster,
            broker: EvalBroker::default(),
            blocked: BlockedEvals::default(),
            heartbeats: HeartbeatMonitor::default(),
            leader: AtomicBool::new(false),
            plans: Mutex::new(None),
            leader_tasks: Mutex::new(Vec::new()),
        })
    }

    /// Runs as the leader from now on (dev mode and single servers). Call once,
    /// inside a tokio runtime.
    pub fn start(self: &Arc<Self>) {
        self.set_leader(true);
    }

    /// Whether this server leads: only the leader schedules and keeps the timers.
    pub fn is_leader(&self) -> bool {
        self.leader.load(Ordering::SeqCst)
    }

    /// Takes up or gives up leadership. Taking it re-queues the evaluations the state
    /// holds and gives every live node a fresh heartbeat deadline (a newly elected
    /// server picks up the work), then starts the workers, the plan applier and the
    /// timer loop; giving it up stops them and forgets the queues, which the next
    /// leader rebuilds from the replicated state. Call inside a tokio runtime.
    pub fn set_leader(self: &Arc<Self>, leader: bool) {
        let mut tasks = self.leader_tasks.lock().unwrap_or_else(|e| e.into_inner());
        if self.leader.swap(leader, Ordering::SeqCst) == leader {
            return;
        }
        for task in tasks.drain(..) {
            task.abort();
        }
        *self.plans.lock().unwrap_or_else(|e| e.into_inner()) = None;
        self.broker.clear();
        self.blocked.unblock_all();
        self.heartbeats.clear();
        if !leader {
            tracing::info!("no longer the leader: scheduling stopped");
            return;
        }
        let (plans, plan_rx) = mpsc::channel(64);
        *self.plans.lock().unwrap_or_else(|e| e.into_inner()) = Some(plans);
        let snap = self.state.snapshot();
        let now = self.now();
        for eval in snap.evals() {
            match eval.status.as_str() {
                "pending" => self.broker.enqueue(eval.clone(), now),
                "blocked" => {
                    self.blocked.block(eval.clone());
                }
                _ => {}
            }
        }
        let ttl = self.heartbeat_deadline();
        for node in snap.nodes().filter(|n| n.status != "down") {
            self.heartbeats
                .reset(&node.id, ttl, tokio::time::Instant::now());
        }
        tasks.push(tokio::spawn(crate::planner::run(self.clone(), plan_rx)));
        for _ in 0..self.config.num_workers.max(1) {
            tasks.push(tokio::spawn(crate::worker::run(self.clone())));
        }
        tasks.push(tokio::spawn(self.clone().timers()));
        tracing::info!("leading: scheduling started");
    }

    pub fn config(&self) -> &ServerConfig {
        &self.config
    }

    pub fn state(&self) -> &StateHandle {
        &self.state
    }

    pub fn now(&self) -> i64 {
        self.clock.now()
    }

    /// The leader's RPC address; empty while there is none.
    pub fn leader(&self) -> String {
        self.cluster.leader().unwrap_or_default()
    }

    /// The RPC addresses of the servers that vote.
    pub fn peers(&self) -> Vec<String> {
        self.cluster.peers()
    }

    /// The cluster: its members, and the operator's actions on it.
    pub fn cluster(&self) -> &dyn ClusterView {
        self.cluster.as_ref()
    }

    /// How many evaluations wait in the broker and how many are blocked.
    pub fn queue_depths(&self) -> (usize, usize) {
        (self.broker.len(), self.blocked.len())
    }

    // ---- jobs ----

    /// Canonicalizes, validates and registers a job, with an evaluation to place it.
    pub async fn register_job(&self, mut job: Job) -> Result<JobRegistration, ServerError> {
        job.canonicalize();
        job.validate()?;
        job.submit_time = Some(self.now());
        let namespace = job
            .namespace
            .clone()
            .unwrap_or_else(|| DEFAULT_NAMESPACE.into());
        let eval = (!job.is_periodic() && !job.is_parameterized())
            .then(|| self.new_eval(&job, "job-register", None));
        if let Some(old) = self.blocked.remove_job(&namespace, &job.id) {
            self.cancel(old).await?;
        }
        let eval_id = eval.as_ref().map(|e| e.id.0.clone());
        let outcome = self
            .commit(Command::RegisterJob {
                job: Box::new(job),
                eval,
                submit_time: self.now(),
            })
            .await?;
        Ok(JobRegistration {
            eval_id,
            eval_create_index: outcome.index,
            job_modify_index: outcome.index,
            index: outcome.index,
            warnings: String::new(),
        })
    }

    /// Stops a job (or, with `purge`, deletes it), with an evaluation to stop its allocations.
    pub async fn deregister_job(
        &self,
        namespace: &str,
        job_id: &JobId,
        purge: bool,
    ) -> Result<JobRegistration, ServerError> {
        let snap = self.state.snapshot();
        let job = snap
            .job(namespace, job_id)
            .ok_or_else(|| ServerError::NotFound(format!("job {job_id:?}")))?;
        let eval = self.new_eval(job, "job-deregister", None);
        if let Some(old) = self.blocked.remove_job(namespace, job_id) {
            self.cancel(old).await?;
        }
        let eval_id = eval.id.0.clone();
        let outcome = self
            .commit(Command::DeregisterJob {
                namespace: namespace.to_owned(),
                job_id: job_id.clone(),
                purge,
                eval: Some(eval),
                now: self.now(),
            })
            .await?;
        Ok(JobRegistration {
            eval_id: Some(eval_id),
            eval_create_index: outcome.index,
            job_modify_index: outcome.index,
            index: outcome.index,
            warnings: String::new(),
        })
    }

    /// Creates an evaluation for a registered job (`job eval`).
    pub async fn evaluate_job(
        &self,
        namespace: &str,
        job_id: &JobId,
    ) -> Result<JobRegistration, ServerError> {
        let snap = self.state.snapshot();
        let job = snap
            .job(namespace, job_id)
            .ok_or_else(|| ServerError::NotFound(format!("job {job_id:?}")))?;
        let eval = self.new_eval(job, "job-eval", None);
        let eval_id = eval.id.0.clone();
        let outcome = self
            .commit(Command::UpsertEvals { evals: vec![eval] })
            .await?;
        Ok(JobRegistration {
            eval_id: Some(eval_id),
            eval_create_index: outcome.index,
            index: outcome.index,
            ..JobRegistration::default()
        })
    }

    /// What registering `job` would do, without doing it: the scheduler's plan run on
    /// a copy of the current state with the job in it.
    pub fn plan_job(&self, mut job: Job) -> Result<(Plan, Evaluation), ServerError> {
        job.canonicalize();
        job.validate()?;
        let snap = self.state.snapshot();
        let mut scratch = StateStore::from_snapshot(snap);
        let eval = self.new_eval(&job, "job-register", None);
        let index = scratch.latest_index() + 1;
        scratch.apply(
            index,
            Command::RegisterJob {
                job: Box::new(job),
                eval: Some(eval.clone()),
                submit_time: self.now(),
            },
        )?;
        let snap = scratch.snapshot();
        let stored = snap.eval(&eval.id).cloned().unwrap_or(eval);
        let outcome = caravan_scheduler::process(&snap, &stored, &self.sched_context());
        Ok((outcome.plan, outcome.eval_update))
    }

    // ---- allocations ----

    /// Stops one allocation; the scheduler then replaces it if its job still wants it.
    pub async fn stop_alloc(&self, alloc_id: &AllocId) -> Result<JobRegistration, ServerError> {
        let snap = self.state.snapshot();
        let alloc = snap
            .alloc(alloc_id)
            .ok_or_else(|| ServerError::NotFound(format!("allocation {alloc_id}")))?;
        let job = snap
            .job(&alloc.namespace, &alloc.job_id)
            .or(alloc.job.as_deref());
        let eval = job.map(|job| self.new_eval(job, "alloc-stop", None));
        let eval_id = eval.as_ref().map(|e| e.id.0.clone());
        let outcome = self
            .commit(Command::StopAlloc {
                alloc_id: alloc_id.clone(),
                description: "alloc was stopped by the user".into(),
                eval,
                now: self.now(),
            })
            .await?;
        Ok(JobRegistration {
            eval_id,
            eval_create_index: outcome.index,
            index: outcome.index,
            ..Default::default()
        })
    }

    /// A client's report on its allocations. Allocations that failed get an
    /// evaluation so the scheduler can reschedule them.
    pub async fn update_allocs(&self, updates: Vec<AllocClientUpdate>) -> Result<u64, ServerError> {
        let snap = self.state.snapshot();
        let mut jobs_to_eval = BTreeSet::new();
        for update in &updates {
            let Some(alloc) = snap.alloc(&update.alloc_id) else {
                continue;
            };
            if update.client_status == "failed"
                && alloc.client_status != "failed"
                && alloc.desired_status == "run"
            {
                jobs_to_eval.insert((alloc.namespace.clone(), alloc.job_id.clone()));
            }
        }
        let evals = jobs_to_eval
            .iter()
            .filter_map(|(ns, id)| snap.job(ns, id))
            .map(|job| self.new_eval(job, "alloc-failure", None))
            .collect();
        let frees_capacity = updates
            .iter()
            .any(|u| matches!(u.client_status.as_str(), "complete" | "failed" | "lost"));
        let outcome = self
            .commit(Command::UpdateAllocsFromClient {
                updates,
                evals,
                now: self.now(),
            })
            .await?;
        if frees_capacity {
            self.unblock().await?;
        }
        Ok(outcome.index)
    }

    // ---- nodes ----

    /// Registers a node (or updates its fingerprint) and starts its heartbeat clock.
    /// Returns the heartbeat TTL the client must keep.
    pub async fn register_node(&self, mut node: Node) -> Result<(Duration, u64), ServerError> {
        if node.id.is_empty() {
            return Err(ServerError::BadRequest("node has no id".into()));
        }
        if node.status.is_empty() {
            node.status = "ready".into();
        }
        let node_id = node.id.clone();
        let snap = self.state.snapshot();
        let previous = snap.node(&node_id);
        let was_ready = previous.is_some_and(Node::is_ready);
        let changed = previous.is_some_and(|old| fingerprint_changed(old, &node));
        let ready = node.is_ready();
        let outcome = self
            .commit(Command::UpsertNode {
                node: Box::new(node),
            })
            .await?;
        self.heartbeats.reset(
            &node_id,
            self.heartbeat_deadline(),
            tokio::time::Instant::now(),
        );
        if ready && !was_ready {
            self.node_became_available(&node_id).await?;
        } else if ready && changed {
            // What the node offers changed (e.g. a host port was freed): what was
            // blocked may fit now.
            self.unblock().await?;
        }
        Ok((self.config.heartbeat_ttl, outcome.index))
    }

    /// A heartbeat. A node that was down comes back as ready.
    pub async fn heartbeat(&self, node_id: &NodeId) -> Result<Duration, ServerError> {
        let snap = self.state.snapshot();
        let node = snap
            .node(node_id)
            .ok_or_else(|| ServerError::NotFound(format!("node {node_id}")))?;
        self.heartbeats.reset(
            node_id,
            self.heartbeat_deadline(),
            tokio::time::Instant::now(),
        );
        if !node.is_ready() {
            self.commit(Command::UpdateNodeStatus {
                node_id: node_id.clone(),
                status: "ready".into(),
                now: self.now(),
                evals: Vec::new(),
            })
            .await?;
            self.node_became_available(node_id).await?;
        }
        Ok(self.config.heartbeat_ttl)
    }

    /// Marks a node down: its allocations are lost and their jobs re-evaluated.
    pub async fn mark_node_down(&self, node_id: &NodeId) -> Result<u64, ServerError> {
        let snap = self.state.snapshot();
        let evals = self.evals_for_node_jobs(&snap, node_id, "node-update");
        let outcome = self
            .commit(Command::UpdateNodeStatus {
                node_id: node_id.clone(),
                status: "down".into(),
                now: self.now(),
                evals,
            })
            .await?;
        Ok(outcome.index)
    }

    pub async fn set_node_eligibility(
        &self,
        node_id: &NodeId,
        eligible: bool,
    ) -> Result<u64, ServerError> {
        let outcome = self
            .commit(Command::UpdateNodeEligibility {
                node_id: node_id.clone(),
                eligible,
                evals: Vec::new(),
            })
            .await?;
        if eligible {
            self.node_became_available(node_id).await?;
        }
        Ok(outcome.index)
    }

    /// Starts or ends a drain: draining moves the node's allocations elsewhere.
    pub async fn set_node_drain(&self, node_id: &NodeId, drain: bool) -> Result<u64, ServerError> {
        let snap = self.state.snapshot();
        let evals = if drain {
            self.evals_for_node_jobs(&snap, node_id, "node-drain")
        } else {
            Vec::new()
        };
        let outcome = self
            .commit(Command::UpdateNodeDrain {
                node_id: node_id.clone(),
                drain,
                evals,
            })
            .await?;
        if !drain {
            self.node_became_available(node_id).await?;
        }
        Ok(outcome.index)
    }

    // ---- internals ----

    /// Commits a command, then, on the leader, hands the evaluations it carried to the
    /// broker (pending) or the blocked set (blocked). Every write goes through here:
    /// a follower's log forwards the command to the leader's `commit`, so the
    /// leader's broker sees every evaluation.
    pub async fn commit(&self, cmd: Command) -> Result<ApplyOutcome, ServerError> {
        let evals = evals_of(&cmd);
        let outcome = self.log.commit(cmd).await?;
        if !self.is_leader() {
            return Ok(outcome);
        }
        let now = self.now();
        let snap = self.state.snapshot();
        for eval in evals {
            // Read back the stored copy: it carries the indexes the state assigned.
            let eval = snap.eval(&eval.id).cloned().unwrap_or(eval);
            match eval.status.as_str() {
                "pending" => self.broker.enqueue(eval, now),
                "blocked" => {
                    if let Some(old) = self.blocked.block(eval) {
                        let mut old = old;
                        old.status = "canceled".into();
                        old.status_description = "superseded by a newer blocked evaluation".into();
                        old.modify_time = now;
                        self.log
                            .commit(Command::UpsertEvals { evals: vec![old] })
                            .await?;
                    }
                }
                _ => {}
            }
        }
        Ok(outcome)
    }

    pub(crate) async fn submit_plan(
        &self,
        plan: Plan,
        evals: Vec<Evaluation>,
    ) -> Result<PlanApplied, ServerError> {
        let (reply, rx) = oneshot::channel();
        let plans = self
            .plans
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .ok_or_else(|| ServerError::Unavailable("not the leader".into()))?;
        plans
            .send(PlanRequest { plan, evals, reply })
            .await
            .map_err(|_| ServerError::Unavailable("plan applier stopped".into()))?;
        rx.await
            .map_err(|_| ServerError::Unavailable("plan applier stopped".into()))?
    }

    pub(crate) fn sched_context(&self) -> SchedContext {
        SchedContext {
            min_dynamic_port: self.config.min_dynamic_port,
            max_dynamic_port: self.config.max_dynamic_port,
            ..SchedContext::new(self.now(), rand_seed())
        }
    }

    fn new_eval(&self, job: &Job, triggered_by: &str, node_id: Option<NodeId>) -> Evaluation {
        let now = self.now();
        Evaluation {
            id: new_uuid().into(),
            namespace: job
                .namespace
                .clone()
                .unwrap_or_else(|| DEFAULT_NAMESPACE.into()),
            priority: job.priority.unwrap_or(50),
            eval_type: job.kind().as_str().into(),
            triggered_by: triggered_by.into(),
            job_id: job.id.clone(),
            job_modify_index: job.job_modify_index.unwrap_or(0),
            node_id,
            status: "pending".into(),
            create_time: now,
            modify_time: now,
            ..Evaluation::default()
        }
    }

    pub(crate) fn new_eval_like(&self, eval: &Evaluation, triggered_by: &str) -> Evaluation {
        let now = self.now();
        Evaluation {
            id: new_uuid().into(),
            namespace: eval.namespace.clone(),
            priority: eval.priority,
            eval_type: eval.eval_type.clone(),
            triggered_by: triggered_by.into(),
            job_id: eval.job_id.clone(),
            previous_eval: Some(eval.id.clone()),
            status: "pending".into(),
            create_time: now,
            modify_time: now,
            ..Evaluation::default()
        }
    }

    async fn cancel(&self, mut eval: Evaluation) -> Result<(), ServerError> {
        eval.status = "canceled".into();
        eval.status_description = "superseded by a newer evaluation".into();
        eval.modify_time = self.now();
        self.log
            .commit(Command::UpsertEvals { evals: vec![eval] })
            .await?;
        Ok(())
    }

    /// Evaluations for every job with a live allocation on the node.
    fn evals_for_node_jobs(
        &self,
        snap: &Snapshot,
        node_id: &NodeId,
        trigger: &str,
    ) -> Vec<Evaluation> {
        let jobs: BTreeSet<(String, JobId)> = snap
            .allocs_by_node(node_id)
            .filter(|a| !a.is_terminal())
            .map(|a| (a.namespace.clone(), a.job_id.clone()))
            .collect();
        jobs.iter()
            .filter_map(|(ns, id)| snap.job(ns, id))
            .map(|job| self.new_eval(job, trigger, Some(node_id.clone())))
            .collect()
    }

    /// A node can take work: system jobs place on it, blocked evaluations retry.
    async fn node_became_available(&self, node_id: &NodeId) -> Result<(), ServerError> {
        let snap = self.state.snapshot();
        let evals: Vec<Evaluation> = snap
            .jobs()
            .filter(|job| {
                matches!(job.kind(), JobType::System | JobType::Sysbatch) && job.stop != Some(true)
            })
            .map(|job| self.new_eval(job, "node-update", Some(node_id.clone())))
            .collect();
        if !evals.is_empty() {
            self.commit(Command::UpsertEvals { evals }).await?;
        }
        self.unblock().await
    }

    /// Retries every blocked evaluation.
    pub(crate) async fn unblock(&self) -> Result<(), ServerError> {
        let now = self.now();
        let evals: Vec<Evaluation> = self
            .blocked
            .unblock_all()
            .into_iter()
            .map(|mut e| {
                e.status = "pending".into();
                e.status_description = "capacity may be available".into();
                e.modify_time = now;
                e
            })
            .collect();
        if evals.is_empty() {
            return Ok(());
        }
        self.commit(Command::UpsertEvals { evals })
            .await
            .map(|_| ())
    }

    /// Deletes evaluations finished for longer than `threshold`, with their stopped
    /// allocations (`PUT /v1/system/gc` uses a zero threshold). Returns how many
    /// evaluations and allocations went.
    pub async fn collect_garbage(
        &self,
        threshold: Duration,
    ) -> Result<(usize, usize), ServerError> {
        let threshold = i64::try_from(threshold.as_nanos()).unwrap_or(i64::MAX);
        let garbage = crate::gc::find(&self.state.snapshot(), self.now(), threshold);
        if garbage.is_empty() {
            return Ok((0, 0));
        }
        let counts = (garbage.evals.len(), garbage.allocs.len());
        self.commit(Command::DeleteEvalsAndAllocs {
            evals: garbage.evals,
            allocs: garbage.allocs,
        })
        .await?;
        tracing::debug!(evals = counts.0, allocs = counts.1, "garbage collected");
        Ok(counts)
    }

    fn heartbeat_deadline(&self) -> Duration {
        self.config.heartbeat_ttl + self.config.heartbeat_grace
    }

    /// Delayed evaluations, heartbeat deadlines and TTL checks, checked a few times a
    /// second.
    async fn timers(self: Arc<Self>) {
        let mut tick = tokio::time::interval(Duration::from_millis(200));
        let mut next_gc = tokio::time::Instant::now() + self.config.gc_interval;
        loop {
            tick.tick().await;
            if tokio::time::Instant::now() >= next_gc {
                next_gc = tokio::time::Instant::now() + self.config.gc_interval;
                if let Err(e) = self.collect_garbage(self.config.gc_threshold).await {
                    tracing::warn!(error = %e, "garbage collection failed");
                }
            }
            self.broker.promote_due(self.now());
            for node_id in self.heartbeats.take_expired(tokio::time::Instant::now()) {
                tracing::warn!(node = %node_id, "node missed its heartbeats; marking it down");
                if let Err(e) = self.mark_node_down(&node_id).await {
                    tracing::warn!(node = %node_id, error = %e, "could not mark the node down");
                }
            }
            if let Err(e) = self.expire_ttl_checks(self.now()).await {
                tracing::warn!(error = %e, "could not expire TTL checks");
            }
        }
    }
}

/// Whether a re-registered node offers something else than before: resources, the
/// reserved ports and resources, or what constraints match on. Status, eligibility,
/// drain and indexes are the server's, not the fingerprint.
fn fingerprint_changed(old: &Node, new: &Node) -> bool {
    old.node_resources != new.node_resources
        || old.reserved_resources != new.reserved_resources
        || old.attributes != new.attributes
        || old.meta != new.meta
        || old.drivers != new.drivers
        || old.host_networks != new.host_networks
        || old.datacenter != new.datacenter
        || old.node_class != new.node_class
        || old.node_pool != new.node_pool
}

/// The evaluations a command carries.
fn evals_of(cmd: &Command) -> Vec<Evaluation> {
    match cmd {
        Command::RegisterJob { eval, .. }
        | Command::DeregisterJob { eval, .. }
        | Command::StopAlloc { eval, .. } => eval.iter().cloned().collect(),
        Command::UpdateNodeStatus { evals, .. }
        | Command::UpdateNodeEligibility { evals, .. }
        | Command::UpdateNodeDrain { evals, .. }
        | Command::UpsertEvals { evals }
        | Command::UpdateAllocsFromClient { evals, .. } => evals.clone(),
        Command::ApplyPlanResult(result) => result.evals.clone(),
        Command::UpsertNode { .. }
        | Command::DeleteEvalsAndAllocs { .. }
        | Command::UpsertServiceRegistrations { .. }
        | Command::DeleteServiceRegistrations { .. }
        | Command::DeleteServicesByAlloc { .. }
        | Command::RegisterAgentService { .. }
        | Command::UpsertServiceCheck { .. }
        | Command::DeleteServiceCheck { .. }
        | Command::UpdateServiceCheck { .. }
        | Command::ExpireTtlChecks { .. }
        | Command::KvSet { .. }
        | Command::KvDelete { .. } => Vec::new(),
    }
}

fn rand_seed() -> u64 {
    let id = uuid::Uuid::new_v4();
    let (hi, lo) = id.as_u64_pair();
    hi ^ lo
}
