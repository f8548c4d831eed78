//! What every runner of a client shares: the node, the drivers, the clock, and the
//! agent settings that shape a task's start and stop.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use caravan_drivers::TaskDriver;
use caravan_model::Node;
use caravan_net::NetOps;

use crate::checks::Prober;
use crate::{
    ClientState, Clock, ContainerRuntime, KvFeed, KvWatcher, PortClaims, ServerApi, ServiceFeed,
    ServiceWatcher, SystemClock,
};

/// Nomad's client `max_kill_timeout`: no task waits longer than this to be killed.
pub const DEFAULT_MAX_KILL_TIMEOUT: Duration = Duration::from_secs(30);

/// Agent variables a task must not inherit (Nomad's default `env.denylist`).
const HOST_ENV_DENYLIST: [&str; 12] = [
    "CONSUL_TOKEN",
    "CONSUL_HTTP_TOKEN",
    "CONSUL_LICENSE",
    "VAULT_TOKEN",
    "VAULT_LICENSE",
    "NOMAD_TOKEN",
    "NOMAD_LICENSE",
    "CARAVAN_TOKEN",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "GOOGLE_APPLICATION_CREDENTIALS",
];

/// The client's shared context, built once by the agent.
#[derive(Debug, Clone)]
pub struct ClientContext {
    /// This node, as fingerprinted and registered.
    pub node: Node,
    /// The agent's region.
    pub region: String,
    /// Allocation directories live in `<data_dir>/alloc/<alloc_id>`.
    pub data_dir: PathBuf,
    /// The agent's environment, already filtered (see [`filter_host_env`]); given to
    /// drivers that inherit it (raw_exec, exec, java), under the task's own variables.
    pub host_env: BTreeMap<String, String>,
    /// The cap on a task's `kill_timeout`.
    pub max_kill_timeout: Duration,
    pub clock: Arc<dyn Clock>,
    /// Drivers by the name jobs use (`raw_exec`, `docker`, ...).
    pub drivers: BTreeMap<String, Arc<dyn TaskDriver>>,
    /// The host ports this node's allocations hold.
    pub port_claims: Arc<PortClaims>,
    /// Bridge networking (`network { mode = "bridge" }`); `None` where the agent
    /// cannot manage network namespaces (it does not run as root), and bridge-mode
    /// allocations then fail their setup.
    pub net: Option<Arc<dyn NetOps>>,
    /// The container engine that holds a bridge-mode group's namespace for its
    /// docker tasks (a pause container); `None` without docker.
    pub containers: Option<Arc<dyn ContainerRuntime>>,
    /// The servers, for service registrations; `None` (tests of the runners alone):
    /// services are not registered.
    pub server: Option<Arc<dyn ServerApi>>,
    /// The node's catalog cache for templates; `None`: catalog reads in templates
    /// never return, and tasks using them wait.
    pub services: Option<Arc<ServiceWatcher>>,
    /// The node's KV cache for templates; `None`: KV reads in templates never
    /// return, and tasks using them wait.
    pub kv: Option<Arc<KvWatcher>>,
    /// Runs every service check (tests); `None`: the real probes, with script
    /// checks run in raw_exec tasks.
    pub prober: Option<Arc<dyn Prober>>,
    /// Where allocation runners save what a restarted agent needs to take their
    /// allocations over; `None`: nothing is saved (tests of the runners alone).
    pub state: Option<ClientState>,
}

impl ClientContext {
    /// A context with the system clock, no host environment and no drivers.
    pub fn new(node: Node, data_dir: impl Into<PathBuf>) -> Self {
        Self {
            node,
            region: "global".to_owned(),
            data_dir: data_dir.into(),
            host_env: BTreeMap::new(),
            max_kill_timeout: DEFAULT_MAX_KILL_TIMEOUT,
            clock: Arc::new(SystemClock),
            drivers: BTreeMap::new(),
            port_claims: Arc::new(PortClaims::default()),
            net: None,
            containers: None,
            server: None,
            services: None,
            kv: None,
            prober: None,
            state: None,
        }
    }

    /// Saves every allocation's state under `<data_dir>/client/`, so that a
    /// restarted agent can restore them.
    pub fn with_saved_state(mut self) -> Self {
        self.state = Some(ClientState::new(&self.data_dir));
        self
    }

    /// Registers services with `server`, and watches the catalog and the KV store
    /// for templates through it.
    pub fn with_server(mut self, server: Arc<dyn ServerApi>) -> Self {
        self.services = Some(ServiceWatcher::new(ServiceFeed::new(server.clone())));
        self.kv = Some(KvWatcher::new(KvFeed::new(server.clone())));
        self.server = Some(server);
        self
    }

    /// Runs every service check with `prober`.
    pub fn with_prober(mut self, prober: Arc<dyn Prober>) -> Self {
        self.prober = Some(prober);
        self
    }

    /// Uses `net` for bridge-mode allocations.
    pub fn with_net(mut self, net: Arc<dyn NetOps>) -> Self {
        self.net = Some(net);
        self
    }

    /// Uses `containers` for the pause containers of bridge-mode docker tasks.
    pub fn with_containers(mut self, containers: Arc<dyn ContainerRuntime>) -> Self {
        self.containers = Some(containers);
        self
    }

    /// Adds a driver under its own name.
    pub fn with_driver(mut self, driver: Arc<dyn TaskDriver>) -> Self {
        self.drivers.insert(driver.name().to_owned(), driver);
        self
    }

    pub fn driver(&self, name: &str) -> Option<Arc<dyn TaskDriver>> {
        self.drivers.get(name).cloned()
    }
}

/// Whether a driver gives the task its own file system view (`/alloc`, `/local`,
/// `/secrets`) rather than host paths.
pub fn driver_isolates_fs(driver: &str) -> bool {
    matches!(driver, "docker" | "podman" | "exec" | "java")
}

/// Whether a driver's tasks inherit the agent's environment, as in Nomad.
pub fn driver_inherits_host_env(driver: &str) -> bool {
    matches!(driver, "raw_exec" | "exec" | "java")
}

/// The agent's variables minus the secrets tasks must not see.
pub fn filter_host_env(
    vars: impl IntoIterator<Item = (String, String)>,
) -> BTreeMap<String, String> {
    vars.into_iter()
        .filter(|(k, _)| !HOST_ENV_DENYLIST.contains(&k.as_str()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_env_drops_secrets() {
        let env = filter_host_env([
            ("PATH".to_owned(), "/bin".to_owned()),
            ("VAULT_TOKEN".to_owned(), "s".to_owned()),
            ("NOMAD_TOKEN".to_owned(), "s".to_owned()),
        ]);
        assert_eq!(env.keys().collect::<Vec<_>>(), ["PATH"]);
    }

    #[test]
    fn driver_traits() {
        assert!(!driver_isolates_fs("raw_exec"));
        assert!(driver_isolates_fs("docker"));
        assert!(driver_inherits_host_env("raw_exec"));
        assert!(!driver_inherits_host_env("docker"));
    }
}
