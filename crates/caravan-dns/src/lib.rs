//! Caravan's Consul-style DNS interface: `<svc>.service.consul` and friends answered
//! from the service catalog, for native (`nomad`) and `consul` registrations alike.
//!
//! Two layers, after hickory's habit. [`answer`] and [`resolve`] are the resolver: query
//! bytes and a [`CatalogView`] in, reply bytes out, with no I/O, no clock, and the
//! answer shuffle seeded by the caller. Queries are read with hickory-proto (robust
//! against anything on the wire); replies are written by our own small encoder
//! (`wire.rs`), which is several times faster for the few record shapes we send. [`serve`]
//! is the server: UDP and TCP sockets handed in bound, UDP read and answered in batches
//! (`recvmmsg`/`sendmmsg`) by worker threads of their own (`udp.rs`;
//! [`serve_sockets`] gives each an `SO_REUSEPORT` socket), the current catalog taken
//! from a closure for every UDP batch and TCP query, a bound on TCP connections, and
//! forwarding to recursors when configured.
//!
//! [`CatalogView`] keeps the resolver apart from the state store; [`SnapshotCatalog`]
//! adapts a state snapshot to it and [`CatalogCache`] reuses one until the catalog
//! changes. [`MemoryCatalog`] is a literal one for tests and benchmarks.
//!
//! This crate must not hold catalog logic (which instances exist and how healthy they
//! are is the state store's business) nor bind sockets itself.

mod catalog;
mod catalog_cache;
mod config;
mod error;
mod forward;
mod lookup;
mod memory_catalog;
mod node_entry;
mod record;
mod reply;
mod request;
mod resolver;
mod server;
mod service_instance;
mod shuffle;
mod snapshot_catalog;
mod transport;
mod udp;
mod wire;

#[cfg(test)]
mod tests;

pub use catalog::{CatalogView, CatalogViewOwned};
pub use catalog_cache::CatalogCache;
pub use config::DnsConfig;
pub use error::DnsError;
pub use memory_catalog::MemoryCatalog;
pub use node_entry::NodeEntry;
pub use resolver::{Resolution, answer, resolve};
pub use server::{serve, serve_sockets};
pub use service_instance::ServiceInstance;
pub use snapshot_catalog::SnapshotCatalog;
pub use transport::Transport;
