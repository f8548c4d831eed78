//! What a task's templates read ([`caravan_template::Context`]): the task's
//! environment with the node's attributes, and the node's catalog and KV caches.
//!
//! - `env` reads the task environment (without the agent's own variables, which
//!   Nomad masks) and `node.*`, `attr.*`, `meta.*`;
//! - `nomadService` / `nomadServices` read the `provider = "nomad"` registrations of
//!   the job's namespace, every instance whatever its health (`.Health` tells), with
//!   `choose` applied as the server's rendezvous selection does it;
//! - `service` / `services` read the `provider = "consul"` registrations (namespace
//!   `?ns=` or the job's), and the template crate keeps the healthy ones by default;
//! - `key`, `keyOrDefault`, `keyExists` read one key, and `ls`, `tree` every key
//!   under a prefix, from the KV store (Consul's, which the servers hold). Until the
//!   first answer they are missing; then `key` on an absent key keeps the template
//!   waiting (consul-template's rule) while the others go on.
//!
//! A region or datacenter other than the node's has no instances and no keys: its
//! keys are absent at once, without a watch.

use caravan_model::{HealthStatus, ServiceProvider, ServiceRegistration};
use caravan_template::{
    ConsulServiceQuery, Context, Health, KeyPair, KeyQuery, Missing, ServiceInstance, ServiceQuery,
    ServiceSummary,
};

use crate::{KvPath, KvWatcher, ServiceName, ServiceWatcher, TaskEnv};

/// A template's view of the world, for one render.
#[derive(Debug, Clone, Copy)]
pub struct CatalogContext<'a> {
    /// The task environment, with node values.
    pub env: &'a TaskEnv,
    /// The job's namespace.
    pub namespace: &'a str,
    /// The node's region and datacenter.
    pub region: &'a str,
    pub datacenter: &'a str,
    /// The catalog cache; `None`: every catalog read is missing.
    pub catalog: Option<&'a ServiceWatcher>,
    /// The KV cache; `None`: every KV read is missing.
    pub kv: Option<&'a KvWatcher>,
}

impl CatalogContext<'_> {
    fn registrations(
        &self,
        name: &ServiceName,
        provider: ServiceProvider,
    ) -> Result<Vec<ServiceRegistration>, Missing> {
        let regs = self.catalog.and_then(|c| c.get(name)).ok_or(Missing)?;
        Ok(regs
            .iter()
            .filter(|r| r.provider == provider)
            .cloned()
            .collect())
    }

    fn foreign(&self, place: Option<&str>, local: &str) -> bool {
        place.is_some_and(|p| p != local)
    }

    /// A registration as `service` sees it. On this node, `.Node` is the node's name
    /// and `.NodeAddress` its address, which is also the instance's address when the
    /// registration has none (a Consul agent registration may leave it out), as in
    /// Consul. Other nodes' instances keep their node id and their own address: the
    /// client knows no other node.
    fn consul_instance(&self, reg: &ServiceRegistration) -> ServiceInstance {
        let mut instance = instance(reg);
        let own = self
            .env
            .lookup("node.unique.id")
            .is_some_and(|id| id == reg.node_id.as_str());
        if own {
            if let Some(name) = self.env.lookup("node.unique.name") {
                instance.node_name = name.to_owned();
            }
            if let Some(ip) = self
                .env
                .lookup("attr.unique.network.ip-address")
                .filter(|ip| !ip.is_empty())
            {
                instance.node_address = ip.to_owned();
            }
        }
        instance
    }

    /// The entries of `path`, sorted by key; missing until the first answer.
    fn kv_pairs(&self, path: &KvPath) -> Result<Vec<KeyPair>, Missing> {
        let pairs = self.kv.and_then(|kv| kv.get(path)).ok_or(Missing)?;
        Ok(pairs
            .iter()
            .map(|p| KeyPair {
                path: p.key.clone(),
                value: p.text(),
            })
            .collect())
    }

    fn summaries(&self, provider: ServiceProvider) -> Result<Vec<ServiceSummary>, Missing> {
        let regs = self.registrations(&ServiceName::all_in(self.namespace), provider)?;
        let mut by_name: std::collections::BTreeMap<&str, Vec<String>> = Default::default();
        for reg in &regs {
            by_name
                .entry(reg.service_name.as_str())
                .or_default()
                .extend(reg.tags.iter().cloned());
        }
        Ok(by_name
            .into_iter()
            .map(|(name, tags)| ServiceSummary {
                name: name.to_owned(),
                tags,
            })
            .collect())
    }
}

/// A registration as templates see it.
pub fn instance(reg: &ServiceRegistration) -> ServiceInstance {
    ServiceInstance {
        id: reg.id.clone(),
        name: reg.service_name.clone(),
        node_id: reg.node_id.to_string(),
        node_name: String::new(),
        node_address: reg.address.clone(),
        address: reg.address.clone(),
        port: reg.port,
        datacenter: reg.datacenter.clone(),
        tags: reg.tags.clone(),
        meta: reg.meta.clone(),
        job_id: reg.job_id.to_string(),
        alloc_id: reg.alloc_id.to_string(),
        health: match reg.health {
            HealthStatus::Passing => Health::Passing,
            HealthStatus::Warning => Health::Warning,
            HealthStatus::Critical => Health::Critical,
        },
    }
}

impl Context for CatalogContext<'_> {
    fn env(&self, name: &str) -> Option<String> {
        self.env.lookup(name).map(str::to_owned)
    }

    fn nomad_service(&self, query: &ServiceQuery) -> Result<Vec<ServiceInstance>, Missing> {
        let name = ServiceName::new(self.namespace, &query.name);
        let regs = self.registrations(&name, ServiceProvider::Nomad)?;
        if self.foreign(query.region.as_deref(), self.region) {
            return Ok(Vec::new());
        }
        let regs = match &query.choose {
            Some(choose) => caravan_model::Choose {
                count: usize::try_from(choose.count).unwrap_or(usize::MAX),
                key: choose.key.clone(),
            }
            .select(regs),
            None => regs,
        };
        Ok(regs.iter().map(instance).collect())
    }

    fn nomad_services(&self, region: Option<&str>) -> Result<Vec<ServiceSummary>, Missing> {
        let summaries = self.summaries(ServiceProvider::Nomad)?;
        if self.foreign(region, self.region) {
            return Ok(Vec::new());
        }
        Ok(summaries)
    }

    fn consul_service(&self, query: &ConsulServiceQuery) -> Result<Vec<ServiceInstance>, Missing> {
        let namespace = query
            .params
            .get("ns")
            .map_or(self.namespace, String::as_str);
        let name = ServiceName::new(namespace, &query.name);
        let regs = self.registrations(&name, ServiceProvider::Consul)?;
        if self.foreign(query.datacenter.as_deref(), self.datacenter) {
            return Ok(Vec::new());
        }
        Ok(regs.iter().map(|r| self.consul_instance(r)).collect())
    }

    fn consul_services(&self, datacenter: Option<&str>) -> Result<Vec<ServiceSummary>, Missing> {
        let summaries = self.summaries(ServiceProvider::Consul)?;
        if self.foreign(datacenter, self.datacenter) {
            return Ok(Vec::new());
        }
        Ok(summaries)
    }

    fn key(&self, query: &KeyQuery) -> Result<Option<String>, Missing> {
        if self.foreign(query.datacenter.as_deref(), self.datacenter) {
            return Ok(None);
        }
        let pairs = self.kv_pairs(&KvPath::Key(query.path.clone()))?;
        Ok(pairs
            .into_iter()
            .find(|p| p.path == query.path)
            .map(|p| p.value))
    }

    fn ls(&self, query: &KeyQuery) -> Result<Vec<KeyPair>, Missing> {
        if self.foreign(query.datacenter.as_deref(), self.datacenter) {
            return Ok(Vec::new());
        }
        self.kv_pairs(&KvPath::Prefix(query.path.clone()))
    }
}

/// The catalog entry a template dependency is read from; `None` for KV.
pub fn watched_name(dep: &caravan_template::Dependency, namespace: &str) -> Option<ServiceName> {
    use caravan_template::Dependency;
    match dep {
        Dependency::NomadService(q) => Some(ServiceName::new(namespace, &q.name)),
        Dependency::ConsulService(q) => {
            let ns = q.params.get("ns").map_or(namespace, String::as_str);
            Some(ServiceName::new(ns, &q.name))
        }
        Dependency::NomadServices { .. } | Dependency::ConsulServices { .. } => {
            Some(ServiceName::all_in(namespace))
        }
        Dependency::Key(_) | Dependency::KeyList(_) => None,
    }
}

/// The part of the KV store a template dependency is read from; `None` for the
/// catalog, and for another datacenter's keys (there are none to watch).
pub fn watched_kv(dep: &caravan_template::Dependency, datacenter: &str) -> Option<KvPath> {
    use caravan_template::Dependency;
    let (query, path) = match dep {
        Dependency::Key(q) => (q, KvPath::Key(q.path.clone())),
        Dependency::KeyList(q) => (q, KvPath::Prefix(q.path.clone())),
        _ => return None,
    };
    match &query.datacenter {
        Some(dc) if dc != datacenter => None,
        _ => Some(path),
    }
}
