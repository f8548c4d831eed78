//! Consul's HTTP API (port 8500 by default), served from the same catalog as Nomad's:
//! the agent, catalog, health, status and KV endpoints that Consul's client libraries,
//! consul-template and Nomad's `provider = "consul"` use, with Consul's paths, JSON
//! shapes and blocking queries (`?index=N&wait=5s`, answered with `X-Consul-Index`).
//!
//! Consul's nodes are Caravan's nodes (their name, address and datacenter), each with a
//! `serfHealth` check that passes while the node is not down; the agent's own node
//! also carries the `consul` service, as a Consul server does. Consul's services are
//! the Consul-provider registrations: those of jobs' `service` blocks with
//! `provider = "consul"`, and the agent registrations made here, which belong to the
//! agent's client node rather than to an allocation.
//!
//! Checks registered here are stored with their definition: TTL checks take their
//! status from `check/pass|warn|fail` and turn critical when their TTL runs out (the
//! server's timer); HTTP and TCP checks start critical and stay so until a client runs
//! them (not yet: a client check runner will). Script, gRPC and alias checks, node
//! checks, Connect, external nodes in catalog registrations, sessions
//! (`acquire`/`release`), `filter` and `node-meta` and other datacenters are refused
//! with a 400 (or Consul's 500 for an unknown `dc`) rather than ignored. Accepted but
//! not acted on: `TaggedAddresses`, `DeregisterCriticalServiceAfter`, a check's
//! `Header` and `Body`.

mod agent;
mod body;
mod catalog;
mod health;
mod kv;
mod respond;
mod shapes;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{Method, StatusCode, Uri};
use axum::routing::{get, put};
use caravan_model::NodeId;

use crate::{Api, ApiError, MAX_BODY_BYTES};

/// Consul's HTTP API over `api`. Writes take PUT, as Consul's do.
pub fn consul_router(api: Api) -> Router {
    Router::new()
        // The agent: this node's services and checks.
        .route("/v1/agent/self", get(agent::agent_self))
        .route("/v1/agent/members", get(agent::members))
        .route("/v1/agent/services", get(agent::services))
        .route("/v1/agent/service/{id}", get(agent::service))
        .route("/v1/agent/service/register", put(agent::register_service))
        .route(
            "/v1/agent/service/deregister/{id}",
            put(agent::deregister_service),
        )
        .route(
            "/v1/agent/service/maintenance/{id}",
            put(agent::maintenance),
        )
        .route("/v1/agent/checks", get(agent::checks))
        .route("/v1/agent/check/register", put(agent::register_check))
        .route(
            "/v1/agent/check/deregister/{id}",
            put(agent::deregister_check),
        )
        .route("/v1/agent/check/pass/{id}", put(agent::pass))
        .route("/v1/agent/check/warn/{id}", put(agent::warn))
        .route("/v1/agent/check/fail/{id}", put(agent::fail))
        .route("/v1/agent/check/update/{id}", put(agent::update))
        // The catalog.
        .route("/v1/catalog/register", put(catalog::register))
        .route("/v1/catalog/deregister", put(catalog::deregister))
        .route("/v1/catalog/datacenters", get(catalog::datacenters))
        .route("/v1/catalog/nodes", get(catalog::nodes))
        .route("/v1/catalog/services", get(catalog::services))
        .route("/v1/catalog/node/{node}", get(catalog::node))
        .route("/v1/catalog/service/{service}", get(catalog::service))
        // Health.
        .route("/v1/health/service/{service}", get(health::service))
        .route("/v1/health/checks/{service}", get(health::checks))
        .route("/v1/health/node/{node}", get(health::node))
        .route("/v1/health/state/{state}", get(health::state))
        // Status.
        .route("/v1/status/leader", get(agent::leader))
        .route("/v1/status/peers", get(agent::peers))
        // The key/value store.
        .route(
            "/v1/kv/",
            get(kv::get_root).put(kv::put_root).delete(kv::delete_root),
        )
        .route(
            "/v1/kv/{*key}",
            get(kv::get).put(kv::put).delete(kv::delete),
        )
        .fallback(unknown_route)
        .method_not_allowed_fallback(wrong_method)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(api)
}

/// The node whose agent this is: the client node. Writes to the agent's services and
/// checks need one.
fn local_node(api: &Api) -> Result<NodeId, ApiError> {
    api.client.as_ref().map(|c| c.node_id()).ok_or_else(|| {
        ApiError::NotImplemented(
            "this agent runs no client node: Consul's agent endpoints need one".into(),
        )
    })
}

async fn unknown_route(uri: Uri) -> ApiError {
    ApiError::NotFound(format!("no such endpoint: {}", uri.path()))
}

async fn wrong_method(method: Method, uri: Uri) -> (StatusCode, ApiError) {
    let e = ApiError::bad_request(format!("method {method} is not allowed on {}", uri.path()));
    (StatusCode::METHOD_NOT_ALLOWED, e)
}
