//! This agent and the cluster it sees: `/v1/agent/self`, `/v1/agent/members`,
//! `/v1/agent/servers`, `/v1/status/leader`, `/v1/status/peers`, `/v1/regions`.

use axum::extract::State;
use axum::response::Response;
use serde_json::{Value, json};

use crate::blocking;
use crate::query::QueryOptions;
use crate::{AgentInfo, Api, ApiError};

/// Gossip protocol versions Nomad reports for a member; clients only display them.
const PROTOCOL: (u8, u8, u8) = (1, 5, 2);
const DELEGATE: (u8, u8, u8) = (2, 5, 4);

fn port_of(addr: &str) -> u16 {
    addr.rsplit_once(':')
        .and_then(|(_, p)| p.parse().ok())
        .unwrap_or(0)
}

fn host_of(addr: &str) -> &str {
    addr.rsplit_once(':').map_or(addr, |(h, _)| h)
}

/// This agent as a cluster member (Nomad's `agent.Member`).
fn member(agent: &AgentInfo) -> Value {
    json!({
        "Name": format!("{}.{}", agent.name, agent.region),
        "Addr": host_of(&agent.serf_addr),
        "Port": port_of(&agent.serf_addr),
        "Tags": {
            "role": "nomad",
            "region": agent.region,
            "dc": agent.datacenter,
            "build": agent.version,
            "port": port_of(&agent.rpc_addr).to_string(),
            "bootstrap": "1",
            "expect": "1",
            "rpc_addr": host_of(&agent.rpc_addr),
            "vsn": "1",
            "mvn": "1",
        },
        "Status": "alive",
        "ProtocolMin": PROTOCOL.0,
        "ProtocolMax": PROTOCOL.1,
        "ProtocolCur": PROTOCOL.2,
        "DelegateMin": DELEGATE.0,
        "DelegateMax": DELEGATE.1,
        "DelegateCur": DELEGATE.2,
    })
}

/// `GET /v1/agent/self`: lowercase top-level keys, as Nomad (`config`, `member`, `stats`);
/// stats values are strings.
pub(crate) async fn agent_self(
    State(api): State<Api>,
    q: QueryOptions,
) -> Result<Response, ApiError> {
    let agent = &api.agent;
    let server = &api.server;
    let (broker, blocked) = server.queue_depths();
    let snap = server.state().snapshot();
    let mut stats = json!({
        "nomad": {
            "server": agent.server.to_string(),
            "leader": (server.leader() == agent.rpc_addr).to_string(),
            "leader_addr": server.leader(),
            "bootstrap": "true",
            "known_regions": "1",
            "broker_ready": broker.to_string(),
            "blocked_evals": blocked.to_string(),
        },
        "raft": {
            "applied_index": snap.latest_index().to_string(),
            "commit_index": snap.latest_index().to_string(),
            "num_peers": server.peers().len().saturating_sub(1).to_string(),
            "state": "Leader",
        },
        "runtime": {
            "arch": std::env::consts::ARCH,
            "os": std::env::consts::OS,
            "version": agent.version,
        },
    });
    if let Some(client) = &api.client {
        stats["client"] = json!({
            "node_id": client.node_id().as_str(),
            "known_servers": agent.rpc_addr,
            "num_allocations": snap.allocs_by_node(&client.node_id()).count().to_string(),
        });
    }
    let body = json!({
        "config": {
            "Region": agent.region,
            "Datacenter": agent.datacenter,
            "NodeName": agent.name,
            "Version": {
                "Version": agent.version,
                "Revision": "",
                "VersionPrerelease": "",
                "VersionMetadata": "",
            },
            "Addresses": {
                "HTTP": host_of(&agent.http_addr),
                "RPC": host_of(&agent.rpc_addr),
                "Serf": host_of(&agent.serf_addr),
            },
            "AdvertiseAddrs": {
                "HTTP": agent.http_addr,
                "RPC": agent.rpc_addr,
                "Serf": agent.serf_addr,
            },
            "Ports": {
                "HTTP": port_of(&agent.http_addr),
                "RPC": port_of(&agent.rpc_addr),
                "Serf": port_of(&agent.serf_addr),
            },
            "Client": { "Enabled": agent.client || api.client.is_some() },
            "Server": { "Enabled": agent.server },
        },
        "member": member(agent),
        "stats": stats,
    });
    blocking::json(&api, snap.latest_index(), &body, &q)
}

/// `GET /v1/agent/members`: the servers of the cluster (this one, until Raft lands).
pub(crate) async fn members(State(api): State<Api>, q: QueryOptions) -> Result<Response, ApiError> {
    let agent = &api.agent;
    let body = json!({
        "ServerName": agent.name,
        "ServerRegion": agent.region,
        "ServerDC": agent.datacenter,
        "Members": [member(agent)],
    });
    blocking::json(&api, 0, &body, &q)
}

/// `GET /v1/agent/servers`: the RPC addresses of the known servers.
pub(crate) async fn servers(State(api): State<Api>, q: QueryOptions) -> Result<Response, ApiError> {
    blocking::json(&api, 0, &api.server.peers(), &q)
}

/// `GET /v1/status/leader`: the leader's RPC address as a JSON string.
pub(crate) async fn leader(State(api): State<Api>, q: QueryOptions) -> Result<Response, ApiError> {
    blocking::json(&api, 0, &api.server.leader(), &q)
}

/// `GET /v1/status/peers`: the RPC addresses of the Raft peers.
pub(crate) async fn peers(State(api): State<Api>, q: QueryOptions) -> Result<Response, ApiError> {
    blocking::json(&api, 0, &api.server.peers(), &q)
}

/// `GET /v1/regions`.
pub(crate) async fn regions(State(api): State<Api>, q: QueryOptions) -> Result<Response, ApiError> {
    blocking::json(&api, 0, &[&api.server.config().region], &q)
}

/// `PUT /v1/system/gc`: collects every finished evaluation and its stopped
/// allocations now, whatever their age.
pub(crate) async fn system_gc(State(api): State<Api>) -> Result<Response, ApiError> {
    api.server
        .collect_garbage(std::time::Duration::ZERO)
        .await?;
    Ok(axum::response::IntoResponse::into_response(
        axum::http::StatusCode::OK,
    ))
}
