//! Resource accounting: what an allocation of a group asks for, what a node has, and what
//! is in use on it (cpu MHz, memory MB, reserved cores and host ports).

use std::collections::{BTreeMap, BTreeSet};

use caravan_model::{
    AllocatedCpu, AllocatedMemory, AllocatedResources, AllocatedSharedResources,
    AllocatedTaskResources, Allocation, NetworkResource, Node, Port, TaskGroup,
};

use crate::Rng;
use crate::ports::{PortError, PortLedger, PortRequest};

/// Nomad's defaults for a task that sets no resources.
const DEFAULT_CPU_MHZ: i64 = 100;
const DEFAULT_MEMORY_MB: i64 = 300;

/// What one task of a group asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TaskAsk {
    pub name: String,
    /// MHz; ignored when `cores` is set (the cores' MHz is granted instead).
    pub cpu: i64,
    pub cores: u32,
    pub memory_mb: i64,
    pub memory_max_mb: i64,
}

/// What one allocation of a group asks for. Every task's resources are summed (lifecycle
/// hooks are not subtracted: a prestart task's memory stays reserved).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct GroupAsk {
    pub tasks: Vec<TaskAsk>,
    /// MHz of the tasks without cores.
    pub cpu: i64,
    pub cores: u32,
    pub memory_mb: i64,
    pub disk_mb: i64,
    /// The group network's ports, then those of deprecated task-level networks.
    pub ports: Vec<PortRequest>,
    /// The group's network, copied into the allocation with its ports filled in.
    pub network: Option<NetworkResource>,
}

impl GroupAsk {
    pub fn new(group: &TaskGroup) -> Self {
        let tasks: Vec<TaskAsk> = group
            .tasks
            .iter()
            .map(|t| {
                let r = t.resources.clone().unwrap_or_default();
                let memory_mb = r.memory_mb.unwrap_or(DEFAULT_MEMORY_MB).max(0);
                TaskAsk {
                    name: t.name.clone(),
                    cpu: r.cpu.unwrap_or(DEFAULT_CPU_MHZ).max(0),
                    cores: u32::try_from(r.cores.unwrap_or(0)).unwrap_or(0),
                    memory_mb,
                    memory_max_mb: r.memory_max_mb.unwrap_or(0).max(0),
                }
            })
            .collect();
        let cpu = tasks.iter().filter(|t| t.cores == 0).map(|t| t.cpu).sum();
        let cores = tasks.iter().map(|t| t.cores).sum();
        let memory_mb = tasks.iter().map(|t| t.memory_mb).sum();
        let networks = group.networks.iter().chain(
            group
                .tasks
                .iter()
                .flat_map(|t| t.resources.iter().flat_map(|r| &r.networks)),
        );
        let ports = networks
            .flat_map(|n| n.ports())
            .map(|p| PortRequest {
                label: p.label.clone(),
                value: p.value,
                to: p.to,
                ignore_collision: p.ignore_collision,
            })
            .collect();
        let disk_mb = group
            .ephemeral_disk
            .as_ref()
            .and_then(|d| d.size_mb)
            .unwrap_or(0);
        Self {
            tasks,
            cpu,
            cores,
            memory_mb,
            disk_mb,
            ports,
            network: group.network().cloned(),
        }
    }
}

/// What a node offers to allocations: its resources less what its agent reserves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NodeCapacity {
    pub cpu: i64,
    pub memory_mb: i64,
    /// Cores allocations may reserve.
    pub cores: Vec<u16>,
    pub mhz_per_core: i64,
}

impl NodeCapacity {
    pub fn of(node: &Node) -> Self {
        let res = &node.node_resources;
        let reserved = &node.reserved_resources;
        let total_cores = if res.cpu.total_cpu_cores > 0 {
            res.cpu.total_cpu_cores
        } else {
            u16::try_from(res.cpu.reservable_cpu_cores.len()).unwrap_or(u16::MAX)
        };
        let mut cores: Vec<u16> = if res.cpu.reservable_cpu_cores.is_empty() {
            (0..res.cpu.total_cpu_cores).collect()
        } else {
            res.cpu.reservable_cpu_cores.clone()
        };
        cores.retain(|c| !reserved.cpu.reservable_cpu_cores.contains(c));
        cores.sort_unstable();
        cores.dedup();
        Self {
            cpu: res.cpu.cpu_shares - reserved.cpu.cpu_shares,
            memory_mb: res.memory.memory_mb - reserved.memory.memory_mb,
            cores,
            mhz_per_core: if total_cores > 0 {
                res.cpu.cpu_shares / i64::from(total_cores)
            } else {
                0
            },
        }
    }

    /// The MHz an ask takes on this node (its cores count at the node's per-core MHz).
    pub fn cpu_for(&self, ask: &GroupAsk) -> i64 {
        ask.cpu + i64::from(ask.cores) * self.mhz_per_core
    }
}

/// Something already on a node that breaks its limits (found by the plan check).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum UsageConflict {
    Port(PortError),
    Core(u16),
}

/// What is in use on a node.
#[derive(Debug, Clone)]
pub(crate) struct NodeUsage {
    pub cpu: i64,
    pub memory_mb: i64,
    pub cores: BTreeSet<u16>,
    pub ports: PortLedger,
}

impl NodeUsage {
    pub fn empty(node: &Node, default_min_port: u16, default_max_port: u16) -> Self {
        Self {
            cpu: 0,
            memory_mb: 0,
            cores: BTreeSet::new(),
            ports: PortLedger::for_node(node, default_min_port, default_max_port),
        }
    }

    /// Counts an allocation's resources as used. Everything is counted; the first
    /// conflict (a port or core already taken) is returned.
    pub fn add_alloc(&mut self, alloc: &Allocation) -> Result<(), UsageConflict> {
        let mut conflict = Ok(());
        for task in alloc.allocated_resources.tasks.values() {
            self.cpu += task.cpu.cpu_shares;
            self.memory_mb += task.memory.memory_mb;
            for core in &task.cpu.reserved_cores {
                if !self.cores.insert(*core) && conflict.is_ok() {
                    conflict = Err(UsageConflict::Core(*core));
                }
            }
        }
        let ports = self.ports.add_alloc(alloc).map_err(UsageConflict::Port);
        conflict.and(ports)
    }

    /// Whether `ask` fits next to what is used; the error is the exhausted dimension.
    pub fn fits(&self, cap: &NodeCapacity, ask: &GroupAsk) -> Result<(), String> {
        if self.cpu + cap.cpu_for(ask) > cap.cpu {
            return Err("cpu".to_owned());
        }
        if self.memory_mb + ask.memory_mb > cap.memory_mb {
            return Err("memory".to_owned());
        }
        if ask.cores > 0 {
            let free = cap.cores.iter().filter(|c| !self.cores.contains(c)).count();
            if free < ask.cores as usize {
                return Err("cores".to_owned());
            }
        }
        self.ports.check(&ask.ports).map_err(|e| e.dimension())
    }

    /// The Nomad-style bin-packing score of the node once `ask` is placed: the mean of
    /// its cpu and memory utilisation, so fuller nodes score higher (best fit).
    pub fn fit_score(&self, cap: &NodeCapacity, ask: &GroupAsk) -> f64 {
        let ratio = |used: i64, total: i64| {
            if total <= 0 {
                1.0
            } else {
                (used as f64 / total as f64).clamp(0.0, 1.0)
            }
        };
        let cpu = ratio(self.cpu + cap.cpu_for(ask), cap.cpu);
        let mem = ratio(self.memory_mb + ask.memory_mb, cap.memory_mb);
        (cpu + mem) / 2.0
    }

    /// Takes what `ask` needs (call after [`fits`](Self::fits) said yes): the lowest free
    /// cores, static ports, random dynamic ports.
    pub fn grant(
        &mut self,
        cap: &NodeCapacity,
        ask: &GroupAsk,
        host_ip: &str,
        rng: &mut Rng,
    ) -> Result<AllocatedResources, String> {
        let ports = self
            .ports
            .assign(&ask.ports, host_ip, rng)
            .map_err(|e| e.dimension())?;
        let mut free_cores = cap
            .cores
            .iter()
            .filter(|c| !self.cores.contains(c))
            .copied();
        let mut tasks = BTreeMap::new();
        for t in &ask.tasks {
            let reserved_cores: Vec<u16> = free_cores.by_ref().take(t.cores as usize).collect();
            let cpu_shares = if t.cores > 0 {
                i64::from(t.cores) * cap.mhz_per_core
            } else {
                t.cpu
            };
            tasks.insert(
                t.name.clone(),
                AllocatedTaskResources {
                    cpu: AllocatedCpu {
                        cpu_shares,
                        reserved_cores,
                    },
                    memory: AllocatedMemory {
                        memory_mb: t.memory_mb,
                        memory_max_mb: t.memory_max_mb,
                    },
                },
            );
        }
        for task in tasks.values() {
            self.cpu += task.cpu.cpu_shares;
            self.memory_mb += task.memory.memory_mb;
            self.cores.extend(task.cpu.reserved_cores.iter().copied());
        }
        let networks = ask
            .network
            .as_ref()
            .map(|n| vec![filled_network(n, &ports, host_ip)])
            .unwrap_or_default();
        Ok(AllocatedResources {
            tasks,
            shared: AllocatedSharedResources {
                disk_mb: ask.disk_mb,
                networks,
                ports,
            },
        })
    }
}

/// The group network with the granted host ports written into its ports.
fn filled_network(
    network: &NetworkResource,
    ports: &[caravan_model::AllocatedPortMapping],
    host_ip: &str,
) -> NetworkResource {
    let fill = |p: &Port| {
        let mut p = p.clone();
        if let Some(m) = ports.iter().find(|m| m.label == p.label) {
            p.value = i64::from(m.value);
        }
        p
    };
    NetworkResource {
        mode: network.mode().to_owned(),
        ip: host_ip.to_owned(),
        reserved_ports: network.reserved_ports.iter().map(fill).collect(),
        dynamic_ports: network.dynamic_ports.iter().map(fill).collect(),
        ..network.clone()
    }
}

/// The address allocations on `node` are reached at: its first network's IP, else its
/// fingerprinted address, else loopback.
pub(crate) fn node_address(node: &Node) -> &str {
    node.node_resources
        .networks
        .iter()
        .map(|n| n.ip.as_str())
        .find(|ip| !ip.is_empty())
        .or_else(|| {
            node.attributes
                .get("unique.network.ip-address")
                .map(String::as_str)
        })
        .unwrap_or("127.0.0.1")
}
