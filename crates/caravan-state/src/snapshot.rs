//! Snapshots: a consistent, immutable view of every table at one raft index.

use std::collections::BTreeMap;
use std::sync::Arc;

use caravan_model::{
    AllocId, Allocation, EvalId, Evaluation, Job, JobId, JobType, Node, NodeId, ServiceRegistration,
};
use imbl::{OrdMap, OrdSet};
use serde::{Deserialize, Serialize};

use crate::catalog::ServiceKey;
use crate::table::TableIndexes;
use crate::{JobSummary, KvEntry, Table, TaskGroupSummary};

/// How many versions of a job are kept, the current one included.
pub const JOB_VERSIONS_KEPT: usize = 6;

/// The namespace a job, evaluation or allocation with an empty one belongs to.
pub const DEFAULT_NAMESPACE: &str = "default";

/// A job's key: jobs are unique per namespace.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub(crate) struct JobKey {
    pub namespace: String,
    pub id: JobId,
}

impl JobKey {
    pub fn new(namespace: &str, id: &JobId) -> Self {
        let namespace = if namespace.is_empty() {
            DEFAULT_NAMESPACE
        } else {
            namespace
        };
        Self {
            namespace: namespace.to_owned(),
            id: id.clone(),
        }
    }
}

/// Every table and index. Cloning it is a few reference-count increments: the maps are
/// persistent B-trees sharing their nodes, and rows are `Arc`s.
///
/// Serialized whole for Raft snapshots ([`Snapshot::encode`]). Maps are written as
/// lists of pairs, since several are keyed by structs, which JSON objects cannot be.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Tables {
    #[serde(with = "crate::codec::pairs")]
    pub jobs: OrdMap<JobKey, Arc<Job>>,
    /// Newest first, at most [`JOB_VERSIONS_KEPT`], the current version included.
    #[serde(with = "crate::codec::pairs")]
    pub job_versions: OrdMap<JobKey, Arc<Vec<Arc<Job>>>>,
    #[serde(with = "crate::codec::pairs")]
    pub evals: OrdMap<EvalId, Arc<Evaluation>>,
    #[serde(with = "crate::codec::pairs")]
    pub evals_by_job: OrdMap<JobKey, OrdSet<EvalId>>,
    #[serde(with = "crate::codec::pairs")]
    pub allocs: OrdMap<AllocId, Arc<Allocation>>,
    #[serde(with = "crate::codec::pairs")]
    pub allocs_by_job: OrdMap<JobKey, OrdSet<AllocId>>,
    #[serde(with = "crate::codec::pairs")]
    pub allocs_by_node: OrdMap<NodeId, OrdSet<AllocId>>,
    #[serde(with = "crate::codec::pairs")]
    pub allocs_by_eval: OrdMap<EvalId, OrdSet<AllocId>>,
    #[serde(with = "crate::codec::pairs")]
    pub nodes: OrdMap<NodeId, Arc<Node>>,
    /// Service registrations by id; only ever of allocations that exist and are not
    /// terminal.
    #[serde(with = "crate::codec::pairs")]
    pub services: OrdMap<String, Arc<ServiceRegistration>>,
    #[serde(with = "crate::codec::pairs")]
    pub services_by_name: OrdMap<ServiceKey, OrdSet<String>>,
    /// The raft index of the last change to each service with instances (one added,
    /// changed or removed): what a blocking query on a few services waits on, instead
    /// of comparing the catalog. A service without instances has no entry.
    #[serde(with = "crate::codec::pairs")]
    pub service_indexes: OrdMap<ServiceKey, u64>,
    /// The same for each namespace with instances: the last change to any of its
    /// services.
    #[serde(with = "crate::codec::pairs")]
    pub namespace_service_indexes: OrdMap<String, u64>,
    /// The raft index at which a service or a namespace last lost its last instance:
    /// the index of every service and namespace without an entry above. Kept instead
    /// of entries for the services gone, which would pile up.
    pub services_extinct_index: u64,
    #[serde(with = "crate::codec::pairs")]
    pub services_by_alloc: OrdMap<AllocId, OrdSet<String>>,
    /// Every registration on a node (an allocation's or an agent's), by id.
    #[serde(with = "crate::codec::pairs")]
    pub services_on_node: OrdMap<NodeId, OrdSet<String>>,
    /// Consul-provider registrations by service name, every namespace together (as
    /// Consul's catalog has no namespaces).
    #[serde(with = "crate::codec::pairs")]
    pub consul_services_by_name: OrdMap<String, OrdSet<String>>,
    /// The registrations with at least one TTL check: what the TTL timer scans.
    pub services_with_ttl: OrdSet<String>,
    /// The key/value store, by key.
    #[serde(with = "crate::codec::pairs")]
    pub kv: OrdMap<String, Arc<KvEntry>>,
    pub indexes: TableIndexes,
}

impl Tables {
    /// The status Nomad would show for a job: system, periodic and parameterized jobs
    /// are `running` until stopped; others are `running` while an allocation is live,
    /// `pending` while an evaluation is outstanding, else `dead` once anything ran
    /// (or the job is stopped), else `pending`.
    pub fn computed_job_status(&self, key: &JobKey) -> &'static str {
        let Some(job) = self.jobs.get(key) else {
            return "dead";
        };
        if job.kind() == JobType::System || job.is_periodic() || job.is_parameterized() {
            return if job.stop == Some(true) {
                "dead"
            } else {
                "running"
            };
        }
        let allocs = self
            .allocs_by_job
            .get(key)
            .into_iter()
            .flatten()
            .filter_map(|id| self.allocs.get(id));
        let mut has_alloc = false;
        for alloc in allocs {
            has_alloc = true;
            if !alloc.is_terminal() {
                return "running";
            }
        }
        let mut has_eval = false;
        let evals = self
            .evals_by_job
            .get(key)
            .into_iter()
            .flatten()
            .filter_map(|id| self.evals.get(id));
        for eval in evals {
            has_eval = true;
            if matches!(eval.status.as_str(), "pending" | "blocked") {
                return "pending";
            }
        }
        if has_alloc || has_eval || job.stop == Some(true) {
            "dead"
        } else {
            "pending"
        }
    }
}

/// A read-only view of the store at one index. Taking one is O(1); later writes to the
/// store are not seen. Every list is in a stable order (by id, jobs by namespace then id).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    pub(crate) tables: Tables,
}

impl Snapshot {
    /// The raft index of the last write to `table`; a blocking query on it waits until
    /// this is above the index the caller last saw.
    pub fn index(&self, table: Table) -> u64 {
        self.tables.indexes.get(table)
    }

    /// The last raft index applied.
    pub fn latest_index(&self) -> u64 {
        self.tables.indexes.latest
    }

    // ---- jobs ----

    pub fn job(&self, namespace: &str, id: &JobId) -> Option<&Job> {
        self.tables
            .jobs
            .get(&JobKey::new(namespace, id))
            .map(|j| &**j)
    }

    /// Every job, sorted by namespace then id.
    pub fn jobs(&self) -> impl Iterator<Item = &Job> {
        self.tables.jobs.values().map(|j| &**j)
    }

    /// The jobs of one namespace, sorted by id.
    pub fn jobs_in<'a>(&'a self, namespace: &str) -> impl Iterator<Item = &'a Job> + use<'a> {
        let start = JobKey::new(namespace, &JobId::default());
        let namespace = start.namespace.clone();
        self.tables
            .jobs
            .range(start..)
            .take_while(move |(key, _)| key.namespace == namespace)
            .map(|(_, j)| &**j)
    }

    /// The jobs of a namespace whose id starts with `prefix`.
    pub fn jobs_by_prefix<'a>(
        &'a self,
        namespace: &str,
        prefix: &'a str,
    ) -> impl Iterator<Item = &'a Job> + 'a {
        let start = JobKey::new(namespace, &JobId::from(prefix));
        let namespace = start.namespace.clone();
        self.tables
            .jobs
            .range(start..)
            .take_while(move |(key, _)| {
                key.namespace == namespace && key.id.as_str().starts_with(prefix)
            })
            .map(|(_, j)| &**j)
    }

    /// The kept versions of a job, newest (current) first.
    pub fn job_versions(&self, namespace: &str, id: &JobId) -> Vec<&Job> {
        self.tables
            .job_versions
            .get(&JobKey::new(namespace, id))
            .map(|versions| versions.iter().map(|j| &**j).collect())
            .unwrap_or_default()
    }

    /// One kept version of a job.
    pub fn job_version(&self, namespace: &str, id: &JobId, version: u64) -> Option<&Job> {
        self.tables
            .job_versions
            .get(&JobKey::new(namespace, id))?
            .iter()
            .find(|j| j.version == Some(version))
            .map(|j| &**j)
    }

    /// Allocation counts per group. Queued counts come from the job's latest evaluation
    /// that reported them.
    pub fn job_summary(&self, namespace: &str, id: &JobId) -> Option<JobSummary> {
        let job = self.job(namespace, id)?;
        let mut summary: BTreeMap<String, TaskGroupSummary> = job
            .task_groups
            .iter()
            .map(|g| (g.name.clone(), TaskGroupSummary::default()))
            .collect();
        let mut modify_index = job.modify_index.unwrap_or(0);
        for alloc in self.allocs_by_job(namespace, id) {
            modify_index = modify_index.max(alloc.modify_index);
            let group = summary.entry(alloc.task_group.clone()).or_default();
            match alloc.client_status.as_str() {
                "running" => group.running += 1,
                "complete" => group.complete += 1,
                "failed" => group.failed += 1,
                "lost" => group.lost += 1,
                "unknown" => group.unknown += 1,
                _ => group.starting += 1,
            }
        }
        let latest_queued = self
            .evals_by_job(namespace, id)
            .filter(|e| e.status != "pending" && !e.queued_allocations.is_empty())
            .max_by_key(|e| (e.modify_index, e.create_index));
        if let Some(eval) = latest_queued {
            modify_index = modify_index.max(eval.modify_index);
            for (group, queued) in &eval.queued_allocations {
                summary.entry(group.clone()).or_default().queued = *queued;
            }
        }
        Some(JobSummary {
            job_id: job.id.clone(),
            namespace: job
                .namespace
                .clone()
                .unwrap_or_else(|| DEFAULT_NAMESPACE.to_owned()),
            summary,
            children: Default::default(),
            create_index: job.create_index.unwrap_or(0),
            modify_index,
        })
    }

    // ---- evaluations ----

    pub fn eval(&self, id: &EvalId) -> Option<&Evaluation> {
        self.tables.evals.get(id).map(|e| &**e)
    }

    /// Every evaluation, sorted by id.
    pub fn evals(&self) -> impl Iterator<Item = &Evaluation> {
        self.tables.evals.values().map(|e| &**e)
    }

    pub fn evals_by_prefix<'a>(&'a self, prefix: &'a str) -> impl Iterator<Item = &'a Evaluation> {
        self.tables
            .evals
            .range(EvalId::from(prefix)..)
            .take_while(move |(id, _)| id.as_str().starts_with(prefix))
            .map(|(_, e)| &**e)
    }

    /// A job's evaluations, sorted by id.
    pub fn evals_by_job<'a>(
        &'a self,
        namespace: &str,
        id: &JobId,
    ) -> impl Iterator<Item = &'a Evaluation> + use<'a> {
        self.tables
            .evals_by_job
            .get(&JobKey::new(namespace, id))
            .into_iter()
            .flat_map(|ids| ids.iter())
            .filter_map(|id| self.tables.evals.get(id).map(|e| &**e))
    }

    // ---- allocations ----

    pub fn alloc(&self, id: &AllocId) -> Option<&Allocation> {
        self.tables.allocs.get(id).map(|a| &**a)
    }

    /// Every allocation, sorted by id.
    pub fn allocs(&self) -> impl Iterator<Item = &Allocation> {
        self.tables.allocs.values().map(|a| &**a)
    }

    pub fn allocs_by_prefix<'a>(&'a self, prefix: &'a str) -> impl Iterator<Item = &'a Allocation> {
        self.tables
            .allocs
            .range(AllocId::from(prefix)..)
            .take_while(move |(id, _)| id.as_str().starts_with(prefix))
            .map(|(_, a)| &**a)
    }

    /// A job's allocations, every status included, sorted by id.
    pub fn allocs_by_job<'a>(
        &'a self,
        namespace: &str,
        id: &JobId,
    ) -> impl Iterator<Item = &'a Allocation> + use<'a> {
        self.ids_to_allocs(self.tables.allocs_by_job.get(&JobKey::new(namespace, id)))
    }

    /// The allocations of the job registered now under this id: those of an earlier
    /// job of the same id (stopped with purge, then registered again) are left out,
    /// as Nomad tells them apart by the job's create index. Every allocation of the
    /// id when no job is registered.
    pub fn allocs_of_current_job<'a>(
        &'a self,
        namespace: &str,
        id: &JobId,
    ) -> impl Iterator<Item = &'a Allocation> + use<'a> {
        let current = self.job(namespace, id).and_then(|j| j.create_index);
        self.allocs_by_job(namespace, id).filter(move |a| {
            let created = a.job.as_ref().and_then(|j| j.create_index);
            current.is_none() || created.is_none() || created == current
        })
    }

    /// A node's allocations, every status included, sorted by id.
    pub fn allocs_by_node<'a>(
        &'a self,
        node_id: &NodeId,
    ) -> impl Iterator<Item = &'a Allocation> + use<'a> {
        self.ids_to_allocs(self.tables.allocs_by_node.get(node_id))
    }

    /// The allocations an evaluation created or updated last, sorted by id.
    pub fn allocs_by_eval<'a>(
        &'a self,
        eval_id: &EvalId,
    ) -> impl Iterator<Item = &'a Allocation> + use<'a> {
        self.ids_to_allocs(self.tables.allocs_by_eval.get(eval_id))
    }

    fn ids_to_allocs<'a>(
        &'a self,
        ids: Option<&'a OrdSet<AllocId>>,
    ) -> impl Iterator<Item = &'a Allocation> + 'a {
        ids.into_iter()
            .flat_map(|ids| ids.iter())
            .filter_map(|id| self.tables.allocs.get(id).map(|a| &**a))
    }

    // ---- nodes ----

    pub fn node(&self, id: &NodeId) -> Option<&Node> {
        self.tables.nodes.get(id).map(|n| &**n)
    }

    /// Every node, sorted by id.
    pub fn nodes(&self) -> impl Iterator<Item = &Node> {
        self.tables.nodes.values().map(|n| &**n)
    }

    pub fn nodes_by_prefix<'a>(&'a self, prefix: &'a str) -> impl Iterator<Item = &'a Node> {
        self.tables
            .nodes
            .range(NodeId::from(prefix)..)
            .take_while(move |(id, _)| id.as_str().starts_with(prefix))
            .map(|(_, n)| &**n)
    }
}
