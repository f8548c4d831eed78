//! Caravan's RPC wire: what servers use to talk to each other and clients to servers on
//! the RPC port (4647 by default).
//!
//! It owns the wire and nothing above it: length-prefixed JSON frames (`frame`), a
//! multiplexing client with one connection per peer and transparent reconnection
//! ([`RpcClient`]), a server that runs every request concurrently ([`serve`]), the
//! error that crosses the wire with its retry and leader hints ([`RpcError`]), mutual
//! TLS, and the creation of a CA and agent certificates ([`tls`]). It must not know the
//! methods, their types or the server: requests go to a [`Handler`] the caller provides.

mod client;
mod error;
mod frame;
mod handler;
mod server;
pub mod tls;

pub use client::RpcClient;
pub use error::{ErrorKind, RpcError};
pub use frame::MAX_FRAME_LEN;
pub use handler::{BoxFuture, Handler, PeerInfo};
pub use server::serve;
pub use tls::{CertKind, ClientTls, TlsError, TlsFiles};
