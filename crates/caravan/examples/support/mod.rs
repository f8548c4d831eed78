//! What the benches share: a dev agent started from the release binary ([`agent`]), a
//! cluster of servers and clients started from configuration files ([`cluster`]), a
//! minimal blocking HTTP/1.1 client ([`http`]), the Nomad API steps they wait on
//! ([`nomad`]), read load ([`load`]) and percentiles ([`stats`]). Each bench includes
//! it with `#[path = "support/mod.rs"] mod support;`: a `mod.rs` in a directory without
//! a `main.rs`, cargo does not build it as an example of its own.

#![allow(dead_code)] // Each bench uses a different part of it.

pub mod agent;
pub mod cluster;
pub mod http;
pub mod load;
pub mod nomad;
pub mod stats;

use serde_json::Value;

pub type Res<T> = Result<T, String>;

/// Now, in nanoseconds since the Unix epoch: the clock of the agent's timestamps.
pub fn unix_nanos() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i64)
}

/// A JSON string's text, or empty.
pub fn string(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_owned()
}
