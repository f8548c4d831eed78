//! The route table: Nomad's paths, methods and limits.

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::handler::Handler;
use axum::http::{Method, Uri};
use axum::routing::{delete, get, put};

use crate::{
    Api, ApiError, agent, allocs, deployments, evals, fs, jobs, logs, nodes, operator, parse, plan,
    services, validate,
};

/// The largest request body accepted; larger ones get 413.
pub const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;

/// Nomad's HTTP API over `api`. Writes accept PUT and POST alike, as Nomad does.
pub fn router(api: Api) -> Router {
    Router::new()
        // Jobs.
        .route(
            "/v1/jobs",
            get(jobs::list).put(jobs::register).post(jobs::register),
        )
        .route("/v1/jobs/parse", put(parse::parse).post(parse::parse))
        .route(
            "/v1/job/{id}",
            get(jobs::read)
                .put(jobs::register_at)
                .post(jobs::register_at)
                .delete(jobs::deregister),
        )
        .route("/v1/job/{id}/plan", put(plan::plan).post(plan::plan))
        .route(
            "/v1/job/{id}/evaluate",
            put(jobs::evaluate).post(jobs::evaluate),
        )
        .route("/v1/job/{id}/allocations", get(jobs::allocations))
        .route("/v1/job/{id}/evaluations", get(jobs::evaluations))
        .route("/v1/job/{id}/versions", get(jobs::versions))
        .route("/v1/job/{id}/summary", get(jobs::summary))
        .route("/v1/job/{id}/deployment", get(deployments::latest))
        .route("/v1/job/{id}/deployments", get(deployments::list))
        .route("/v1/job/{id}/services", get(services::by_job))
        .route(
            "/v1/validate/job",
            put(validate::validate).post(validate::validate),
        )
        // Allocations.
        .route("/v1/allocations", get(allocs::list))
        .route("/v1/allocation/{id}", get(allocs::read))
        .route(
            "/v1/allocation/{id}/stop",
            put(allocs::stop).post(allocs::stop),
        )
        .route(
            "/v1/client/allocation/{id}/restart",
            put(allocs::restart).post(allocs::restart),
        )
        .route(
            "/v1/client/allocation/{id}/signal",
            put(allocs::signal).post(allocs::signal),
        )
        .route("/v1/client/allocation/{id}/stats", get(allocs::stats))
        .route("/v1/allocation/{id}/services", get(services::by_alloc))
        .route("/v1/allocation/{id}/checks", get(services::checks))
        .route("/v1/client/allocation/{id}/checks", get(services::checks))
        // The allocation file system, on the client running it.
        .route("/v1/client/fs/ls/{id}", get(fs::ls))
        .route("/v1/client/fs/stat/{id}", get(fs::stat))
        .route("/v1/client/fs/cat/{id}", get(fs::cat))
        .route("/v1/client/fs/readat/{id}", get(fs::readat))
        .route("/v1/client/fs/logs/{id}", get(logs::logs))
        // Evaluations.
        .route("/v1/evaluations", get(evals::list))
        .route("/v1/evaluation/{id}", get(evals::read))
        .route("/v1/evaluation/{id}/allocations", get(evals::allocations))
        // Nodes.
        .route("/v1/nodes", get(nodes::list))
        .route("/v1/node/{id}", get(nodes::read))
        .route("/v1/node/{id}/allocations", get(nodes::allocations))
        .route("/v1/node/{id}/drain", put(nodes::drain).post(nodes::drain))
        .route(
            "/v1/node/{id}/eligibility",
            put(nodes::eligibility).post(nodes::eligibility),
        )
        // The service catalog.
        .route("/v1/services", get(services::list))
        .route("/v1/service/", get(services::missing_name))
        .route("/v1/service/{name}", get(services::read))
        .route("/v1/service/{name}/", delete(services::missing_id))
        .route("/v1/service/{name}/{id}", delete(services::delete))
        // The agent and the cluster.
        .route("/v1/agent/self", get(agent::agent_self))
        .route("/v1/agent/members", get(agent::members))
        .route("/v1/agent/servers", get(agent::servers))
        .route("/v1/status/leader", get(agent::leader))
        .route("/v1/status/peers", get(agent::peers))
        .route("/v1/regions", get(agent::regions))
        .route(
            "/v1/operator/raft/configuration",
            get(operator::configuration),
        )
        .route("/v1/operator/raft/peer", delete(operator::remove_peer))
        .route(
            "/v1/operator/snapshot",
            get(operator::save_snapshot).put(
                operator::restore_snapshot
                    .layer(DefaultBodyLimit::max(operator::MAX_SNAPSHOT_BYTES)),
            ),
        )
        .route(
            "/v1/system/gc",
            put(agent::system_gc).post(agent::system_gc),
        )
        .fallback(unknown_route)
        .method_not_allowed_fallback(wrong_method)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(api)
}

async fn unknown_route(uri: Uri) -> ApiError {
    ApiError::NotFound(format!("no such endpoint: {}", uri.path()))
}

async fn wrong_method(method: Method, uri: Uri) -> (axum::http::StatusCode, ApiError) {
    let e = ApiError::BadRequest(format!("method {method} is not allowed on {}", uri.path()));
    (axum::http::StatusCode::METHOD_NOT_ALLOWED, e)
}
