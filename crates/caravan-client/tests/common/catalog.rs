//! A fake of the servers' catalog and KV store: registrations and keys in memory,
//! blocking `watch_services` (on each service's own index, answering the services
//! that changed, as the servers do) and `watch_kv`, and a record of every call, for
//! the service and template tests.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use caravan_client::{
    AllocUpdate, BoxFuture, KvPair, KvPath, ServerApi, ServerApiError, ServiceLists,
};
use caravan_model::{AllocId, Allocation, Node, NodeId, ServiceRegistration};
use tokio::sync::watch;

/// One call the fake received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CatalogCall {
    /// Registration ids, in the order sent.
    Upsert(Vec<String>),
    Delete(Vec<String>),
    DeleteAlloc(String),
    /// The services asked about (`namespace/name`), and the index.
    Watch(Vec<String>, u64),
    /// The KV paths asked about (`kv.get(key)`, `kv.list(prefix)`), and the index.
    WatchKv(Vec<String>, u64),
}

#[derive(Debug, Default)]
struct State {
    regs: BTreeMap<String, ServiceRegistration>,
    /// The index of the last change to each service (namespace, name) and, under an
    /// empty name, to each namespace; kept for services gone too.
    service_indexes: BTreeMap<(String, String), u64>,
    kv: BTreeMap<String, KvPair>,
    index: u64,
    calls: Vec<CatalogCall>,
}

impl State {
    /// Each service's instances, and each namespace's (under an empty name).
    fn by_service(&self) -> BTreeMap<(String, String), Vec<ServiceRegistration>> {
        let mut out: BTreeMap<(String, String), Vec<ServiceRegistration>> = BTreeMap::new();
        for reg in self.regs.values() {
            let ns = reg.namespace.clone();
            out.entry((ns.clone(), reg.service_name.clone()))
                .or_default()
                .push(reg.clone());
            out.entry((ns, String::new()))
                .or_default()
                .push(reg.clone());
        }
        out
    }

    fn service_index(&self, namespace: &str, name: &str) -> u64 {
        self.service_indexes
            .get(&(namespace.to_owned(), name.to_owned()))
            .copied()
            .unwrap_or(0)
    }

    /// The watched services that changed since `min_index` (all of them for 0).
    fn moved<'a>(
        &self,
        names: &'a [(String, String)],
        min_index: u64,
    ) -> Vec<&'a (String, String)> {
        names
            .iter()
            .filter(|(ns, name)| min_index == 0 || self.service_index(ns, name) > min_index)
            .collect()
    }
}

/// The catalog, as far as one client can tell.
#[derive(Debug)]
pub struct FakeCatalog {
    state: Mutex<State>,
    index: watch::Sender<u64>,
}

impl Default for FakeCatalog {
    fn default() -> Self {
        Self {
            state: Mutex::new(State {
                index: 1,
                ..State::default()
            }),
            index: watch::channel(1).0,
        }
    }
}

impl FakeCatalog {
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers an instance as another node would.
    pub fn put(&self, reg: ServiceRegistration) {
        self.change(|s| {
            s.regs.insert(reg.id.clone(), reg);
        });
    }

    /// Removes an instance as another node would.
    pub fn remove(&self, id: &str) {
        self.change(|s| {
            s.regs.remove(id);
        });
    }

    /// Sets a key, as a Consul API client would.
    pub fn put_kv(&self, key: &str, value: &str) {
        self.change(|s| {
            let modify_index = s.index + 1;
            s.kv.insert(
                key.to_owned(),
                KvPair {
                    key: key.to_owned(),
                    value: value.as_bytes().to_vec(),
                    flags: 0,
                    modify_index,
                },
            );
        });
    }

    /// Deletes a key.
    pub fn delete_kv(&self, key: &str) {
        self.change(|s| {
            s.kv.remove(key);
        });
    }

    /// The KV watches asked so far: the paths of each, with its index.
    pub fn kv_watches(&self) -> Vec<(Vec<String>, u64)> {
        self.calls()
            .into_iter()
            .filter_map(|c| match c {
                CatalogCall::WatchKv(paths, index) => Some((paths, index)),
                _ => None,
            })
            .collect()
    }

    pub fn regs(&self) -> Vec<ServiceRegistration> {
        self.state.lock().unwrap().regs.values().cloned().collect()
    }

    pub fn reg(&self, id: &str) -> Option<ServiceRegistration> {
        self.state.lock().unwrap().regs.get(id).cloned()
    }

    pub fn ids(&self) -> Vec<String> {
        self.state.lock().unwrap().regs.keys().cloned().collect()
    }

    pub fn calls(&self) -> Vec<CatalogCall> {
        self.state.lock().unwrap().calls.clone()
    }

    /// The calls that changed the catalog (not the watches).
    pub fn writes(&self) -> Vec<CatalogCall> {
        self.calls()
            .into_iter()
            .filter(|c| !matches!(c, CatalogCall::Watch(..) | CatalogCall::WatchKv(..)))
            .collect()
    }

    fn record(&self, call: CatalogCall) {
        self.state.lock().unwrap().calls.push(call);
    }

    fn change(&self, f: impl FnOnce(&mut State)) {
        let index = {
            let mut s = self.state.lock().unwrap();
            let before = s.by_service();
            f(&mut s);
            s.index += 1;
            let index = s.index;
            let after = s.by_service();
            let moved: Vec<(String, String)> = before
                .keys()
                .chain(after.keys())
                .filter(|k| before.get(*k) != after.get(*k))
                .cloned()
                .collect();
            for key in moved {
                s.service_indexes.insert(key, index);
            }
            index
        };
        self.index.send_replace(index);
    }

    fn answer(&self, names: &[(String, String)], min_index: u64) -> (ServiceLists, u64) {
        let s = self.state.lock().unwrap();
        let mut by_service = s.by_service();
        let lists = s
            .moved(names, min_index)
            .into_iter()
            .map(|key| (key.clone(), by_service.remove(key).unwrap_or_default()))
            .collect();
        (lists, s.index)
    }
}

impl ServerApi for FakeCatalog {
    fn register_node(&self, _node: Node) -> BoxFuture<'_, Result<Duration, ServerApiError>> {
        Box::pin(async { Ok(Duration::from_secs(30)) })
    }

    fn heartbeat<'a>(
        &'a self,
        _node: &'a NodeId,
    ) -> BoxFuture<'a, Result<Duration, ServerApiError>> {
        Box::pin(async { Ok(Duration::from_secs(30)) })
    }

    fn node_allocs<'a>(
        &'a self,
        _node: &'a NodeId,
        _min_index: u64,
        wait: Duration,
    ) -> BoxFuture<'a, Result<(Vec<Allocation>, u64), ServerApiError>> {
        Box::pin(async move {
            tokio::time::sleep(wait).await;
            Ok((Vec::new(), 1))
        })
    }

    fn update_allocs(
        &self,
        _updates: Vec<AllocUpdate>,
    ) -> BoxFuture<'_, Result<(), ServerApiError>> {
        Box::pin(async { Ok(()) })
    }

    fn upsert_services(
        &self,
        regs: Vec<ServiceRegistration>,
    ) -> BoxFuture<'_, Result<(), ServerApiError>> {
        self.record(CatalogCall::Upsert(
            regs.iter().map(|r| r.id.clone()).collect(),
        ));
        self.change(|s| {
            for reg in regs {
                s.regs.insert(reg.id.clone(), reg);
            }
        });
        Box::pin(async { Ok(()) })
    }

    fn delete_services(
        &self,
        regs: Vec<ServiceRegistration>,
    ) -> BoxFuture<'_, Result<(), ServerApiError>> {
        self.record(CatalogCall::Delete(
            regs.iter().map(|r| r.id.clone()).collect(),
        ));
        self.change(|s| {
            for reg in regs {
                s.regs.remove(&reg.id);
            }
        });
        Box::pin(async { Ok(()) })
    }

    fn delete_services_for_alloc<'a>(
        &'a self,
        alloc: &'a AllocId,
    ) -> BoxFuture<'a, Result<(), ServerApiError>> {
        self.record(CatalogCall::DeleteAlloc(alloc.to_string()));
        self.change(|s| s.regs.retain(|_, r| r.alloc_id != *alloc));
        Box::pin(async { Ok(()) })
    }

    fn watch_services(
        &self,
        names: Vec<(String, String)>,
        min_index: u64,
        wait: Duration,
    ) -> BoxFuture<'_, Result<(ServiceLists, u64), ServerApiError>> {
        self.record(CatalogCall::Watch(
            names.iter().map(|(ns, n)| format!("{ns}/{n}")).collect(),
            min_index,
        ));
        Box::pin(async move {
            let mut rx = self.index.subscribe();
            let moved = |_: &u64| {
                let s = self.state.lock().unwrap();
                !s.moved(&names, min_index).is_empty()
            };
            let _ = tokio::time::timeout(wait, rx.wait_for(moved)).await;
            Ok(self.answer(&names, min_index))
        })
    }

    fn watch_kv(
        &self,
        paths: Vec<KvPath>,
        min_index: u64,
        wait: Duration,
    ) -> BoxFuture<'_, Result<(Vec<KvPair>, u64), ServerApiError>> {
        self.record(CatalogCall::WatchKv(
            paths.iter().map(ToString::to_string).collect(),
            min_index,
        ));
        Box::pin(async move {
            let mut rx = self.index.subscribe();
            let _ =
                tokio::time::timeout(wait, rx.wait_for(|i| min_index == 0 || *i > min_index)).await;
            let s = self.state.lock().unwrap();
            let pairs =
                s.kv.values()
                    .filter(|p| paths.iter().any(|path| path.holds(&p.key)))
                    .cloned()
                    .collect();
            Ok((pairs, s.index))
        })
    }
}
