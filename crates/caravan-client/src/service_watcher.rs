//! The node's view of the service catalog, for its templates: one blocking query
//! ([`ServerApi::watch_services`]) for every service any template of the node reads.
//! The servers answer the services that changed, each as its own list, so that a
//! change costs the services it touched, not the size of the catalog. See
//! [`WatchCache`] for how readers declare what they read and learn of changes.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use caravan_model::ServiceRegistration;

use crate::watch_cache::{FeedAnswer, WatchCache, WatchFeed, WatchInterest};
use crate::{BoxFuture, ServerApi, ServiceName};

/// The per-node catalog cache: the registrations of each watched service, sorted by
/// id, by service name (a read is a map lookup).
pub type ServiceWatcher = WatchCache<ServiceFeed>;
/// What one reader of the catalog cache watches.
pub type ServiceInterest = WatchInterest<ServiceFeed>;

/// The catalog as the servers answer it.
#[derive(Clone)]
pub struct ServiceFeed {
    server: Arc<dyn ServerApi>,
}

impl ServiceFeed {
    pub fn new(server: Arc<dyn ServerApi>) -> Self {
        Self { server }
    }
}

impl fmt::Debug for ServiceFeed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ServiceFeed")
    }
}

impl WatchFeed for ServiceFeed {
    type Key = ServiceName;
    type Value = Vec<ServiceRegistration>;
    const WHAT: &'static str = "services";

    fn fetch<'a>(
        &'a self,
        keys: &'a BTreeSet<ServiceName>,
        min_index: u64,
        wait: Duration,
    ) -> BoxFuture<'a, FeedAnswer<ServiceName, Vec<ServiceRegistration>>> {
        let asked: Vec<(String, String)> = keys
            .iter()
            .map(|n| (n.namespace.clone(), n.name.clone()))
            .collect();
        Box::pin(async move {
            let (lists, index) = self.server.watch_services(asked, min_index, wait).await?;
            // Only the services that changed: each list is taken as it is, keyed as
            // asked, without a look at any other.
            let answer = lists
                .into_iter()
                .map(|((namespace, name), mut regs)| {
                    if !regs.is_sorted_by(|a, b| a.id <= b.id) {
                        regs.sort_by(|a, b| a.id.cmp(&b.id));
                    }
                    (ServiceName::new(&namespace, &name), regs)
                })
                .collect::<BTreeMap<_, _>>();
            Ok((answer, index))
        })
    }
}
