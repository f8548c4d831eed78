//! An in-memory [`Context`] for tests, here and in the client.

use std::cell::RefCell;
use std::collections::BTreeMap;

use crate::{
    ConsulServiceQuery, Context, Dependency, KeyPair, KeyQuery, Missing, ServiceInstance,
    ServiceQuery, ServiceSummary,
};

/// A context over fixed data that records the questions it was asked.
///
/// A service not given is [`Missing`] (not arrived yet); give it with no instances
/// for "arrived, empty". The KV store is missing until [`StaticContext::kv`] or
/// [`StaticContext::key`] is called. `choose` is not applied (it is the server's
/// rendezvous hashing): every instance is returned.
#[derive(Debug, Default)]
pub struct StaticContext {
    env: BTreeMap<String, String>,
    nomad: BTreeMap<String, Vec<ServiceInstance>>,
    consul: BTreeMap<String, Vec<ServiceInstance>>,
    kv: Option<BTreeMap<String, String>>,
    asked: RefCell<Vec<Dependency>>,
}

impl StaticContext {
    /// An empty context: no environment, every service and the KV store missing.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets an environment variable.
    pub fn env(mut self, name: &str, value: &str) -> Self {
        self.env.insert(name.to_string(), value.to_string());
        self
    }

    /// Makes a Nomad service known, with these instances.
    pub fn nomad_service(mut self, name: &str, instances: Vec<ServiceInstance>) -> Self {
        self.nomad.insert(name.to_string(), instances);
        self
    }

    /// Makes a Consul service known, with these instances (any health).
    pub fn consul_service(mut self, name: &str, instances: Vec<ServiceInstance>) -> Self {
        self.consul.insert(name.to_string(), instances);
        self
    }

    /// Makes the KV store known (possibly empty).
    pub fn kv(mut self) -> Self {
        self.kv.get_or_insert_with(BTreeMap::new);
        self
    }

    /// Sets a KV entry (and makes the store known).
    pub fn key(mut self, path: &str, value: &str) -> Self {
        self.kv
            .get_or_insert_with(BTreeMap::new)
            .insert(path.to_string(), value.to_string());
        self
    }

    /// The catalog and KV questions asked so far, in order (not the environment).
    pub fn asked(&self) -> Vec<Dependency> {
        self.asked.borrow().clone()
    }

    fn note(&self, dep: Dependency) {
        self.asked.borrow_mut().push(dep);
    }

    fn summaries(services: &BTreeMap<String, Vec<ServiceInstance>>) -> Vec<ServiceSummary> {
        services
            .iter()
            .map(|(name, instances)| ServiceSummary {
                name: name.clone(),
                tags: instances.iter().flat_map(|i| i.tags.clone()).collect(),
            })
            .collect()
    }
}

impl Context for StaticContext {
    fn env(&self, name: &str) -> Option<String> {
        self.env.get(name).cloned()
    }

    fn nomad_service(&self, query: &ServiceQuery) -> Result<Vec<ServiceInstance>, Missing> {
        self.note(Dependency::NomadService(query.clone()));
        self.nomad.get(&query.name).cloned().ok_or(Missing)
    }

    fn nomad_services(&self, region: Option<&str>) -> Result<Vec<ServiceSummary>, Missing> {
        self.note(Dependency::NomadServices {
            region: region.map(str::to_string),
        });
        Ok(Self::summaries(&self.nomad))
    }

    fn consul_service(&self, query: &ConsulServiceQuery) -> Result<Vec<ServiceInstance>, Missing> {
        self.note(Dependency::ConsulService(query.clone()));
        self.consul.get(&query.name).cloned().ok_or(Missing)
    }

    fn consul_services(&self, datacenter: Option<&str>) -> Result<Vec<ServiceSummary>, Missing> {
        self.note(Dependency::ConsulServices {
            datacenter: datacenter.map(str::to_string),
        });
        Ok(Self::summaries(&self.consul))
    }

    fn key(&self, query: &KeyQuery) -> Result<Option<String>, Missing> {
        self.note(Dependency::Key(query.clone()));
        let kv = self.kv.as_ref().ok_or(Missing)?;
        Ok(kv.get(&query.path).cloned())
    }

    fn ls(&self, query: &KeyQuery) -> Result<Vec<KeyPair>, Missing> {
        self.note(Dependency::KeyList(query.clone()));
        let kv = self.kv.as_ref().ok_or(Missing)?;
        Ok(kv
            .iter()
            .filter(|(path, _)| path.starts_with(&query.path))
            .map(|(path, value)| KeyPair {
                path: path.clone(),
                value: value.clone(),
            })
            .collect())
    }
}
