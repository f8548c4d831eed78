//! The node's view of the KV store, for its templates: one blocking query
//! ([`ServerApi::watch_kv`]) for every key and prefix any template of the node reads.
//! See [`WatchCache`] for how readers declare what they read and learn of changes.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::watch_cache::{FeedAnswer, WatchCache, WatchFeed, WatchInterest};
use crate::{BoxFuture, KvPair, KvPath, ServerApi};

/// The per-node KV cache: the entries of each watched key (none or one) and prefix,
/// sorted by key.
pub type KvWatcher = WatchCache<KvFeed>;
/// What one reader of the KV cache watches.
pub type KvInterest = WatchInterest<KvFeed>;

/// The KV store as the servers answer it.
#[derive(Clone)]
pub struct KvFeed {
    server: Arc<dyn ServerApi>,
}

impl KvFeed {
    pub fn new(server: Arc<dyn ServerApi>) -> Self {
        Self { server }
    }
}

impl fmt::Debug for KvFeed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("KvFeed")
    }
}

impl WatchFeed for KvFeed {
    type Key = KvPath;
    type Value = Vec<KvPair>;
    const WHAT: &'static str = "kv";

    fn fetch<'a>(
        &'a self,
        keys: &'a BTreeSet<KvPath>,
        min_index: u64,
        wait: Duration,
    ) -> BoxFuture<'a, FeedAnswer<KvPath, Vec<KvPair>>> {
        let asked: Vec<KvPath> = keys.iter().cloned().collect();
        Box::pin(async move {
            let (pairs, index) = self.server.watch_kv(asked, min_index, wait).await?;
            let answer = keys
                .iter()
                .map(|path| {
                    let mut mine: Vec<KvPair> = pairs
                        .iter()
                        .filter(|p| path.holds(&p.key))
                        .cloned()
                        .collect();
                    mine.sort_by(|a, b| a.key.cmp(&b.key));
                    mine.dedup_by(|a, b| a.key == b.key);
                    (path.clone(), mine)
                })
                .collect::<BTreeMap<_, _>>();
            Ok((answer, index))
        })
    }
}
