//! The catalog's reads: service registrations by id, by service name, by allocation,
//! job and node, and the service list.

use std::collections::BTreeSet;

use caravan_model::{AllocId, JobId, NodeId, ServiceRegistration};
use imbl::OrdSet;
use serde::{Deserialize, Serialize};

use crate::{DEFAULT_NAMESPACE, ServiceSummary, Snapshot};

/// The TTL checks that have gone without an update for longer than their TTL at `now`
/// (unix nanoseconds) and are not critical yet, as (registration id, Consul check id),
/// sorted. Pure: the server's timer commits
/// [`Command::ExpireTtlChecks`](crate::Command::ExpireTtlChecks) with them.
pub fn expired_ttl_checks(snapshot: &Snapshot, now: i64) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for reg in snapshot.ids_to_services(Some(&snapshot.tables.services_with_ttl)) {
        for check in reg.checks.iter().filter(|c| c.ttl_expired(now)) {
            out.push((reg.id.clone(), reg.consul_check_id(check)));
        }
    }
    out
}

/// A service's key: names are unique per namespace. Ordered by namespace, then name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub(crate) struct ServiceKey {
    pub namespace: String,
    pub name: String,
}

impl ServiceKey {
    pub fn new(namespace: &str, name: &str) -> Self {
        let namespace = if namespace.is_empty() {
            DEFAULT_NAMESPACE
        } else {
            namespace
        };
        Self {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
        }
    }

    pub fn of(reg: &ServiceRegistration) -> Self {
        Self::new(&reg.namespace, &reg.service_name)
    }
}

impl Snapshot {
    /// One registration, by its id.
    pub fn service_registration(&self, id: &str) -> Option<&ServiceRegistration> {
        self.tables.services.get(id).map(|r| &**r)
    }

    /// Every registration, sorted by id.
    pub fn service_registrations(&self) -> impl Iterator<Item = &ServiceRegistration> {
        self.tables.services.values().map(|r| &**r)
    }

    /// The instances of one service, sorted by id (every provider and health).
    pub fn service<'a>(
        &'a self,
        namespace: &str,
        name: &str,
    ) -> impl Iterator<Item = &'a ServiceRegistration> + use<'a> {
        self.ids_to_services(
            self.tables
                .services_by_name
                .get(&ServiceKey::new(namespace, name)),
        )
    }

    /// The raft index of the last change to the instances of one service (`name`
    /// empty: of any service of the namespace). A service or namespace without
    /// instances answers the last index at which one lost its last instance, so the
    /// answer never goes down and moves whenever the instances change: a blocking
    /// query on a few services waits until it is above the index it last saw. At
    /// most [`Snapshot::index`] of [`Table::Services`](crate::Table::Services).
    pub fn service_index(&self, namespace: &str, name: &str) -> u64 {
        let found = if name.is_empty() {
            self.tables
                .namespace_service_indexes
                .get(ServiceKey::new(namespace, "").namespace.as_str())
        } else {
            self.tables
                .service_indexes
                .get(&ServiceKey::new(namespace, name))
        };
        found.copied().unwrap_or(self.tables.services_extinct_index)
    }

    /// Every registration of a namespace, by service name then id.
    pub fn services_in_namespace<'a>(
        &'a self,
        namespace: &str,
    ) -> impl Iterator<Item = &'a ServiceRegistration> + use<'a> {
        let from = ServiceKey::new(namespace, "");
        self.tables
            .services_by_name
            .range(from.clone()..)
            .take_while(move |(key, _)| key.namespace == from.namespace)
            .flat_map(|(_, ids)| self.ids_to_services(Some(ids)))
    }

    /// An allocation's registrations, sorted by id.
    pub fn services_by_alloc<'a>(
        &'a self,
        alloc_id: &AllocId,
    ) -> impl Iterator<Item = &'a ServiceRegistration> + use<'a> {
        self.ids_to_services(self.tables.services_by_alloc.get(alloc_id))
    }

    /// The registrations of a job's allocations, by allocation id then id (which is
    /// the order of ids, as each starts with its allocation's).
    pub fn services_by_job<'a>(
        &'a self,
        namespace: &str,
        job_id: &JobId,
    ) -> impl Iterator<Item = &'a ServiceRegistration> + use<'a> {
        self.allocs_by_job(namespace, job_id)
            .flat_map(|a| self.services_by_alloc(&a.id))
    }

    /// The registrations of a node's allocations, by allocation id then id: what a
    /// client reconciles its running services against after a restart.
    pub fn services_by_node<'a>(
        &'a self,
        node_id: &NodeId,
    ) -> impl Iterator<Item = &'a ServiceRegistration> + use<'a> {
        self.allocs_by_node(node_id)
            .flat_map(|a| self.services_by_alloc(&a.id))
    }

    /// Every service with at least one instance, by namespace then name, with the
    /// union of its instances' tags.
    pub fn services(&self) -> Vec<ServiceSummary> {
        self.services_where(|_| true)
    }

    /// The services with at least one instance for which `keep` holds, by namespace
    /// then name; tags and counts cover only those instances.
    pub fn services_where(
        &self,
        keep: impl Fn(&ServiceRegistration) -> bool,
    ) -> Vec<ServiceSummary> {
        let mut out = Vec::new();
        for (key, ids) in &self.tables.services_by_name {
            let mut tags = BTreeSet::new();
            let mut instances = 0;
            for reg in self.ids_to_services(Some(ids)).filter(|r| keep(r)) {
                instances += 1;
                tags.extend(reg.tags.iter().cloned());
            }
            if instances > 0 {
                out.push(ServiceSummary {
                    namespace: key.namespace.clone(),
                    service_name: key.name.clone(),
                    tags: tags.into_iter().collect(),
                    instances,
                });
            }
        }
        out
    }

    /// Every registration on a node, an allocation's or an agent's, sorted by id.
    pub fn services_on_node<'a>(
        &'a self,
        node_id: &NodeId,
    ) -> impl Iterator<Item = &'a ServiceRegistration> + use<'a> {
        self.ids_to_services(self.tables.services_on_node.get(node_id))
    }

    /// The agent registrations of a node (made through its Consul API), sorted by id.
    pub fn agent_services<'a>(
        &'a self,
        node_id: &NodeId,
    ) -> impl Iterator<Item = &'a ServiceRegistration> + use<'a> {
        self.services_on_node(node_id)
            .filter(|r| r.is_agent_owned())
    }

    /// The Consul-provider instances of a service, every namespace together, sorted
    /// by id: what Consul's catalog and health endpoints answer.
    pub fn consul_service<'a>(
        &'a self,
        name: &str,
    ) -> impl Iterator<Item = &'a ServiceRegistration> + use<'a> {
        self.ids_to_services(self.tables.consul_services_by_name.get(name))
    }

    /// The names of the Consul-provider services, sorted, each with its instances.
    pub fn consul_services(&self) -> impl Iterator<Item = (&str, Vec<&ServiceRegistration>)> + '_ {
        self.tables
            .consul_services_by_name
            .iter()
            .map(|(name, ids)| (name.as_str(), self.ids_to_services(Some(ids)).collect()))
    }

    fn ids_to_services<'a>(
        &'a self,
        ids: Option<&'a OrdSet<String>>,
    ) -> impl Iterator<Item = &'a ServiceRegistration> + 'a {
        ids.into_iter()
            .flat_map(|ids| ids.iter())
            .filter_map(|id| self.tables.services.get(id).map(|r| &**r))
    }
}
