//! Re-checking a plan against fresh state before it is committed: the plan applier's
//! guarantee that no node is oversubscribed and no host port is given twice, whatever
//! happened since the scheduler took its snapshot.

use std::collections::{BTreeMap, BTreeSet};

use caravan_model::{NodeId, Plan};
use caravan_state::Snapshot;

use crate::context::{DEFAULT_MAX_DYNAMIC_PORT, DEFAULT_MIN_DYNAMIC_PORT};
use crate::resources::{NodeCapacity, NodeUsage, UsageConflict};

/// The verdict on a plan, per node.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PlanCheck {
    /// Nodes whose placements must not be committed, with why: `cpu`, `memory`,
    /// `cores`, `network: reserved port collision <label>=<port>`, `node not found`,
    /// `node is not ready`, `node is not eligible`.
    pub rejected: BTreeMap<NodeId, String>,
}

impl PlanCheck {
    /// Whether the whole plan may be committed.
    pub fn is_ok(&self) -> bool {
        self.rejected.is_empty()
    }

    /// The plan less the placements on rejected nodes. Stops are kept: they only free
    /// resources. The evaluation should be re-run for what was dropped.
    pub fn accepted(&self, plan: &Plan) -> Plan {
        let mut accepted = plan.clone();
        accepted
            .node_allocation
            .retain(|node, _| !self.rejected.contains_key(node));
        accepted
    }
}

/// Checks every node that `plan` places or updates allocations on, against `snap`.
pub fn check_plan(snap: &Snapshot, plan: &Plan) -> PlanCheck {
    let stopped: BTreeSet<&str> = plan
        .node_update
        .values()
        .flatten()
        .map(|u| u.alloc_id.as_str())
        .collect();
    let mut rejected = BTreeMap::new();
    for (node_id, allocs) in &plan.node_allocation {
        if let Err(reason) = check_node(snap, node_id, allocs, &stopped) {
            rejected.insert(node_id.clone(), reason);
        }
    }
    PlanCheck { rejected }
}

fn check_node(
    snap: &Snapshot,
    node_id: &NodeId,
    allocs: &[caravan_model::Allocation],
    stopped: &BTreeSet<&str>,
) -> Result<(), String> {
    let Some(node) = snap.node(node_id) else {
        return Err("node not found".to_owned());
    };
    let places_new = allocs.iter().any(|a| snap.alloc(&a.id).is_none());
    if places_new && !node.is_ready() {
        return Err("node is not ready".to_owned());
    }
    if places_new && !node.is_eligible() {
        return Err("node is not eligible".to_owned());
    }
    let in_plan: BTreeSet<&str> = allocs.iter().map(|a| a.id.as_str()).collect();
    let cap = NodeCapacity::of(node);
    let mut usage = NodeUsage::empty(node, DEFAULT_MIN_DYNAMIC_PORT, DEFAULT_MAX_DYNAMIC_PORT);
    for alloc in snap.allocs_by_node(node_id) {
        let freed = stopped.contains(alloc.id.as_str());
        if alloc.is_terminal() || freed || in_plan.contains(alloc.id.as_str()) {
            continue;
        }
        // What is already committed stands; only the plan's additions are judged.
        let _ = usage.add_alloc(alloc);
    }
    for alloc in allocs.iter().filter(|a| !a.is_terminal()) {
        match usage.add_alloc(alloc) {
            Ok(()) => {}
            Err(UsageConflict::Port(e)) => return Err(e.dimension()),
            Err(UsageConflict::Core(core)) => return Err(format!("cores: core {core} is taken")),
        }
        let mut cores = alloc
            .allocated_resources
            .tasks
            .values()
            .flat_map(|t| &t.cpu.reserved_cores);
        if let Some(core) = cores.find(|c| !cap.cores.contains(c)) {
            return Err(format!("cores: core {core} is not reservable"));
        }
    }
    if usage.cpu > cap.cpu {
        return Err("cpu".to_owned());
    }
    if usage.memory_mb > cap.memory_mb {
        return Err("memory".to_owned());
    }
    Ok(())
}
