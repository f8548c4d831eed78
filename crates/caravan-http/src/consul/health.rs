//! `/v1/health/*`: service instances with their checks (the node's `serfHealth`
//! first), filtered by health, and checks by service, node and state.

use axum::extract::{Path, State};
use axum::response::Response;
use caravan_model::HealthStatus;
use caravan_state::Table;

use super::respond::{self, check_query};
use super::shapes::{ConsulCatalog, HealthCheck, ServiceEntry, instance_checks};
use crate::query::QueryOptions;
use crate::{Api, ApiError};

/// What health answers depend on: the registrations, and the nodes' status.
const TABLES: [Table; 2] = [Table::Services, Table::Nodes];

/// `GET /v1/health/service/:svc[?passing][&tag=]`: the instances of a service with
/// their node and checks, sorted by service id; `?passing` keeps those whose every
/// check passes. `[]` when none.
pub(super) async fn service(
    State(api): State<Api>,
    Path(name): Path<String>,
    q: QueryOptions,
) -> Result<Response, ApiError> {
    check_query(&api, &q)?;
    let passing = q.flag("passing")?;
    let tag = q.get("tag").filter(|t| !t.is_empty());
    let snap = respond::snapshot(&api, &TABLES, &q).await;
    let catalog = ConsulCatalog::new(&api.agent, &snap);
    let entries: Vec<ServiceEntry> = catalog
        .service(&name)
        .into_iter()
        .filter(|r| tag.is_none_or(|t| r.tags.iter().any(|x| x == t)))
        .map(|r| ServiceEntry::of(catalog.node_of(r), r))
        .filter(|e| !passing || e.is_passing())
        .collect();
    respond::json(&api, respond::index_of(&snap, &TABLES), &entries, &q)
}

/// `GET /v1/health/checks/:svc`: the checks of a service's instances.
pub(super) async fn checks(
    State(api): State<Api>,
    Path(name): Path<String>,
    q: QueryOptions,
) -> Result<Response, ApiError> {
    check_query(&api, &q)?;
    let snap = respond::snapshot(&api, &TABLES, &q).await;
    let catalog = ConsulCatalog::new(&api.agent, &snap);
    let checks: Vec<HealthCheck> = catalog
        .service(&name)
        .into_iter()
        .flat_map(|r| {
            let node = catalog.node_of(r).node;
            r.checks
                .iter()
                .map(move |c| HealthCheck::of(&node, r, c))
                .collect::<Vec<_>>()
        })
        .collect();
    respond::json(&api, respond::index_of(&snap, &TABLES), &checks, &q)
}

/// `GET /v1/health/node/:node`: the node's `serfHealth` and its services' checks;
/// `[]` for an unknown node.
pub(super) async fn node(
    State(api): State<Api>,
    Path(name): Path<String>,
    q: QueryOptions,
) -> Result<Response, ApiError> {
    check_query(&api, &q)?;
    let snap = respond::snapshot(&api, &TABLES, &q).await;
    let catalog = ConsulCatalog::new(&api.agent, &snap);
    let mut checks = Vec::new();
    if let Some(node) = catalog.node_named(&name) {
        checks.push(node.serf_check());
        for reg in catalog.services_on(node) {
            checks.extend(
                reg.checks
                    .iter()
                    .map(|c| HealthCheck::of(&node.node, reg, c)),
            );
        }
    }
    respond::json(&api, respond::index_of(&snap, &TABLES), &checks, &q)
}

/// `GET /v1/health/state/:state`: every check in a state (`any`, `passing`,
/// `warning` or `critical`), the nodes' `serfHealth` included.
pub(super) async fn state(
    State(api): State<Api>,
    Path(state): Path<String>,
    q: QueryOptions,
) -> Result<Response, ApiError> {
    check_query(&api, &q)?;
    let wanted = match state.as_str() {
        "any" => None,
        other => Some(
            other
                .parse::<HealthStatus>()
                .map_err(|_| ApiError::bad_request(format!("Bad check state {other:?}")))?,
        ),
    };
    let snap = respond::snapshot(&api, &TABLES, &q).await;
    let catalog = ConsulCatalog::new(&api.agent, &snap);
    let mut checks: Vec<HealthCheck> = catalog.nodes().iter().map(|n| n.serf_check()).collect();
    for (node, reg) in catalog.all_instances() {
        checks.extend(instance_checks(node, reg).into_iter().skip(1));
    }
    checks.retain(|c| wanted.is_none_or(|w| c.status == w.as_str()));
    respond::json(&api, respond::index_of(&snap, &TABLES), &checks, &q)
}
