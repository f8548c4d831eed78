//! Caravan's server: it turns writes into committed commands, and evaluations into
//! allocations. The eval broker queues evaluations, scheduler workers run the pure
//! scheduler on a state snapshot, the plan applier re-checks each plan on fresh state
//! before committing it, and the heartbeat monitor marks silent nodes down. Clients
//! register their allocations' service instances (with their health) in the catalog
//! ([`Server::upsert_services`]); the Consul API registers agent services, updates
//! their checks (TTL checks expire on the server's timer) and writes the key/value
//! store ([`Server::consul_register_service`], [`Server::kv_set`]).
//!
//! Every write goes through a [`CommandLog`]: in dev mode [`LocalLog`] applies it at
//! once; the Raft log replaces it in a cluster. Time comes from a [`Clock`]. This
//! crate must not touch the host OS: no processes, no network namespaces, no files.

mod blocked;
mod broker;
mod catalog;
mod clock;
mod cluster;
mod config;
mod consul;
mod error;
mod gc;
mod heartbeat;
mod log;
mod planner;
mod server;
mod state;
mod worker;

pub use clock::{Clock, SystemClock};
pub use cluster::{ClusterView, RaftServer};
pub use config::ServerConfig;
pub use consul::KvWrite;
pub use error::ServerError;
pub use log::{BoxFuture, CommandLog, LocalLog};
pub use server::{JobRegistration, Server};
pub use state::StateHandle;

/// A fresh random UUID (v4) as text, for evaluations and allocations the server creates.
pub fn new_uuid() -> String {
    uuid::Uuid::new_v4().to_string()
}
