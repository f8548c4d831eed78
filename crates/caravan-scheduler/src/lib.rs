//! Caravan's scheduler: given a state snapshot and an evaluation, decides where a job's
//! allocations go, which to stop and which to update, as a plan the server's plan applier
//! re-checks ([`check_plan`]) and commits.
//!
//! It covers service, batch, system and sysbatch jobs: reconciliation (count changes,
//! in-place and destructive updates rolled per `max_parallel`, reschedules per policy,
//! lost and draining nodes), feasibility (datacenters with globs, node pool, drivers,
//! constraints, `distinct_hosts`, `distinct_property`), scoring (best-fit bin-packing on
//! cpu, memory and cores, spreads, affinities, a penalty for crowding one node), and the
//! one host-port ledger ([`PortLedger`]) shared with the plan check.
//!
//! This crate is pure: no I/O, no clock, no randomness, no environment, no async. Time
//! and a random seed come in the [`SchedContext`], so a run can be replayed exactly.
//!
//! Rules worth knowing when driving it:
//! - An allocation holds its cpu, memory, cores and host ports until it is terminal
//!   ([`Allocation::is_terminal`](caravan_model::Allocation::is_terminal)): a stop that
//!   the client has not carried out yet frees nothing (a stop of an allocation that never
//!   ran frees at once). So replacing an allocation that holds a static port, or a full
//!   node, yields a blocked evaluation that succeeds once the old one has stopped: the
//!   server must retry blocked evaluations when allocations on a node become terminal,
//!   not only when nodes change.
//! - Plans carry their allocations without `job`; the state store attaches `Plan::job`.
//! - A service or batch placement scores at most 16 feasible nodes (128 with spreads or
//!   affinities), taken in a seeded order from where the previous placement stopped, and
//!   picks the best: bin-packing (best fit) on cpu and memory, minus a penalty for
//!   sharing a node with the group's own allocations or, for a reschedule, for the nodes
//!   it failed on, plus affinity and spread scores.
//! - A group that fails to place once is not tried again in the run: its remaining
//!   placements count as `coalesced_failures` and go to the blocked evaluation.
//! - Not supported yet: devices (a group asking for one fits nowhere), host volumes,
//!   disk accounting, `host_network` on ports (the node's first address is used),
//!   canaries and deployments, `max_client_disconnect`.

mod check;
mod constraint;
mod context;
mod decisions;
mod error;
mod group_state;
mod outcome;
mod placer;
mod ports;
mod reconcile;
mod reschedule;
mod resources;
mod rng;
mod rules;
mod scheduler;
mod spread;
mod system;
mod update;
mod version;

#[cfg(test)]
mod tests;

pub use check::{PlanCheck, check_plan};
pub use context::{DEFAULT_MAX_DYNAMIC_PORT, DEFAULT_MIN_DYNAMIC_PORT, SchedContext};
pub use error::SchedError;
pub use outcome::Outcome;
pub use ports::{PortError, PortLedger, PortRequest, PortSpecError, parse_port_list};
pub use rng::Rng;
pub use scheduler::process;
