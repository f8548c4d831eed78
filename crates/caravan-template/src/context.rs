//! The data a template reads, supplied by the client.

use thiserror::Error;

use crate::{ConsulServiceQuery, KeyPair, KeyQuery, ServiceInstance, ServiceQuery, ServiceSummary};

/// The answer "this data has not arrived yet": the render that asked for it is
/// incomplete and names it in [`Rendered::missing`](crate::Rendered::missing), so
/// the caller can fetch it and render again. An answer that arrived empty (a
/// service with no instances) is `Ok(vec![])`, not `Missing`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Error)]
#[error("data not yet available")]
pub struct Missing;

/// What a template may read. The client implements it over its task environment
/// and its view of the catalog; every method is a lookup in data already held (no
/// I/O), and a render asks each question at most once.
///
/// A render may ask about a query that its final pass does not use (a query built
/// from data that had not arrived yet, see [`render`](crate::render)): watch
/// [`Rendered::dependencies`](crate::Rendered::dependencies), not the questions.
pub trait Context {
    /// A variable of the task environment or a node attribute (`NOMAD_PORT_http`,
    /// `node.unique.id`, `attr.kernel.name`, `meta.rack`). The agent's own process
    /// environment must not leak through: Nomad masks it to "".
    fn env(&self, name: &str) -> Option<String>;

    /// The instances of a Nomad service, with `query.choose` applied (rendezvous
    /// selection). Any order: this crate filters by tag and sorts.
    fn nomad_service(&self, query: &ServiceQuery) -> Result<Vec<ServiceInstance>, Missing>;

    /// Every Nomad service of the job's namespace (region `None`: the local one).
    fn nomad_services(&self, region: Option<&str>) -> Result<Vec<ServiceSummary>, Missing>;

    /// The instances of a service seen through Consul's health API. Any order and
    /// any health: this crate applies `query.filter` and `query.tag`, and sorts.
    fn consul_service(&self, query: &ConsulServiceQuery) -> Result<Vec<ServiceInstance>, Missing>;

    /// Every service of Consul's catalog (datacenter `None`: the local one).
    fn consul_services(&self, datacenter: Option<&str>) -> Result<Vec<ServiceSummary>, Missing>;

    /// One KV entry: `Ok(None)` when it does not exist (then `key` keeps the
    /// render incomplete until it does, while `keyOrDefault` and `keyExists` go on).
    fn key(&self, query: &KeyQuery) -> Result<Option<String>, Missing>;

    /// Every KV entry whose path starts with the prefix `query.path`, recursively.
    fn ls(&self, query: &KeyQuery) -> Result<Vec<KeyPair>, Missing>;
}
