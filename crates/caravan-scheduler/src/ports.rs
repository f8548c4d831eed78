//! The host-port ledger: which ports of one node are taken. The scheduler builds one per
//! node it considers and the plan applier builds one per node it re-checks, from the same
//! inputs, so a port can never be handed out twice.

use std::fmt;

use caravan_model::{AllocatedPortMapping, Allocation, Node};

use crate::Rng;

const WORDS: usize = 65536 / 64;

/// How many random probes a dynamic pick makes before scanning the range in order.
const RANDOM_PROBES: usize = 16;

/// A port that cannot be given.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PortError {
    /// A static port already taken (by an allocation, the node's reserved ports or an
    /// earlier port of the same request).
    #[error("reserved port collision {label}={port}")]
    Collision { label: String, port: u16 },
    /// No free port left in the node's dynamic range.
    #[error("dynamic port selection failed")]
    Exhausted,
    /// A static port outside 1..=65535.
    #[error("invalid port {label}={port}")]
    Invalid { label: String, port: i64 },
}

impl PortError {
    /// The `dimension_exhausted` key Nomad's CLI shows for this failure.
    pub fn dimension(&self) -> String {
        format!("network: {self}")
    }
}

/// A malformed `reserved_host_ports` entry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid port list entry {entry:?}")]
pub struct PortSpecError {
    pub entry: String,
}

/// Parses Nomad's port list syntax, `"22,80,8000-8100"`, into inclusive ranges.
pub fn parse_port_list(spec: &str) -> Result<Vec<(u16, u16)>, PortSpecError> {
    let mut ranges = Vec::new();
    for entry in spec.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let err = || PortSpecError {
            entry: entry.to_owned(),
        };
        let range = match entry.split_once('-') {
            Some((lo, hi)) => {
                let lo: u16 = lo.trim().parse().map_err(|_| err())?;
                let hi: u16 = hi.trim().parse().map_err(|_| err())?;
                if lo > hi {
                    return Err(err());
                }
                (lo, hi)
            }
            None => {
                let port: u16 = entry.parse().map_err(|_| err())?;
                (port, port)
            }
        };
        ranges.push(range);
    }
    Ok(ranges)
}

/// One port an allocation asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortRequest {
    pub label: String,
    /// The static host port; 0 asks for a dynamic one.
    pub value: i64,
    /// The port inside the allocation's namespace or container; -1 means "the host port".
    pub to: i64,
    /// A static port that may be shared (Nomad's `ignore_collision`).
    pub ignore_collision: bool,
}

/// The taken ports of one node: a 64 Ki-bit set, so checks and marks are O(1).
#[derive(Clone)]
pub struct PortLedger {
    used: Box<[u64; WORDS]>,
    min_dynamic: u16,
    max_dynamic: u16,
    /// Taken ports inside the dynamic range, to fail fast when it is full.
    used_dynamic: u32,
}

impl fmt::Debug for PortLedger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let used: u32 = self.used.iter().map(|w| w.count_ones()).sum();
        f.debug_struct("PortLedger")
            .field("used", &used)
            .field("dynamic_range", &(self.min_dynamic..=self.max_dynamic))
            .finish()
    }
}

impl PortLedger {
    /// An empty ledger picking dynamic ports in `min..=max` (swapped if reversed).
    pub fn new(min_dynamic: u16, max_dynamic: u16) -> Self {
        let (min_dynamic, max_dynamic) = if min_dynamic <= max_dynamic {
            (min_dynamic, max_dynamic)
        } else {
            (max_dynamic, min_dynamic)
        };
        Self {
            used: Box::new([0; WORDS]),
            min_dynamic: min_dynamic.max(1),
            max_dynamic,
            used_dynamic: 0,
        }
    }

    /// A node's ledger before any allocation: its dynamic range (or the defaults when it
    /// sets none) with its reserved host ports taken. Malformed reserved entries are
    /// skipped here; validating the agent config is the client's job.
    pub fn for_node(node: &Node, default_min: u16, default_max: u16) -> Self {
        let res = &node.node_resources;
        let min = if res.min_dynamic_port == 0 {
            default_min
        } else {
            res.min_dynamic_port
        };
        let max = if res.max_dynamic_port == 0 {
            default_max
        } else {
            res.max_dynamic_port
        };
        let mut ledger = Self::new(min, max);
        let spec = &node.reserved_resources.networks.reserved_host_ports;
        for entry in spec.split(',') {
            if let Ok(ranges) = parse_port_list(entry) {
                for (lo, hi) in ranges {
                    (lo..=hi).for_each(|p| {
                        ledger.mark(p);
                    });
                }
            }
        }
        ledger
    }

    pub fn dynamic_range(&self) -> (u16, u16) {
        (self.min_dynamic, self.max_dynamic)
    }

    pub fn is_used(&self, port: u16) -> bool {
        self.used[usize::from(port) / 64] & (1 << (port % 64)) != 0
    }

    /// Takes `port`; false if it was already taken.
    pub fn mark(&mut self, port: u16) -> bool {
        if self.is_used(port) {
            return false;
        }
        self.used[usize::from(port) / 64] |= 1 << (port % 64);
        if (self.min_dynamic..=self.max_dynamic).contains(&port) {
            self.used_dynamic += 1;
        }
        true
    }

    /// Free ports left in the dynamic range.
    pub fn dynamic_free(&self) -> u32 {
        u32::from(self.max_dynamic - self.min_dynamic) + 1 - self.used_dynamic
    }

    /// Takes every host port `alloc` holds. Returns the first one that was already
    /// taken (the ports are all marked regardless), which the plan applier rejects.
    pub fn add_alloc(&mut self, alloc: &Allocation) -> Result<(), PortError> {
        let mut first = Ok(());
        let shared = &alloc.allocated_resources.shared;
        let listed = shared
            .ports
            .iter()
            .map(|p| (p.label.as_str(), i64::from(p.value), false));
        let in_networks = shared
            .networks
            .iter()
            .flat_map(|n| n.ports())
            .map(|p| (p.label.as_str(), p.value, p.ignore_collision));
        // A port can appear both in `ports` and in `networks`: count each once.
        let mut seen: Vec<u16> = Vec::new();
        for (label, value, shared_ok) in listed.chain(in_networks) {
            let Ok(port) = u16::try_from(value) else {
                continue;
            };
            if port == 0 || seen.contains(&port) {
                continue;
            }
            seen.push(port);
            if !self.mark(port) && !shared_ok && first.is_ok() {
                first = Err(PortError::Collision {
                    label: label.to_owned(),
                    port,
                });
            }
        }
        first
    }

    /// Whether `requests` could be granted, without taking anything.
    pub fn check(&self, requests: &[PortRequest]) -> Result<(), PortError> {
        let mut dynamic = 0;
        let mut statics: Vec<u16> = Vec::new();
        for r in requests {
            if r.value == 0 {
                dynamic += 1;
                continue;
            }
            let port = static_port(r)?;
            if r.ignore_collision {
                continue;
            }
            if self.is_used(port) || statics.contains(&port) {
                return Err(PortError::Collision {
                    label: r.label.clone(),
                    port,
                });
            }
            statics.push(port);
        }
        let statics_in_range = statics
            .iter()
            .filter(|p| (self.min_dynamic..=self.max_dynamic).contains(p))
            .count();
        if dynamic + statics_in_range > self.dynamic_free() as usize {
            return Err(PortError::Exhausted);
        }
        Ok(())
    }

    /// Grants `requests`: static ports as asked, dynamic ones picked from the range at
    /// random (from `rng`), never a taken port. `host_ip` goes into each mapping. On
    /// error nothing is taken.
    pub fn assign(
        &mut self,
        requests: &[PortRequest],
        host_ip: &str,
        rng: &mut Rng,
    ) -> Result<Vec<AllocatedPortMapping>, PortError> {
        self.check(requests)?;
        let mut mappings = Vec::with_capacity(requests.len());
        for r in requests.iter().filter(|r| r.value != 0) {
            let port = static_port(r)?;
            self.mark(port);
            mappings.push(mapping(r, port, host_ip));
        }
        for r in requests.iter().filter(|r| r.value == 0) {
            let port = self.pick_dynamic(rng).ok_or(PortError::Exhausted)?;
            mappings.push(mapping(r, port, host_ip));
        }
        Ok(mappings)
    }

    fn pick_dynamic(&mut self, rng: &mut Rng) -> Option<u16> {
        if self.dynamic_free() == 0 {
            return None;
        }
        let span = u64::from(self.max_dynamic - self.min_dynamic) + 1;
        for _ in 0..RANDOM_PROBES {
            let port = self.min_dynamic + rng.below(span) as u16;
            if self.mark(port) {
                return Some(port);
            }
        }
        // Crowded range: scan from a random start, wrapping once.
        let start = rng.below(span) as u16;
        for offset in 0..span as u32 {
            let port = self.min_dynamic + ((u32::from(start) + offset) % span as u32) as u16;
            if self.mark(port) {
                return Some(port);
            }
        }
        None
    }
}

fn static_port(r: &PortRequest) -> Result<u16, PortError> {
    u16::try_from(r.value)
        .ok()
        .filter(|p| *p != 0)
        .ok_or_else(|| PortError::Invalid {
            label: r.label.clone(),
            port: r.value,
        })
}

fn mapping(r: &PortRequest, port: u16, host_ip: &str) -> AllocatedPortMapping {
    AllocatedPortMapping {
        label: r.label.clone(),
        value: port,
        to: if r.to == -1 { i64::from(port) } else { r.to },
        host_ip: host_ip.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dynamic(label: &str) -> PortRequest {
        PortRequest {
            label: label.to_owned(),
            value: 0,
            to: 0,
            ignore_collision: false,
        }
    }

    fn fixed(label: &str, port: i64) -> PortRequest {
        PortRequest {
            label: label.to_owned(),
            value: port,
            to: 0,
            ignore_collision: false,
        }
    }

    #[test]
    fn parses_port_lists() {
        assert_eq!(
            parse_port_list("22, 80,8000-8002"),
            Ok(vec![(22, 22), (80, 80), (8000, 8002)])
        );
        assert_eq!(parse_port_list(""), Ok(vec![]));
        assert!(parse_port_list("80-70").is_err());
        assert!(parse_port_list("http").is_err());
        assert!(parse_port_list("70000").is_err());
    }

    #[test]
    fn node_reserved_ports_are_taken() {
        let mut node = Node::default();
        node.reserved_resources.networks.reserved_host_ports = "22,8000-8002,bad".to_owned();
        let ledger = PortLedger::for_node(&node, 20000, 32000);
        assert!(ledger.is_used(22) && ledger.is_used(8001) && !ledger.is_used(8003));
        assert_eq!(ledger.dynamic_range(), (20000, 32000));
        assert_eq!(
            ledger.check(&[fixed("ssh", 22)]),
            Err(PortError::Collision {
                label: "ssh".to_owned(),
                port: 22
            })
        );
    }

    #[test]
    fn dynamic_ports_stay_in_range_and_unique() {
        let mut ledger = PortLedger::new(30000, 30099);
        let mut rng = Rng::new(9);
        let mut seen = std::collections::BTreeSet::new();
        for i in 0..100 {
            let m = ledger
                .assign(&[dynamic(&format!("p{i}"))], "10.0.0.1", &mut rng)
                .expect("free");
            assert!((30000..=30099).contains(&m[0].value));
            assert_eq!(m[0].host_ip, "10.0.0.1");
            assert!(seen.insert(m[0].value), "port {} given twice", m[0].value);
        }
        assert_eq!(
            ledger.assign(&[dynamic("full")], "", &mut rng),
            Err(PortError::Exhausted)
        );
    }

    #[test]
    fn static_collisions_name_label_and_port() {
        let mut ledger = PortLedger::new(20000, 32000);
        let mut rng = Rng::new(1);
        ledger
            .assign(&[fixed("redis", 6379)], "", &mut rng)
            .expect("free");
        let err = ledger
            .assign(&[fixed("redis", 6379)], "", &mut rng)
            .expect_err("taken");
        assert_eq!(
            err.dimension(),
            "network: reserved port collision redis=6379"
        );
        // Twice in one request collides too, and nothing is taken on error.
        let err = ledger.assign(&[fixed("a", 80), fixed("b", 80)], "", &mut rng);
        assert!(err.is_err());
        assert!(!ledger.is_used(80));
        assert!(matches!(
            ledger.check(&[fixed("x", 70000)]),
            Err(PortError::Invalid { .. })
        ));
    }

    #[test]
    fn to_minus_one_means_the_host_port() {
        let mut ledger = PortLedger::new(20000, 20000);
        let req = PortRequest {
            label: "http".into(),
            value: 0,
            to: -1,
            ignore_collision: false,
        };
        let m = ledger
            .assign(&[req], "", &mut Rng::new(0))
            .expect("one free");
        assert_eq!((m[0].value, m[0].to), (20000, 20000));
    }

    #[test]
    fn alloc_ports_are_taken_and_collisions_reported() {
        let mut alloc = Allocation::default();
        alloc.allocated_resources.shared.ports = vec![
            AllocatedPortMapping {
                label: "db".into(),
                value: 5432,
                to: 0,
                host_ip: String::new(),
            },
            AllocatedPortMapping {
                label: "web".into(),
                value: 20001,
                to: 80,
                host_ip: String::new(),
            },
        ];
        let mut ledger = PortLedger::new(20000, 32000);
        assert_eq!(ledger.add_alloc(&alloc), Ok(()));
        assert!(ledger.is_used(5432) && ledger.is_used(20001));
        assert_eq!(
            ledger.add_alloc(&alloc),
            Err(PortError::Collision {
                label: "db".into(),
                port: 5432
            })
        );
    }
}
