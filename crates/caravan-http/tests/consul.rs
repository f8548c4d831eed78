//! Consul's HTTP API, driven with `oneshot`: the agent (services, checks, TTL checks
//! and their expiry, maintenance), the catalog, health, status and KV endpoints, and
//! blocking queries with `X-Consul-Index`. The agent's node is a registered client
//! node, "node-n1", as in a dev agent.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use caravan_http::{AgentInfo, Api, consul_router, router};
use caravan_model::{AllocId, CheckStatus, HealthStatus, ServiceProvider, ServiceRegistration};
use caravan_state::Table;
use common::{FakeClient, Harness, Reply, TempDir, job, new_server, raw_exec_node};
use serde_json::{Value, json};

const SECOND: i64 = 1_000_000_000;

/// A started server with node "n1" (named "node-n1"), its Consul API (`consul`) and
/// its Nomad API (`nomad`), the agent being that node's.
struct Consul {
    consul: Harness,
    nomad: Harness,
    _dir: TempDir,
}

async fn start() -> Consul {
    let server = new_server();
    server.start();
    server.register_node(raw_exec_node("n1")).await.unwrap();
    let dir = TempDir::new();
    let agent = AgentInfo {
        name: "node-n1".into(),
        client: true,
        ..AgentInfo::default()
    };
    let api = Api::new(server.clone(), agent).with_client(FakeClient::new("n1", dir.path()));
    Consul {
        consul: Harness {
            server: server.clone(),
            router: consul_router(api.clone()),
        },
        nomad: Harness {
            server,
            router: router(api),
        },
        _dir: dir,
    }
}

impl Consul {
    async fn get(&self, uri: &str) -> Reply {
        self.consul.get(uri).await
    }

    /// GET that must answer 200 with JSON.
    async fn json(&self, uri: &str) -> Value {
        let reply = self.get(uri).await;
        assert_eq!(reply.status, StatusCode::OK, "GET {uri}: {}", reply.text());
        reply.json()
    }

    async fn put(&self, uri: &str, body: Value) -> Reply {
        self.consul.call("PUT", uri, Some(body)).await
    }

    /// PUT that must answer 200.
    async fn put_ok(&self, uri: &str, body: Option<Value>) -> Reply {
        let reply = self.consul.call("PUT", uri, body).await;
        assert_eq!(reply.status, StatusCode::OK, "PUT {uri}: {}", reply.text());
        reply
    }

    async fn register(&self, service: Value) {
        self.put_ok("/v1/agent/service/register", Some(service))
            .await;
    }

    /// The service ids `/v1/health/service/<query>` answers.
    async fn healthy_ids(&self, query: &str) -> Vec<String> {
        self.json(&format!("/v1/health/service/{query}"))
            .await
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["Service"]["ID"].as_str().unwrap().to_owned())
            .collect()
    }

    /// The status and output of one check of an entry of `/v1/health/service/:svc`.
    async fn check(&self, service: &str, check_id: &str) -> (String, String) {
        let entries = self.json(&format!("/v1/health/service/{service}")).await;
        for entry in entries.as_array().unwrap() {
            for check in entry["Checks"].as_array().unwrap() {
                if check["CheckID"] == check_id {
                    return (
                        check["Status"].as_str().unwrap().to_owned(),
                        check["Output"].as_str().unwrap().to_owned(),
                    );
                }
            }
        }
        panic!("no check {check_id} in {entries}");
    }
}

/// `X-Consul-Index`.
fn consul_index(reply: &Reply) -> u64 {
    reply
        .headers
        .get("x-consul-index")
        .expect("X-Consul-Index header")
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

#[tokio::test]
async fn a_fresh_agent_shows_itself_the_consul_service_and_serf_health() {
    let h = start().await;

    let this = h.json("/v1/agent/self").await;
    let mut keys: Vec<&str> = this
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "Config",
            "Coord",
            "DebugConfig",
            "Member",
            "Meta",
            "Stats",
            "xDS"
        ]
    );
    assert_eq!(this["Config"]["NodeName"], "node-n1");
    assert_eq!(this["Config"]["Datacenter"], "dc1");
    assert!(this["Config"]["Version"].is_string());
    let members = h.json("/v1/agent/members").await;
    assert_eq!(members[0]["Status"], 1);
    assert_eq!(members[0]["Name"], "node-n1");
    let wan = h.json("/v1/agent/members?wan=1").await;
    assert!(wan[0]["Name"].as_str().unwrap().contains("dc1"), "{wan}");

    assert_eq!(h.json("/v1/catalog/datacenters").await, json!(["dc1"]));
    let services = h.get("/v1/catalog/services").await;
    assert_eq!(services.json(), json!({"consul": []}));
    assert!(services.headers.contains_key("x-consul-knownleader"));
    assert!(services.headers.contains_key("x-consul-lastcontact"));
    assert!(consul_index(&services) >= 1);

    let nodes = h.json("/v1/catalog/nodes").await;
    assert_eq!(nodes.as_array().unwrap().len(), 1);
    assert_eq!(
        (
            &nodes[0]["Node"],
            &nodes[0]["Address"],
            &nodes[0]["Datacenter"]
        ),
        (&json!("node-n1"), &json!("127.0.0.1"), &json!("dc1"))
    );
    assert_eq!(nodes[0]["ID"], "n1");

    let consul = h.json("/v1/health/service/consul").await;
    assert_eq!(consul.as_array().unwrap().len(), 1);
    assert_eq!(consul[0]["Node"]["Node"], "node-n1");
    assert_eq!(consul[0]["Service"]["Service"], "consul");
    assert_eq!(consul[0]["Checks"][0]["CheckID"], "serfHealth");
    assert_eq!(consul[0]["Checks"][0]["Status"], "passing");
    let node_checks = h.json("/v1/health/node/node-n1").await;
    assert_eq!(node_checks.as_array().unwrap().len(), 1);
    assert_eq!(node_checks[0]["CheckID"], "serfHealth");
    assert_eq!(
        h.json("/v1/health/state/passing").await[0]["CheckID"],
        "serfHealth"
    );
    assert_eq!(h.json("/v1/health/state/critical").await, json!([]));
    assert_eq!(
        h.json("/v1/catalog/node/node-n1").await["Services"]["consul"]["Service"],
        "consul"
    );

    assert_eq!(h.json("/v1/status/leader").await, json!("127.0.0.1:4647"));
    assert_eq!(h.json("/v1/status/peers").await, json!(["127.0.0.1:4647"]));
    assert_eq!(h.json("/v1/agent/services").await, json!({}));
    assert_eq!(h.json("/v1/agent/checks").await, json!({}));
}

#[tokio::test]
async fn a_service_registered_with_the_agent_is_in_the_catalog_and_health() {
    let h = start().await;
    h.register(json!({
        "Name": "redis", "ID": "redis-1", "Tags": ["primary", "v7"], "Address": "10.0.0.7",
        "Port": 6379, "Meta": {"version": "7"}, "EnableTagOverride": true,
        "Weights": {"Passing": 10, "Warning": 1},
    }))
    .await;
    h.register(json!({"name": "redis", "id": "redis-2", "port": 6380, "tags": ["replica"]}))
        .await;

    // The agent's own view.
    let services = h.json("/v1/agent/services").await;
    assert_eq!(services["redis-1"]["Service"], "redis");
    assert_eq!(services["redis-1"]["Port"], 6379);
    assert_eq!(
        services["redis-1"]["Weights"],
        json!({"Passing": 10, "Warning": 1})
    );
    assert_eq!(services["redis-1"]["EnableTagOverride"], true);
    assert_eq!(
        services["redis-2"]["Weights"],
        json!({"Passing": 1, "Warning": 1})
    );
    let one = h.json("/v1/agent/service/redis-1").await;
    assert_eq!(one["Meta"], json!({"version": "7"}));
    assert!(one["ContentHash"].is_string());
    assert_eq!(
        h.get("/v1/agent/service/nope").await.status,
        StatusCode::NOT_FOUND
    );

    // The catalog.
    assert_eq!(
        h.json("/v1/catalog/services").await,
        json!({"consul": [], "redis": ["primary", "replica", "v7"]})
    );
    let instances = h.json("/v1/catalog/service/redis").await;
    assert_eq!(instances.as_array().unwrap().len(), 2);
    assert_eq!(instances[0]["ServiceID"], "redis-1");
    assert_eq!(instances[0]["Node"], "node-n1");
    assert_eq!(instances[0]["Address"], "127.0.0.1");
    assert_eq!(instances[0]["ServiceAddress"], "10.0.0.7");
    assert_eq!(instances[0]["ServicePort"], 6379);
    let replicas = h.json("/v1/catalog/service/redis?tag=replica").await;
    assert_eq!(replicas.as_array().unwrap().len(), 1);
    assert_eq!(replicas[0]["ServiceID"], "redis-2");
    assert_eq!(h.json("/v1/catalog/service/nope").await, json!([]));
    let node = h.json("/v1/catalog/node/node-n1").await;
    assert_eq!(node["Node"]["Node"], "node-n1");
    let mut on_node: Vec<&str> = node["Services"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    on_node.sort_unstable();
    assert_eq!(on_node, ["consul", "redis-1", "redis-2"]);
    assert_eq!(h.json("/v1/catalog/node/nope").await, Value::Null);

    // Health: no checks, so both pass; sorted by service id.
    assert_eq!(h.healthy_ids("redis?passing").await, ["redis-1", "redis-2"]);
    assert_eq!(h.healthy_ids("redis?tag=primary").await, ["redis-1"]);
    let entry = &h.json("/v1/health/service/redis").await[0];
    assert_eq!(entry["Node"]["Datacenter"], "dc1");
    assert_eq!(entry["Service"]["Tags"], json!(["primary", "v7"]));
    assert_eq!(entry["Checks"][0]["CheckID"], "serfHealth");
    assert_eq!(h.json("/v1/health/service/nope").await, json!([]));

    // Nomad's side sees it too, as a Consul-provider instance.
    let nomad = h
        .nomad
        .get("/v1/service/redis?provider=consul")
        .await
        .json();
    assert_eq!(nomad.as_array().unwrap().len(), 2);
    assert_eq!(nomad[0]["ID"], "redis-1");
    assert_eq!(nomad[0]["NodeID"], "n1");
    assert_eq!(h.nomad.get("/v1/service/redis").await.json(), json!([]));

    // Deregistered, it is gone everywhere.
    h.put_ok("/v1/agent/service/deregister/redis-2", None).await;
    assert_eq!(h.healthy_ids("redis").await, ["redis-1"]);
    assert_eq!(
        h.json("/v1/catalog/services").await,
        json!({"consul": [], "redis": ["primary", "v7"]})
    );
    let again = h
        .consul
        .call("PUT", "/v1/agent/service/deregister/redis-2", None)
        .await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn registrations_are_validated() {
    let h = start().await;
    for bad in [
        json!({"Port": 80}),
        json!({"Name": "web", "ID": "_nomad-task-x"}),
        json!({"Name": "web", "Check": {"Args": ["/bin/true"], "Interval": "10s"}}),
        json!({"Name": "web", "Check": {"HTTP": "http://127.0.0.1/"}}),
        json!({"Name": "web", "Kind": "connect-proxy"}),
        json!({"Name": "web", "Port": "eighty"}),
    ] {
        let reply = h.put("/v1/agent/service/register", bad.clone()).await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{bad}: {}",
            reply.text()
        );
    }
    let reply = h
        .consul
        .call_raw("PUT", "/v1/agent/service/register", b"{".to_vec())
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(h.json("/v1/agent/services").await, json!({}));
    // Writes take PUT.
    let reply = h
        .consul
        .call(
            "POST",
            "/v1/agent/service/register",
            Some(json!({"Name": "web"})),
        )
        .await;
    assert_eq!(reply.status, StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn ttl_checks_start_critical_pass_and_expire() {
    let h = start().await;
    h.register(json!({
        "Name": "web", "ID": "web-1", "Port": 8080,
        "Check": {"TTL": "10s", "Notes": "the app reports in"},
    }))
    .await;
    h.register(json!({"Name": "web", "ID": "web-2", "Port": 8081}))
        .await;

    // Critical from the start: ?passing leaves it out.
    assert_eq!(
        h.check("web", "service:web-1").await,
        ("critical".to_owned(), String::new())
    );
    assert_eq!(h.healthy_ids("web?passing").await, ["web-2"]);
    assert_eq!(h.healthy_ids("web").await, ["web-1", "web-2"]);
    let checks = h.json("/v1/agent/checks").await;
    assert_eq!(checks["service:web-1"]["Type"], "ttl");
    assert_eq!(checks["service:web-1"]["ServiceID"], "web-1");
    assert_eq!(checks["service:web-1"]["Notes"], "the app reports in");
    let critical = h.json("/v1/health/state/critical").await;
    assert_eq!(critical[0]["CheckID"], "service:web-1");

    // Passing, it is included.
    h.put_ok("/v1/agent/check/pass/service:web-1?note=all%20good", None)
        .await;
    assert_eq!(
        h.check("web", "service:web-1").await,
        ("passing".to_owned(), "all good".to_owned())
    );
    assert_eq!(h.healthy_ids("web?passing").await, ["web-1", "web-2"]);
    let checks = h.json("/v1/health/checks/web").await;
    assert_eq!(checks.as_array().unwrap().len(), 1);
    assert_eq!(checks[0]["Status"], "passing");

    // Warning is not passing.
    h.put_ok("/v1/agent/check/warn/service:web-1", None).await;
    assert_eq!(h.healthy_ids("web?passing").await, ["web-2"]);
    assert_eq!(
        h.json("/v1/health/state/warning").await[0]["CheckID"],
        "service:web-1"
    );
    h.put_ok(
        "/v1/agent/check/update/service:web-1",
        Some(json!({"Status": "passing", "Output": "fine"})),
    )
    .await;
    assert_eq!(h.healthy_ids("web?passing").await, ["web-1", "web-2"]);

    // Expiry is decided with the time passed in: not yet, then past the TTL.
    let now = h.consul.server.now();
    assert_eq!(h.consul.server.expire_ttl_checks(now).await.unwrap(), 0);
    let expired = h
        .consul
        .server
        .expire_ttl_checks(now + 11 * SECOND)
        .await
        .unwrap();
    assert_eq!(expired, 1);
    let (status, output) = h.check("web", "service:web-1").await;
    assert_eq!(status, "critical");
    assert!(output.starts_with("TTL expired"), "{output}");
    assert_eq!(h.healthy_ids("web?passing").await, ["web-2"]);

    // Fail, and unknown or non-TTL checks.
    h.put_ok("/v1/agent/check/pass/service:web-1", None).await;
    h.put_ok("/v1/agent/check/fail/service:web-1?note=down", None)
        .await;
    assert_eq!(
        h.check("web", "service:web-1").await,
        ("critical".to_owned(), "down".to_owned())
    );
    let reply = h
        .consul
        .call("PUT", "/v1/agent/check/pass/nope", None)
        .await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND, "{}", reply.text());
}

#[tokio::test]
async fn an_expired_ttl_check_turns_critical_on_the_servers_timer() {
    // Why: the timer, not a caller, must find expired checks (TTL 1s, real clock).
    let h = start().await;
    h.register(json!({"Name": "web", "ID": "web-1", "Check": {"TTL": "1s", "Status": "passing"}}))
        .await;
    assert_eq!(h.healthy_ids("web?passing").await, ["web-1"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !h.healthy_ids("web?passing").await.is_empty() {
        assert!(Instant::now() < deadline, "the TTL check never expired");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(h.check("web", "service:web-1").await.0, "critical");
}

#[tokio::test]
async fn http_and_tcp_checks_are_stored_and_start_critical() {
    let h = start().await;
    h.register(json!({
        "Name": "api", "ID": "api-1", "Port": 9000,
        "Checks": [
            {"Name": "alive", "HTTP": "http://127.0.0.1:9000/health", "Method": "HEAD",
             "Interval": "5s", "Timeout": "1s"},
            {"TCP": "127.0.0.1:9000", "Interval": "10s"},
        ],
    }))
    .await;
    let checks = h.json("/v1/health/checks/api").await;
    let checks = checks.as_array().unwrap();
    assert_eq!(checks.len(), 2);
    assert_eq!(checks[0]["CheckID"], "service:api-1:1");
    assert_eq!(checks[0]["Name"], "alive");
    assert_eq!(checks[0]["Type"], "http");
    assert_eq!(checks[0]["Status"], "critical");
    assert_eq!(checks[0]["Interval"], "5s");
    assert_eq!(
        checks[0]["Definition"]["HTTP"],
        "http://127.0.0.1:9000/health"
    );
    assert_eq!(checks[0]["Definition"]["Method"], "HEAD");
    assert_eq!(checks[1]["CheckID"], "service:api-1:2");
    assert_eq!(checks[1]["Name"], "Service 'api' check");
    assert_eq!(checks[1]["Definition"]["TCP"], "127.0.0.1:9000");
    // Only TTL checks take pass, warn and fail.
    let reply = h
        .consul
        .call("PUT", "/v1/agent/check/pass/service:api-1:1", None)
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.text());
    assert_eq!(h.healthy_ids("api?passing").await, Vec::<String>::new());
}

#[tokio::test]
async fn check_register_deregister_and_replace_existing_checks() {
    let h = start().await;
    h.register(json!({"Name": "web", "ID": "web-1", "Check": {"TTL": "30s"}}))
        .await;
    h.put_ok(
        "/v1/agent/check/register",
        Some(json!({"Name": "ready", "ServiceID": "web-1", "TTL": "30s", "Status": "passing"})),
    )
    .await;
    let checks = h.json("/v1/agent/checks").await;
    assert_eq!(
        checks["ready"]["Status"], "passing",
        "CheckID defaults to the name"
    );
    h.put_ok("/v1/agent/check/pass/service:web-1", None).await;

    // Re-registering keeps the state of a check of the same id, and the other checks.
    h.register(json!({"Name": "web", "ID": "web-1", "Check": {"TTL": "30s"}}))
        .await;
    let checks = h.json("/v1/agent/checks").await;
    assert_eq!(checks["service:web-1"]["Status"], "passing");
    assert!(checks.get("ready").is_some());
    // With ?replace-existing-checks the others go.
    h.put_ok(
        "/v1/agent/service/register?replace-existing-checks",
        Some(json!({"Name": "web", "ID": "web-1", "Check": {"TTL": "30s"}})),
    )
    .await;
    let checks = h.json("/v1/agent/checks").await;
    assert!(checks.get("ready").is_none(), "{checks}");

    h.put_ok("/v1/agent/check/deregister/service:web-1", None)
        .await;
    assert_eq!(h.json("/v1/agent/checks").await, json!({}));
    let reply = h
        .consul
        .call("PUT", "/v1/agent/check/deregister/service:web-1", None)
        .await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    // Node checks do not exist here.
    let reply = h
        .put(
            "/v1/agent/check/register",
            json!({"Name": "disk", "TTL": "10s"}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    let reply = h
        .put(
            "/v1/agent/check/register",
            json!({"Name": "x", "ServiceID": "nope", "TTL": "10s"}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn maintenance_adds_a_critical_check_until_disabled() {
    let h = start().await;
    h.register(json!({"Name": "web", "ID": "web-1"})).await;
    assert_eq!(h.healthy_ids("web?passing").await, ["web-1"]);

    h.put_ok(
        "/v1/agent/service/maintenance/web-1?enable=true&reason=upgrading",
        None,
    )
    .await;
    let checks = h.json("/v1/health/checks/web").await;
    assert_eq!(checks[0]["CheckID"], "_service_maintenance:web-1");
    assert_eq!(checks[0]["Status"], "critical");
    assert_eq!(checks[0]["Notes"], "upgrading");
    assert_eq!(checks[0]["Type"], "maintenance");
    assert!(h.healthy_ids("web?passing").await.is_empty());
    // Enabling again changes nothing; re-registering keeps it.
    h.put_ok("/v1/agent/service/maintenance/web-1?enable=true", None)
        .await;
    h.register(json!({"Name": "web", "ID": "web-1"})).await;
    assert!(h.healthy_ids("web?passing").await.is_empty());

    h.put_ok("/v1/agent/service/maintenance/web-1?enable=false", None)
        .await;
    assert_eq!(h.json("/v1/health/checks/web").await, json!([]));
    assert_eq!(h.healthy_ids("web?passing").await, ["web-1"]);

    let reply = h
        .consul
        .call("PUT", "/v1/agent/service/maintenance/web-1", None)
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    let reply = h
        .consul
        .call(
            "PUT",
            "/v1/agent/service/maintenance/nope?enable=true",
            None,
        )
        .await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn catalog_register_and_deregister_on_caravans_nodes() {
    let h = start().await;
    let reply = h
        .put_ok(
            "/v1/catalog/register",
            Some(json!({
                "Node": "node-n1", "Address": "127.0.0.1",
                "Service": {"Service": "db", "ID": "db-1", "Port": 5432, "Tags": ["pg"]},
                "Check": {"CheckID": "db-alive", "Name": "alive", "ServiceID": "db-1",
                          "Status": "passing"},
            })),
        )
        .await;
    assert_eq!(reply.json(), json!(true));
    let entry = &h.json("/v1/health/service/db?passing").await[0];
    assert_eq!(entry["Service"]["Port"], 5432);
    assert_eq!(entry["Checks"][1]["CheckID"], "db-alive");

    // External nodes do not exist here; nor do node checks.
    let reply = h
        .put(
            "/v1/catalog/register",
            json!({"Node": "elsewhere", "Service": {"Service": "db"}}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    let reply = h
        .put(
            "/v1/catalog/register",
            json!({"Node": "node-n1", "Check": {"CheckID": "disk", "Name": "disk"}}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);

    let reply = h
        .put_ok(
            "/v1/catalog/deregister",
            Some(json!({"Node": "node-n1", "CheckID": "db-alive"})),
        )
        .await;
    assert_eq!(reply.json(), json!(true));
    assert_eq!(h.json("/v1/health/checks/db").await, json!([]));
    h.put_ok(
        "/v1/catalog/deregister",
        Some(json!({"Node": "node-n1", "ServiceID": "db-1"})),
    )
    .await;
    assert_eq!(h.json("/v1/catalog/service/db").await, json!([]));
    let reply = h
        .put("/v1/catalog/deregister", json!({"Node": "node-n1"}))
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_jobs_consul_services_appear_with_their_checks() {
    let h = start().await;
    let allocs = h.nomad.place(job("web", 1), 1).await;
    let alloc_id = AllocId::from(allocs[0]["ID"].as_str().unwrap());
    let mut reg = ServiceRegistration {
        id: ServiceRegistration::task_service_id(&alloc_id, "server", "web", "http"),
        service_name: "web".into(),
        alloc_id,
        address: "127.0.0.1".into(),
        port: 25000,
        tags: vec!["http".into()],
        provider: ServiceProvider::Consul,
        health: HealthStatus::Critical,
        checks: vec![CheckStatus {
            name: "alive".into(),
            check_type: "http".into(),
            status: HealthStatus::Critical,
            output: "HTTP 500".into(),
            timestamp: 1,
            ..CheckStatus::default()
        }],
        ..ServiceRegistration::default()
    };
    h.consul
        .server
        .upsert_services(vec![reg.clone()])
        .await
        .unwrap();
    let check_id = format!("_nomad-check-{}", reg.check_id("alive"));

    assert_eq!(
        h.json("/v1/catalog/services").await,
        json!({"consul": [], "web": ["http"]})
    );
    let entries = h.json("/v1/health/service/web").await;
    assert_eq!(entries[0]["Service"]["ID"], reg.id.as_str());
    assert_eq!(entries[0]["Service"]["Port"], 25000);
    assert_eq!(entries[0]["Checks"][1]["CheckID"], check_id.as_str());
    assert_eq!(entries[0]["Checks"][1]["Output"], "HTTP 500");
    assert!(h.healthy_ids("web?passing").await.is_empty());
    assert!(h.json("/v1/agent/services").await.get(&reg.id).is_some());

    // The client reports recovery: the instance passes.
    reg.health = HealthStatus::Passing;
    reg.checks[0].status = HealthStatus::Passing;
    h.consul
        .server
        .upsert_services(vec![reg.clone()])
        .await
        .unwrap();
    assert_eq!(h.healthy_ids("web?passing").await, [reg.id.clone()]);
    // Maintenance works on a job's service too.
    h.put_ok(
        &format!("/v1/agent/service/maintenance/{}?enable=true", reg.id),
        None,
    )
    .await;
    assert!(h.healthy_ids("web?passing").await.is_empty());
}

#[tokio::test]
async fn kv_put_get_and_delete() {
    let h = start().await;
    assert_eq!(
        h.get("/v1/kv/app/config").await.status,
        StatusCode::NOT_FOUND
    );

    let reply = h
        .consul
        .call_raw("PUT", "/v1/kv/app/config?flags=42", b"hello".to_vec())
        .await;
    assert_eq!(reply.json(), json!(true));
    let reply = h.get("/v1/kv/app/config").await;
    assert_eq!(reply.status, StatusCode::OK);
    let pairs = reply.json();
    assert_eq!(pairs[0]["Key"], "app/config");
    assert_eq!(pairs[0]["Value"], "aGVsbG8=");
    assert_eq!(pairs[0]["Flags"], 42);
    assert_eq!(pairs[0]["LockIndex"], 0);
    let index = pairs[0]["ModifyIndex"].as_u64().unwrap();
    assert_eq!(pairs[0]["CreateIndex"].as_u64().unwrap(), index);
    assert_eq!(consul_index(&reply), index);
    let raw = h.get("/v1/kv/app/config?raw").await;
    assert_eq!(&raw.body[..], b"hello");

    // An empty value reads as null.
    h.consul
        .call_raw("PUT", "/v1/kv/app/empty", Vec::new())
        .await;
    assert_eq!(h.json("/v1/kv/app/empty").await[0]["Value"], Value::Null);

    // Recurse and keys.
    for key in ["app/db/host", "app/db/port", "other"] {
        h.consul
            .call_raw("PUT", &format!("/v1/kv/{key}"), b"v".to_vec())
            .await;
    }
    let all = h.json("/v1/kv/app?recurse").await;
    let keys: Vec<&str> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["Key"].as_str().unwrap())
        .collect();
    assert_eq!(
        keys,
        ["app/config", "app/db/host", "app/db/port", "app/empty"]
    );
    assert_eq!(
        h.json("/v1/kv/app/?keys&separator=/").await,
        json!(["app/config", "app/db/", "app/empty"])
    );
    assert_eq!(h.json("/v1/kv/?keys").await.as_array().unwrap().len(), 5);
    assert_eq!(
        h.json("/v1/kv/?keys&separator=/").await,
        json!(["app/", "other"])
    );
    assert_eq!(
        h.get("/v1/kv/nope?recurse").await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        h.get("/v1/kv/nope?keys").await.status,
        StatusCode::NOT_FOUND
    );

    // Delete one, then a tree.
    let reply = h.consul.call("DELETE", "/v1/kv/other", None).await;
    assert_eq!(reply.json(), json!(true));
    assert_eq!(h.get("/v1/kv/other").await.status, StatusCode::NOT_FOUND);
    h.consul.call("DELETE", "/v1/kv/app/db?recurse", None).await;
    assert_eq!(
        h.json("/v1/kv/?keys").await,
        json!(["app/config", "app/empty"])
    );
    // Bad requests.
    let reply = h.consul.call_raw("PUT", "/v1/kv/", b"x".to_vec()).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    let reply = h
        .consul
        .call_raw("PUT", "/v1/kv/x?acquire=s1", b"x".to_vec())
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    let reply = h
        .consul
        .call_raw("PUT", "/v1/kv/big", vec![b'x'; 512 * 1024 + 1])
        .await;
    assert_eq!(reply.status, StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn kv_check_and_set() {
    let h = start().await;
    let put = |uri: String, value: &'static str| {
        let consul = &h.consul;
        async move {
            let reply = consul
                .call_raw("PUT", &uri, value.as_bytes().to_vec())
                .await;
            assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
            reply.json()
        }
    };
    let raw = |key: &'static str| {
        let consul = &h.consul;
        async move { consul.get(&format!("/v1/kv/{key}?raw")).await.text() }
    };
    // cas=0 creates only when absent.
    assert_eq!(put("/v1/kv/lock?cas=0".into(), "a").await, json!(true));
    assert_eq!(put("/v1/kv/lock?cas=0".into(), "b").await, json!(false));
    assert_eq!(raw("lock").await, "a");
    let index = h.json("/v1/kv/lock").await[0]["ModifyIndex"]
        .as_u64()
        .unwrap();
    // A wrong index is refused; the right one applies, once.
    assert_eq!(
        put(format!("/v1/kv/lock?cas={}", index + 100), "c").await,
        json!(false)
    );
    assert_eq!(raw("lock").await, "a");
    assert_eq!(
        put(format!("/v1/kv/lock?cas={index}"), "d").await,
        json!(true)
    );
    assert_eq!(raw("lock").await, "d");
    assert_eq!(
        put(format!("/v1/kv/lock?cas={index}"), "e").await,
        json!(false)
    );
    let entry = h.json("/v1/kv/lock").await;
    let new_index = entry[0]["ModifyIndex"].as_u64().unwrap();
    assert!(new_index > index);
    assert_eq!(entry[0]["CreateIndex"].as_u64().unwrap(), index);
    // A cas on a key that does not exist is refused.
    assert_eq!(put("/v1/kv/absent?cas=5".into(), "x").await, json!(false));
    assert_eq!(h.get("/v1/kv/absent").await.status, StatusCode::NOT_FOUND);

    // Delete with cas: the wrong index keeps the key, the right one deletes it.
    let reply = h
        .consul
        .call("DELETE", &format!("/v1/kv/lock?cas={index}"), None)
        .await;
    assert_eq!(reply.json(), json!(false));
    assert_eq!(raw("lock").await, "d");
    let reply = h
        .consul
        .call("DELETE", &format!("/v1/kv/lock?cas={new_index}"), None)
        .await;
    assert_eq!(reply.json(), json!(true));
    assert_eq!(h.get("/v1/kv/lock").await.status, StatusCode::NOT_FOUND);
    let reply = h
        .consul
        .call_raw("PUT", "/v1/kv/x?cas=nope", b"x".to_vec())
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_blocking_kv_read_returns_on_change_with_the_new_index() {
    let h = Arc::new(start().await);
    h.consul
        .call_raw("PUT", "/v1/kv/config/mode", b"blue".to_vec())
        .await;
    let first = h.get("/v1/kv/config/mode").await;
    let index = consul_index(&first);

    // Nothing changes: the query waits out its `wait` and answers the same index.
    let started = Instant::now();
    let quiet = h
        .get(&format!("/v1/kv/config/mode?index={index}&wait=100ms"))
        .await;
    assert!(started.elapsed() >= Duration::from_millis(90));
    assert_eq!(consul_index(&quiet), index);

    // A write while the query blocks wakes it, with the new value and index.
    let writer = h.clone();
    let write = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(150)).await;
        writer
            .consul
            .call_raw("PUT", "/v1/kv/config/mode", b"green".to_vec())
            .await;
    });
    let started = Instant::now();
    let reply = h
        .get(&format!("/v1/kv/config/mode?index={index}&wait=10s"))
        .await;
    let waited = started.elapsed();
    write.await.unwrap();
    assert!(
        waited >= Duration::from_millis(100),
        "returned early: {waited:?}"
    );
    assert!(waited < Duration::from_secs(5), "did not wake: {waited:?}");
    assert!(consul_index(&reply) > index);
    assert_eq!(reply.json()[0]["Value"], "Z3JlZW4=");
    assert_eq!(
        consul_index(&reply),
        h.consul.server.state().snapshot().index(Table::Kv)
    );
}

#[tokio::test]
async fn a_blocking_health_read_returns_when_an_instance_registers() {
    let h = Arc::new(start().await);
    let first = h.get("/v1/health/service/web").await;
    assert_eq!(first.json(), json!([]));
    let index = consul_index(&first);
    let writer = h.clone();
    let write = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(150)).await;
        writer.register(json!({"Name": "web", "ID": "web-1"})).await;
    });
    let reply = h
        .get(&format!("/v1/health/service/web?index={index}&wait=10s"))
        .await;
    write.await.unwrap();
    assert!(consul_index(&reply) > index);
    assert_eq!(reply.json()[0]["Service"]["ID"], "web-1");
}

#[tokio::test]
async fn other_datacenters_filters_and_bad_states_are_refused() {
    let h = start().await;
    let reply = h.get("/v1/catalog/services?dc=dc2").await;
    assert_eq!(reply.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(reply.text(), "No path to datacenter");
    assert_eq!(
        h.get("/v1/catalog/services?dc=dc1").await.status,
        StatusCode::OK
    );
    let reply = h
        .get("/v1/health/service/web?filter=Service.Port%3D%3D80")
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        h.get("/v1/health/state/bogus").await.status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        h.get("/v1/health/state/any")
            .await
            .json()
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(h.get("/v1/nope").await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn an_agent_without_a_client_node_cannot_register() {
    // Why: agent registrations belong to the agent's node; a server-only agent has none.
    let server = new_server();
    server.start();
    let h = Harness {
        server: server.clone(),
        router: consul_router(Api::new(server, AgentInfo::default())),
    };
    let reply = h
        .call(
            "PUT",
            "/v1/agent/service/register",
            Some(json!({"Name": "web"})),
        )
        .await;
    assert_eq!(reply.status, StatusCode::NOT_IMPLEMENTED);
    // Its catalog still shows the server's own node and the consul service.
    let nodes = h.get("/v1/catalog/nodes").await.json();
    assert_eq!(nodes[0]["Node"], "caravan");
    assert_eq!(
        h.get("/v1/catalog/services").await.json(),
        json!({"consul": []})
    );
}
