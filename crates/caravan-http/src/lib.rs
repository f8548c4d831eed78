//! Caravan's HTTP API: Nomad's routes and JSON shapes (port 4646 by default), on axum,
//! and Consul's ([`consul_router`], port 8500 by default) over the same catalog.
//!
//! [`router`] builds the whole API over an [`Api`]: the [`Server`](caravan_server::Server)
//! for everything the cluster state answers, an optional [`ClientApi`] for what only the
//! client node holding an allocation can answer (its files, logs, stats, restarts and
//! signals), and an [`AgentInfo`] describing this agent. [`serve`] runs it on a listener
//! with graceful shutdown.
//!
//! Every list and read endpoint is a blocking query (`?index=N&wait=5s`) answered from
//! one state snapshot, with `X-Nomad-Index` naming the index of the table it read.
//! Errors are plain text, one line, with the status that says whose fault it is and
//! whether to retry (see [`ApiError`]).
//!
//! This crate translates between HTTP and the server's API; it must not decide
//! anything the server or the scheduler owns, nor touch the state store directly.

mod agent;
mod allocs;
mod api;
pub mod base64;
mod blocking;
mod body;
mod client;
mod consul;
mod deployments;
mod diff;
mod error;
mod evals;
mod fs;
mod jobs;
mod logs;
mod lookup;
mod nodes;
mod operator;
mod parse;
mod plan;
mod query;
mod router;
mod serve;
mod service_shapes;
mod services;
mod shapes;
mod shutdown;
mod stream;
mod time;
mod validate;

pub use api::{AgentInfo, Api, BoxFuture, ClientApi, ClientApiError};
pub use consul::consul_router;
pub use error::ApiError;
pub use router::{MAX_BODY_BYTES, router};
pub use serve::{serve, serve_all};
