//! What the agent (not the job) decides about the docker driver.

use std::path::PathBuf;
use std::time::Duration;

/// Where the Docker Engine's socket is when `DOCKER_HOST` does not say.
pub const DEFAULT_SOCKET: &str = "/var/run/docker.sock";
/// How long an image pull may take, as Nomad's `image_pull_timeout`.
pub const DEFAULT_PULL_TIMEOUT: Duration = Duration::from_secs(5 * 60);

/// The agent's settings for the docker driver (Nomad's `plugin "docker" { config }`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DockerOptions {
    /// The Docker Engine's unix socket.
    pub socket: PathBuf,
    /// Whether tasks may set `privileged = true` (Nomad's `allow_privileged`).
    pub allow_privileged: bool,
    /// Whether `volumes` and bind mounts may name host paths outside the allocation
    /// directory (Nomad's `volumes { enabled }`); paths inside it are always allowed.
    pub allow_host_volumes: bool,
    /// The node's id, written on every container (`caravan.node_id`) so that
    /// [`DockerDriver::reconcile`](super::DockerDriver::reconcile) only removes this
    /// node's containers when several agents share one Docker Engine.
    pub node_id: Option<String>,
    /// How long pulling an absent image may take before the start fails.
    pub pull_timeout: Duration,
}

impl Default for DockerOptions {
    /// The socket of `DOCKER_HOST` when it is a `unix://` address, else
    /// [`DEFAULT_SOCKET`]; nothing privileged allowed.
    fn default() -> Self {
        let socket = std::env::var("DOCKER_HOST")
            .ok()
            .and_then(|host| host.strip_prefix("unix://").map(PathBuf::from))
            .unwrap_or_else(|| PathBuf::from(DEFAULT_SOCKET));
        Self {
            socket,
            allow_privileged: false,
            allow_host_volumes: false,
            node_id: None,
            pull_timeout: DEFAULT_PULL_TIMEOUT,
        }
    }
}
