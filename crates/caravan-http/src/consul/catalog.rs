//! `/v1/catalog/*`: datacenters, nodes and services, and registering services on a
//! node (Caravan's nodes only: Consul's "external nodes" do not exist here).

use std::collections::{BTreeMap, BTreeSet};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::Response;
use caravan_model::{NodeId, ServiceProvider};
use caravan_state::Table;
use serde::Serialize;

use super::body::{self, Fields};
use super::respond::{self, check_query};
use super::shapes::{CatalogService, ConsulCatalog, ConsulNode, NodeService};
use crate::query::QueryOptions;
use crate::{Api, ApiError};

/// What the catalog's answers depend on.
const TABLES: [Table; 2] = [Table::Services, Table::Nodes];

/// The Caravan node a catalog write names (by name, or by id).
fn caravan_node(api: &Api, name: &str) -> Result<NodeId, ApiError> {
    if name.is_empty() {
        return Err(ApiError::bad_request("Must provide node"));
    }
    let snap = api.server.state().snapshot();
    snap.nodes()
        .find(|n| n.name == name)
        .or_else(|| snap.node(&NodeId::from(name)))
        .map(|n| n.id.clone())
        .ok_or_else(|| {
            ApiError::bad_request(format!(
                "node {name:?} is not one of Caravan's nodes: external nodes are not supported"
            ))
        })
}

/// `PUT /v1/catalog/register`: a service (with its checks) on one of Caravan's
/// nodes, as an agent registration of that node. A body without a service changes
/// nothing; checks without the service's id (node checks) are refused.
pub(super) async fn register(
    State(api): State<Api>,
    q: QueryOptions,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    check_query(&api, &q)?;
    let body = Fields::from_body(&bytes)?;
    let dc = body.string("Datacenter")?;
    if !dc.is_empty() && dc != api.agent.datacenter {
        return Err(ApiError::Internal("No path to datacenter".into()));
    }
    let node = caravan_node(&api, &body.string("Node")?)?;
    let mut checks: Vec<Fields> = body.object("Check")?.into_iter().collect();
    checks.extend(body.objects("Checks")?);
    let Some(service) = body.object("Service")? else {
        if !checks.is_empty() {
            return Err(ApiError::bad_request(
                "node checks are not supported: register checks with their service",
            ));
        }
        return respond::plain_json(&true, &q);
    };
    let mut reg = body::service(&service)?;
    for def in &checks {
        let service_id = def.string("ServiceID")?;
        if service_id != reg.id {
            return Err(ApiError::bad_request(format!(
                "check ServiceID {service_id:?} is not the service registered ({:?}): \
                 node checks are not supported",
                reg.id
            )));
        }
        // A catalog check is a status to show, not something to run.
        let mut check = body::check_status_only(def, &reg.id)?;
        check.check_id = match def.string("CheckID")? {
            id if id.is_empty() => format!("service:{}", reg.id),
            id => id,
        };
        reg.checks.retain(|c| c.check_id != check.check_id);
        reg.checks.push(check);
    }
    reg.node_id = node;
    reg.provider = ServiceProvider::Consul;
    api.server.consul_register_service(reg, false).await?;
    respond::plain_json(&true, &q)
}

/// `PUT /v1/catalog/deregister`: a check (`CheckID`) or a service (`ServiceID`) of a
/// node. Deregistering a whole node is refused: Caravan's nodes come and go by
/// themselves.
pub(super) async fn deregister(
    State(api): State<Api>,
    q: QueryOptions,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    check_query(&api, &q)?;
    let body = Fields::from_body(&bytes)?;
    let node = caravan_node(&api, &body.string("Node")?)?;
    let check_id = body.string("CheckID")?;
    let service_id = body.string("ServiceID")?;
    if !check_id.is_empty() {
        api.server.consul_deregister_check(&node, &check_id).await?;
    } else if !service_id.is_empty() {
        api.server
            .consul_deregister_service(&node, &service_id)
            .await?;
    } else {
        return Err(ApiError::bad_request(
            "deregistering a node is not supported: give a ServiceID or a CheckID",
        ));
    }
    respond::plain_json(&true, &q)
}

/// `GET /v1/catalog/datacenters`: this agent's.
pub(super) async fn datacenters(
    State(api): State<Api>,
    q: QueryOptions,
) -> Result<Response, ApiError> {
    respond::plain_json(&[&api.agent.datacenter], &q)
}

/// `GET /v1/catalog/nodes`: every node, sorted by name.
pub(super) async fn nodes(State(api): State<Api>, q: QueryOptions) -> Result<Response, ApiError> {
    check_query(&api, &q)?;
    let snap = respond::snapshot(&api, &[Table::Nodes], &q).await;
    let catalog = ConsulCatalog::new(&api.agent, &snap);
    respond::json(&api, snap.index(Table::Nodes), catalog.nodes(), &q)
}

/// `GET /v1/catalog/services`: each service's name with its instances' tags.
pub(super) async fn services(
    State(api): State<Api>,
    q: QueryOptions,
) -> Result<Response, ApiError> {
    check_query(&api, &q)?;
    let snap = respond::snapshot(&api, &[Table::Services], &q).await;
    let catalog = ConsulCatalog::new(&api.agent, &snap);
    let out: BTreeMap<&str, Vec<&str>> = catalog
        .services()
        .into_iter()
        .map(|(name, regs)| {
            let tags: BTreeSet<&str> = regs
                .iter()
                .flat_map(|r| r.tags.iter().map(String::as_str))
                .collect();
            (name, tags.into_iter().collect())
        })
        .collect();
    respond::json(&api, snap.index(Table::Services), &out, &q)
}

/// `/v1/catalog/node/:node`'s answer.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct NodeServices<'a> {
    node: &'a ConsulNode,
    services: BTreeMap<String, NodeService>,
}

/// `GET /v1/catalog/node/:node`: a node and its services by id; `null` for an
/// unknown node, as Consul.
pub(super) async fn node(
    State(api): State<Api>,
    Path(name): Path<String>,
    q: QueryOptions,
) -> Result<Response, ApiError> {
    check_query(&api, &q)?;
    let snap = respond::snapshot(&api, &TABLES, &q).await;
    let catalog = ConsulCatalog::new(&api.agent, &snap);
    let index = respond::index_of(&snap, &TABLES);
    let Some(node) = catalog.node_named(&name) else {
        return respond::json(&api, index, &(), &q);
    };
    let services = catalog
        .services_on(node)
        .into_iter()
        .map(|r| (r.id.clone(), NodeService::of(r)))
        .collect();
    respond::json(&api, index, &NodeServices { node, services }, &q)
}

/// `GET /v1/catalog/service/:svc[?tag=]`: the instances of a service, sorted by id;
/// `[]` for an unknown one.
pub(super) async fn service(
    State(api): State<Api>,
    Path(name): Path<String>,
    q: QueryOptions,
) -> Result<Response, ApiError> {
    check_query(&api, &q)?;
    let tag = q.get("tag").filter(|t| !t.is_empty());
    let snap = respond::snapshot(&api, &TABLES, &q).await;
    let catalog = ConsulCatalog::new(&api.agent, &snap);
    let out: Vec<CatalogService> = catalog
        .service(&name)
        .into_iter()
        .filter(|r| tag.is_none_or(|t| r.tags.iter().any(|x| x == t)))
        .map(|r| CatalogService::of(&catalog.node_of(r), r))
        .collect();
    respond::json(&api, respond::index_of(&snap, &TABLES), &out, &q)
}
