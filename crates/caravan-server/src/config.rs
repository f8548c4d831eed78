//! Server settings.

use std::time::Duration;

/// How the server runs.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub region: String,
    pub datacenter: String,
    /// The RPC address peers and clients use: what `/v1/status/leader` shows.
    pub rpc_addr: String,
    /// Scheduler workers; each runs one evaluation at a time.
    pub num_workers: usize,
    /// How long a node may go without a heartbeat before it is marked down.
    pub heartbeat_ttl: Duration,
    /// Extra time after the TTL before a node is marked down.
    pub heartbeat_grace: Duration,
    /// The dynamic host port range given to the scheduler when a node reports none.
    pub min_dynamic_port: u16,
    pub max_dynamic_port: u16,
    /// How often finished evaluations and allocations are garbage collected.
    pub gc_interval: Duration,
    /// How long an evaluation (and its allocations) must have been finished to be collected.
    pub gc_threshold: Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            region: "global".into(),
            datacenter: "dc1".into(),
            rpc_addr: "127.0.0.1:4647".into(),
            num_workers: 2,
            heartbeat_ttl: Duration::from_secs(5),
            heartbeat_grace: Duration::from_secs(5),
            min_dynamic_port: 20000,
            max_dynamic_port: 32000,
            gc_interval: Duration::from_secs(60),
            gc_threshold: Duration::from_secs(3600),
        }
    }
}
