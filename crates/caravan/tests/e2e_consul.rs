//! End to end: the dev agent's Consul HTTP API (`-consul-port`, here 0). A program
//! outside any job registers a service with a TTL check through
//! `PUT /v1/agent/service/register`, and Consul's health endpoint shows it, critical
//! until the check passes; Nomad's API sees it as a Consul-provider service; the KV
//! store answers with check-and-set.

mod support;

use serde_json::{Value, json};

use support::Agent;

#[test]
fn a_service_registered_through_the_agent_is_served_by_consuls_health_endpoint() {
    let agent = Agent::start("consul-register");
    let node_name = agent.get_json("/v1/nodes")[0]["Name"]
        .as_str()
        .expect("a node name")
        .to_owned();

    // A fresh agent: the consul service on its node.
    let services = agent.consul("GET", "/v1/catalog/services", None);
    assert_eq!(services.status, 200, "{services:#?}");
    assert_eq!(services.json(), json!({"consul": []}));
    assert!(services.headers.contains_key("x-consul-index"));

    // Phase 1: register, with a TTL check that starts critical.
    let body = json!({
        "Name": "billing", "ID": "billing-1", "Tags": ["v2"], "Address": "127.0.0.1",
        "Port": 7000, "Check": {"TTL": "30s"},
    });
    let r = agent.consul("PUT", "/v1/agent/service/register", Some(&body.to_string()));
    assert_eq!(r.status, 200, "{r:#?}");
    let health = agent
        .consul("GET", "/v1/health/service/billing", None)
        .json();
    let entries = health.as_array().expect("a list");
    assert_eq!(entries.len(), 1, "{health}");
    assert_eq!(entries[0]["Service"]["ID"], "billing-1");
    assert_eq!(entries[0]["Service"]["Port"], 7000);
    assert_eq!(entries[0]["Service"]["Tags"], json!(["v2"]));
    assert_eq!(entries[0]["Node"]["Node"], node_name.as_str());
    let checks: Vec<(&Value, &Value)> = entries[0]["Checks"]
        .as_array()
        .expect("checks")
        .iter()
        .map(|c| (&c["CheckID"], &c["Status"]))
        .collect();
    assert_eq!(
        checks,
        [
            (&json!("serfHealth"), &json!("passing")),
            (&json!("service:billing-1"), &json!("critical")),
        ]
    );
    let passing = agent.consul("GET", "/v1/health/service/billing?passing", None);
    assert_eq!(passing.json(), json!([]));

    // Phase 2: the program reports in; the instance passes.
    let r = agent.consul("PUT", "/v1/agent/check/pass/service:billing-1", None);
    assert_eq!(r.status, 200, "{r:#?}");
    let passing = agent
        .consul("GET", "/v1/health/service/billing?passing", None)
        .json();
    assert_eq!(passing[0]["Service"]["ID"], "billing-1", "{passing}");

    // Nomad's API sees the same catalog, as a Consul-provider service.
    let nomad = agent.get_json("/v1/service/billing?provider=consul");
    assert_eq!(nomad[0]["ID"], "billing-1", "{nomad}");

    // Phase 3: the KV store, with check-and-set.
    let r = agent.consul("PUT", "/v1/kv/billing/rate?cas=0", Some("5"));
    assert_eq!(r.json(), json!(true));
    let r = agent.consul("PUT", "/v1/kv/billing/rate?cas=0", Some("6"));
    assert_eq!(r.json(), json!(false));
    let r = agent.consul("GET", "/v1/kv/billing/rate?raw", None);
    assert_eq!(r.body, "5");

    // Deregistered, it is gone.
    let r = agent.consul("PUT", "/v1/agent/service/deregister/billing-1", None);
    assert_eq!(r.status, 200, "{r:#?}");
    let health = agent.consul("GET", "/v1/health/service/billing", None);
    assert_eq!(health.json(), json!([]));
}
