//! Reconciliation for system and sysbatch jobs: one allocation of each group on every
//! ready, eligible node that suits it, nodes that joined since included.

use std::collections::BTreeMap;

use caravan_model::{Allocation, Job, JobType, Node};
use caravan_state::Snapshot;

use crate::constraint::{Matcher, datacenter_matches, pool_matches};
use crate::decisions::{
    Decisions, PlaceRequest, STOP_LOST, STOP_MIGRATING, STOP_NODE_INELIGIBLE, STOP_NOT_NEEDED,
    STOP_UPDATING,
};
use crate::reconcile::{client_terminal, destructive_budget, is_live};
use crate::rules::GroupRules;
use crate::update::{UpdateCheck, UpdateKind};

/// Reconciles a system or sysbatch job that is not stopped. `nodes` are the placer's
/// candidates (ready, eligible, in the job's datacenters and pool), `position` their
/// index by node id.
pub(crate) fn reconcile_system<'a>(
    snap: &'a Snapshot,
    job: &'a Job,
    allocs: &[&'a Allocation],
    position: &BTreeMap<&str, usize>,
    matcher: &mut Matcher,
) -> Decisions<'a> {
    let sysbatch = job.kind() == JobType::Sysbatch;
    let mut d = Decisions::default();
    let mut check = UpdateCheck::new(job);
    for alloc in allocs
        .iter()
        .filter(|a| job.group(&a.task_group).is_none() && is_live(a))
    {
        d.stop(alloc, STOP_NOT_NEEDED);
    }
    for group in &job.task_groups {
        let rules = GroupRules::new(job, group);
        let mut by_node: BTreeMap<&str, Vec<&Allocation>> = BTreeMap::new();
        for alloc in allocs.iter().copied() {
            if alloc.task_group == group.name
                && alloc.next_allocation.is_none()
                && alloc.desired_status == "run"
            {
                by_node
                    .entry(alloc.node_id.as_str())
                    .or_default()
                    .push(alloc);
            }
        }
        for list in by_node.values_mut() {
            list.sort_by(|a, b| (a.create_index, &a.id).cmp(&(b.create_index, &b.id)));
        }
        let mut destructive: Vec<(&Allocation, usize)> = Vec::new();
        let mut in_flight = 0;
        for (node_id, list) in &by_node {
            let live: Vec<&Allocation> = list
                .iter()
                .copied()
                .filter(|a| !client_terminal(a))
                .collect();
            let node = snap
                .node(&caravan_model::NodeId::from(*node_id))
                .filter(|n| n.status != "down");
            let Some(node) = node else {
                live.iter().for_each(|a| d.stop(a, STOP_LOST));
                continue;
            };
            if node.drain {
                live.iter().for_each(|a| d.stop(a, STOP_MIGRATING));
                continue;
            }
            let suits = in_scope(job, node) && rules.check_node(matcher, node).is_ok();
            let candidate = position.get(*node_id).copied().filter(|_| suits);
            let Some(idx) = candidate else {
                // Off the candidate list: keep what runs on a merely ineligible node that
                // still suits the job, stop the rest.
                for a in live {
                    if suits && node.is_ready() {
                        d.live.push(a);
                    } else {
                        d.stop(a, STOP_NODE_INELIGIBLE);
                    }
                }
                continue;
            };
            if let Some((first, extras)) = live.split_first() {
                extras.iter().for_each(|a| d.stop(a, STOP_NOT_NEEDED));
                match check.kind(first) {
                    UpdateKind::Current => {
                        if first.client_status == "pending" {
                            in_flight += 1;
                        }
                        d.live.push(first);
                    }
                    UpdateKind::InPlace => {
                        d.in_place.push(first);
                        d.live.push(first);
                    }
                    UpdateKind::Destructive => destructive.push((first, idx)),
                }
                continue;
            }
            // Nothing live here: sysbatch work of this version is done once it ran;
            // system allocations are replaced, a failed one linked to its successor.
            let ran_current = |a: &&Allocation| check.kind(a) == UpdateKind::Current;
            if sysbatch && list.iter().any(ran_current) {
                continue;
            }
            let previous = list
                .iter()
                .rev()
                .copied()
                .find(|a| a.client_status != "complete");
            d.places.push(PlaceRequest {
                group,
                index: 0,
                previous,
                reschedule_delay: None,
                node: Some(idx),
            });
        }
        for (node_id, idx) in position {
            if by_node.contains_key(node_id) {
                continue;
            }
            let Some(node) = snap.node(&caravan_model::NodeId::from(*node_id)) else {
                continue;
            };
            if rules.check_node(matcher, node).is_ok() {
                d.places.push(PlaceRequest {
                    group,
                    index: 0,
                    previous: None,
                    reschedule_delay: None,
                    node: Some(*idx),
                });
            }
        }
        let budget = destructive_budget(job, group, in_flight);
        for (i, (alloc, idx)) in destructive.into_iter().enumerate() {
            if i < budget {
                d.stop(alloc, STOP_UPDATING);
                d.places.push(PlaceRequest {
                    group,
                    index: 0,
                    previous: None,
                    reschedule_delay: None,
                    node: Some(idx),
                });
            } else {
                d.live.push(alloc);
                d.rolling = true;
            }
        }
    }
    d
}

/// Whether a node is in the job's datacenters and node pool.
fn in_scope(job: &Job, node: &Node) -> bool {
    datacenter_matches(&job.datacenters, &node.datacenter)
        && pool_matches(job.node_pool.as_deref(), &node.node_pool)
}
