//! Node selection for one run: the candidate nodes in a seeded order, what is used on
//! each (built lazily, the first time a node is considered), and the choice of a node
//! for each placement.

use std::collections::{BTreeMap, BTreeSet};

use caravan_model::{AllocMetric, AllocatedResources, Allocation, Job, Node};
use caravan_state::Snapshot;

use crate::constraint::{Matcher, datacenter_matches, pool_matches};
use crate::group_state::GroupState;
use crate::resources::{NodeCapacity, NodeUsage, node_address};
use crate::rules::Scope;
use crate::{Rng, SchedContext};

/// A candidate node's capacity and usage, once considered.
#[derive(Debug)]
struct NodeSlot {
    cap: NodeCapacity,
    usage: NodeUsage,
}

/// Chooses nodes for one run's placements and keeps the usage they add.
#[derive(Debug)]
pub(crate) struct Placer<'a> {
    snap: &'a Snapshot,
    ctx: &'a SchedContext,
    /// Ready, eligible nodes in the job's datacenters and pool, in a seeded order.
    pub nodes: Vec<&'a Node>,
    pub position: BTreeMap<&'a str, usize>,
    slots: Vec<Option<NodeSlot>>,
    /// Live allocations of the job per candidate node.
    job_count: Vec<u32>,
    /// Where the next search starts: successive placements look at fresh nodes.
    cursor: usize,
    /// Allocations the plan stops that will be terminal once it is applied: their
    /// resources and ports are free for this plan.
    freed: BTreeSet<&'a str>,
    pub matcher: Matcher,
    rng: Rng,
    nodes_available: BTreeMap<String, u64>,
}

impl<'a> Placer<'a> {
    pub fn new(snap: &'a Snapshot, ctx: &'a SchedContext, job: &Job, rng: &mut Rng) -> Self {
        let mut nodes: Vec<&Node> = snap
            .nodes()
            .filter(|n| {
                n.is_ready()
                    && n.is_eligible()
                    && datacenter_matches(&job.datacenters, &n.datacenter)
                    && pool_matches(job.node_pool.as_deref(), &n.node_pool)
            })
            .collect();
        let mut order_rng = rng.fork(1);
        order_rng.shuffle(&mut nodes);
        let mut nodes_available = BTreeMap::new();
        for n in &nodes {
            *nodes_available.entry(n.datacenter.clone()).or_insert(0) += 1;
        }
        let position = nodes
            .iter()
            .enumerate()
            .map(|(i, n)| (n.id.as_str(), i))
            .collect();
        let count = nodes.len();
        Self {
            snap,
            ctx,
            nodes,
            position,
            slots: (0..count).map(|_| None).collect(),
            job_count: vec![0; count],
            cursor: 0,
            freed: BTreeSet::new(),
            matcher: Matcher::default(),
            rng: rng.fork(2),
            nodes_available,
        }
    }

    /// Tells the placer what the plan already decided: allocations it stops (their
    /// resources and ports are freed for this plan's placements, as Nomad does; the
    /// client's network hook waits for a still-running predecessor to release a port)
    /// and those of the job that stay live.
    pub fn begin(&mut self, stopped: &[&'a Allocation], live: &[&'a Allocation]) {
        self.freed = stopped.iter().map(|a| a.id.as_str()).collect();
        for alloc in live {
            if let Some(&idx) = self.position.get(alloc.node_id.as_str()) {
                self.job_count[idx] += 1;
            }
        }
    }

    /// A metric for one placement, with the pool's size.
    pub fn new_metric(&self) -> AllocMetric {
        AllocMetric {
            nodes_in_pool: self.nodes.len() as u64,
            ..AllocMetric::default()
        }
    }

    /// Adds the pool's nodes per datacenter, for a failed placement's report.
    pub fn add_pool_figures(&self, metric: &mut AllocMetric) {
        metric.nodes_available = self.nodes_available.clone();
    }

    /// Chooses the best of the next `g.limit` feasible nodes after the cursor. `None`
    /// after a full, fruitless scan, which `metric` then describes.
    pub fn select(
        &mut self,
        g: &mut GroupState,
        penalty: &[usize],
        metric: &mut AllocMetric,
    ) -> Option<usize> {
        let n = self.nodes.len();
        let mut best: Option<(usize, f64)> = None;
        let mut found = 0;
        for _ in 0..n {
            let idx = self.cursor;
            self.cursor = (self.cursor + 1) % n;
            let Some(score) = self.evaluate(g, idx, penalty, metric) else {
                continue;
            };
            if best.is_none_or(|(_, s)| score > s) {
                best = Some((idx, score));
            }
            found += 1;
            if found >= g.limit {
                break;
            }
        }
        best.map(|(idx, _)| idx)
    }

    /// Whether the group can be placed on one given node (system jobs).
    pub fn try_node(&mut self, g: &mut GroupState, idx: usize, metric: &mut AllocMetric) -> bool {
        self.evaluate(g, idx, &[], metric).is_some()
    }

    /// Judges one node for the group: `None` (with the metric updated) if it is
    /// filtered or exhausted, else its score.
    fn evaluate(
        &mut self,
        g: &mut GroupState,
        idx: usize,
        penalty: &[usize],
        metric: &mut AllocMetric,
    ) -> Option<f64> {
        metric.nodes_evaluated += 1;
        let node = self.nodes[idx];
        let filtered = match g.static_check(idx, node, &mut self.matcher) {
            Err(reason) => Some(reason.to_owned()),
            Ok(()) => {
                let distinct = match g.rules.distinct_hosts {
                    Some(Scope::Job) => self.job_count[idx] > 0,
                    Some(Scope::Group) => g.group_count[idx] > 0,
                    None => false,
                };
                if distinct {
                    Some("distinct_hosts".to_owned())
                } else {
                    g.property_check(node).err().map(str::to_owned)
                }
            }
        };
        if let Some(reason) = filtered {
            metric.nodes_filtered += 1;
            bump(&mut metric.constraint_filtered, reason);
            return None;
        }
        let slot = self.slot(idx);
        if let Err(dimension) = slot.usage.fits(&slot.cap, &g.ask) {
            metric.nodes_exhausted += 1;
            bump(&mut metric.dimension_exhausted, dimension);
            return None;
        }
        let mut total = slot.usage.fit_score(&slot.cap, &g.ask);
        let mut parts = 1.0;
        if g.anti_affinity && g.group_count[idx] > 0 {
            let collisions = f64::from(g.group_count[idx]);
            total -= ((collisions + 1.0) / f64::from(g.desired.max(1))).min(1.0);
            parts += 1.0;
        }
        if penalty.contains(&idx) {
            total -= 1.0;
            parts += 1.0;
        }
        if !g.rules.affinities.is_empty() {
            total += g.affinity_score(idx, node, &mut self.matcher);
            parts += 1.0;
        }
        if !g.spreads.is_empty() {
            total += g.spread_score(node);
            parts += 1.0;
        }
        Some(total / parts)
    }

    fn slot(&mut self, idx: usize) -> &mut NodeSlot {
        let node = self.nodes[idx];
        let (snap, freed, ctx) = (self.snap, &self.freed, self.ctx);
        self.slots[idx].get_or_insert_with(|| {
            let mut usage = NodeUsage::empty(node, ctx.min_dynamic_port, ctx.max_dynamic_port);
            for alloc in snap.allocs_by_node(&node.id) {
                if !alloc.is_terminal() && !freed.contains(alloc.id.as_str()) {
                    // Conflicts among existing allocations are the plan check's concern;
                    // here everything they hold simply counts as taken.
                    let _ = usage.add_alloc(alloc);
                }
            }
            NodeSlot {
                cap: NodeCapacity::of(node),
                usage,
            }
        })
    }

    /// Takes the group's resources on the chosen node and counts the placement.
    pub fn commit(&mut self, g: &mut GroupState, idx: usize) -> Result<AllocatedResources, String> {
        let node = self.nodes[idx];
        let mut rng = self.rng.fork(idx as u64);
        let slot = self.slot(idx);
        let resources = slot
            .usage
            .grant(&slot.cap, &g.ask, node_address(node), &mut rng)?;
        self.job_count[idx] += 1;
        g.group_count[idx] += 1;
        g.count_placement(node, true);
        Ok(resources)
    }

    /// A fresh id from the run's seed.
    pub fn new_id(&mut self) -> String {
        self.rng.uuid()
    }
}

pub(crate) fn bump(map: &mut BTreeMap<String, u64>, key: String) {
    *map.entry(key).or_insert(0) += 1;
}
