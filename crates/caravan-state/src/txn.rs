//! One command's writes, made on a copy of the tables that replaces the store's only
//! when the whole command succeeded.

mod kv;
mod services;

use std::collections::BTreeSet;
use std::sync::Arc;

use caravan_model::{AllocId, Allocation, EvalId, Evaluation, Job, JobId, Node, NodeId};

use crate::snapshot::{DEFAULT_NAMESPACE, JOB_VERSIONS_KEPT, JobKey, Tables};
use crate::{AllocClientUpdate, ApplyOutcome, Command, PlanResult, StateError, Table};

/// The statuses a client reports once an allocation has stopped for good.
const CLIENT_TERMINAL: [&str; 3] = ["complete", "failed", "lost"];

/// A write transaction over a copy of the tables. Copying is O(1); the persistent maps
/// copy only the B-tree nodes a write touches.
pub(crate) struct Txn {
    pub tables: Tables,
    pub outcome: ApplyOutcome,
    index: u64,
    /// Jobs whose status may have changed and is recomputed at the end.
    touched_jobs: BTreeSet<JobKey>,
    /// Allocations changed or deleted: those now gone or terminal lose their service
    /// registrations at the end.
    touched_allocs: BTreeSet<AllocId>,
}

impl Txn {
    pub fn new(tables: Tables, index: u64) -> Self {
        Self {
            tables,
            outcome: ApplyOutcome {
                index,
                ..ApplyOutcome::default()
            },
            index,
            touched_jobs: BTreeSet::new(),
            touched_allocs: BTreeSet::new(),
        }
    }

    pub fn run(&mut self, cmd: Command) -> Result<(), StateError> {
        match cmd {
            Command::RegisterJob {
                job,
                eval,
                submit_time,
            } => self.register_job(*job, eval, submit_time),
            Command::DeregisterJob {
                namespace,
                job_id,
                purge,
                eval,
                now,
            } => self.deregister_job(&namespace, &job_id, purge, eval, now),
            Command::UpsertNode { node } => self.upsert_node(*node),
            Command::UpdateNodeStatus {
                node_id,
                status,
                now,
                evals,
            } => {
                self.update_node_status(&node_id, status, now)?;
                self.upsert_evals(evals)
            }
            Command::UpdateNodeEligibility {
                node_id,
                eligible,
                evals,
            } => {
                let node = self.node(&node_id)?;
                if eligible && node.drain {
                    return Err(StateError::NodeDraining(node_id));
                }
                let eligibility = if eligible { "eligible" } else { "ineligible" };
                self.modify_node(&node_id, |n| {
                    n.scheduling_eligibility = eligibility.to_owned()
                });
                self.upsert_evals(evals)
            }
            Command::UpdateNodeDrain {
                node_id,
                drain,
                evals,
            } => {
                self.node(&node_id)?;
                let eligibility = if drain { "ineligible" } else { "eligible" };
                self.modify_node(&node_id, |n| {
                    n.drain = drain;
                    n.scheduling_eligibility = eligibility.to_owned();
                });
                self.upsert_evals(evals)
            }
            Command::UpsertEvals { evals } => self.upsert_evals(evals),
            Command::ApplyPlanResult(result) => self.apply_plan(*result),
            Command::UpdateAllocsFromClient {
                updates,
                evals,
                now,
            } => {
                for update in updates {
                    self.client_update(update, now);
                }
                self.upsert_evals(evals)
            }
            Command::StopAlloc {
                alloc_id,
                description,
                eval,
                now,
            } => {
                if !self.tables.allocs.contains_key(&alloc_id) {
                    return Err(StateError::UnknownAlloc(alloc_id));
                }
                let index = self.index;
                self.modify_alloc(&alloc_id, |a| {
                    a.desired_status = "stop".to_owned();
                    a.desired_description = description;
                    a.alloc_modify_index = index;
                    a.modify_time = now;
                });
                self.upsert_evals(eval.into_iter().collect())
            }
            Command::DeleteEvalsAndAllocs { evals, allocs } => {
                self.delete(evals, allocs);
                Ok(())
            }
            Command::UpsertServiceRegistrations { regs } => self.upsert_services(regs),
            Command::DeleteServiceRegistrations { ids } => {
                for id in ids {
                    if !self.remove_service(&id) {
                        self.outcome.skipped_services.push(id);
                    }
                }
                Ok(())
            }
            Command::DeleteServicesByAlloc { alloc_ids } => {
                for alloc_id in alloc_ids {
                    self.remove_services_of_alloc(&alloc_id);
                }
                Ok(())
            }
            Command::RegisterAgentService {
                reg,
                replace_existing_checks,
            } => self.register_agent_service(*reg, replace_existing_checks),
            Command::UpsertServiceCheck { service_id, check } => {
                self.upsert_service_check(&service_id, *check)
            }
            Command::DeleteServiceCheck {
                service_id,
                check_id,
            } => self.delete_service_check(&service_id, &check_id),
            Command::UpdateServiceCheck {
                service_id,
                check_id,
                status,
                output,
                now,
            } => self.update_service_check(&service_id, &check_id, status, output, now),
            Command::ExpireTtlChecks { checks, now } => {
                self.expire_ttl_checks(checks, now);
                Ok(())
            }
            Command::KvSet {
                key,
                value,
                flags,
                cas,
            } => self.kv_set(key, value, flags, cas),
            Command::KvDelete { key, recurse, cas } => {
                self.kv_delete(&key, recurse, cas);
                Ok(())
            }
        }
    }

    /// Drops the registrations of the allocations the command stopped for good,
    /// recomputes the status of the jobs it touched and stamps the indexes of the tables
    /// it changed.
    pub fn finish(mut self) -> (Tables, ApplyOutcome) {
        for alloc_id in std::mem::take(&mut self.touched_allocs) {
            let stopped = self
                .tables
                .allocs
                .get(&alloc_id)
                .is_none_or(|a| a.is_terminal());
            if stopped {
                self.remove_services_of_alloc(&alloc_id);
            }
        }
        let touched = std::mem::take(&mut self.touched_jobs);
        for key in touched {
            let status = self.tables.computed_job_status(&key);
            let index = self.index;
            let Some(job) = self.tables.jobs.get_mut(&key) else {
                continue;
            };
            if job.status.as_deref() != Some(status) {
                let job = Arc::make_mut(job);
                job.status = Some(status.to_owned());
                job.modify_index = Some(index);
                self.outcome.changed.insert(Table::Jobs);
            }
        }
        let changed = &mut self.outcome.changed;
        if changed.contains(&Table::Jobs)
            || changed.contains(&Table::Allocs)
            || changed.contains(&Table::Evals)
        {
            changed.insert(Table::JobSummaries);
        }
        for table in changed.iter() {
            self.tables.indexes.set(*table, self.index);
        }
        self.tables.indexes.latest = self.index;
        (self.tables, self.outcome)
    }

    fn touch(&mut self, table: Table) {
        self.outcome.changed.insert(table);
    }

    // ---- jobs ----

    fn register_job(
        &mut self,
        mut job: Job,
        eval: Option<Evaluation>,
        submit_time: i64,
    ) -> Result<(), StateError> {
        if job.id.is_empty() {
            return Err(StateError::MissingJobId);
        }
        let namespace = normalize_namespace(job.namespace.as_deref());
        job.namespace = Some(namespace.clone());
        let key = JobKey::new(&namespace, &job.id);
        let existing = self.tables.jobs.get(&key).cloned();
        let job_modify_index = match existing {
            Some(old) if same_spec(&old, &job) => {
                self.outcome.job_version = old.version;
                old.job_modify_index.unwrap_or(0)
            }
            old => {
                job.version = Some(old.as_ref().map_or(0, |o| o.version.unwrap_or(0) + 1));
                job.create_index = Some(
                    old.as_ref()
                        .and_then(|o| o.create_index)
                        .unwrap_or(self.index),
                );
                job.status = old.as_ref().and_then(|o| o.status.clone());
                job.submit_time = Some(submit_time);
                job.stable = Some(false);
                self.put_job_version(key.clone(), job);
                self.index
            }
        };
        self.touched_jobs.insert(key);
        if let Some(mut eval) = eval {
            eval.job_modify_index = job_modify_index;
            self.upsert_eval(eval)?;
        }
        Ok(())
    }

    fn deregister_job(
        &mut self,
        namespace: &str,
        job_id: &JobId,
        purge: bool,
        eval: Option<Evaluation>,
        now: i64,
    ) -> Result<(), StateError> {
        let key = JobKey::new(namespace, job_id);
        let Some(existing) = self.tables.jobs.get(&key).cloned() else {
            return Err(StateError::UnknownJob {
                namespace: key.namespace,
                job_id: job_id.clone(),
            });
        };
        let mut job_modify_index = existing.job_modify_index.unwrap_or(0);
        if purge {
            // A purged job advertises nothing, whatever its allocations still do.
            let alloc_ids: Vec<AllocId> = self
                .tables
                .allocs_by_job
                .get(&key)
                .map(|ids| ids.iter().cloned().collect())
                .unwrap_or_default();
            for alloc_id in &alloc_ids {
                self.remove_services_of_alloc(alloc_id);
            }
            self.tables.jobs.remove(&key);
            self.tables.job_versions.remove(&key);
            self.touch(Table::Jobs);
        } else if existing.stop == Some(true) {
            self.outcome.job_version = existing.version;
        } else {
            let mut job = (*existing).clone();
            job.stop = Some(true);
            job.version = Some(existing.version.unwrap_or(0) + 1);
            job.submit_time = Some(now);
            job.stable = Some(false);
            self.put_job_version(key.clone(), job);
            job_modify_index = self.index;
        }
        self.touched_jobs.insert(key);
        if let Some(mut eval) = eval {
            eval.job_modify_index = job_modify_index;
            self.upsert_eval(eval)?;
        }
        Ok(())
    }

    /// Stores `job` as the job's newest version, stamped with this index.
    fn put_job_version(&mut self, key: JobKey, mut job: Job) {
        job.modify_index = Some(self.index);
        job.job_modify_index = Some(self.index);
        self.outcome.job_version = job.version;
        let job = Arc::new(job);
        let mut versions: Vec<Arc<Job>> = Vec::with_capacity(JOB_VERSIONS_KEPT);
        versions.push(Arc::clone(&job));
        if let Some(old) = self.tables.job_versions.get(&key) {
            versions.extend(old.iter().take(JOB_VERSIONS_KEPT - 1).cloned());
        }
        self.tables
            .job_versions
            .insert(key.clone(), Arc::new(versions));
        self.tables.jobs.insert(key, job);
        self.touch(Table::Jobs);
    }

    // ---- nodes ----

    fn node(&self, id: &NodeId) -> Result<&Node, StateError> {
        self.tables
            .nodes
            .get(id)
            .map(|n| &**n)
            .ok_or_else(|| StateError::UnknownNode(id.clone()))
    }

    fn modify_node(&mut self, id: &NodeId, f: impl FnOnce(&mut Node)) {
        let index = self.index;
        if let Some(node) = self.tables.nodes.get_mut(id) {
            let node = Arc::make_mut(node);
            f(node);
            node.modify_index = index;
            self.touch(Table::Nodes);
        }
    }

    fn upsert_node(&mut self, mut node: Node) -> Result<(), StateError> {
        if node.id.is_empty() {
            return Err(StateError::MissingNodeId);
        }
        match self.tables.nodes.get(&node.id) {
            Some(old) => {
                node.create_index = old.create_index;
                node.scheduling_eligibility = old.scheduling_eligibility.clone();
                node.drain = old.drain;
            }
            None => {
                node.create_index = self.index;
                if node.scheduling_eligibility.is_empty() {
                    node.scheduling_eligibility = "eligible".to_owned();
                }
                if node.status.is_empty() {
                    node.status = "initializing".to_owned();
                }
            }
        }
        node.modify_index = self.index;
        self.tables.nodes.insert(node.id.clone(), Arc::new(node));
        self.touch(Table::Nodes);
        Ok(())
    }

    fn update_node_status(
        &mut self,
        id: &NodeId,
        status: String,
        now: i64,
    ) -> Result<(), StateError> {
        self.node(id)?;
        let down = status == "down";
        self.modify_node(id, |n| n.status = status);
        if down {
            let ids: Vec<AllocId> = self
                .tables
                .allocs_by_node
                .get(id)
                .map(|ids| ids.iter().cloned().collect())
                .unwrap_or_default();
            for alloc_id in ids {
                let live = self
                    .tables
                    .allocs
                    .get(&alloc_id)
                    .is_some_and(|a| !CLIENT_TERMINAL.contains(&a.client_status.as_str()));
                if live {
                    self.modify_alloc(&alloc_id, |a| {
                        a.client_status = "lost".to_owned();
                        a.client_description = "alloc is lost since its node is down".to_owned();
                        a.modify_time = now;
                    });
                }
            }
        }
        Ok(())
    }

    // ---- evaluations ----

    fn upsert_evals(&mut self, evals: Vec<Evaluation>) -> Result<(), StateError> {
        evals.into_iter().try_for_each(|e| self.upsert_eval(e))
    }

    fn upsert_eval(&mut self, mut eval: Evaluation) -> Result<(), StateError> {
        if eval.id.is_empty() {
            return Err(StateError::MissingEvalId);
        }
        if eval.namespace.is_empty() {
            eval.namespace = DEFAULT_NAMESPACE.to_owned();
        }
        eval.create_index = self
            .tables
            .evals
            .get(&eval.id)
            .map_or(self.index, |e| e.create_index);
        eval.modify_index = self.index;
        if !eval.job_id.is_empty() {
            let key = JobKey::new(&eval.namespace, &eval.job_id);
            self.tables
                .evals_by_job
                .entry(key.clone())
                .or_default()
                .insert(eval.id.clone());
            self.touched_jobs.insert(key);
        }
        self.tables.evals.insert(eval.id.clone(), Arc::new(eval));
        self.touch(Table::Evals);
        Ok(())
    }

    // ---- allocations ----

    /// Changes a stored allocation and stamps its modify index; false if it is unknown.
    fn modify_alloc(&mut self, id: &AllocId, f: impl FnOnce(&mut Allocation)) -> bool {
        let index = self.index;
        let Some(alloc) = self.tables.allocs.get_mut(id) else {
            return false;
        };
        let alloc = Arc::make_mut(alloc);
        f(alloc);
        alloc.modify_index = index;
        let key = JobKey::new(&alloc.namespace, &alloc.job_id);
        self.touched_jobs.insert(key);
        self.touched_allocs.insert(id.clone());
        self.touch(Table::Allocs);
        true
    }

    /// Inserts or replaces an allocation, keeping the secondary indexes in step.
    fn put_alloc(&mut self, alloc: Allocation) {
        let id = alloc.id.clone();
        let key = JobKey::new(&alloc.namespace, &alloc.job_id);
        if let Some(old) = self.tables.allocs.get(&id).cloned() {
            if old.eval_id != alloc.eval_id {
                remove_from(&mut self.tables.allocs_by_eval, &old.eval_id, &id);
            }
            if old.node_id != alloc.node_id {
                remove_from(&mut self.tables.allocs_by_node, &old.node_id, &id);
            }
        }
        self.tables
            .allocs_by_job
            .entry(key.clone())
            .or_default()
            .insert(id.clone());
        self.tables
            .allocs_by_node
            .entry(alloc.node_id.clone())
            .or_default()
            .insert(id.clone());
        self.tables
            .allocs_by_eval
            .entry(alloc.eval_id.clone())
            .or_default()
            .insert(id.clone());
        self.touched_allocs.insert(id.clone());
        self.tables.allocs.insert(id, Arc::new(alloc));
        self.touched_jobs.insert(key);
        self.touch(Table::Allocs);
    }

    fn apply_plan(&mut self, result: PlanResult) -> Result<(), StateError> {
        // Validate first: a refused command must not have half-happened (the copy of the
        // tables would be dropped anyway, this just gives the precise reason).
        for (node_id, allocs) in &result.node_allocation {
            self.node(node_id)?;
            for alloc in allocs {
                if alloc.id.is_empty() {
                    return Err(StateError::MissingAllocId);
                }
                if !alloc.node_id.is_empty() && alloc.node_id != *node_id {
                    return Err(StateError::AllocNodeMismatch {
                        alloc_id: alloc.id.clone(),
                        key: node_id.clone(),
                        node_id: alloc.node_id.clone(),
                    });
                }
            }
        }
        let index = self.index;
        let now = result.now;
        for update in result.node_update.into_values().flatten() {
            let found = self.modify_alloc(&update.alloc_id, |a| {
                a.desired_status = if update.desired_status.is_empty() {
                    "stop".to_owned()
                } else {
                    update.desired_status
                };
                a.desired_description = update.desired_description;
                a.alloc_modify_index = index;
                a.modify_time = now;
            });
            if !found {
                self.outcome.skipped_allocs.push(update.alloc_id);
            }
        }
        let plan_job = result.job.map(Box::new);
        for (node_id, allocs) in result.node_allocation {
            for mut alloc in allocs {
                alloc.node_id = node_id.clone();
                if alloc.namespace.is_empty() {
                    alloc.namespace = DEFAULT_NAMESPACE.to_owned();
                }
                if alloc.job.is_none() {
                    alloc.job = match &plan_job {
                        Some(job) if job.id == alloc.job_id => Some(job.clone()),
                        _ => self
                            .tables
                            .jobs
                            .get(&JobKey::new(&alloc.namespace, &alloc.job_id))
                            .map(|j| Box::new((**j).clone())),
                    };
                }
                let is_new = !self.tables.allocs.contains_key(&alloc.id);
                match self.tables.allocs.get(&alloc.id) {
                    Some(old) => {
                        // An in-place update: what the client reported since the scheduler's
                        // snapshot wins over the plan's copy.
                        alloc.create_index = old.create_index;
                        alloc.create_time = old.create_time;
                        alloc.client_status = old.client_status.clone();
                        alloc.client_description = old.client_description.clone();
                        alloc.task_states = old.task_states.clone();
                        alloc.network_status = old.network_status.clone();
                        if alloc.next_allocation.is_none() {
                            alloc.next_allocation = old.next_allocation.clone();
                        }
                    }
                    None => {
                        alloc.create_index = index;
                        if alloc.create_time == 0 {
                            alloc.create_time = now;
                        }
                        if alloc.client_status.is_empty() {
                            alloc.client_status = "pending".to_owned();
                        }
                    }
                }
                if alloc.desired_status.is_empty() {
                    alloc.desired_status = "run".to_owned();
                }
                alloc.modify_index = index;
                alloc.alloc_modify_index = index;
                alloc.modify_time = now;
                if let Some(prev) = alloc.previous_allocation.clone().filter(|_| is_new) {
                    let next = alloc.id.clone();
                    self.modify_alloc(&prev, |p| {
                        p.next_allocation = Some(next);
                        p.alloc_modify_index = index;
                        p.modify_time = now;
                    });
                }
                self.put_alloc(alloc);
            }
        }
        self.upsert_evals(result.evals)
    }

    fn client_update(&mut self, update: AllocClientUpdate, now: i64) {
        let AllocClientUpdate {
            alloc_id,
            client_status,
            client_description,
            task_states,
            network_status,
        } = update;
        let found = self.modify_alloc(&alloc_id, |a| {
            if !client_status.is_empty() {
                a.client_status = client_status;
            }
            a.client_description = client_description;
            a.task_states = task_states;
            if network_status.is_some() {
                a.network_status = network_status;
            }
            a.modify_time = now;
        });
        if !found {
            self.outcome.skipped_allocs.push(alloc_id);
        }
    }

    // ---- garbage collection ----

    fn delete(&mut self, evals: Vec<EvalId>, allocs: Vec<AllocId>) {
        for id in allocs {
            let Some(alloc) = self.tables.allocs.get(&id).cloned() else {
                self.outcome.skipped_allocs.push(id);
                continue;
            };
            if !alloc.is_terminal() {
                self.outcome.skipped_allocs.push(id);
                continue;
            }
            let key = JobKey::new(&alloc.namespace, &alloc.job_id);
            remove_from(&mut self.tables.allocs_by_job, &key, &id);
            remove_from(&mut self.tables.allocs_by_node, &alloc.node_id, &id);
            remove_from(&mut self.tables.allocs_by_eval, &alloc.eval_id, &id);
            self.tables.allocs.remove(&id);
            self.touched_allocs.insert(id);
            self.touched_jobs.insert(key);
            self.touch(Table::Allocs);
        }
        for id in evals {
            let Some(eval) = self.tables.evals.get(&id).cloned() else {
                self.outcome.skipped_evals.push(id);
                continue;
            };
            if matches!(eval.status.as_str(), "pending" | "blocked") {
                self.outcome.skipped_evals.push(id);
                continue;
            }
            let key = JobKey::new(&eval.namespace, &eval.job_id);
            remove_from(&mut self.tables.evals_by_job, &key, &id);
            self.tables.evals.remove(&id);
            self.touched_jobs.insert(key);
            self.touch(Table::Evals);
        }
    }
}

/// Removes `id` from the set under `key`, dropping the set once empty.
fn remove_from<K: Ord + Clone, V: Ord + Clone>(
    index: &mut imbl::OrdMap<K, imbl::OrdSet<V>>,
    key: &K,
    id: &V,
) {
    if let Some(set) = index.get_mut(key) {
        set.remove(id);
        if set.is_empty() {
            index.remove(key);
        }
    }
}

fn normalize_namespace(namespace: Option<&str>) -> String {
    match namespace {
        Some(ns) if !ns.is_empty() => ns.to_owned(),
        _ => DEFAULT_NAMESPACE.to_owned(),
    }
}

/// Whether two versions of a job say the same thing, ignoring what the server manages.
fn same_spec(old: &Job, new: &Job) -> bool {
    fn spec(job: &Job) -> Job {
        Job {
            status: None,
            status_description: None,
            stable: None,
            version: None,
            submit_time: None,
            create_index: None,
            modify_index: None,
            job_modify_index: None,
            namespace: Some(normalize_namespace(job.namespace.as_deref())),
            ..job.clone()
        }
    }
    spec(old) == spec(new)
}
