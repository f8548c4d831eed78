//! What the Consul-compatible API writes: agent registrations (services a node's
//! agent registers for programs outside any job), their checks (TTL checks updated by
//! pass, warn and fail, and expired by the server's timer), maintenance mode, and the
//! key/value store.
//!
//! Every write is a command; the state applies Consul's rules (check state carried
//! over on re-registration, check-and-set on keys) deterministically, so this layer
//! only finds what a request names and stamps the time.

use caravan_model::{
    CheckStatus, HealthStatus, NodeId, SERVICE_MAINTENANCE_PREFIX, ServiceProvider,
    ServiceRegistration,
};
use caravan_state::{Command, KvEntry, Snapshot, expired_ttl_checks};

use crate::{Server, ServerError};

/// The notes of a maintenance check enabled without a reason (Consul's wording).
const DEFAULT_MAINTENANCE_REASON: &str = "Maintenance mode is enabled for this service, \
     but no reason was provided. This is a default message.";

/// What a key/value write did: whether it applied (its `cas` held) and at which index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KvWrite {
    pub applied: bool,
    pub index: u64,
}

impl Server {
    /// Registers (or re-registers) a service through a node's Consul agent API. The
    /// registration gets provider consul and no allocation; its node must exist, its
    /// id must not start with `_nomad-`, and each check needs a check id. A TTL check
    /// that starts in a status other than critical starts its TTL now. Checks of the
    /// same id keep their state across re-registrations; the others are kept too
    /// unless `replace_existing_checks`. Returns the commit index.
    pub async fn consul_register_service(
        &self,
        mut reg: ServiceRegistration,
        replace_existing_checks: bool,
    ) -> Result<u64, ServerError> {
        reg.provider = ServiceProvider::Consul;
        if !reg.alloc_id.is_empty() || !reg.job_id.is_empty() {
            return Err(ServerError::BadRequest(
                "a service registered through the agent belongs to no allocation or job".into(),
            ));
        }
        if !reg.is_agent_owned() {
            return Err(ServerError::BadRequest(format!(
                "service ID {:?}: ids starting with _nomad- are reserved",
                reg.id
            )));
        }
        let now = self.now();
        for check in reg.checks.iter_mut() {
            if check.is_ttl() && check.status != HealthStatus::Critical {
                check.ttl_updated = now;
            }
        }
        reg.health = reg.health_from_checks();
        let outcome = self
            .commit(Command::RegisterAgentService {
                reg: Box::new(reg),
                replace_existing_checks,
            })
            .await?;
        Ok(outcome.index)
    }

    /// Deregisters a Consul-provider service on `node`: an agent registration, or an
    /// allocation's (whose client registers it again on its next change, as a Consul
    /// agent's anti-entropy would).
    pub async fn consul_deregister_service(
        &self,
        node: &NodeId,
        id: &str,
    ) -> Result<u64, ServerError> {
        let snap = self.state().snapshot();
        consul_service_on(&snap, node, id)?;
        let outcome = self
            .commit(Command::DeleteServiceRegistrations {
                ids: vec![id.to_owned()],
            })
            .await?;
        Ok(outcome.index)
    }

    /// Adds a check to a Consul-provider service on `node` (or replaces the one with
    /// its check id). A TTL check that starts other than critical starts its TTL now.
    pub async fn consul_register_check(
        &self,
        node: &NodeId,
        service_id: &str,
        mut check: CheckStatus,
    ) -> Result<u64, ServerError> {
        let snap = self.state().snapshot();
        consul_service_on(&snap, node, service_id)?;
        if check.check_id.is_empty() {
            return Err(ServerError::BadRequest("the check has no ID".into()));
        }
        if let Some((other, _)) = find_check(&snap, node, &check.check_id)
            && other != service_id
        {
            return Err(ServerError::BadRequest(format!(
                "check ID {:?} belongs to service {other:?}",
                check.check_id
            )));
        }
        if check.is_ttl() && check.status != HealthStatus::Critical {
            check.ttl_updated = self.now();
        }
        let outcome = self
            .commit(Command::UpsertServiceCheck {
                service_id: service_id.to_owned(),
                check: Box::new(check),
            })
            .await?;
        Ok(outcome.index)
    }

    /// Removes a check (by its Consul check id) from the service on `node` holding it.
    pub async fn consul_deregister_check(
        &self,
        node: &NodeId,
        check_id: &str,
    ) -> Result<u64, ServerError> {
        let snap = self.state().snapshot();
        let (service_id, _) = find_check(&snap, node, check_id)
            .ok_or_else(|| ServerError::NotFound(format!("check ID {check_id:?}")))?;
        let outcome = self
            .commit(Command::DeleteServiceCheck {
                service_id,
                check_id: check_id.to_owned(),
            })
            .await?;
        Ok(outcome.index)
    }

    /// Consul's `check/pass`, `check/warn` and `check/fail`: sets a TTL check's status
    /// and output, restarting its TTL. Other checks report their own results.
    pub async fn update_check(
        &self,
        node: &NodeId,
        check_id: &str,
        status: HealthStatus,
        output: String,
    ) -> Result<u64, ServerError> {
        let snap = self.state().snapshot();
        let (service_id, check) = find_check(&snap, node, check_id)
            .ok_or_else(|| ServerError::NotFound(format!("check ID {check_id:?}")))?;
        if !check.is_ttl() {
            return Err(ServerError::BadRequest(format!(
                "check ID {check_id:?} does not have an associated TTL"
            )));
        }
        let outcome = self
            .commit(Command::UpdateServiceCheck {
                service_id,
                check_id: check_id.to_owned(),
                status,
                output,
                now: self.now(),
            })
            .await?;
        Ok(outcome.index)
    }

    /// Puts a Consul-provider service on `node` in maintenance mode (a critical
    /// `_service_maintenance:<id>` check whose notes give the reason), or takes it
    /// out. Idempotent.
    pub async fn set_service_maintenance(
        &self,
        node: &NodeId,
        service_id: &str,
        enable: bool,
        reason: &str,
    ) -> Result<u64, ServerError> {
        let snap = self.state().snapshot();
        let reg = consul_service_on(&snap, node, service_id)?;
        let check_id = format!("{SERVICE_MAINTENANCE_PREFIX}{service_id}");
        let present = reg.checks.iter().any(|c| c.check_id == check_id);
        let cmd = if enable {
            let notes = if reason.is_empty() {
                DEFAULT_MAINTENANCE_REASON
            } else {
                reason
            };
            Command::UpsertServiceCheck {
                service_id: service_id.to_owned(),
                check: Box::new(CheckStatus {
                    check_id,
                    name: "Service Maintenance Mode".into(),
                    check_type: "maintenance".into(),
                    status: HealthStatus::Critical,
                    notes: notes.to_owned(),
                    timestamp: self.now(),
                    ..CheckStatus::default()
                }),
            }
        } else if present {
            Command::DeleteServiceCheck {
                service_id: service_id.to_owned(),
                check_id,
            }
        } else {
            return Ok(snap.latest_index());
        };
        Ok(self.commit(cmd).await?.index)
    }

    /// Turns critical every TTL check that has gone without an update for longer than
    /// its TTL at `now` (unix nanoseconds). The server's timer calls it with the
    /// clock's time; returns how many checks expired.
    pub async fn expire_ttl_checks(&self, now: i64) -> Result<usize, ServerError> {
        let checks = expired_ttl_checks(&self.state().snapshot(), now);
        if checks.is_empty() {
            return Ok(0);
        }
        let outcome = self
            .commit(Command::ExpireTtlChecks { checks, now })
            .await?;
        Ok(outcome.checks_expired)
    }

    // ---- key/value ----

    /// One key, as the state holds it now.
    pub fn kv_get(&self, key: &str) -> Option<KvEntry> {
        self.state().snapshot().kv_get(key).cloned()
    }

    /// Sets a key; with `cas`, only if its modify index is that number (0: only if
    /// the key is absent).
    pub async fn kv_set(
        &self,
        key: &str,
        value: Vec<u8>,
        flags: u64,
        cas: Option<u64>,
    ) -> Result<KvWrite, ServerError> {
        let outcome = self
            .commit(Command::KvSet {
                key: key.to_owned(),
                value,
                flags,
                cas,
            })
            .await?;
        Ok(KvWrite {
            applied: outcome.kv_applied,
            index: outcome.index,
        })
    }

    /// Deletes a key, or with `recurse` every key starting with it; with `cas` (and
    /// no `recurse`), only if its modify index is that number.
    pub async fn kv_delete(
        &self,
        key: &str,
        recurse: bool,
        cas: Option<u64>,
    ) -> Result<KvWrite, ServerError> {
        if key.is_empty() && !recurse {
            return Err(ServerError::BadRequest("missing key name".into()));
        }
        let outcome = self
            .commit(Command::KvDelete {
                key: key.to_owned(),
                recurse,
                cas,
            })
            .await?;
        Ok(KvWrite {
            applied: outcome.kv_applied,
            index: outcome.index,
        })
    }
}

/// The Consul-provider registration `id` on `node`, or not found.
fn consul_service_on<'a>(
    snap: &'a Snapshot,
    node: &NodeId,
    id: &str,
) -> Result<&'a ServiceRegistration, ServerError> {
    snap.service_registration(id)
        .filter(|r| r.provider == ServiceProvider::Consul && &r.node_id == node)
        .ok_or_else(|| ServerError::NotFound(format!("service ID {id:?}")))
}

/// The Consul-provider registration on `node` holding the check `check_id` (Consul's
/// check ids are unique per node), with the check.
fn find_check(snap: &Snapshot, node: &NodeId, check_id: &str) -> Option<(String, CheckStatus)> {
    snap.services_on_node(node)
        .filter(|r| r.provider == ServiceProvider::Consul)
        .find_map(|reg| {
            reg.checks
                .iter()
                .find(|c| reg.consul_check_id(c) == check_id)
                .map(|c| (reg.id.clone(), c.clone()))
        })
}
