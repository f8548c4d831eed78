//! The in-process seams of a dev agent: the client reaches the server, and the HTTP
//! API reaches the client, without a network hop.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use caravan_client::{
    AllocRunnerError, AllocUpdate, BoxFuture, ClientAgent, ClientAgentError, KvPair, KvPath,
    ServerApi, ServerApiError, ServiceLists, TaskRunnerError,
};
use caravan_drivers::DriverError;
use caravan_http::{ClientApi, ClientApiError};
use caravan_model::{AllocId, Allocation, Node, NodeId, ServiceRegistration};
use caravan_server::{Server, ServerError, StateHandle};
use caravan_state::{AllocClientUpdate, KvEntry, Snapshot, Table};

/// The client's view of a server in the same process.
#[derive(Debug)]
pub(crate) struct LocalServer(pub Arc<Server>);

fn api_error(e: ServerError, node: &NodeId) -> ServerApiError {
    match e {
        ServerError::NotFound(_) => ServerApiError::UnknownNode(node.clone()),
        other => ServerApiError::Other(other.to_string()),
    }
}

impl ServerApi for LocalServer {
    fn register_node(&self, node: Node) -> BoxFuture<'_, Result<Duration, ServerApiError>> {
        Box::pin(async move {
            let id = node.id.clone();
            self.0
                .register_node(node)
                .await
                .map(|(ttl, _)| ttl)
                .map_err(|e| api_error(e, &id))
        })
    }

    fn heartbeat<'a>(
        &'a self,
        node: &'a NodeId,
    ) -> BoxFuture<'a, Result<Duration, ServerApiError>> {
        Box::pin(async move { self.0.heartbeat(node).await.map_err(|e| api_error(e, node)) })
    }

    fn node_allocs<'a>(
        &'a self,
        node: &'a NodeId,
        min_index: u64,
        wait: Duration,
    ) -> BoxFuture<'a, Result<(Vec<Allocation>, u64), ServerApiError>> {
        Box::pin(async move {
            let snap = self
                .0
                .state()
                .wait_table(Table::Allocs, min_index, wait)
                .await;
            let allocs = snap.allocs_by_node(node).cloned().collect();
            Ok((allocs, snap.index(Table::Allocs)))
        })
    }

    fn update_allocs(
        &self,
        updates: Vec<AllocUpdate>,
    ) -> BoxFuture<'_, Result<(), ServerApiError>> {
        let updates = updates
            .into_iter()
            .map(|u| AllocClientUpdate {
                alloc_id: u.alloc_id,
                client_status: u.client_status,
                client_description: u.client_description,
                task_states: u.task_states,
                network_status: u.network_status,
            })
            .collect();
        Box::pin(async move {
            self.0
                .update_allocs(updates)
                .await
                .map(|_| ())
                .map_err(|e| ServerApiError::Other(e.to_string()))
        })
    }

    fn upsert_services(
        &self,
        regs: Vec<ServiceRegistration>,
    ) -> BoxFuture<'_, Result<(), ServerApiError>> {
        Box::pin(async move {
            self.0
                .upsert_services(regs)
                .await
                .map(|_| ())
                .map_err(|e| ServerApiError::Other(e.to_string()))
        })
    }

    fn delete_services(
        &self,
        regs: Vec<ServiceRegistration>,
    ) -> BoxFuture<'_, Result<(), ServerApiError>> {
        Box::pin(async move {
            for reg in regs {
                match self
                    .0
                    .delete_service(&reg.namespace, &reg.service_name, &reg.id)
                    .await
                {
                    Ok(_) | Err(ServerError::NotFound(_)) => {}
                    Err(e) => return Err(ServerApiError::Other(e.to_string())),
                }
            }
            Ok(())
        })
    }

    fn delete_services_for_alloc<'a>(
        &'a self,
        alloc: &'a AllocId,
    ) -> BoxFuture<'a, Result<(), ServerApiError>> {
        Box::pin(async move {
            self.0
                .delete_services_for_alloc(alloc)
                .await
                .map(|_| ())
                .map_err(|e| ServerApiError::Other(e.to_string()))
        })
    }

    fn watch_services(
        &self,
        names: Vec<(String, String)>,
        min_index: u64,
        wait: Duration,
    ) -> BoxFuture<'_, Result<(ServiceLists, u64), ServerApiError>> {
        Box::pin(async move { Ok(watch_services(self.0.state(), names, min_index, wait).await) })
    }

    fn watch_kv(
        &self,
        paths: Vec<KvPath>,
        min_index: u64,
        wait: Duration,
    ) -> BoxFuture<'_, Result<(Vec<KvPair>, u64), ServerApiError>> {
        Box::pin(async move {
            let state = self.0.state();
            Ok(watch_table(state, Table::Kv, min_index, wait, |snap| {
                watched_kv(snap, &paths)
            })
            .await)
        })
    }
}

/// A blocking query on `table` for what `read` finds in it. The client's view is of
/// `min_index`: the answer comes at once when the table moved past it, or when asked
/// for a first answer (0); otherwise it comes when what `read` finds changes (not at
/// every write to the table), or when `wait` has passed. The index is never 0.
async fn watch_table<T: PartialEq>(
    state: &StateHandle,
    table: Table,
    min_index: u64,
    wait: Duration,
    read: impl Fn(&Snapshot) -> T,
) -> (T, u64) {
    let now = state.snapshot();
    let seen = read(&now);
    if min_index == 0 || now.index(table) > min_index {
        return (seen, now.index(table).max(1));
    }
    let deadline = tokio::time::Instant::now() + wait;
    let mut index = now.index(table);
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let snap = state.wait_table(table, index, left).await;
        index = snap.index(table);
        let found = read(&snap);
        if found != seen || left.is_zero() || tokio::time::Instant::now() >= deadline {
            return (found, index.max(1));
        }
    }
}

/// The entries of `paths` (one key, or every key under a prefix) in `snap`, each
/// once, sorted by key.
fn watched_kv(snap: &Snapshot, paths: &[KvPath]) -> Vec<KvPair> {
    let mut pairs: BTreeMap<&str, &KvEntry> = BTreeMap::new();
    for path in paths {
        match path {
            KvPath::Key(key) => pairs.extend(snap.kv_get(key).map(|e| (e.key.as_str(), e))),
            KvPath::Prefix(prefix) => {
                pairs.extend(snap.kv_list(prefix).map(|e| (e.key.as_str(), e)));
            }
        }
    }
    pairs
        .into_values()
        .map(|e| KvPair {
            key: e.key.clone(),
            value: e.value.clone(),
            flags: e.flags,
            modify_index: e.modify_index,
        })
        .collect()
}

/// A blocking query on the services `names` (namespace, name; an empty name: every
/// service of the namespace), on each one's own index in the state
/// ([`Snapshot::service_index`]): a write to other services does not wake it, and it
/// answers only the services that changed since `min_index` (every one for 0, at
/// once), each read by a lookup of its own. The index returned is the catalog's,
/// never 0: a later change to any service is above it.
async fn watch_services(
    state: &StateHandle,
    names: Vec<(String, String)>,
    min_index: u64,
    wait: Duration,
) -> (ServiceLists, u64) {
    let deadline = tokio::time::Instant::now() + wait;
    let mut snap = state.snapshot();
    loop {
        let index = snap.index(Table::Services);
        let moved: Vec<&(String, String)> = names
            .iter()
            .filter(|(ns, name)| min_index == 0 || snap.service_index(ns, name) > min_index)
            .collect();
        let now = tokio::time::Instant::now();
        if !moved.is_empty() || now >= deadline {
            let lists = moved
                .into_iter()
                .map(|(ns, name)| ((ns.clone(), name.clone()), service_list(&snap, ns, name)))
                .collect();
            return (lists, index.max(1));
        }
        snap = state
            .wait_table(
                Table::Services,
                index,
                deadline.saturating_duration_since(now),
            )
            .await;
    }
}

/// The registrations of one service (an empty name: of every service of the
/// namespace) in `snap`, sorted by id.
fn service_list(snap: &Snapshot, namespace: &str, name: &str) -> Vec<ServiceRegistration> {
    if name.is_empty() {
        let mut regs: Vec<ServiceRegistration> =
            snap.services_in_namespace(namespace).cloned().collect();
        regs.sort_by(|a, b| a.id.cmp(&b.id));
        regs
    } else {
        snap.service(namespace, name).cloned().collect()
    }
}

/// The client's refusals in the HTTP API's terms: an unknown allocation or task is a
/// 404, an unknown signal a 400, the rest a failure to act.
fn client_api_error(e: ClientAgentError) -> ClientApiError {
    match e {
        ClientAgentError::UnknownAlloc(alloc) => ClientApiError::UnknownAlloc(alloc),
        ClientAgentError::Runner(AllocRunnerError::UnknownTask { alloc_id, task }) => {
            ClientApiError::UnknownTask {
                alloc: alloc_id,
                task,
            }
        }
        ClientAgentError::Runner(AllocRunnerError::Task(TaskRunnerError::Driver {
            source: DriverError::UnknownSignal(_),
            ..
        })) => ClientApiError::BadRequest(e.to_string()),
        other => ClientApiError::Failed(other.to_string()),
    }
}

/// The HTTP API's view of the client in the same process.
#[derive(Debug)]
pub(crate) struct LocalClient(pub Arc<ClientAgent>);

impl ClientApi for LocalClient {
    fn node_id(&self) -> NodeId {
        self.0.node_id().clone()
    }

    fn alloc_dir(&self, alloc: &AllocId) -> Option<PathBuf> {
        self.0.alloc_dir(alloc)
    }

    fn restart_alloc(
        &self,
        alloc: AllocId,
        task: Option<String>,
    ) -> BoxFuture<'_, Result<(), ClientApiError>> {
        Box::pin(async move {
            match task {
                Some(task) => self.0.restart_task(&alloc, task).await,
                None => self.0.restart_alloc(&alloc),
            }
            .map_err(client_api_error)
        })
    }

    fn signal_alloc(
        &self,
        alloc: AllocId,
        task: Option<String>,
        signal: String,
    ) -> BoxFuture<'_, Result<(), ClientApiError>> {
        Box::pin(async move {
            self.0
                .signal_alloc(&alloc, task, signal)
                .await
                .map_err(client_api_error)
        })
    }

    fn alloc_stats(
        &self,
        alloc: AllocId,
    ) -> BoxFuture<'_, Result<serde_json::Value, ClientApiError>> {
        Box::pin(async move {
            if self.0.alloc_dir(&alloc).is_none() {
                return Err(ClientApiError::UnknownAlloc(alloc));
            }
            Ok(serde_json::json!({ "ResourceUsage": null, "Tasks": {}, "Timestamp": 0 }))
        })
    }
}

#[cfg(test)]
mod tests {
    use caravan_server::{LocalLog, ServerConfig, SystemClock};

    use super::*;

    fn server() -> LocalServer {
        let state = StateHandle::default();
        let log = Arc::new(LocalLog::new(state.clone()));
        LocalServer(Server::new(
            ServerConfig::default(),
            state,
            log,
            Arc::new(SystemClock),
        ))
    }

    #[tokio::test]
    async fn watch_services_wakes_for_its_services_and_answers_only_those_that_changed() {
        let local = server();
        let node = Node {
            id: NodeId::new("n1"),
            name: "n1".into(),
            datacenter: "dc1".into(),
            ..Node::default()
        };
        local.0.register_node(node).await.expect("node");
        let register = |namespace: &'static str, name: &'static str, id: &'static str| {
            let server = local.0.clone();
            async move {
                let reg = ServiceRegistration {
                    id: id.into(),
                    service_name: name.into(),
                    namespace: namespace.into(),
                    node_id: NodeId::new("n1"),
                    address: "127.0.0.1".into(),
                    port: 8080,
                    ..ServiceRegistration::default()
                };
                server
                    .consul_register_service(reg, false)
                    .await
                    .expect("register")
            }
        };
        register("default", "redis", "redis-1").await;
        register("default", "web", "web-1").await;
        register("other", "redis", "other-redis-1").await;
        let name = |ns: &str, n: &str| (ns.to_owned(), n.to_owned());
        let names = vec![
            name("default", "redis"),
            name("default", "web"),
            name("default", "nope"),
            name("default", ""),
        ];
        let ids = |lists: &ServiceLists, ns: &str, n: &str| -> Vec<String> {
            lists[&name(ns, n)].iter().map(|r| r.id.clone()).collect()
        };

        // A first answer at once, for every name: one without instances is empty,
        // and an empty name lists the namespace.
        let (lists, index) = local
            .watch_services(names.clone(), 0, Duration::from_secs(5))
            .await
            .expect("an answer");
        assert_eq!(lists.len(), 4);
        assert_eq!(ids(&lists, "default", "redis"), ["redis-1"]);
        assert!(ids(&lists, "default", "nope").is_empty());
        assert_eq!(ids(&lists, "default", ""), ["redis-1", "web-1"]);
        assert!(index > 0);

        // A write to a service not watched (the same name in another namespace) does
        // not wake the query; one to a watched service does, and only it and its
        // namespace are answered.
        let watch = local.watch_services(names.clone(), index, Duration::from_secs(30));
        let write = async {
            register("other", "redis", "other-redis-2").await;
            tokio::time::sleep(Duration::from_millis(50)).await;
            register("default", "redis", "redis-2").await;
        };
        let ((lists, next), ()) = tokio::join!(async { watch.await.expect("an answer") }, write);
        assert_eq!(
            lists.keys().cloned().collect::<Vec<_>>(),
            [name("default", ""), name("default", "redis")]
        );
        assert_eq!(ids(&lists, "default", "redis"), ["redis-1", "redis-2"]);
        assert_eq!(ids(&lists, "default", ""), ["redis-1", "redis-2", "web-1"]);
        assert!(next > index);

        // Nothing changes: the wait runs out with nothing to answer.
        let (lists, same) = local
            .watch_services(names.clone(), next, Duration::from_millis(100))
            .await
            .expect("an answer");
        assert!(lists.is_empty());
        assert_eq!(same, next);

        // The last instance of a service goes: it is answered empty.
        local
            .0
            .consul_deregister_service(&NodeId::new("n1"), "web-1")
            .await
            .expect("deregister");
        let (lists, _) = local
            .watch_services(names, next, Duration::from_secs(5))
            .await
            .expect("an answer");
        assert!(ids(&lists, "default", "web").is_empty());
        assert_eq!(ids(&lists, "default", ""), ["redis-1", "redis-2"]);
        assert!(!lists.contains_key(&name("default", "redis")));
    }

    #[tokio::test]
    async fn watch_kv_answers_its_keys_and_prefixes_and_wakes_only_for_them() {
        let local = server();
        let set = |key: &'static str, value: &'static str| {
            let server = local.0.clone();
            async move {
                server
                    .kv_set(key, value.as_bytes().to_vec(), 0, None)
                    .await
                    .expect("kv set")
            }
        };
        set("config/a", "1").await;
        set("config/ab", "2").await;
        set("app/x/y", "3").await;
        let paths = vec![
            KvPath::Key("config/a".into()),
            KvPath::Prefix("app/".into()),
            KvPath::Prefix("app/x".into()),
        ];

        // A first answer at once: `config/ab` is not the key, and an entry two
        // prefixes hold is listed once.
        let (pairs, index) = local
            .watch_kv(paths.clone(), 0, Duration::from_secs(5))
            .await
            .expect("an answer");
        let keys: Vec<&str> = pairs.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(keys, ["app/x/y", "config/a"]);
        assert_eq!(pairs[1].value, b"1");
        assert!(index > 0);

        // A blocking query wakes for a change to its keys, not to another key.
        let watch = local.watch_kv(paths.clone(), index, Duration::from_secs(30));
        let write = async {
            set("config/ab", "changed").await;
            tokio::time::sleep(Duration::from_millis(50)).await;
            set("app/new", "4").await;
        };
        let ((pairs, next), ()) = tokio::join!(async { watch.await.expect("an answer") }, write);
        let keys: Vec<&str> = pairs.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(keys, ["app/new", "app/x/y", "config/a"]);
        assert!(next > index);

        // Nothing changes: the wait runs out with the same answer.
        let (same, _) = local
            .watch_kv(paths, next, Duration::from_millis(100))
            .await
            .expect("an answer");
        assert_eq!(same, pairs);
    }
}
