//! A group's placement rules, gathered from the job, the group and its tasks.

use caravan_model::{Affinity, Constraint, Job, Node, Spread, TaskGroup};

use crate::constraint::{Matcher, describe, driver_ok};

/// Which allocations a distinct constraint counts: the whole job's (declared on the
/// job) or the group's (declared on the group or a task).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scope {
    Job,
    Group,
}

/// `distinct_property`: at most `limit` allocations per value of `target`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DistinctProperty {
    pub target: String,
    pub limit: u32,
    pub scope: Scope,
    /// How it is named in placement failures.
    pub text: String,
}

/// Everything that decides whether, and how well, a node suits a group.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct GroupRules {
    /// Constraints judged on the node alone (job, group and task levels).
    pub constraints: Vec<Constraint>,
    pub drivers: Vec<String>,
    /// Devices are not fingerprinted yet: a group asking for one fits nowhere.
    pub wants_devices: bool,
    pub distinct_hosts: Option<Scope>,
    pub distinct_property: Vec<DistinctProperty>,
    pub affinities: Vec<Affinity>,
    pub spreads: Vec<Spread>,
}

impl GroupRules {
    pub fn new(job: &Job, group: &TaskGroup) -> Self {
        let mut rules = GroupRules {
            constraints: Vec::new(),
            drivers: Vec::new(),
            wants_devices: false,
            distinct_hosts: None,
            distinct_property: Vec::new(),
            affinities: Vec::new(),
            spreads: Vec::new(),
        };
        let task_constraints = group.tasks.iter().flat_map(|t| &t.constraints);
        let levels = job
            .constraints
            .iter()
            .map(|c| (c, Scope::Job))
            .chain(group.constraints.iter().map(|c| (c, Scope::Group)))
            .chain(task_constraints.map(|c| (c, Scope::Group)));
        for (c, scope) in levels {
            match c.operand.as_str() {
                "distinct_hosts" => {
                    if !matches!(c.r_target.as_str(), "false" | "0") {
                        // A job-level one is the stronger rule; keep it if both exist.
                        if rules.distinct_hosts != Some(Scope::Job) {
                            rules.distinct_hosts = Some(scope);
                        }
                    }
                }
                "distinct_property" => rules.distinct_property.push(DistinctProperty {
                    target: c.l_target.clone(),
                    limit: c
                        .r_target
                        .trim()
                        .parse()
                        .ok()
                        .filter(|n| *n > 0)
                        .unwrap_or(1),
                    scope,
                    text: describe(c),
                }),
                _ => rules.constraints.push(c.clone()),
            }
        }
        for task in &group.tasks {
            if !task.driver.is_empty() && !rules.drivers.contains(&task.driver) {
                rules.drivers.push(task.driver.clone());
            }
            if task
                .resources
                .as_ref()
                .is_some_and(|r| !r.devices.is_empty())
            {
                rules.wants_devices = true;
            }
        }
        rules.affinities = job
            .affinities
            .iter()
            .chain(&group.affinities)
            .chain(group.tasks.iter().flat_map(|t| &t.affinities))
            .cloned()
            .collect();
        rules.spreads = job.spreads.iter().chain(&group.spreads).cloned().collect();
        rules
    }

    /// Whether the node suits the group on its own merits; the error is the reason
    /// shown in placement failures (`missing drivers`, or the failed constraint).
    pub fn check_node(&self, matcher: &mut Matcher, node: &Node) -> Result<(), String> {
        if !self.drivers.iter().all(|d| driver_ok(node, d)) {
            return Err("missing drivers".to_owned());
        }
        if self.wants_devices {
            return Err("missing devices".to_owned());
        }
        for c in &self.constraints {
            if !matcher.constraint(node, c) {
                return Err(describe(c));
            }
        }
        Ok(())
    }

    /// The affinity score of a node in [-1, 1]: matched weights over total weight.
    pub fn affinity_score(&self, matcher: &mut Matcher, node: &Node) -> f64 {
        let mut total = 0.0;
        let mut matched = 0.0;
        for a in &self.affinities {
            let weight = a.weight.unwrap_or(50) as f64;
            total += weight.abs();
            if matcher.matches(node, &a.l_target, &a.operand, &a.r_target) {
                matched += weight;
            }
        }
        if total == 0.0 { 0.0 } else { matched / total }
    }
}
