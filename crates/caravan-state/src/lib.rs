//! Caravan's state store: in-memory tables of jobs (with their versions), evaluations,
//! allocations, nodes, service registrations (the catalog) and a key/value store
//! (Consul's KV), indexed for the reads
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
//! deletes it or purges its job deletes its registrations too. The one exception is
//! an agent registration, made through the Consul API: it belongs to a node, not to
//! an allocation. TTL checks expire by [`expired_ttl_checks`], with the time passed in.
//!
//! This crate must not do I/O or know about the network, the scheduler's policy or tokio.

mod catalog;
mod codec;
mod command;
mod error;
mod kv;
mod outcome;
mod service_summary;
mod snapshot;
mod store;
mod summary;
mod table;
mod txn;

#[cfg(test)]
mod tests;

pub use catalog::expired_ttl_checks;
pub use codec::DecodeError;
pub use command::{AllocClientUpdate, Command, PlanResult};
pub use error::StateError;
pub use kv::KvEntry;
pub use outcome::ApplyOutcome;
pub use service_summary::ServiceSummary;
pub use snapshot::{DEFAULT_NAMESPACE, JOB_VERSIONS_KEPT, Snapshot};
pub use store::StateStore;
pub use summary::{JobChildrenSummary, JobSummary, TaskGroupSummary};
pub use table::Table;
