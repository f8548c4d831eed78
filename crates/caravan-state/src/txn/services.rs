//! The catalog's writes: service registrations in, and out with their allocations;
//! agent registrations (the Consul API's) and their checks.

use std::sync::Arc;

use caravan_model::{
    AllocId, CheckStatus, HealthStatus, SERVICE_MAINTENANCE_PREFIX, ServiceProvider,
    ServiceRegistration,
};

use super::{Txn, remove_from};
use crate::catalog::ServiceKey;
use crate::snapshot::{DEFAULT_NAMESPACE, JobKey};
use crate::{StateError, Table};

impl Txn {
    pub(super) fn upsert_services(
        &mut self,
        regs: Vec<ServiceRegistration>,
    ) -> Result<(), StateError> {
        for reg in regs {
            self.upsert_service(reg)?;
        }
        Ok(())
    }

    fn upsert_service(&mut self, mut reg: ServiceRegistration) -> Result<(), StateError> {
        let invalid = |reason: &str| StateError::InvalidServiceRegistration {
            id: reg.id.clone(),
            reason: reason.to_owned(),
        };
        if reg.id.is_empty() {
            return Err(invalid("missing id"));
        }
        if reg.service_name.is_empty() {
            return Err(invalid("missing service name"));
        }
        if reg.alloc_id.is_empty() {
            if !reg.is_agent_owned() {
                return Err(invalid(
                    "missing allocation id (only a Consul-provider registration with an id \
                     outside _nomad- may have none)",
                ));
            }
            return self.upsert_agent_service(reg);
        }
        if !reg.id_names_alloc() {
            return Err(invalid(&format!(
                "the id must start with _nomad-task-{}-",
                reg.alloc_id
            )));
        }
        let Some(alloc) = self.tables.allocs.get(&reg.alloc_id).cloned() else {
            self.outcome.skipped_services.push(reg.id);
            return Ok(());
        };
        // A stopped allocation, or one of a purged job, advertises nothing.
        let job_gone = !self
            .tables
            .jobs
            .contains_key(&JobKey::new(&alloc.namespace, &alloc.job_id));
        if alloc.is_terminal() || job_gone {
            self.outcome.skipped_services.push(reg.id);
            return Ok(());
        }
        let alloc_namespace = if alloc.namespace.is_empty() {
            DEFAULT_NAMESPACE
        } else {
            alloc.namespace.as_str()
        };
        fill_or_match(&reg.id, "namespace", &mut reg.namespace, alloc_namespace)?;
        fill_or_match(&reg.id, "job", &mut reg.job_id.0, alloc.job_id.as_str())?;
        fill_or_match(&reg.id, "node", &mut reg.node_id.0, alloc.node_id.as_str())?;
        if reg.datacenter.is_empty()
            && let Some(node) = self.tables.nodes.get(&alloc.node_id)
        {
            reg.datacenter = node.datacenter.clone();
        }
        // An operator's maintenance mode outlives the client's re-registrations.
        if let Some(old) = self.tables.services.get(&reg.id) {
            let kept: Vec<CheckStatus> = old
                .checks
                .iter()
                .filter(|c| is_maintenance(c) && !has_check(&reg, &c.check_id))
                .cloned()
                .collect();
            if !kept.is_empty() {
                reg.checks.extend(kept);
                reg.health = reg.health.max(reg.health_from_checks());
            }
        }
        self.store_service(reg);
        Ok(())
    }

    /// An agent registration: owned by its node, which must exist, and by no job.
    fn upsert_agent_service(&mut self, mut reg: ServiceRegistration) -> Result<(), StateError> {
        let invalid = |reason: String| StateError::InvalidServiceRegistration {
            id: reg.id.clone(),
            reason,
        };
        if !reg.job_id.is_empty() {
            return Err(invalid("an agent registration belongs to no job".into()));
        }
        if reg.node_id.is_empty() {
            return Err(invalid("an agent registration needs its node".into()));
        }
        let Some(node) = self.tables.nodes.get(&reg.node_id) else {
            return Err(StateError::UnknownNode(reg.node_id));
        };
        if let Some(old) = self.tables.services.get(&reg.id)
            && old.node_id != reg.node_id
        {
            return Err(invalid(format!(
                "the id is registered by node {}",
                old.node_id
            )));
        }
        if let Some(check) = reg.checks.iter().find(|c| c.check_id.is_empty()) {
            return Err(invalid(format!("check {:?} has no check ID", check.name)));
        }
        if reg.datacenter.is_empty() {
            reg.datacenter = node.datacenter.clone();
        }
        if reg.namespace.is_empty() {
            reg.namespace = DEFAULT_NAMESPACE.to_owned();
        }
        self.store_service(reg);
        Ok(())
    }

    /// [`Command::RegisterAgentService`](crate::Command::RegisterAgentService).
    pub(super) fn register_agent_service(
        &mut self,
        mut reg: ServiceRegistration,
        replace_existing_checks: bool,
    ) -> Result<(), StateError> {
        if !reg.alloc_id.is_empty() || reg.provider != ServiceProvider::Consul {
            return Err(StateError::InvalidServiceRegistration {
                id: reg.id,
                reason: "an agent registration has provider consul and no allocation".into(),
            });
        }
        if let Some(old) = self.tables.services.get(&reg.id).cloned()
            && old.node_id == reg.node_id
        {
            for check in &mut reg.checks {
                if let Some(prev) = old.checks.iter().find(|c| c.check_id == check.check_id) {
                    check.status = prev.status;
                    check.output.clone_from(&prev.output);
                    check.timestamp = prev.timestamp;
                    check.status_code = prev.status_code;
                    if check.is_ttl() {
                        check.ttl_updated = prev.ttl_updated;
                    }
                }
            }
            let kept: Vec<CheckStatus> = old
                .checks
                .iter()
                .filter(|c| {
                    (!replace_existing_checks || is_maintenance(c)) && !has_check(&reg, &c.check_id)
                })
                .cloned()
                .collect();
            reg.checks.extend(kept);
        }
        reg.health = reg.health_from_checks();
        self.upsert_agent_service(reg)
    }

    /// Adds or replaces (by check id) one check of a registration.
    pub(super) fn upsert_service_check(
        &mut self,
        service_id: &str,
        check: CheckStatus,
    ) -> Result<(), StateError> {
        if check.check_id.is_empty() {
            return Err(StateError::MissingCheckId(service_id.to_owned()));
        }
        self.modify_service(service_id, |reg| {
            match reg.checks.iter_mut().find(|c| c.check_id == check.check_id) {
                Some(slot) => *slot = check,
                None => reg.checks.push(check),
            }
            Ok(())
        })
    }

    /// Removes one check (by its Consul check id) from a registration.
    pub(super) fn delete_service_check(
        &mut self,
        service_id: &str,
        check_id: &str,
    ) -> Result<(), StateError> {
        self.modify_service(service_id, |reg| {
            let before = reg.checks.len();
            let ids: Vec<String> = reg.checks.iter().map(|c| reg.consul_check_id(c)).collect();
            let mut ids = ids.into_iter();
            reg.checks
                .retain(|_| ids.next().is_none_or(|id| id != check_id));
            if reg.checks.len() == before {
                return Err(unknown_check(&reg.id, check_id));
            }
            Ok(())
        })
    }

    /// Sets one check's status and output; a TTL check's clock restarts at `now`.
    pub(super) fn update_service_check(
        &mut self,
        service_id: &str,
        check_id: &str,
        status: HealthStatus,
        output: String,
        now: i64,
    ) -> Result<(), StateError> {
        self.modify_service(service_id, |reg| {
            let at = reg
                .checks
                .iter()
                .position(|c| reg.consul_check_id(c) == check_id)
                .ok_or_else(|| unknown_check(&reg.id, check_id))?;
            let check = &mut reg.checks[at];
            check.status = status;
            check.output = output;
            check.timestamp = now;
            if check.is_ttl() {
                check.ttl_updated = now;
            }
            Ok(())
        })
    }

    /// Turns critical the TTL checks still expired at `now`; skips the others.
    pub(super) fn expire_ttl_checks(&mut self, checks: Vec<(String, String)>, now: i64) {
        for (service_id, check_id) in checks {
            let result = self.modify_service(&service_id, |reg| {
                let at = reg
                    .checks
                    .iter()
                    .position(|c| reg.consul_check_id(c) == check_id && c.ttl_expired(now))
                    .ok_or_else(|| unknown_check(&reg.id, &check_id))?;
                let check = &mut reg.checks[at];
                check.output = if check.output.is_empty() {
                    "TTL expired".to_owned()
                } else {
                    format!(
                        "TTL expired (last output before timeout follows): {}",
                        check.output
                    )
                };
                check.status = HealthStatus::Critical;
                check.timestamp = now;
                Ok(())
            });
            if result.is_ok() {
                self.outcome.checks_expired += 1;
            }
        }
    }

    /// Changes one registration's checks with `f`, then recomputes its health and
    /// stamps it; nothing changes when `f` refuses.
    fn modify_service(
        &mut self,
        id: &str,
        f: impl FnOnce(&mut ServiceRegistration) -> Result<(), StateError>,
    ) -> Result<(), StateError> {
        let Some(old) = self.tables.services.get(id) else {
            return Err(StateError::UnknownService(id.to_owned()));
        };
        let mut reg = (**old).clone();
        f(&mut reg)?;
        reg.health = reg.health_from_checks();
        self.store_service(reg);
        Ok(())
    }

    /// Stores a validated registration with its indexes; an unchanged one changes
    /// nothing (watchers of the catalog stay asleep).
    fn store_service(&mut self, mut reg: ServiceRegistration) {
        let mut moved_from = None;
        match self.tables.services.get(&reg.id).cloned() {
            Some(old) => {
                reg.create_index = old.create_index;
                reg.modify_index = old.modify_index;
                if *old == reg {
                    return;
                }
                self.unindex_service(&old);
                moved_from = Some(ServiceKey::of(&old)).filter(|k| *k != ServiceKey::of(&reg));
            }
            None => reg.create_index = self.index,
        }
        reg.modify_index = self.index;
        let id = reg.id.clone();
        let key = ServiceKey::of(&reg);
        self.tables
            .services_by_name
            .entry(key.clone())
            .or_default()
            .insert(id.clone());
        if !reg.alloc_id.is_empty() {
            self.tables
                .services_by_alloc
                .entry(reg.alloc_id.clone())
                .or_default()
                .insert(id.clone());
        }
        self.tables
            .services_on_node
            .entry(reg.node_id.clone())
            .or_default()
            .insert(id.clone());
        if reg.provider == ServiceProvider::Consul {
            self.tables
                .consul_services_by_name
                .entry(reg.service_name.clone())
                .or_default()
                .insert(id.clone());
        }
        if reg.checks.iter().any(CheckStatus::is_ttl) {
            self.tables.services_with_ttl.insert(id.clone());
        }
        self.tables.services.insert(id, Arc::new(reg));
        if let Some(from) = moved_from {
            self.service_changed(&from);
        }
        self.service_changed(&key);
        self.touch(Table::Services);
    }

    /// Stamps a service whose instances changed, and its namespace, with this index;
    /// one left without instances loses its entry and moves the extinct index instead.
    fn service_changed(&mut self, key: &ServiceKey) {
        let index = self.index;
        let tables = &mut self.tables;
        if tables.services_by_name.contains_key(key) {
            tables.service_indexes.insert(key.clone(), index);
        } else {
            tables.service_indexes.remove(key);
            tables.services_extinct_index = index;
        }
        let namespace_lives = tables
            .services_by_name
            .range(ServiceKey::new(&key.namespace, "")..)
            .next()
            .is_some_and(|(k, _)| k.namespace == key.namespace);
        if namespace_lives {
            tables
                .namespace_service_indexes
                .insert(key.namespace.clone(), index);
        } else {
            tables.namespace_service_indexes.remove(&key.namespace);
            tables.services_extinct_index = index;
        }
    }

    /// Takes a stored registration out of every index (not out of the table).
    fn unindex_service(&mut self, old: &ServiceRegistration) {
        let id = &old.id;
        remove_from(&mut self.tables.services_by_name, &ServiceKey::of(old), id);
        remove_from(&mut self.tables.services_by_alloc, &old.alloc_id, id);
        remove_from(&mut self.tables.services_on_node, &old.node_id, id);
        remove_from(
            &mut self.tables.consul_services_by_name,
            &old.service_name,
            id,
        );
        self.tables.services_with_ttl.remove(id);
    }

    /// Deletes one registration; false if there was none.
    pub(super) fn remove_service(&mut self, id: &str) -> bool {
        let Some(old) = self.tables.services.remove(id) else {
            return false;
        };
        self.unindex_service(&old);
        self.service_changed(&ServiceKey::of(&old));
        self.touch(Table::Services);
        true
    }

    /// Deletes every registration of an allocation.
    pub(super) fn remove_services_of_alloc(&mut self, alloc_id: &AllocId) {
        let ids: Vec<String> = self
            .tables
            .services_by_alloc
            .get(alloc_id)
            .map(|ids| ids.iter().cloned().collect())
            .unwrap_or_default();
        for id in ids {
            self.remove_service(&id);
        }
    }
}

fn is_maintenance(check: &CheckStatus) -> bool {
    check.check_id.starts_with(SERVICE_MAINTENANCE_PREFIX)
}

fn has_check(reg: &ServiceRegistration, check_id: &str) -> bool {
    reg.checks.iter().any(|c| c.check_id == check_id)
}

fn unknown_check(service_id: &str, check_id: &str) -> StateError {
    StateError::UnknownCheck {
        service_id: service_id.to_owned(),
        check_id: check_id.to_owned(),
    }
}

/// Takes the allocation's value for an empty field; refuses a different one.
fn fill_or_match(
    id: &str,
    field: &'static str,
    given: &mut String,
    actual: &str,
) -> Result<(), StateError> {
    if given.is_empty() {
        actual.clone_into(given);
        Ok(())
    } else if given == actual {
        Ok(())
    } else {
        Err(StateError::ServiceAllocMismatch {
            id: id.to_owned(),
            field: field.to_owned(),
            given: given.clone(),
            actual: actual.to_owned(),
        })
    }
}
