//! Caravan's Raft: the glue between openraft and the server's state store.
//!
//! It owns the replicated log and its durability: log entries, the vote, the commit
//! point and the latest snapshot live in one redb file per server, and a log entry counts
//! only once it is fsynced; appends are committed in groups (whatever is queued when the
//! writer thread is free goes in one transaction, one fsync). It owns snapshots (built every
//! [`RaftConfig::snapshot_after_logs`] entries, the log before them purged, sent to
//! lagging or new servers in chunks, loaded back on restart), operator snapshot save and
//! restore (a restore is itself a log entry, so every server applies it), and
//! membership (bootstrap, add a voter once caught up, remove a server). The network is a
//! seam: [`Transport`] carries opaque, serde-serializable [`RaftRequest`]s to another
//! server's [`Raft::handle`].
//!
//! What the log applies to is the server's: a [`StateMachine`] over its
//! `caravan_state::StateStore`. This crate must not hold policy (what to write, when to
//! step down, how to route clients to the leader) or know HTTP or any wire format
//! beyond serde.

// openraft's traits fix its error types (StorageError, RPCError), which are large; our
// helpers return them as they are rather than box and unbox at every trait boundary.
#![allow(clippy::result_large_err)]

mod config;
mod db;
mod error;
mod log_flusher;
mod log_store;
mod network;
mod raft;
mod snapshot_file;
mod state_machine;
#[cfg(test)]
mod storage_suite;
mod types;

pub use config::RaftConfig;
pub use error::{RaftError, WriteError};
pub use log_flusher::LogFlushStats;
pub use network::{BoxFuture, Transport, TransportError};
pub use raft::Raft;
pub use state_machine::StateMachine;
pub use types::{ApplyResult, LogPayload, Peer, RaftId, RaftRequest, RaftResponse, TypeConfig};
