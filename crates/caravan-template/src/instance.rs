//! One registered instance of a service, as the client's catalog knows it.

use std::collections::BTreeMap;
use std::fmt;

use gotmpl::Value;

use crate::value;

/// The aggregated check status of an instance (our extension to Nomad's catalog,
/// Consul's `Status`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Health {
    /// Every check passes, or the instance has no checks.
    #[default]
    Passing,
    /// Some check warns, none is critical.
    Warning,
    /// Some check is critical.
    Critical,
}

impl Health {
    /// Consul's lowercase name: `passing`, `warning`, `critical`.
    pub fn as_str(self) -> &'static str {
        match self {
            Health::Passing => "passing",
            Health::Warning => "warning",
            Health::Critical => "critical",
        }
    }

    /// Reads Consul's lowercase name.
    pub fn from_name(name: &str) -> Option<Health> {
        match name {
            "passing" => Some(Health::Passing),
            "warning" => Some(Health::Warning),
            "critical" => Some(Health::Critical),
            _ => None,
        }
    }
}

impl fmt::Display for Health {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One service registration. The [`Context`](crate::Context) returns these for both
/// `nomadService` and `service`; each function shows the fields its original shows
/// (see the crate docs).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServiceInstance {
    /// The registration id (`_nomad-task-<alloc>-<task>-<service>-<port>`).
    pub id: String,
    /// The service name.
    pub name: String,
    /// The node's id (Nomad's `.Node`, Consul's `.NodeID`).
    pub node_id: String,
    /// The node's name (Consul's `.Node`; the id is used when empty).
    pub node_name: String,
    /// The node's address (Consul's `.NodeAddress`, and `.Address` when the
    /// instance has none of its own).
    pub node_address: String,
    /// The advertised address.
    pub address: String,
    /// The advertised port.
    pub port: u16,
    /// The datacenter of the node.
    pub datacenter: String,
    /// Tags, in any order: templates see them sorted.
    pub tags: Vec<String>,
    /// Service meta (Consul's `.ServiceMeta`).
    pub meta: BTreeMap<String, String>,
    /// The job that registered it.
    pub job_id: String,
    /// The allocation that registered it.
    pub alloc_id: String,
    /// The aggregated check status.
    pub health: Health,
}

impl ServiceInstance {
    fn sorted_tags(&self) -> Vec<&String> {
        let mut tags: Vec<&String> = self.tags.iter().collect();
        tags.sort();
        tags
    }

    /// Consul's `.Node`: the node name, or its id when the catalog has no name.
    pub(crate) fn consul_node(&self) -> &str {
        if self.node_name.is_empty() {
            &self.node_id
        } else {
            &self.node_name
        }
    }

    /// The fields of consul-template's `NomadService`, plus `Health`.
    pub(crate) fn nomad_value(&self) -> Value {
        value::map([
            ("ID", value::string(&self.id)),
            ("Name", value::string(&self.name)),
            ("Node", value::string(&self.node_id)),
            ("Address", value::string(&self.address)),
            ("Port", Value::Int(i64::from(self.port))),
            ("Datacenter", value::string(&self.datacenter)),
            ("Tags", value::strings(self.sorted_tags())),
            ("JobID", value::string(&self.job_id)),
            ("AllocID", value::string(&self.alloc_id)),
            ("Health", value::string(self.health.as_str())),
        ])
    }

    /// The fields of consul-template's `HealthService` that a catalog without
    /// Consul's node model can fill.
    pub(crate) fn consul_value(&self) -> Value {
        let address = if self.address.is_empty() {
            &self.node_address
        } else {
            &self.address
        };
        value::map([
            ("ID", value::string(&self.id)),
            ("Name", value::string(&self.name)),
            ("Node", value::string(self.consul_node())),
            ("NodeID", value::string(&self.node_id)),
            ("NodeAddress", value::string(&self.node_address)),
            ("Address", value::string(address)),
            ("Port", Value::Int(i64::from(self.port))),
            ("Tags", value::strings(self.sorted_tags())),
            ("ServiceMeta", value::string_map(&self.meta)),
            ("Status", value::string(self.health.as_str())),
            ("Datacenter", value::string(&self.datacenter)),
        ])
    }
}
