//! The catalog's writes: what clients call to register their allocations' service
//! instances (with the health their checks give), and to take them out.
//!
//! The state store keeps the catalog derived from the allocations (an allocation that
//! stops for good loses its registrations in the same command); this layer refuses
//! registrations it can tell are wrong before anything is committed.

use caravan_model::{AllocId, ServiceRegistration};
use caravan_state::{Command, DEFAULT_NAMESPACE, Snapshot, Table};

use crate::{Server, ServerError};

impl Server {
    /// Creates or replaces service registrations: the instances an allocation runs,
    /// each with its health and latest check results. A client calls this when a task
    /// (or group) starts advertising, and again whenever a check's status or output
    /// changes; sending an unchanged registration is a no-op that wakes no watcher.
    ///
    /// Each registration must have an id of the shape
    /// `_nomad-task-<alloc>-<task or group-<group>>-<service>-<port label>` (see
    /// [`ServiceRegistration::task_service_id`]), a service name, and name an
    /// allocation that exists and is not terminal, on the node it gives (namespace,
    /// job, node and datacenter are filled in from the allocation when left empty), and
    /// whose job is not purged. An agent registration (provider consul, no
    /// allocation, an id outside `_nomad-`) needs only a node that exists.
    /// Returns the index the registrations were committed at.
    pub async fn upsert_services(
        &self,
        regs: Vec<ServiceRegistration>,
    ) -> Result<u64, ServerError> {
        let snap = self.state().snapshot();
        if regs.is_empty() {
            return Ok(snap.index(Table::Services));
        }
        for reg in &regs {
            check_registration(&snap, reg)?;
        }
        let outcome = self
            .commit(Command::UpsertServiceRegistrations { regs })
            .await?;
        Ok(outcome.index)
    }

    /// Deletes every registration of an allocation: what a client calls when the
    /// allocation stops advertising (before its tasks are killed, or after a restart
    /// when it finds the allocation gone). Deleting none is not an error.
    pub async fn delete_services_for_alloc(&self, alloc_id: &AllocId) -> Result<u64, ServerError> {
        let outcome = self
            .commit(Command::DeleteServicesByAlloc {
                alloc_ids: vec![alloc_id.clone()],
            })
            .await?;
        Ok(outcome.index)
    }

    /// Deletes one registration of the service `name` in `namespace`
    /// (`nomad service delete NAME ID`): not found unless the id names an instance of
    /// that service.
    pub async fn delete_service(
        &self,
        namespace: &str,
        name: &str,
        id: &str,
    ) -> Result<u64, ServerError> {
        let namespace = if namespace.is_empty() {
            DEFAULT_NAMESPACE
        } else {
            namespace
        };
        let snap = self.state().snapshot();
        let matches = snap
            .service_registration(id)
            .is_some_and(|r| r.namespace == namespace && r.service_name == name);
        if !matches {
            return Err(ServerError::NotFound(format!(
                "service registration {id:?} of {name:?}"
            )));
        }
        let outcome = self
            .commit(Command::DeleteServiceRegistrations {
                ids: vec![id.to_owned()],
            })
            .await?;
        Ok(outcome.index)
    }
}

/// Why `reg` cannot be registered on the state `snap` shows, if it cannot.
fn check_registration(snap: &Snapshot, reg: &ServiceRegistration) -> Result<(), ServerError> {
    let bad = |why: String| {
        Err(ServerError::BadRequest(format!(
            "service registration {:?}: {why}",
            reg.id
        )))
    };
    if reg.id.is_empty() {
        return Err(ServerError::BadRequest(
            "service registration without an id".into(),
        ));
    }
    if reg.service_name.is_empty() {
        return bad("missing service name".into());
    }
    if reg.alloc_id.is_empty() {
        if !reg.is_agent_owned() {
            return bad("missing allocation id".into());
        }
        // An agent registration (the Consul API's): its node's, not an allocation's.
        if snap.node(&reg.node_id).is_none() {
            return Err(ServerError::NotFound(format!("node {:?}", reg.node_id)));
        }
        return Ok(());
    }
    if !reg.id_names_alloc() {
        return bad(format!(
            "the id must start with _nomad-task-{}-",
            reg.alloc_id
        ));
    }
    let Some(alloc) = snap.alloc(&reg.alloc_id) else {
        return Err(ServerError::NotFound(format!(
            "allocation {}",
            reg.alloc_id
        )));
    };
    if snap.job(&alloc.namespace, &alloc.job_id).is_none() {
        return bad(format!(
            "job {:?} of allocation {} is purged: it advertises nothing",
            alloc.job_id, alloc.id
        ));
    }
    if alloc.is_terminal() {
        return bad(format!(
            "allocation {} is {} (desired {}): a stopped allocation advertises nothing",
            alloc.id, alloc.client_status, alloc.desired_status
        ));
    }
    let alloc_namespace = if alloc.namespace.is_empty() {
        DEFAULT_NAMESPACE
    } else {
        &alloc.namespace
    };
    for (field, given, actual) in [
        ("node", reg.node_id.as_str(), alloc.node_id.as_str()),
        ("job", reg.job_id.as_str(), alloc.job_id.as_str()),
        ("namespace", reg.namespace.as_str(), alloc_namespace),
    ] {
        if !given.is_empty() && given != actual {
            return bad(format!(
                "{field} {given:?} is not its allocation's ({actual:?})"
            ));
        }
    }
    Ok(())
}
