//! Caravan's state store: in-memory tables of jobs (with their versions), evaluations,
//! allocations, nodes and service registrations (the catalog), indexed for the reads
//! the server, scheduler and API make, with O(1) snapshots and per-table modify indexes
//! for blocking queries.
//!
//! Every write is a [`Command`] applied by [`StateStore::apply`] at a raft index. Apply is
//! deterministic: it reads no clock, no randomness and no environment, iterates only
//! ordered collections, and takes every timestamp and id from the command, so that the
//! Raft replicas that apply the same log hold the same state. A refused command changes
//! nothing.
//!
//! The catalog is derived: a registration is accepted only for an allocation that
//! exists and is not terminal, and the command that makes an allocation terminal,
//! deletes it or purges its job deletes its registrations too.
//!
//! This crate must not do I/O or know about the network, the scheduler's policy or tokio.

mod catalog;
mod command;
mod error;
mod outcome;
mod service_summary;
mod snapshot;
mod store;
mod summary;
mod table;
mod txn;

#[cfg(test)]
mod tests;

pub use command::{AllocClientUpdate, Command, PlanResult};
pub use error::StateError;
pub use outcome::ApplyOutcome;
pub use service_summary::ServiceSummary;
pub use snapshot::{DEFAULT_NAMESPACE, JOB_VERSIONS_KEPT, Snapshot};
pub use store::StateStore;
pub use summary::{JobChildrenSummary, JobSummary, TaskGroupSummary};
pub use table::Table;
