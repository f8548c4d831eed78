//! `spread` scoring: how far placing on a node moves a group's allocations toward the
//! wanted distribution over an attribute's values.

use std::collections::{BTreeMap, BTreeSet};

use caravan_model::{Node, Spread};

use crate::constraint::resolve;

/// One spread rule with the group's current counts per value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SpreadState {
    pub attribute: String,
    weight: f64,
    /// Wanted share (0..=1) per value; empty for an even spread.
    targets: BTreeMap<String, f64>,
    /// Live allocations of the group per attribute value.
    counts: BTreeMap<String, u32>,
    /// Every value seen on candidate nodes (an even spread balances over these).
    universe: BTreeSet<String>,
    /// The group's count: target shares are of this.
    desired: u32,
}

impl SpreadState {
    pub fn new(spread: &Spread, desired: u32) -> Self {
        Self {
            attribute: spread.attribute.clone(),
            weight: spread.weight.unwrap_or(50).max(0) as f64,
            targets: spread
                .spread_target
                .iter()
                .map(|t| (t.value.clone(), f64::from(t.percent) / 100.0))
                .collect(),
            counts: BTreeMap::new(),
            universe: BTreeSet::new(),
            desired: desired.max(1),
        }
    }

    pub fn weight(&self) -> f64 {
        self.weight
    }

    /// A candidate node has this value.
    pub fn observe(&mut self, value: Option<&str>) {
        if let Some(v) = value
            && !self.universe.contains(v)
        {
            self.universe.insert(v.to_owned());
        }
    }

    /// `node` is a candidate.
    pub fn observe_node(&mut self, node: &Node) {
        let value = resolve(&self.attribute, node).map(str::to_owned);
        self.observe(value.as_deref());
    }

    /// An allocation of the group is (or will be) on `node`.
    pub fn add_node(&mut self, node: &Node) {
        let value = resolve(&self.attribute, node).map(str::to_owned);
        self.add(value.as_deref());
    }

    /// An allocation of the group is (or will be) on a node with this value.
    pub fn add(&mut self, value: Option<&str>) {
        if let Some(v) = value {
            match self.counts.get_mut(v) {
                Some(n) => *n += 1,
                None => {
                    self.counts.insert(v.to_owned(), 1);
                }
            }
        }
    }

    fn count(&self, value: &str) -> u32 {
        self.counts.get(value).copied().unwrap_or(0)
    }

    /// In [-1, 1]: positive where the value is under its share, negative over it or
    /// when the node lacks the attribute.
    pub fn score(&self, value: Option<&str>) -> f64 {
        let Some(value) = value else { return -1.0 };
        if self.targets.is_empty() {
            return self.even_score(value);
        }
        let (share, used) = match self.targets.get(value) {
            Some(share) => (*share, self.count(value)),
            None => {
                // Values without a target share what the targets leave.
                let rest = 1.0 - self.targets.values().sum::<f64>();
                let used = self
                    .counts
                    .iter()
                    .filter(|(v, _)| !self.targets.contains_key(*v))
                    .map(|(_, n)| *n)
                    .sum();
                (rest, used)
            }
        };
        let wanted = share * f64::from(self.desired);
        if wanted <= 0.0 {
            return -1.0;
        }
        ((wanted - f64::from(used)) / wanted).clamp(-1.0, 1.0)
    }

    fn even_score(&self, value: &str) -> f64 {
        let counts = self.universe.iter().map(|v| self.count(v));
        let min = counts.clone().min().unwrap_or(0);
        let max = counts.max().unwrap_or(0);
        if max == min {
            return 0.0;
        }
        let used = self.count(value);
        (f64::from(max.saturating_sub(used)) / f64::from(max - min)) * 2.0 - 1.0
    }
}

#[cfg(test)]
mod tests {
    use caravan_model::SpreadTarget;

    use super::*;

    #[test]
    fn even_spread_prefers_the_least_used_value() {
        let mut s = SpreadState::new(
            &Spread {
                attribute: "${node.datacenter}".into(),
                ..Spread::default()
            },
            4,
        );
        s.observe(Some("a"));
        s.observe(Some("b"));
        assert_eq!(s.score(Some("a")), 0.0);
        s.add(Some("a"));
        assert_eq!(s.score(Some("b")), 1.0);
        assert_eq!(s.score(Some("a")), -1.0);
        assert_eq!(s.score(None), -1.0);
    }

    #[test]
    fn targets_steer_toward_their_share() {
        let spread = Spread {
            attribute: "${meta.zone}".into(),
            weight: Some(100),
            spread_target: vec![SpreadTarget {
                value: "z1".into(),
                percent: 75,
            }],
        };
        let mut s = SpreadState::new(&spread, 4);
        assert_eq!(s.score(Some("z1")), 1.0);
        assert_eq!(s.score(Some("z2")), 1.0, "others share the remaining 25%");
        s.add(Some("z2"));
        assert_eq!(s.score(Some("z2")), 0.0);
        s.add(Some("z1"));
        s.add(Some("z1"));
        s.add(Some("z1"));
        assert_eq!(s.score(Some("z1")), 0.0);
        assert_eq!(s.score(Some("z2")), 0.0);
        s.add(Some("z3"));
        assert!(s.score(Some("z2")) < 0.0, "z2 and z3 share the 25%");
        assert!(s.score(Some("z1")) > s.score(Some("z2")));
    }
}
