//! List stubs: the trimmed rows Nomad's list endpoints return instead of whole objects.

use std::collections::BTreeMap;

use caravan_model::{
    AllocId, AllocatedResources, Allocation, DriverInfo, EvalId, Evaluation, Job, JobId, Node,
    NodeId, NodeReservedResources, NodeResources, RescheduleTracker, TaskState,
};
use caravan_state::{DEFAULT_NAMESPACE, JobSummary};
use serde::Serialize;

/// A row of `GET /v1/jobs`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct JobListStub<'a> {
    #[serde(rename = "ID")]
    pub id: &'a JobId,
    #[serde(rename = "ParentID")]
    pub parent_id: &'a str,
    pub name: &'a str,
    pub namespace: &'a str,
    pub datacenters: &'a [String],
    pub node_pool: &'a str,
    #[serde(rename = "Type")]
    pub job_type: &'a str,
    pub priority: i64,
    pub periodic: bool,
    pub parameterized_job: bool,
    pub stop: bool,
    pub status: &'a str,
    pub status_description: &'a str,
    pub job_summary: Option<JobSummary>,
    pub create_index: u64,
    pub modify_index: u64,
    pub job_modify_index: u64,
    pub submit_time: i64,
    pub version: u64,
    /// Only with `?meta=true`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub meta: Option<&'a BTreeMap<String, String>>,
}

impl<'a> JobListStub<'a> {
    pub fn new(job: &'a Job, summary: Option<JobSummary>, with_meta: bool) -> Self {
        Self {
            id: &job.id,
            parent_id: job.parent_id.as_deref().unwrap_or(""),
            name: &job.name,
            namespace: job.namespace.as_deref().unwrap_or(DEFAULT_NAMESPACE),
            datacenters: &job.datacenters,
            node_pool: job.node_pool.as_deref().unwrap_or("default"),
            job_type: job.job_type.as_deref().unwrap_or("service"),
            priority: job.priority.unwrap_or(50),
            periodic: job.periodic.is_some(),
            parameterized_job: job.parameterized.is_some(),
            stop: job.stop.unwrap_or(false),
            status: job.status.as_deref().unwrap_or("pending"),
            status_description: job.status_description.as_deref().unwrap_or(""),
            job_summary: summary,
            create_index: job.create_index.unwrap_or(0),
            modify_index: job.modify_index.unwrap_or(0),
            job_modify_index: job.job_modify_index.unwrap_or(0),
            submit_time: job.submit_time.unwrap_or(0),
            version: job.version.unwrap_or(0),
            meta: with_meta.then_some(&job.meta),
        }
    }
}

/// A row of `GET /v1/allocations` and the other allocation lists.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct AllocListStub<'a> {
    #[serde(rename = "ID")]
    pub id: &'a AllocId,
    #[serde(rename = "EvalID")]
    pub eval_id: &'a EvalId,
    pub name: &'a str,
    pub namespace: &'a str,
    #[serde(rename = "NodeID")]
    pub node_id: &'a NodeId,
    pub node_name: &'a str,
    #[serde(rename = "JobID")]
    pub job_id: &'a JobId,
    pub job_type: &'a str,
    pub job_version: u64,
    pub task_group: &'a str,
    pub desired_status: &'a str,
    pub desired_description: &'a str,
    pub client_status: &'a str,
    pub client_description: &'a str,
    pub task_states: &'a BTreeMap<String, TaskState>,
    pub previous_allocation: Option<&'a AllocId>,
    pub next_allocation: Option<&'a AllocId>,
    pub reschedule_tracker: Option<&'a RescheduleTracker>,
    /// Only with `?resources=true`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allocated_resources: Option<&'a AllocatedResources>,
    pub create_index: u64,
    pub modify_index: u64,
    pub alloc_modify_index: u64,
    pub create_time: i64,
    pub modify_time: i64,
}

impl<'a> AllocListStub<'a> {
    pub fn new(alloc: &'a Allocation, with_resources: bool) -> Self {
        let job = alloc.job.as_deref();
        Self {
            id: &alloc.id,
            eval_id: &alloc.eval_id,
            name: &alloc.name,
            namespace: if alloc.namespace.is_empty() {
                DEFAULT_NAMESPACE
            } else {
                &alloc.namespace
            },
            node_id: &alloc.node_id,
            node_name: &alloc.node_name,
            job_id: &alloc.job_id,
            job_type: job.and_then(|j| j.job_type.as_deref()).unwrap_or(""),
            job_version: job.and_then(|j| j.version).unwrap_or(0),
            task_group: &alloc.task_group,
            desired_status: &alloc.desired_status,
            desired_description: &alloc.desired_description,
            client_status: &alloc.client_status,
            client_description: &alloc.client_description,
            task_states: &alloc.task_states,
            previous_allocation: alloc.previous_allocation.as_ref(),
            next_allocation: alloc.next_allocation.as_ref(),
            reschedule_tracker: alloc.reschedule_tracker.as_ref(),
            allocated_resources: with_resources.then_some(&alloc.allocated_resources),
            create_index: alloc.create_index,
            modify_index: alloc.modify_index,
            alloc_modify_index: alloc.alloc_modify_index,
            create_time: alloc.create_time,
            modify_time: alloc.modify_time,
        }
    }
}

/// A row of `GET /v1/nodes`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct NodeListStub<'a> {
    pub address: &'a str,
    #[serde(rename = "ID")]
    pub id: &'a NodeId,
    /// Only with `?os=true`: the `os.*` attributes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attributes: Option<BTreeMap<&'a str, &'a str>>,
    pub datacenter: &'a str,
    pub name: &'a str,
    pub node_class: &'a str,
    pub node_pool: &'a str,
    pub version: &'a str,
    pub drain: bool,
    pub scheduling_eligibility: &'a str,
    pub status: &'a str,
    pub status_description: &'a str,
    pub drivers: &'a BTreeMap<String, DriverInfo>,
    /// Only with `?resources=true`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node_resources: Option<&'a NodeResources>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reserved_resources: Option<&'a NodeReservedResources>,
    pub last_drain: Option<()>,
    pub create_index: u64,
    pub modify_index: u64,
}

impl<'a> NodeListStub<'a> {
    pub fn new(node: &'a Node, with_os: bool, with_resources: bool) -> Self {
        Self {
            address: node_address(node),
            id: &node.id,
            attributes: with_os.then(|| {
                node.attributes
                    .iter()
                    .filter(|(k, _)| k.starts_with("os."))
                    .map(|(k, v)| (k.as_str(), v.as_str()))
                    .collect()
            }),
            datacenter: &node.datacenter,
            name: &node.name,
            node_class: &node.node_class,
            node_pool: if node.node_pool.is_empty() {
                "default"
            } else {
                &node.node_pool
            },
            version: node
                .attributes
                .get("nomad.version")
                .or_else(|| node.attributes.get("caravan.version"))
                .map_or("", String::as_str),
            drain: node.drain,
            scheduling_eligibility: if node.scheduling_eligibility.is_empty() {
                "eligible"
            } else {
                &node.scheduling_eligibility
            },
            status: &node.status,
            status_description: &node.status_description,
            drivers: &node.drivers,
            node_resources: with_resources.then_some(&node.node_resources),
            reserved_resources: with_resources.then_some(&node.reserved_resources),
            last_drain: None,
            create_index: node.create_index,
            modify_index: node.modify_index,
        }
    }
}

/// The address Nomad shows for a node: its fingerprinted IP, else its first network's,
/// else the host of its HTTP address.
fn node_address(node: &Node) -> &str {
    if let Some(ip) = node.attributes.get("unique.network.ip-address") {
        return ip;
    }
    if let Some(net) = node
        .node_resources
        .networks
        .iter()
        .find(|n| !n.ip.is_empty())
    {
        return &net.ip;
    }
    node.http_addr
        .rsplit_once(':')
        .map_or(node.http_addr.as_str(), |(host, _)| host)
}

/// An evaluation as `?related=true` lists its relatives.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct EvalStub<'a> {
    #[serde(rename = "ID")]
    pub id: &'a EvalId,
    pub namespace: &'a str,
    pub priority: i64,
    #[serde(rename = "Type")]
    pub eval_type: &'a str,
    pub triggered_by: &'a str,
    #[serde(rename = "JobID")]
    pub job_id: &'a JobId,
    #[serde(rename = "NodeID")]
    pub node_id: Option<&'a NodeId>,
    pub status: &'a str,
    pub status_description: &'a str,
    pub next_eval: Option<&'a EvalId>,
    pub previous_eval: Option<&'a EvalId>,
    pub blocked_eval: Option<&'a EvalId>,
    pub create_index: u64,
    pub modify_index: u64,
    pub create_time: i64,
    pub modify_time: i64,
}

impl<'a> EvalStub<'a> {
    pub fn new(eval: &'a Evaluation) -> Self {
        Self {
            id: &eval.id,
            namespace: &eval.namespace,
            priority: eval.priority,
            eval_type: &eval.eval_type,
            triggered_by: &eval.triggered_by,
            job_id: &eval.job_id,
            node_id: eval.node_id.as_ref(),
            status: &eval.status,
            status_description: &eval.status_description,
            next_eval: eval.next_eval.as_ref(),
            previous_eval: eval.previous_eval.as_ref(),
            blocked_eval: eval.blocked_eval.as_ref(),
            create_index: eval.create_index,
            modify_index: eval.modify_index,
            create_time: eval.create_time,
            modify_time: eval.modify_time,
        }
    }
}
