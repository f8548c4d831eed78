//! A node's cache of server data its templates read, kept by one blocking query for
//! everything any template of the node reads, not one per template. What is read and
//! how it is asked for is a [`WatchFeed`]: the catalog ([`ServiceFeed`]) and the KV
//! store ([`KvFeed`]) are the two. Templates declare what they read
//! ([`WatchInterest`]), read the latest answer ([`WatchCache::get`]), and learn of
//! changes through [`WatchCache::subscribe`] and each key's generation.
//!
//! A key that is declared but has not been answered yet reads as `None`: the template
//! waits for it (consul-template's "every dependency returned once").
//!
//! A change costs what changed: a feed may answer only the keys whose data changed
//! (the catalog does), and only those are compared and replaced; the others keep
//! their answer and generation.
//!
//! [`ServiceFeed`]: crate::ServiceFeed
//! [`KvFeed`]: crate::KvFeed

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::Duration;

use tokio::sync::watch;

use crate::{BoxFuture, ServerApiError};

/// How long one blocking query waits.
const WATCH_WAIT: Duration = Duration::from_secs(30);
/// How long to wait before retrying a failed query.
const RETRY_DELAY: Duration = Duration::from_millis(500);

/// The answers of one blocking query, per key (each key that changed, or every key).
pub type FeedAnswer<K, V> = Result<(BTreeMap<K, V>, u64), ServerApiError>;

/// One kind of server data a [`WatchCache`] holds, and the blocking query that reads
/// it. Cheap to clone: the query runs on a clone, so that it does not keep the cache
/// alive.
pub trait WatchFeed: Clone + Send + Sync + fmt::Debug + 'static {
    /// What a reader asks for (a service name, a KV key or prefix).
    type Key: Clone + Ord + fmt::Debug + Send + Sync + 'static;
    /// The answer for one key; the default is no data.
    type Value: Default + PartialEq + fmt::Debug + Send + Sync + 'static;
    /// What is watched, for log lines ("services", "kv").
    const WHAT: &'static str;

    /// One blocking query for every key of `keys`, once the data has changed for
    /// one of them since `min_index` or `wait` has passed: an answer for each key
    /// whose data changed since `min_index` (it may answer the others too; a key left
    /// out keeps its answer), with the index to wait on next. `min_index` 0 answers
    /// every key at once (a key left out then has no data: the default value); the
    /// index returned is never 0.
    fn fetch<'a>(
        &'a self,
        keys: &'a BTreeSet<Self::Key>,
        min_index: u64,
        wait: Duration,
    ) -> BoxFuture<'a, FeedAnswer<Self::Key, Self::Value>>;
}

/// The latest answer for one key.
#[derive(Debug)]
struct Entry<V> {
    value: Arc<V>,
    /// The cache's generation when this answer last changed.
    generation: u64,
}

#[derive(Debug)]
struct Inner<F: WatchFeed> {
    /// How many interests hold each key.
    interest: BTreeMap<F::Key, usize>,
    data: BTreeMap<F::Key, Entry<F::Value>>,
    generation: u64,
}

impl<F: WatchFeed> Default for Inner<F> {
    fn default() -> Self {
        Self {
            interest: BTreeMap::new(),
            data: BTreeMap::new(),
            generation: 0,
        }
    }
}

/// The per-node cache of one feed.
pub struct WatchCache<F: WatchFeed> {
    feed: F,
    inner: Mutex<Inner<F>>,
    /// The keys watched now: the query loop restarts when they change.
    keys: watch::Sender<BTreeSet<F::Key>>,
    /// The generation of the latest change to any watched key.
    changes: watch::Sender<u64>,
    started: AtomicBool,
}

impl<F: WatchFeed> fmt::Debug for WatchCache<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WatchCache")
            .field("what", &F::WHAT)
            .field("keys", &*self.keys.borrow())
            .finish_non_exhaustive()
    }
}

impl<F: WatchFeed> WatchCache<F> {
    /// A cache over `feed`; its query loop starts with the first interest.
    pub fn new(feed: F) -> Arc<Self> {
        Arc::new(Self {
            feed,
            inner: Mutex::new(Inner::default()),
            keys: watch::channel(BTreeSet::new()).0,
            changes: watch::channel(0).0,
            started: AtomicBool::new(false),
        })
    }

    /// A new, empty declaration of what a reader watches; it lets go on drop. Starts
    /// the query loop on the current tokio runtime the first time.
    pub fn interest(self: &Arc<Self>) -> WatchInterest<F> {
        if !self.started.swap(true, Ordering::SeqCst) {
            tokio::spawn(query_loop(Arc::downgrade(self), self.keys.subscribe()));
        }
        WatchInterest {
            cache: self.clone(),
            keys: BTreeSet::new(),
        }
    }

    /// The latest answer for `key`; `None` until the first.
    pub fn get(&self, key: &F::Key) -> Option<Arc<F::Value>> {
        self.lock().data.get(key).map(|e| e.value.clone())
    }

    /// The generation at which `key`'s answer last changed; `None` until the first.
    pub fn generation(&self, key: &F::Key) -> Option<u64> {
        self.lock().data.get(key).map(|e| e.generation)
    }

    /// Sees the generation of every change to a watched key.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }

    /// The keys watched now.
    pub fn watched(&self) -> BTreeSet<F::Key> {
        self.keys.borrow().clone()
    }

    fn lock(&self) -> MutexGuard<'_, Inner<F>> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn add(&self, keys: &BTreeSet<F::Key>) {
        let mut inner = self.lock();
        let mut grew = false;
        for key in keys {
            let count = inner.interest.entry(key.clone()).or_insert(0);
            *count += 1;
            grew |= *count == 1;
        }
        if grew {
            self.publish_keys(&inner);
        }
    }

    fn remove(&self, keys: &BTreeSet<F::Key>) {
        let mut inner = self.lock();
        let mut shrank = false;
        for key in keys {
            let gone = match inner.interest.get_mut(key) {
                Some(count) => {
                    *count = count.saturating_sub(1);
                    *count == 0
                }
                None => false,
            };
            if gone {
                inner.interest.remove(key);
                // A later reader must wait for a fresh answer, not read a stale one.
                inner.data.remove(key);
                shrank = true;
            }
        }
        if shrank {
            self.publish_keys(&inner);
        }
    }

    fn publish_keys(&self, inner: &Inner<F>) {
        let keys: BTreeSet<F::Key> = inner.interest.keys().cloned().collect();
        self.keys.send_replace(keys);
    }

    /// Whether a key of `keys` has no answer yet (newly watched, or let go and
    /// watched again): the next query must answer every key.
    fn unanswered(&self, keys: &BTreeSet<F::Key>) -> bool {
        let inner = self.lock();
        keys.iter().any(|k| !inner.data.contains_key(k))
    }

    /// Records an answer (the keys it holds; the others keep theirs, except that a
    /// first answer, to `whole`, covers each of them: one left out has no data);
    /// wakes readers if anything changed. Keys no longer watched are dropped.
    fn store(&self, mut answer: BTreeMap<F::Key, F::Value>, whole: Option<&BTreeSet<F::Key>>) {
        for key in whole.into_iter().flatten() {
            if !answer.contains_key(key) {
                answer.insert(key.clone(), F::Value::default());
            }
        }
        let mut inner = self.lock();
        let next = inner.generation + 1;
        let mut changed = false;
        for (key, value) in answer {
            if !inner.interest.contains_key(&key) {
                continue;
            }
            let same = inner.data.get(&key).is_some_and(|e| *e.value == value);
            if !same {
                inner.data.insert(
                    key,
                    Entry {
                        value: Arc::new(value),
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

/// The blocking query, restarted whenever the watched set changes: answered at once
/// for every key when one has no answer yet, else on from where it was (a key let go
/// needs nothing). Ends when the cache is dropped.
async fn query_loop<F: WatchFeed>(
    cache: Weak<WatchCache<F>>,
    mut keys_rx: watch::Receiver<BTreeSet<F::Key>>,
) {
    let mut index = 0;
    loop {
        let keys = keys_rx.borrow_and_update().clone();
        if keys.is_empty() {
            if keys_rx.changed().await.is_err() {
                return;
            }
            continue;
        }
        let Some(this) = cache.upgrade() else {
            return;
        };
        // Checked on every round, not only when the keys change: a key let go and
        // watched again between two rounds lost its answer under the same set.
        if this.unanswered(&keys) {
            index = 0;
        }
        let feed = this.feed.clone();
        drop(this);
        tokio::select! {
            answer = feed.fetch(&keys, index, WATCH_WAIT) => match answer {
                Ok((values, next)) => {
                    let Some(this) = cache.upgrade() else {
                        return;
                    };
                    this.store(values, (index == 0).then_some(&keys));
                    index = next;
                }
                Err(e) => {
                    tracing::warn!(error = %e, what = F::WHAT, "watching failed; retrying");
                    tokio::time::sleep(RETRY_DELAY).await;
                }
            },
            changed = keys_rx.changed() => {
                if changed.is_err() {
                    return;
                }
            }
        }
    }
}

/// What one reader watches; released on drop.
#[derive(Debug)]
pub struct WatchInterest<F: WatchFeed> {
    cache: Arc<WatchCache<F>>,
    keys: BTreeSet<F::Key>,
}

impl<F: WatchFeed> WatchInterest<F> {
    /// Watches exactly `keys` from now on.
    pub fn set(&mut self, keys: BTreeSet<F::Key>) {
        if keys == self.keys {
            return;
        }
        let added: BTreeSet<F::Key> = keys.difference(&self.keys).cloned().collect();
        let removed: BTreeSet<F::Key> = self.keys.difference(&keys).cloned().collect();
        // Add before removing, so a key kept by both never loses its answer.
        self.cache.add(&added);
        self.cache.remove(&removed);
        self.keys = keys;
    }

    /// What this reader watches.
    pub fn keys(&self) -> &BTreeSet<F::Key> {
        &self.keys
    }

    pub fn cache(&self) -> &Arc<WatchCache<F>> {
        &self.cache
    }
}

impl<F: WatchFeed> Drop for WatchInterest<F> {
    fn drop(&mut self) {
        self.cache.remove(&self.keys);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A feed over a watch channel of `key -> (index of its last change, value)`: a
    /// blocking query answers once one of its keys changed past `min_index`, with
    /// only the keys that did (every key that has a value for 0), as the catalog does.
    #[derive(Debug, Clone)]
    struct FakeFeed(Arc<watch::Sender<(u64, FakeData)>>);

    type FakeData = BTreeMap<u32, (u64, String)>;

    impl FakeFeed {
        fn new() -> Self {
            Self(Arc::new(watch::channel((0, BTreeMap::new())).0))
        }

        fn set(&self, key: u32, value: &str) {
            self.0.send_modify(|(index, data)| {
                *index += 1;
                data.insert(key, (*index, value.to_owned()));
            });
        }
    }

    impl WatchFeed for FakeFeed {
        type Key = u32;
        type Value = Option<String>;
        const WHAT: &'static str = "fake";

        fn fetch<'a>(
            &'a self,
            keys: &'a BTreeSet<u32>,
            min_index: u64,
            wait: Duration,
        ) -> BoxFuture<'a, FeedAnswer<u32, Option<String>>> {
            let moved =
                move |data: &BTreeMap<u32, (u64, String)>| -> BTreeMap<u32, Option<String>> {
                    keys.iter()
                        .filter_map(|k| data.get(k).map(|v| (k, v)))
                        .filter(|(_, (at, _))| min_index == 0 || *at > min_index)
                        .map(|(k, (_, v))| (*k, Some(v.clone())))
                        .collect()
                };
            Box::pin(async move {
                let mut rx = self.0.subscribe();
                let _ = tokio::time::timeout(
                    wait,
                    rx.wait_for(|(_, data)| min_index == 0 || !moved(data).is_empty()),
                )
                .await;
                let (index, data) = &*rx.borrow();
                Ok((moved(data), index.max(&1).to_owned()))
            })
        }
    }

    async fn next_change(rx: &mut watch::Receiver<u64>) {
        tokio::time::timeout(Duration::from_secs(10), rx.changed())
            .await
            .expect("a change in time")
            .expect("the cache is alive");
    }

    #[tokio::test]
    async fn readers_share_one_watch_and_see_only_changes_to_their_keys() {
        let feed = FakeFeed::new();
        feed.set(1, "a");
        let cache = WatchCache::new(feed.clone());
        let mut changes = cache.subscribe();

        // Declared but not answered yet: missing.
        let mut first = cache.interest();
        first.set(BTreeSet::from([1, 2]));
        let mut second = cache.interest();
        second.set(BTreeSet::from([2]));
        assert_eq!(cache.watched(), BTreeSet::from([1, 2]));
        next_change(&mut changes).await;
        assert_eq!(cache.get(&1).as_deref(), Some(&Some("a".to_owned())));
        assert_eq!(cache.get(&2).as_deref(), Some(&None));
        let gen1 = cache.generation(&1);

        // A change to key 2 moves its generation only.
        feed.set(2, "b");
        next_change(&mut changes).await;
        assert_eq!(cache.get(&2).as_deref(), Some(&Some("b".to_owned())));
        assert_eq!(cache.generation(&1), gen1);
        assert_ne!(cache.generation(&2), gen1);

        // Key 2 stays while one reader holds it; key 1 goes with its only reader,
        // and its answer with it (a new reader waits for a fresh one).
        drop(first);
        assert_eq!(cache.watched(), BTreeSet::from([2]));
        assert!(cache.get(&1).is_none());
        assert!(cache.get(&2).is_some());
        assert_eq!(second.keys(), &BTreeSet::from([2]));
    }

    #[tokio::test]
    async fn an_answer_of_some_keys_keeps_the_others_and_a_key_watched_again_is_answered() {
        let feed = FakeFeed::new();
        feed.set(1, "a");
        feed.set(2, "b");
        let cache = WatchCache::new(feed.clone());
        let mut changes = cache.subscribe();
        let mut reader = cache.interest();
        reader.set(BTreeSet::from([1, 2, 3]));
        next_change(&mut changes).await;
        assert_eq!(
            cache.get(&3).as_deref(),
            Some(&None),
            "a first answer covers all"
        );
        let (gen1, gen3) = (cache.generation(&1), cache.generation(&3));

        // The feed answers key 2 alone: the others keep their answers and generations.
        feed.set(2, "c");
        next_change(&mut changes).await;
        assert_eq!(cache.get(&2).as_deref(), Some(&Some("c".to_owned())));
        assert_eq!(cache.get(&1).as_deref(), Some(&Some("a".to_owned())));
        assert_eq!((cache.generation(&1), cache.generation(&3)), (gen1, gen3));

        // Why: let go and watched again before the query loop looks, the set is the
        // same but the key lost its answer; it must not wait for its next change.
        reader.set(BTreeSet::from([2, 3]));
        reader.set(BTreeSet::from([1, 2, 3]));
        assert!(cache.get(&1).is_none());
        next_change(&mut changes).await;
        assert_eq!(cache.get(&1).as_deref(), Some(&Some("a".to_owned())));
    }
}
