//! The node's view of the service catalog, for its templates: one blocking query
//! ([`ServerApi::watch_services`]) for every service any template of the node reads,
//! not one per template. Templates declare what they read ([`ServiceInterest`]), read
//! the latest answer ([`ServiceWatcher::get`]), and learn of changes through
//! [`ServiceWatcher::subscribe`] and each service's generation.
//!
//! A service that is declared but has not been answered yet reads as `None`: the
//! template waits for it (consul-template's "every dependency returned once").

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::Duration;

use caravan_model::ServiceRegistration;
use tokio::sync::watch;

use crate::{ServerApi, ServiceName};

/// How long one blocking query waits.
const WATCH_WAIT: Duration = Duration::from_secs(30);
/// How long to wait before retrying a failed query.
const RETRY_DELAY: Duration = Duration::from_millis(500);

/// The latest answer for one service.
#[derive(Debug, Clone)]
struct Entry {
    regs: Arc<Vec<ServiceRegistration>>,
    /// The watcher's generation when this answer last changed.
    generation: u64,
}

#[derive(Debug, Default)]
struct Inner {
    /// How many interests hold each service.
    interest: BTreeMap<ServiceName, usize>,
    data: BTreeMap<ServiceName, Entry>,
    generation: u64,
}

/// The per-node catalog cache.
pub struct ServiceWatcher {
    server: Arc<dyn ServerApi>,
    inner: Mutex<Inner>,
    /// The services watched now: the query loop restarts when they change.
    names: watch::Sender<BTreeSet<ServiceName>>,
    /// The generation of the latest change to any watched service.
    changes: watch::Sender<u64>,
    started: AtomicBool,
}

impl fmt::Debug for ServiceWatcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceWatcher")
            .field("names", &*self.names.borrow())
            .finish_non_exhaustive()
    }
}

impl ServiceWatcher {
    /// A watcher over `server`; its query loop starts with the first interest.
    pub fn new(server: Arc<dyn ServerApi>) -> Arc<Self> {
        Arc::new(Self {
            server,
            inner: Mutex::new(Inner::default()),
            names: watch::channel(BTreeSet::new()).0,
            changes: watch::channel(0).0,
            started: AtomicBool::new(false),
        })
    }

    /// A new, empty declaration of what a reader watches; it lets go on drop. Starts
    /// the query loop on the current tokio runtime the first time.
    pub fn interest(self: &Arc<Self>) -> ServiceInterest {
        if !self.started.swap(true, Ordering::SeqCst) {
            tokio::spawn(query_loop(Arc::downgrade(self), self.names.subscribe()));
        }
        ServiceInterest {
            watcher: self.clone(),
            names: BTreeSet::new(),
        }
    }

    /// The latest registrations of `name`; `None` until the first answer.
    pub fn get(&self, name: &ServiceName) -> Option<Arc<Vec<ServiceRegistration>>> {
        self.lock().data.get(name).map(|e| e.regs.clone())
    }

    /// The generation at which `name`'s answer last changed; `None` until the first.
    pub fn generation(&self, name: &ServiceName) -> Option<u64> {
        self.lock().data.get(name).map(|e| e.generation)
    }

    /// Sees the generation of every change to a watched service.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }

    /// The services watched now.
    pub fn watched(&self) -> BTreeSet<ServiceName> {
        self.names.borrow().clone()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn add(&self, names: &BTreeSet<ServiceName>) {
        let mut inner = self.lock();
        let mut grew = false;
        for name in names {
            let count = inner.interest.entry(name.clone()).or_insert(0);
            *count += 1;
            grew |= *count == 1;
        }
        if grew {
            self.publish_names(&inner);
        }
    }

    fn remove(&self, names: &BTreeSet<ServiceName>) {
        let mut inner = self.lock();
        let mut shrank = false;
        for name in names {
            let gone = match inner.interest.get_mut(name) {
                Some(count) => {
                    *count = count.saturating_sub(1);
                    *count == 0
                }
                None => false,
            };
            if gone {
                inner.interest.remove(name);
                // A later reader must wait for a fresh answer, not read a stale one.
                inner.data.remove(name);
                shrank = true;
            }
        }
        if shrank {
            self.publish_names(&inner);
        }
    }

    fn publish_names(&self, inner: &Inner) {
        let names: BTreeSet<ServiceName> = inner.interest.keys().cloned().collect();
        self.names.send_replace(names);
    }

    /// Records an answer covering `asked`; wakes readers if anything changed.
    fn store(&self, asked: &BTreeSet<ServiceName>, regs: &[ServiceRegistration]) {
        let mut inner = self.lock();
        let next = inner.generation + 1;
        let mut changed = false;
        for name in asked {
            if !inner.interest.contains_key(name) {
                continue;
            }
            let mut mine: Vec<ServiceRegistration> =
                regs.iter().filter(|r| name.holds(r)).cloned().collect();
            mine.sort_by(|a, b| a.id.cmp(&b.id));
            let same = inner.data.get(name).is_some_and(|e| *e.regs == mine);
            if !same {
                inner.data.insert(
                    name.clone(),
                    Entry {
                        regs: Arc::new(mine),
                        generation: next,
                    },
                );
                changed = true;
            }
        }
        if changed {
            inner.generation = next;
            drop(inner);
            self.changes.send_replace(next);
        }
    }
}

/// The blocking query, restarted (answered at once) whenever the watched set changes.
/// Ends when the watcher is dropped.
async fn query_loop(
    watcher: Weak<ServiceWatcher>,
    mut names_rx: watch::Receiver<BTreeSet<ServiceName>>,
) {
    let mut index = 0;
    // What the index is about: another set of services needs a first answer.
    let mut answered = BTreeSet::new();
    loop {
        let names = names_rx.borrow_and_update().clone();
        if names.is_empty() {
            if names_rx.changed().await.is_err() {
                return;
            }
            continue;
        }
        if names != answered {
            index = 0;
        }
        let Some(this) = watcher.upgrade() else {
            return;
        };
        let asked: Vec<(String, String)> = names
            .iter()
            .map(|n| (n.namespace.clone(), n.name.clone()))
            .collect();
        let server = this.server.clone();
        drop(this);
        tokio::select! {
            answer = server.watch_services(asked, index, WATCH_WAIT) => match answer {
                Ok((regs, next)) => {
                    let Some(this) = watcher.upgrade() else {
                        return;
                    };
                    this.store(&names, &regs);
                    index = next;
                    answered = names;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "watching services failed; retrying");
                    tokio::time::sleep(RETRY_DELAY).await;
                }
            },
            changed = names_rx.changed() => {
                if changed.is_err() {
                    return;
                }
            }
        }
    }
}

/// What one reader watches; released on drop.
#[derive(Debug)]
pub struct ServiceInterest {
    watcher: Arc<ServiceWatcher>,
    names: BTreeSet<ServiceName>,
}

impl ServiceInterest {
    /// Watches exactly `names` from now on.
    pub fn set(&mut self, names: BTreeSet<ServiceName>) {
        if names == self.names {
            return;
        }
        let added: BTreeSet<ServiceName> = names.difference(&self.names).cloned().collect();
        let removed: BTreeSet<ServiceName> = self.names.difference(&names).cloned().collect();
        // Add before removing, so a service kept by both never loses its answer.
        self.watcher.add(&added);
        self.watcher.remove(&removed);
        self.names = names;
    }

    /// What this reader watches.
    pub fn names(&self) -> &BTreeSet<ServiceName> {
        &self.names
    }

    pub fn watcher(&self) -> &Arc<ServiceWatcher> {
        &self.watcher
    }
}

impl Drop for ServiceInterest {
    fn drop(&mut self) {
        self.watcher.remove(&self.names);
    }
}
