//! Service registrations: one running instance of a `service` block, as the catalog
//! holds it. Nomad's `ServiceRegistration` shape plus what our health-aware catalog
//! adds: the provider, the instance's health and its checks' latest results, and meta.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::{AllocId, CheckStatus, HealthStatus, JobId, NodeId, ServiceWeights};

/// The prefix of every registration id.
pub const REGISTRATION_ID_PREFIX: &str = "_nomad-task-";

/// The prefix of ids reserved to registrations made by Nomad (and Caravan) clients.
pub const NOMAD_ID_SPACE: &str = "_nomad-";

/// The prefix of the critical check that puts a service in maintenance mode
/// (Consul's `_service_maintenance:<service id>`).
pub const SERVICE_MAINTENANCE_PREFIX: &str = "_service_maintenance:";

/// The prefix of the Consul id of a check registered by a job (Nomad's own prefix).
pub const NOMAD_CHECK_ID_PREFIX: &str = "_nomad-check-";

/// Which catalog API serves a registration: Nomad's (`/v1/service`, `nomadService`) or
/// the Consul-compatible one (`/v1/catalog`, `service`, DNS).
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum ServiceProvider {
    #[default]
    Nomad,
    Consul,
}

impl ServiceProvider {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Nomad => "nomad",
            Self::Consul => "consul",
        }
    }
}

impl fmt::Display for ServiceProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One instance of a service: where it answers, what it runs in, and how healthy it is.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ServiceRegistration {
    /// `_nomad-task-<alloc>-<task or group-<group>>-<service>-<port label>`; see
    /// [`ServiceRegistration::task_service_id`] and [`ServiceRegistration::group_service_id`].
    #[serde(rename = "ID")]
    pub id: String,
    pub service_name: String,
    pub namespace: String,
    #[serde(rename = "NodeID")]
    pub node_id: NodeId,
    pub datacenter: String,
    #[serde(rename = "JobID")]
    pub job_id: JobId,
    #[serde(rename = "AllocID")]
    pub alloc_id: AllocId,
    /// The tags in effect (a canary's `canary_tags` when it is one).
    pub tags: Vec<String>,
    pub address: String,
    pub port: u16,
    pub create_index: u64,
    pub modify_index: u64,
    // ---- Caravan's extensions ----
    pub provider: ServiceProvider,
    /// The instance's health: the worst of its checks, passing without checks.
    pub health: HealthStatus,
    /// The latest result of each check, in the job's order.
    pub checks: Vec<CheckStatus>,
    pub meta: BTreeMap<String, String>,
    // ---- Set through the Consul API only (left out of JSON when unset) ----
    /// Consul's `EnableTagOverride`.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub enable_tag_override: bool,
    /// Consul's DNS weights (a job's `weights` block, or the Consul API's `Weights`);
    /// `None` means Consul's default, passing 1 and warning 1.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weights: Option<ServiceWeights>,
}

impl ServiceRegistration {
    /// The id of a task-level service instance.
    pub fn task_service_id(alloc: &AllocId, task: &str, service: &str, port_label: &str) -> String {
        format!("{REGISTRATION_ID_PREFIX}{alloc}-{task}-{service}-{port_label}")
    }

    /// The id of a group-level service instance (`group-<group>` stands for the task).
    pub fn group_service_id(
        alloc: &AllocId,
        group: &str,
        service: &str,
        port_label: &str,
    ) -> String {
        format!("{REGISTRATION_ID_PREFIX}{alloc}-group-{group}-{service}-{port_label}")
    }

    /// Whether the id has the shape of one of `alloc`'s registrations, so that an
    /// instance can never outlive the allocation its id names.
    pub fn id_names_alloc(&self) -> bool {
        self.id
            .strip_prefix(REGISTRATION_ID_PREFIX)
            .and_then(|rest| rest.strip_prefix(self.alloc_id.as_str()))
            .is_some_and(|rest| rest.starts_with('-'))
            && !self.alloc_id.is_empty()
    }

    /// Whether this is an "agent" registration: made through the Consul API, owned by
    /// its node rather than by an allocation (no allocation id, provider consul, and
    /// an id outside the `_nomad-` space that allocations' registrations use).
    pub fn is_agent_owned(&self) -> bool {
        self.alloc_id.is_empty()
            && self.provider == ServiceProvider::Consul
            && !self.id.starts_with(NOMAD_ID_SPACE)
    }

    /// The id Consul's API shows for one of its checks: the one it was registered
    /// with, else (a job's check) `_nomad-check-` and [`ServiceRegistration::check_id`].
    pub fn consul_check_id(&self, check: &CheckStatus) -> String {
        if check.check_id.is_empty() {
            format!("{NOMAD_CHECK_ID_PREFIX}{}", self.check_id(&check.name))
        } else {
            check.check_id.clone()
        }
    }

    /// The health its checks give: the worst of them, passing without checks.
    pub fn health_from_checks(&self) -> HealthStatus {
        HealthStatus::worst(self.checks.iter().map(|c| c.status))
    }

    /// Whether the instance is in one of `statuses`.
    pub fn health_in(&self, statuses: &[HealthStatus]) -> bool {
        statuses.contains(&self.health)
    }

    /// `address:port`, with brackets around an IPv6 address.
    pub fn address_port(&self) -> String {
        if self.address.contains(':') {
            format!("[{}]:{}", self.address, self.port)
        } else {
            format!("{}:{}", self.address, self.port)
        }
    }

    /// The instance's rank for rendezvous selection with `key`: the hex sha256 of the
    /// port (big-endian u64), alloc id, id, namespace, address, service name, each tag
    /// and the key, concatenated. See [`crate::Choose`].
    pub fn hash_with(&self, key: &str) -> String {
        let mut sum = Sha256::new();
        sum.update(u64::from(self.port).to_be_bytes());
        sum.update(self.alloc_id.as_str().as_bytes());
        sum.update(self.id.as_bytes());
        sum.update(self.namespace.as_bytes());
        sum.update(self.address.as_bytes());
        sum.update(self.service_name.as_bytes());
        for tag in &self.tags {
            sum.update(tag.as_bytes());
        }
        sum.update(key.as_bytes());
        crate::hex::encode(&sum.finalize())
    }

    /// A stable id for one of its checks (the key of `/v1/allocation/:id/checks`): the
    /// hex sha256 of the registration id and the check's name.
    pub fn check_id(&self, check_name: &str) -> String {
        let mut sum = Sha256::new();
        sum.update(self.id.as_bytes());
        sum.update([0u8]);
        sum.update(check_name.as_bytes());
        crate::hex::encode(&sum.finalize())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn redis() -> ServiceRegistration {
        ServiceRegistration {
            id: ServiceRegistration::task_service_id(&"a1".into(), "redis", "redis", "db"),
            service_name: "redis".into(),
            namespace: "default".into(),
            node_id: "n1".into(),
            datacenter: "dc1".into(),
            job_id: "example".into(),
            alloc_id: "a1".into(),
            tags: vec!["cache".into()],
            address: "10.0.0.5".into(),
            port: 23456,
            create_index: 7,
            modify_index: 9,
            ..ServiceRegistration::default()
        }
    }

    #[test]
    fn ids_follow_nomads_shape() {
        let alloc = AllocId::from("5f8e1e2a");
        assert_eq!(
            ServiceRegistration::task_service_id(&alloc, "redis", "cache", "db"),
            "_nomad-task-5f8e1e2a-redis-cache-db"
        );
        assert_eq!(
            ServiceRegistration::group_service_id(&alloc, "app", "web", "http"),
            "_nomad-task-5f8e1e2a-group-app-web-http"
        );
        let mut reg = redis();
        assert!(reg.id_names_alloc());
        reg.alloc_id = "a".into();
        assert!(!reg.id_names_alloc(), "a prefix of the alloc id is not it");
        reg.alloc_id = AllocId::default();
        assert!(!reg.id_names_alloc());
    }

    #[test]
    fn json_has_nomads_fields_and_ours() {
        let value = serde_json::to_value(redis()).expect("json");
        assert_eq!(
            value,
            json!({
                "ID": "_nomad-task-a1-redis-redis-db", "ServiceName": "redis", "Namespace": "default",
                "NodeID": "n1", "Datacenter": "dc1", "JobID": "example", "AllocID": "a1",
                "Tags": ["cache"], "Address": "10.0.0.5", "Port": 23456, "CreateIndex": 7, "ModifyIndex": 9,
                "Provider": "nomad", "Health": "passing", "Checks": [], "Meta": {},
            })
        );
        // Nomad's own JSON (no extensions) decodes with the defaults.
        let mut nomad = json!({"ID": "x", "ServiceName": "redis", "Port": 80, "Tags": null});
        crate::strip_nulls(&mut nomad);
        let reg: ServiceRegistration = serde_json::from_value(nomad).expect("decode");
        assert_eq!(
            (reg.port, reg.health, reg.provider),
            (80, HealthStatus::Passing, ServiceProvider::Nomad)
        );
    }

    #[test]
    fn health_from_checks_is_the_worst() {
        let mut reg = redis();
        assert_eq!(reg.health_from_checks(), HealthStatus::Passing);
        reg.checks = vec![
            CheckStatus {
                status: HealthStatus::Passing,
                ..CheckStatus::default()
            },
            CheckStatus {
                status: HealthStatus::Critical,
                ..CheckStatus::default()
            },
        ];
        assert_eq!(reg.health_from_checks(), HealthStatus::Critical);
        assert!(reg.health_in(&[HealthStatus::Passing]));
    }

    #[test]
    fn agent_owned_registrations_have_no_alloc_and_a_free_id() {
        let agent = ServiceRegistration {
            id: "web-1".into(),
            provider: ServiceProvider::Consul,
            ..ServiceRegistration::default()
        };
        assert!(agent.is_agent_owned());
        assert!(
            !ServiceRegistration {
                id: "_nomad-task-x".into(),
                ..agent.clone()
            }
            .is_agent_owned()
        );
        assert!(
            !ServiceRegistration {
                provider: ServiceProvider::Nomad,
                ..agent.clone()
            }
            .is_agent_owned()
        );
        assert!(!redis().is_agent_owned(), "an allocation's registration");
        let job_check = CheckStatus {
            name: "alive".into(),
            ..CheckStatus::default()
        };
        assert_eq!(
            redis().consul_check_id(&job_check),
            format!("_nomad-check-{}", redis().check_id("alive"))
        );
        let agent_check = CheckStatus {
            check_id: "service:web-1".into(),
            ..job_check
        };
        assert_eq!(agent.consul_check_id(&agent_check), "service:web-1");
        // Consul's fields stay out of JSON until set.
        let value = serde_json::to_value(ServiceRegistration {
            enable_tag_override: true,
            weights: Some(ServiceWeights {
                passing: 1,
                warning: 1,
            }),
            ..agent
        })
        .expect("json");
        assert_eq!(value["EnableTagOverride"], true);
        assert_eq!(
            value["Weights"],
            serde_json::json!({"Passing": 1, "Warning": 1})
        );
    }

    #[test]
    fn address_port_brackets_ipv6() {
        let mut reg = redis();
        assert_eq!(reg.address_port(), "10.0.0.5:23456");
        reg.address = "fd00::5".into();
        assert_eq!(reg.address_port(), "[fd00::5]:23456");
    }

    #[test]
    fn hash_with_covers_the_documented_fields_in_order() {
        // Expected value computed outside Rust (Python's hashlib) over
        // u64be(23456) + "a1" + id + "default" + "10.0.0.5" + "redis" + "cache" + "k".
        let reg = redis();
        assert_eq!(
            reg.hash_with("k"),
            "9a888b93f1b86b0dde060fbc0157659b3fd356faa123dd50ad7b9f4a545da427"
        );
        assert_ne!(reg.hash_with("k"), reg.hash_with("other"));
    }

    #[test]
    fn check_ids_are_stable_and_distinct() {
        let reg = redis();
        assert_eq!(reg.check_id("alive"), reg.check_id("alive"));
        assert_ne!(reg.check_id("alive"), reg.check_id("ready"));
        assert_eq!(reg.check_id("alive").len(), 64);
    }
}
