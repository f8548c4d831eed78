//! The catalog's writes: service registrations in, and out with their allocations.

use std::sync::Arc;

use caravan_model::{AllocId, ServiceRegistration};

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
            return Err(invalid("missing allocation id"));
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

        let old = self.tables.services.get(&reg.id).cloned();
        if let Some(old) = &old {
            reg.create_index = old.create_index;
            reg.modify_index = old.modify_index;
            if **old == reg {
                // Nothing changed: blocking queries on the catalog stay asleep.
                return Ok(());
            }
            let old_key = ServiceKey::of(old);
            if old_key != ServiceKey::of(&reg) {
                remove_from(&mut self.tables.services_by_name, &old_key, &reg.id);
            }
        } else {
            reg.create_index = self.index;
        }
        reg.modify_index = self.index;
        let id = reg.id.clone();
        self.tables
            .services_by_name
            .entry(ServiceKey::of(&reg))
            .or_default()
            .insert(id.clone());
        self.tables
            .services_by_alloc
            .entry(reg.alloc_id.clone())
            .or_default()
            .insert(id.clone());
        self.tables.services.insert(id, Arc::new(reg));
        self.touch(Table::Services);
        Ok(())
    }

    /// Deletes one registration; false if there was none.
    pub(super) fn remove_service(&mut self, id: &str) -> bool {
        let Some(old) = self.tables.services.remove(id) else {
            return false;
        };
        let id = old.id.clone();
        remove_from(
            &mut self.tables.services_by_name,
            &ServiceKey::of(&old),
            &id,
        );
        remove_from(&mut self.tables.services_by_alloc, &old.alloc_id, &id);
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
            field,
            given: given.clone(),
            actual: actual.to_owned(),
        })
    }
}
