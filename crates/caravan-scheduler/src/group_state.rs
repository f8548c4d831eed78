//! Per-group placement state for one run: what the group asks for, its rules, which
//! candidate nodes suit it (cached), and where its allocations are.

use std::collections::BTreeMap;

use caravan_model::{Allocation, Job, Node, TaskGroup};
use caravan_state::Snapshot;

use crate::constraint::{Matcher, resolve};
use crate::resources::GroupAsk;
use crate::rules::{GroupRules, Scope};
use crate::spread::SpreadState;

/// Feasible nodes scored per placement without spreads or affinities.
const PLAIN_LIMIT: usize = 16;
/// Feasible nodes scored per placement with spreads or affinities, which need a wider
/// view of the cluster to balance.
const SPREAD_LIMIT: usize = 128;

const UNKNOWN: u32 = 0;
const FEASIBLE: u32 = 1;

/// One group's state while a run places its allocations.
#[derive(Debug)]
pub(crate) struct GroupState {
    pub ask: GroupAsk,
    pub rules: GroupRules,
    /// Per candidate node: UNKNOWN, FEASIBLE, or 2 + index into `reasons`.
    feasible: Vec<u32>,
    reasons: Vec<String>,
    /// Live allocations of the group per candidate node.
    pub group_count: Vec<u32>,
    /// Per `rules.distinct_property`: allocations per property value in its scope.
    pub properties: Vec<BTreeMap<String, u32>>,
    pub spreads: Vec<SpreadState>,
    affinity: Vec<Option<f64>>,
    /// The group's count, which scales the same-node penalty.
    pub desired: u32,
    /// How many feasible nodes a placement scores before choosing.
    pub limit: usize,
    /// Whether placing next to the group's own allocations is penalised (not for system
    /// jobs, which place on given nodes).
    pub anti_affinity: bool,
}

impl GroupState {
    /// `live` is every allocation of the job that stays live after the plan, plus the
    /// ones placed so far in this run; `nodes` are the candidates in run order.
    pub fn new(
        snap: &Snapshot,
        job: &Job,
        group: &TaskGroup,
        nodes: &[&Node],
        position: &BTreeMap<&str, usize>,
        live: &[&Allocation],
    ) -> Self {
        let rules = GroupRules::new(job, group);
        let n = nodes.len();
        let desired = u32::try_from(group.count.unwrap_or(1)).unwrap_or(0);
        let mut spreads: Vec<SpreadState> = rules
            .spreads
            .iter()
            .map(|s| SpreadState::new(s, desired))
            .collect();
        for spread in &mut spreads {
            for node in nodes {
                spread.observe_node(node);
            }
        }
        let mut state = GroupState {
            ask: GroupAsk::new(group),
            feasible: vec![UNKNOWN; n],
            reasons: Vec::new(),
            group_count: vec![0; n],
            properties: vec![BTreeMap::new(); rules.distinct_property.len()],
            spreads,
            affinity: if rules.affinities.is_empty() {
                Vec::new()
            } else {
                vec![None; n]
            },
            desired,
            limit: if rules.spreads.is_empty() && rules.affinities.is_empty() {
                n.min(PLAIN_LIMIT)
            } else {
                n.min(SPREAD_LIMIT)
            },
            anti_affinity: true,
            rules,
        };
        for alloc in live {
            let same_group = alloc.task_group == group.name;
            if same_group && let Some(&idx) = position.get(alloc.node_id.as_str()) {
                state.group_count[idx] += 1;
            }
            let Some(node) = snap.node(&alloc.node_id) else {
                continue;
            };
            state.count_placement(node, same_group);
        }
        state
    }

    /// Records an allocation of the job on `node` (of this group or not) in the
    /// property and spread counts.
    pub fn count_placement(&mut self, node: &Node, same_group: bool) {
        for (rule, counts) in self
            .rules
            .distinct_property
            .iter()
            .zip(&mut self.properties)
        {
            if rule.scope == Scope::Group && !same_group {
                continue;
            }
            if let Some(value) = resolve(&rule.target, node) {
                *counts.entry(value.to_owned()).or_default() += 1;
            }
        }
        if same_group {
            for spread in &mut self.spreads {
                spread.add_node(node);
            }
        }
    }

    /// Whether a candidate node suits the group on its own merits (cached per node).
    pub fn static_check(
        &mut self,
        idx: usize,
        node: &Node,
        matcher: &mut Matcher,
    ) -> Result<(), &str> {
        if self.feasible[idx] == UNKNOWN {
            self.feasible[idx] = match self.rules.check_node(matcher, node) {
                Ok(()) => FEASIBLE,
                Err(reason) => {
                    let at = match self.reasons.iter().position(|r| *r == reason) {
                        Some(at) => at,
                        None => {
                            self.reasons.push(reason);
                            self.reasons.len() - 1
                        }
                    };
                    2 + at as u32
                }
            };
        }
        match self.feasible[idx] {
            FEASIBLE => Ok(()),
            code => Err(&self.reasons[(code - 2) as usize]),
        }
    }

    /// Whether placing here would break `distinct_property`; the error names the rule.
    pub fn property_check(&self, node: &Node) -> Result<(), &str> {
        for (rule, counts) in self.rules.distinct_property.iter().zip(&self.properties) {
            let Some(value) = resolve(&rule.target, node) else {
                return Err(&rule.text);
            };
            if counts.get(value).copied().unwrap_or(0) >= rule.limit {
                return Err(&rule.text);
            }
        }
        Ok(())
    }

    pub fn affinity_score(&mut self, idx: usize, node: &Node, matcher: &mut Matcher) -> f64 {
        if let Some(score) = self.affinity[idx] {
            return score;
        }
        let score = self.rules.affinity_score(matcher, node);
        self.affinity[idx] = Some(score);
        score
    }

    /// The weighted spread score of a node, in [-1, 1].
    pub fn spread_score(&self, node: &Node) -> f64 {
        let total: f64 = self.spreads.iter().map(SpreadState::weight).sum();
        if total == 0.0 {
            return 0.0;
        }
        self.spreads
            .iter()
            .map(|s| s.weight() * s.score(resolve(&s.attribute, node)))
            .sum::<f64>()
            / total
    }
}
