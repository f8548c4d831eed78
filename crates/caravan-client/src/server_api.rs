//! What the client needs from the servers. In dev mode the agent answers it in process;
//! in a cluster an RPC client does.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use caravan_model::{AllocId, Allocation, Node, NodeId, ServiceRegistration};

use crate::{AllocUpdate, KvPair, KvPath};

/// A boxed future, so the API can be a trait object.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The registrations of services, each sorted by id, keyed by (namespace, name) as
/// they were asked for: what [`ServerApi::watch_services`] answers.
pub type ServiceLists = BTreeMap<(String, String), Vec<ServiceRegistration>>;

/// Why a call to the servers failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ServerApiError {
    /// The server does not know this node (it was garbage collected, or the servers lost
    /// their state): register again.
    #[error("node {0} is not registered")]
    UnknownNode(NodeId),
    /// Anything else; the call may be retried.
    #[error("{0}")]
    Other(String),
}

/// The servers, as a client sees them.
pub trait ServerApi: Send + Sync + Debug {
    /// Registers (or re-registers) the node; returns the heartbeat TTL to keep.
    fn register_node(&self, node: Node) -> BoxFuture<'_, Result<Duration, ServerApiError>>;

    /// Keeps the node alive; returns the heartbeat TTL to keep.
    fn heartbeat<'a>(&'a self, node: &'a NodeId)
    -> BoxFuture<'a, Result<Duration, ServerApiError>>;

    /// The node's allocations, once their index is above `min_index` or `wait` has
    /// passed (a blocking query), with the index to wait on next.
    fn node_allocs<'a>(
        &'a self,
        node: &'a NodeId,
        min_index: u64,
        wait: Duration,
    ) -> BoxFuture<'a, Result<(Vec<Allocation>, u64), ServerApiError>>;

    /// Reports allocation status changes.
    fn update_allocs(&self, updates: Vec<AllocUpdate>)
    -> BoxFuture<'_, Result<(), ServerApiError>>;

    /// Creates or replaces service registrations (ids of the shape
    /// [`ServiceRegistration::task_service_id`]), with their health and checks.
    fn upsert_services(
        &self,
        regs: Vec<ServiceRegistration>,
    ) -> BoxFuture<'_, Result<(), ServerApiError>>;

    /// Removes these registrations (found by namespace, service name and id); one that
    /// is already gone is not an error.
    fn delete_services(
        &self,
        regs: Vec<ServiceRegistration>,
    ) -> BoxFuture<'_, Result<(), ServerApiError>>;

    /// Removes every registration of an allocation.
    fn delete_services_for_alloc<'a>(
        &'a self,
        alloc: &'a AllocId,
    ) -> BoxFuture<'a, Result<(), ServerApiError>>;

    /// The registrations of the services of `names` (namespace, name; an empty name
    /// stands for every service of the namespace) that changed since `min_index`,
    /// once one of them has or `wait` has passed (a blocking query), with the index
    /// to wait on next. Each changed service is answered whole (sorted by id, empty
    /// when it has no instances) under its name as asked; one left out has not
    /// changed, and when `wait` runs out there may be none. `min_index` 0 answers
    /// every one of `names` at once, and the index returned is never 0. One query
    /// serves every template of a node: see [`ServiceWatcher`].
    ///
    /// [`ServiceWatcher`]: crate::ServiceWatcher
    fn watch_services(
        &self,
        names: Vec<(String, String)>,
        min_index: u64,
        wait: Duration,
    ) -> BoxFuture<'_, Result<(ServiceLists, u64), ServerApiError>>;

    /// The KV entries under `paths` (each one key, or every key starting with a
    /// prefix), once the store has changed for them since `min_index` or `wait` has
    /// passed (a blocking query), with the index to wait on next. `min_index` 0
    /// answers at once, and the index returned is never 0. An entry is listed once
    /// even when several paths hold it. One query serves every template of a node:
    /// see [`KvWatcher`].
    ///
    /// [`KvWatcher`]: crate::KvWatcher
    fn watch_kv(
        &self,
        paths: Vec<KvPath>,
        min_index: u64,
        wait: Duration,
    ) -> BoxFuture<'_, Result<(Vec<KvPair>, u64), ServerApiError>>;
}
