//! What a render needed from outside: the caller fetches and watches these.

use std::fmt;

use crate::{ConsulServiceQuery, KeyQuery, ServiceQuery};

/// One piece of outside data a template used. Two calls that need the same data
/// are one dependency (`key` and `keyOrDefault` on one path share [`Dependency::Key`]).
/// The environment is not a dependency: it is fixed for the life of a task.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Dependency {
    /// `nomadService`: the instances of one service.
    NomadService(ServiceQuery),
    /// `nomadServices`: the service list of a region (`None`: the local one).
    NomadServices {
        /// The `@region` argument.
        region: Option<String>,
    },
    /// `service`: Consul-style instances, filtered by health.
    ConsulService(ConsulServiceQuery),
    /// `services`: the Consul-style service list of a datacenter.
    ConsulServices {
        /// The `@dc` argument.
        datacenter: Option<String>,
    },
    /// `key`, `keyOrDefault`, `keyExists`: one KV entry.
    Key(KeyQuery),
    /// `ls`, `tree`: every entry under a prefix.
    KeyList(KeyQuery),
}

impl Dependency {
    /// The service a catalog dependency is about, for a watcher that keeps one
    /// watch per service name; `None` for listings and KV.
    pub fn service_name(&self) -> Option<&str> {
        match self {
            Dependency::NomadService(q) => Some(&q.name),
            Dependency::ConsulService(q) => Some(&q.name),
            _ => None,
        }
    }
}

impl fmt::Display for Dependency {
    /// consul-template's spelling: `nomad.service(redis)`, `kv.get(path)`...
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Dependency::NomadService(q) => write!(f, "nomad.service({q})"),
            Dependency::NomadServices { region } => {
                write!(f, "nomad.services({})", region.as_deref().unwrap_or(""))
            }
            Dependency::ConsulService(q) => write!(f, "health.service({q})"),
            Dependency::ConsulServices { datacenter } => {
                write!(
                    f,
                    "catalog.services({})",
                    datacenter.as_deref().unwrap_or("")
                )
            }
            Dependency::Key(q) => write!(f, "kv.get({q})"),
            Dependency::KeyList(q) => write!(f, "kv.list({q})"),
        }
    }
}
