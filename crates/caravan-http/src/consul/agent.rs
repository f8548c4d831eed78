//! `/v1/agent/*`: this agent, its node's services and checks, and their writes;
//! `/v1/status/*`.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::Response;
use caravan_model::{HealthStatus, NodeId, ServiceProvider};
use serde_json::{Value, json};

use super::body::{self, Fields};
use super::local_node;
use super::respond::{self, check_query};
use super::shapes::{AgentService, ConsulCatalog, HealthCheck, host_of, port_of};
use crate::query::QueryOptions;
use crate::{AgentInfo, Api, ApiError};

/// The Consul version whose API this one follows, where Consul shows its own.
const CONSUL_VERSION: &str = "1.20.0";

/// This agent as a gossip member (`agent.Member`); `wan` names it `<node>.<dc>`.
fn member(api: &Api, wan: bool) -> Value {
    let agent: &AgentInfo = &api.agent;
    let name = if wan {
        format!("{}.{}", agent.name, agent.datacenter)
    } else {
        agent.name.clone()
    };
    let role = if agent.server { "consul" } else { "node" };
    let node_id = api
        .client
        .as_ref()
        .map(|c| c.node_id().0)
        .unwrap_or_default();
    json!({
        "Name": name,
        "Addr": host_of(&agent.serf_addr),
        "Port": port_of(&agent.serf_addr),
        "Tags": {
            "role": role,
            "dc": agent.datacenter,
            "id": node_id,
            "port": port_of(&agent.rpc_addr).to_string(),
            "build": format!("{CONSUL_VERSION}:caravan-{}", agent.version),
            "vsn": "2",
            "vsn_min": "2",
            "vsn_max": "3",
            "segment": "",
        },
        "Status": 1,
        "ProtocolMin": 1,
        "ProtocolMax": 5,
        "ProtocolCur": 2,
        "DelegateMin": 2,
        "DelegateMax": 5,
        "DelegateCur": 4,
    })
}

/// `GET /v1/agent/self`: `Config`, `DebugConfig`, `Coord`, `Member`, `Stats`, `Meta`
/// and `xDS`, as Consul's.
pub(super) async fn agent_self(
    State(api): State<Api>,
    q: QueryOptions,
) -> Result<Response, ApiError> {
    let agent = &api.agent;
    let node_id = api
        .client
        .as_ref()
        .map(|c| c.node_id().0)
        .unwrap_or_default();
    let snap = api.server.state().snapshot();
    let (mut services, mut checks, mut ttls) = (0, 0, 0);
    if let Some(node) = this_node(&api) {
        for reg in snap
            .services_on_node(&node)
            .filter(|r| r.provider == ServiceProvider::Consul)
        {
            services += 1;
            checks += reg.checks.len();
            ttls += reg.checks.iter().filter(|c| c.is_ttl()).count();
        }
    }
    let config = json!({
        "Datacenter": agent.datacenter,
        "PrimaryDatacenter": agent.datacenter,
        "NodeName": agent.name,
        "NodeID": node_id,
        "Revision": "",
        "Server": agent.server,
        "Version": CONSUL_VERSION,
        "BuildDate": "",
    });
    let body = json!({
        "Config": config,
        "DebugConfig": {
            "Datacenter": agent.datacenter,
            "NodeName": agent.name,
            "ServerMode": agent.server,
            "ClientAddrs": [host_of(&agent.http_addr)],
        },
        "Coord": {
            "Vec": [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
            "Error": 1.5,
            "Adjustment": 0.0,
            "Height": 1.0e-5,
        },
        "Member": member(&api, false),
        "Stats": {
            "agent": {
                "check_monitors": "0",
                "check_ttls": ttls.to_string(),
                "checks": checks.to_string(),
                "services": services.to_string(),
            },
            "consul": {
                "server": agent.server.to_string(),
                "leader": agent.server.to_string(),
                "leader_addr": api.server.leader(),
                "known_datacenters": "1",
            },
            "raft": {
                "applied_index": snap.latest_index().to_string(),
                "commit_index": snap.latest_index().to_string(),
                "state": "Leader",
            },
            "runtime": {
                "arch": std::env::consts::ARCH,
                "os": std::env::consts::OS,
                "version": format!("caravan-{}", agent.version),
            },
        },
        "Meta": { "consul-network-segment": "" },
        "xDS": null,
    });
    respond::plain_json(&body, &q)
}

/// `GET /v1/agent/members[?wan=1]`: the members this agent sees (itself, until Raft
/// clustering lands); with `wan`, only servers, named `<node>.<dc>`.
pub(super) async fn members(State(api): State<Api>, q: QueryOptions) -> Result<Response, ApiError> {
    let wan = q.flag("wan")?;
    let members: Vec<Value> = if wan && !api.agent.server {
        Vec::new()
    } else {
        vec![member(&api, wan)]
    };
    respond::plain_json(&members, &q)
}

/// The node whose services the agent endpoints show: the client node, or none.
fn this_node(api: &Api) -> Option<NodeId> {
    api.client.as_ref().map(|c| c.node_id())
}

/// `GET /v1/agent/services`: this node's services by id.
pub(super) async fn services(
    State(api): State<Api>,
    q: QueryOptions,
) -> Result<Response, ApiError> {
    let snap = api.server.state().snapshot();
    let out: BTreeMap<String, AgentService> = match this_node(&api) {
        Some(node) => snap
            .services_on_node(&node)
            .filter(|r| r.provider == ServiceProvider::Consul)
            .map(|r| (r.id.clone(), AgentService::of(r)))
            .collect(),
        None => BTreeMap::new(),
    };
    respond::plain_json(&out, &q)
}

/// `GET /v1/agent/service/:id`: one of this node's services, with a `ContentHash`.
pub(super) async fn service(
    State(api): State<Api>,
    Path(id): Path<String>,
    q: QueryOptions,
) -> Result<Response, ApiError> {
    let snap = api.server.state().snapshot();
    let reg = this_node(&api)
        .and_then(|node| {
            snap.service_registration(&id)
                .filter(|r| r.provider == ServiceProvider::Consul && r.node_id == node)
        })
        .ok_or_else(|| ApiError::NotFound(format!("unknown service ID: {id}")))?;
    let mut out = AgentService::of(reg);
    out.content_hash = Some(format!("{:016x}", reg.modify_index));
    respond::plain_json(&out, &q)
}

/// `PUT /v1/agent/service/register[?replace-existing-checks]`: registers a service
/// of this node, with its checks.
pub(super) async fn register_service(
    State(api): State<Api>,
    q: QueryOptions,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    let node = local_node(&api)?;
    let replace = q.flag("replace-existing-checks")?;
    let mut reg = body::service(&Fields::from_body(&bytes)?)?;
    reg.node_id = node;
    reg.provider = ServiceProvider::Consul;
    api.server.consul_register_service(reg, replace).await?;
    Ok(respond::ok())
}

/// `PUT /v1/agent/service/deregister/:id`.
pub(super) async fn deregister_service(
    State(api): State<Api>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let node = local_node(&api)?;
    api.server.consul_deregister_service(&node, &id).await?;
    Ok(respond::ok())
}

/// `PUT /v1/agent/service/maintenance/:id?enable=true|false[&reason=]`.
pub(super) async fn maintenance(
    State(api): State<Api>,
    Path(id): Path<String>,
    q: QueryOptions,
) -> Result<Response, ApiError> {
    let node = local_node(&api)?;
    if q.get("enable").is_none_or(str::is_empty) {
        return Err(ApiError::bad_request("Missing value for enable"));
    }
    let enable = q.flag("enable")?;
    let reason = q.get("reason").unwrap_or_default();
    api.server
        .set_service_maintenance(&node, &id, enable, reason)
        .await?;
    Ok(respond::ok())
}

/// `GET /v1/agent/checks`: this node's service checks by check id.
pub(super) async fn checks(State(api): State<Api>, q: QueryOptions) -> Result<Response, ApiError> {
    let snap = api.server.state().snapshot();
    let catalog = ConsulCatalog::new(&api.agent, &snap);
    let mut out: BTreeMap<String, HealthCheck> = BTreeMap::new();
    if let Some(node) = this_node(&api) {
        for reg in snap
            .services_on_node(&node)
            .filter(|r| r.provider == ServiceProvider::Consul)
        {
            let name = catalog.node_of(reg).node;
            for check in &reg.checks {
                let check = HealthCheck::of(&name, reg, check);
                out.insert(check.check_id.clone(), check);
            }
        }
    }
    respond::plain_json(&out, &q)
}

/// `PUT /v1/agent/check/register`: a check of one of this node's services
/// (`ServiceID`); node checks are not supported.
pub(super) async fn register_check(
    State(api): State<Api>,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    let node = local_node(&api)?;
    let def = Fields::from_body(&bytes)?;
    let service_id = def.string("ServiceID")?;
    if service_id.is_empty() {
        return Err(ApiError::bad_request(
            "node checks are not supported: give the ServiceID of the service to check",
        ));
    }
    let name = def.string("Name")?;
    let check = body::check(&def, &name, "")?;
    api.server
        .consul_register_check(&node, &service_id, check)
        .await?;
    Ok(respond::ok())
}

/// `PUT /v1/agent/check/deregister/:id`.
pub(super) async fn deregister_check(
    State(api): State<Api>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let node = local_node(&api)?;
    api.server.consul_deregister_check(&node, &id).await?;
    Ok(respond::ok())
}

async fn set_check(
    api: &Api,
    id: &str,
    status: HealthStatus,
    output: String,
) -> Result<Response, ApiError> {
    let node = local_node(api)?;
    api.server.update_check(&node, id, status, output).await?;
    Ok(respond::ok())
}

/// `PUT /v1/agent/check/pass/:id[?note=]`: a TTL check passes, its TTL restarting.
pub(super) async fn pass(
    State(api): State<Api>,
    Path(id): Path<String>,
    q: QueryOptions,
) -> Result<Response, ApiError> {
    let note = q.get("note").unwrap_or_default().to_owned();
    set_check(&api, &id, HealthStatus::Passing, note).await
}

/// `PUT /v1/agent/check/warn/:id[?note=]`.
pub(super) async fn warn(
    State(api): State<Api>,
    Path(id): Path<String>,
    q: QueryOptions,
) -> Result<Response, ApiError> {
    let note = q.get("note").unwrap_or_default().to_owned();
    set_check(&api, &id, HealthStatus::Warning, note).await
}

/// `PUT /v1/agent/check/fail/:id[?note=]`.
pub(super) async fn fail(
    State(api): State<Api>,
    Path(id): Path<String>,
    q: QueryOptions,
) -> Result<Response, ApiError> {
    let note = q.get("note").unwrap_or_default().to_owned();
    set_check(&api, &id, HealthStatus::Critical, note).await
}

/// `PUT /v1/agent/check/update/:id` with `{"Status": ..., "Output": ...}`.
pub(super) async fn update(
    State(api): State<Api>,
    Path(id): Path<String>,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    let def = Fields::from_body(&bytes)?;
    let status = def
        .string("Status")?
        .parse::<HealthStatus>()
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    set_check(&api, &id, status, def.string("Output")?).await
}

/// `GET /v1/status/leader`: the leader's address as a JSON string.
pub(super) async fn leader(State(api): State<Api>, q: QueryOptions) -> Result<Response, ApiError> {
    check_query(&api, &q)?;
    respond::plain_json(&api.server.leader(), &q)
}

/// `GET /v1/status/peers`: the Raft peers' addresses.
pub(super) async fn peers(State(api): State<Api>, q: QueryOptions) -> Result<Response, ApiError> {
    check_query(&api, &q)?;
    respond::plain_json(&api.server.peers(), &q)
}
