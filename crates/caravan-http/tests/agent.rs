//! The agent and status routes.
#![allow(clippy::unwrap_used)]

mod common;

use axum::http::StatusCode;
use common::{FakeClient, TempDir, start, start_with_client};
use serde_json::json;

#[tokio::test]
async fn agent_self_has_nomads_lowercase_sections() {
    let h = start();
    let reply = h.get("/v1/agent/self").await;
    assert_eq!(reply.status, StatusCode::OK);
    let body = reply.json();
    let keys: Vec<&String> = body.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["config", "member", "stats"]);
    assert_eq!(body["config"]["Region"], "global");
    assert_eq!(body["config"]["Datacenter"], "dc1");
    assert_eq!(
        body["config"]["Version"]["Version"],
        env!("CARGO_PKG_VERSION")
    );
    assert_eq!(body["config"]["Ports"]["HTTP"], 4646);
    assert_eq!(body["member"]["Name"], "caravan.global");
    assert_eq!(body["member"]["Status"], "alive");
    assert_eq!(body["stats"]["nomad"]["leader"], "true");
    assert!(
        body["stats"].get("client").is_none(),
        "no client on a server-only agent"
    );
}

#[tokio::test]
async fn agent_self_names_the_client_node() {
    let dir = TempDir::new();
    let h = start_with_client(FakeClient::new("node-1", dir.path()));
    let body = h.get("/v1/agent/self").await.json();
    assert_eq!(body["stats"]["client"]["node_id"], "node-1");
    assert_eq!(body["config"]["Client"]["Enabled"], true);
}

#[tokio::test]
async fn members_servers_status_and_regions() {
    let h = start();
    let members = h.get("/v1/agent/members").await.json();
    assert_eq!(members["ServerRegion"], "global");
    assert_eq!(members["ServerDC"], "dc1");
    assert_eq!(members["Members"][0]["Tags"]["role"], "nomad");
    assert_eq!(members["Members"][0]["Port"], 4648);

    assert_eq!(
        h.get("/v1/agent/servers").await.json(),
        json!(["127.0.0.1:4647"])
    );
    let leader = h.get("/v1/status/leader").await;
    assert_eq!(leader.text(), "\"127.0.0.1:4647\"");
    assert_eq!(
        h.get("/v1/status/peers").await.json(),
        json!(["127.0.0.1:4647"])
    );
    assert_eq!(h.get("/v1/regions").await.json(), json!(["global"]));
}
