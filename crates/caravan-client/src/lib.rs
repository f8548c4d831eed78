//! Caravan's client: what runs an allocation on a node once the server placed it.
//!
//! It owns the task environment ([`TaskEnv`]: every `NOMAD_*` variable and `${...}`
//! interpolation), the allocation directory ([`AllocDir`]), the restart policy
//! ([`RestartTracker`]) and the task lifecycle ([`Lifecycle`]), both pure, and the
//! runners that act on them: a [`TaskRunner`] per task, and an [`AllocRunner`] that
//! runs an ordered list of small idempotent hooks ([`hooks`]) and the tasks, and
//! reports every status change as an [`AllocUpdate`].
//!
//! While tasks run, the allocation runner registers their services with the servers
//! and runs their checks ([`services`], [`checks`]); before a task starts, its
//! templates are rendered into its directory and then follow the catalog and the KV
//! store ([`templates`]), through one catalog watch ([`ServiceWatcher`]) and one KV
//! watch ([`KvWatcher`]) per node.
//!
//! It decides no placement, and touches the operating system only through traits
//! with fakes ([`caravan_drivers::TaskDriver`] for tasks, [`caravan_net::NetOps`]
//! for bridge networks, [`ContainerRuntime`] for pause containers, [`Clock`] for
//! time), with
//! two read-only exceptions kept thin: the socket tables in /proc ([`host_ports`],
//! so ports bound outside Caravan are reported as reserved) and the network hook's
//! bind-and-release check of a granted port. Templates write their files in the
//! allocation directory, as the allocation directory hook does.

mod agent;
mod alloc_runner;
mod alloc_update;
mod allocdir;
pub mod checks;
mod client_state;
mod clock;
mod config;
mod container_runtime;
mod context;
mod fingerprint;
pub mod hooks;
pub mod host_ports;
mod kv_path;
mod kv_watcher;
mod lifecycle;
mod port_claims;
mod restart;
mod server_api;
mod service_name;
mod service_watcher;
pub mod services;
mod task_runner;
mod taskenv;
pub mod templates;
mod watch_cache;

pub use agent::{ClientAgent, ClientAgentError, ClientPlugins};
pub use alloc_runner::{AllocRunner, AllocRunnerError};
pub use alloc_update::{AllocUpdate, client_status};
pub use allocdir::{AllocDir, AllocDirError, TaskDir};
pub use client_state::{
    AllocState, ClientState, ClientStateError, PersistedAlloc, PersistedNetwork,
};
pub use clock::{Clock, FakeClock, SystemClock, rfc3339_nanos};
pub use config::ClientConfig;
pub use container_runtime::{ContainerCall, ContainerRuntime, FakeContainerRuntime};
pub use context::{
    ClientContext, DEFAULT_MAX_KILL_TIMEOUT, driver_inherits_host_env, driver_isolates_fs,
    filter_host_env,
};
pub use fingerprint::{HostFacts, fingerprint};
pub use kv_path::{KvPair, KvPath};
pub use kv_watcher::{KvFeed, KvInterest, KvWatcher};
pub use lifecycle::{Lifecycle, LifecycleAction, ShutdownReason, TaskRole};
pub use port_claims::PortClaims;
pub use restart::{EffectiveRestartPolicy, RestartDecision, RestartTracker, TaskOutcome};
pub use server_api::{BoxFuture, ServerApi, ServerApiError, ServiceLists};
pub use service_name::ServiceName;
pub use service_watcher::{ServiceFeed, ServiceInterest, ServiceWatcher};
pub use task_runner::{
    KillRequest, RestoredTask, TaskRunner, TaskRunnerConfig, TaskRunnerError, TaskRunnerHandle,
    TaskUpdate,
};
pub use taskenv::{TaskEnv, TaskEnvInputs, clean_env_key, cpuset_list};
pub use watch_cache::{FeedAnswer, WatchCache, WatchFeed, WatchInterest};
