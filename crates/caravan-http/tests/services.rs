//! The catalog routes: `/v1/services`, `/v1/service/:name` (choose, health filter),
//! deletes, a job's and an allocation's instances and checks, and blocking on the
//! services table.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use caravan_model::{
    AllocId, CheckStatus, HealthStatus, ServiceProvider, ServiceRegistration, choose,
};
use common::{Harness, job, start};
use serde_json::{Value, json};

fn instance(alloc: &str, service: &str, port: u16, tags: &[&str]) -> ServiceRegistration {
    let alloc_id = AllocId::from(alloc);
    ServiceRegistration {
        id: ServiceRegistration::task_service_id(&alloc_id, "server", service, "http"),
        service_name: service.into(),
        alloc_id,
        address: "127.0.0.1".into(),
        port,
        tags: tags.iter().map(|t| (*t).to_owned()).collect(),
        ..ServiceRegistration::default()
    }
}

/// A node, job "web" with two placed allocations, and their ids (sorted).
async fn two_allocs(h: &Harness) -> Vec<String> {
    h.add_node("n1").await;
    let allocs = h.place(job("web", 2), 2).await;
    let mut ids: Vec<String> = allocs
        .iter()
        .map(|a| a["ID"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    ids
}

/// Two "redis" instances (the second critical) and a Consul-provider "web".
async fn catalog(h: &Harness) -> Vec<String> {
    let allocs = two_allocs(h).await;
    let mut critical = instance(&allocs[1], "redis", 20002, &["db"]);
    critical.health = HealthStatus::Critical;
    critical.checks = vec![CheckStatus {
        name: "alive".into(),
        check_type: "http".into(),
        status: HealthStatus::Critical,
        output: "HTTP 500".into(),
        timestamp: 1_700_000_000_000_000_000,
        status_code: 500,
        task: "server".into(),
        ..CheckStatus::default()
    }];
    let mut consul = instance(&allocs[0], "web", 20003, &["http"]);
    consul.provider = ServiceProvider::Consul;
    h.server
        .upsert_services(vec![
            instance(&allocs[0], "redis", 20001, &["db", "cache"]),
            critical,
            consul,
        ])
        .await
        .unwrap();
    allocs
}

fn ids(value: &Value) -> Vec<String> {
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["ID"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn services_lists_names_with_their_tags_per_namespace() {
    let h = start();
    assert_eq!(h.get("/v1/services").await.json(), json!([]));
    catalog(&h).await;

    let reply = h.get("/v1/services").await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(
        reply.json(),
        json!([{"Namespace": "default", "Services": [{"ServiceName": "redis", "Tags": ["cache", "db"]}]}])
    );
    assert_eq!(
        reply.index(),
        h.server
            .state()
            .snapshot()
            .index(caravan_state::Table::Services)
    );
    assert_eq!(h.get("/v1/services?namespace=*").await.json(), reply.json());
    assert_eq!(h.get("/v1/services?namespace=prod").await.json(), json!([]));
    assert_eq!(h.get("/v1/services?prefix=re").await.json(), reply.json());
    assert_eq!(h.get("/v1/services?prefix=web").await.json(), json!([]));
    // Beyond Nomad: the Consul-provider instances, on request.
    assert_eq!(
        h.get("/v1/services?provider=*").await.json()[0]["Services"],
        json!([{"ServiceName": "redis", "Tags": ["cache", "db"]}, {"ServiceName": "web", "Tags": ["http"]}])
    );
    assert_eq!(
        h.get("/v1/services?provider=bogus").await.status,
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn service_lists_its_instances_with_health() {
    let h = start();
    let allocs = catalog(&h).await;

    let reply = h.get("/v1/service/redis").await;
    assert_eq!(reply.status, StatusCode::OK);
    let body = reply.json();
    assert_eq!(body.as_array().unwrap().len(), 2);
    let first = &body[0];
    for key in [
        "ID",
        "ServiceName",
        "Namespace",
        "NodeID",
        "Datacenter",
        "JobID",
        "AllocID",
        "Tags",
        "Address",
        "Port",
        "CreateIndex",
        "ModifyIndex",
        "Provider",
        "Health",
        "Checks",
    ] {
        assert!(first.get(key).is_some(), "{key} missing from {first}");
    }
    assert_eq!(
        (
            &first["AllocID"],
            &first["JobID"],
            &first["NodeID"],
            &first["Datacenter"],
            &first["Namespace"]
        ),
        (
            &json!(allocs[0]),
            &json!("web"),
            &json!("n1"),
            &json!("dc1"),
            &json!("default")
        )
    );
    assert_eq!(body[1]["Health"], "critical");
    assert_eq!(body[1]["Checks"][0]["Output"], "HTTP 500");

    // Beyond Nomad: only the instances in the health asked for.
    let healthy = h.get("/v1/service/redis?healthy=true").await.json();
    assert_eq!(ids(&healthy), [ids(&body)[0].clone()]);
    let critical = h.get("/v1/service/redis?health=critical").await.json();
    assert_eq!(ids(&critical), [ids(&body)[1].clone()]);
    let both = h
        .get("/v1/service/redis?health=passing,critical")
        .await
        .json();
    assert_eq!(ids(&both), ids(&body));
    for bad in [
        "health=sick",
        "healthy=maybe",
        "healthy=true&health=warning",
    ] {
        let reply = h.get(&format!("/v1/service/redis?{bad}")).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{bad}");
    }

    // Unknown names are an empty list, as in Nomad; so is another namespace.
    let reply = h.get("/v1/service/nope").await;
    assert_eq!((reply.status, reply.json()), (StatusCode::OK, json!([])));
    assert_eq!(
        h.get("/v1/service/redis?namespace=prod").await.json(),
        json!([])
    );
    // Nomad's routes show Nomad-provider instances only.
    assert_eq!(h.get("/v1/service/web").await.json(), json!([]));
    assert_eq!(
        ids(&h.get("/v1/service/web?provider=consul").await.json()).len(),
        1
    );
    assert_eq!(h.get("/v1/service/").await.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn choose_selects_a_stable_subset() {
    let h = start();
    catalog(&h).await;
    let all: Vec<ServiceRegistration> =
        serde_json::from_value(h.get("/v1/service/redis").await.json()).unwrap();
    for key in ["alloc-1", "alloc-2", "alloc-3"] {
        let expected: Vec<String> = choose(all.iter().collect(), &format!("1|{key}"))
            .unwrap()
            .into_iter()
            .map(|r| r.id.clone())
            .collect();
        let reply = h.get(&format!("/v1/service/redis?choose=1|{key}")).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
        assert_eq!(ids(&reply.json()), expected, "{key}");
        // The same key chooses the same instance again.
        assert_eq!(
            ids(&h
                .get(&format!("/v1/service/redis?choose=1|{key}"))
                .await
                .json()),
            expected
        );
    }
    assert_eq!(
        ids(&h.get("/v1/service/redis?choose=5|k").await.json()).len(),
        2
    );
    // The health filter applies first: one healthy instance to choose from.
    assert_eq!(
        ids(&h
            .get("/v1/service/redis?choose=2|k&healthy=true")
            .await
            .json())
        .len(),
        1
    );
    for bad in ["x|k", "3", "2|", "-1|k"] {
        let reply = h.get(&format!("/v1/service/redis?choose={bad}")).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{bad}");
        assert!(reply.text().contains("choose"), "{}", reply.text());
    }
}

#[tokio::test]
async fn delete_removes_one_instance() {
    let h = start();
    catalog(&h).await;
    let body = h.get("/v1/service/redis").await.json();
    let id = ids(&body)[0].clone();

    let reply = h
        .call("DELETE", &format!("/v1/service/redis/{id}"), None)
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    assert!(reply.json()["Index"].as_u64().unwrap() > 0);
    assert_eq!(ids(&h.get("/v1/service/redis").await.json()).len(), 1);

    let again = h
        .call("DELETE", &format!("/v1/service/redis/{id}"), None)
        .await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);
    let other = ids(&body)[1].clone();
    let wrong_name = h
        .call("DELETE", &format!("/v1/service/web/{other}"), None)
        .await;
    assert_eq!(wrong_name.status, StatusCode::NOT_FOUND);
    assert_eq!(
        h.call("DELETE", "/v1/service/redis/", None).await.status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        h.call("PUT", "/v1/service/redis", None).await.status,
        StatusCode::METHOD_NOT_ALLOWED
    );
}

#[tokio::test]
async fn a_jobs_and_an_allocations_instances_and_checks() {
    let h = start();
    let allocs = catalog(&h).await;

    let by_job = h.get("/v1/job/web/services").await.json();
    assert_eq!(ids(&by_job).len(), 2, "the consul-provider one is left out");
    assert_eq!(
        ids(&h.get("/v1/job/web/services?provider=*").await.json()).len(),
        3
    );
    assert_eq!(h.get("/v1/job/nope/services").await.json(), json!([]));

    let by_alloc = h
        .get(&format!("/v1/allocation/{}/services", allocs[1]))
        .await
        .json();
    assert_eq!(by_alloc[0]["AllocID"], json!(allocs[1]));
    assert_eq!(ids(&by_alloc).len(), 1);

    let checks = h
        .get(&format!("/v1/allocation/{}/checks", &allocs[1][..8]))
        .await;
    assert_eq!(checks.status, StatusCode::OK, "{}", checks.text());
    let map = checks.json();
    let map = map.as_object().unwrap();
    assert_eq!(map.len(), 1);
    let (id, check) = map.iter().next().unwrap();
    assert_eq!(check["ID"], json!(id));
    // The group is the allocation's name, whichever index it got.
    let expected = json!({
        "ID": id, "Mode": "healthiness", "Status": "failure", "StatusCode": 500,
        "Output": "HTTP 500", "Timestamp": 1_700_000_000_i64, "Group": check["Group"],
        "Task": "server", "Service": "redis", "Check": "alive",
    });
    assert_eq!(check, &expected);
    assert!(check["Group"].as_str().unwrap().starts_with("web.app["));
    assert_eq!(
        h.get(&format!("/v1/client/allocation/{}/checks", allocs[1]))
            .await
            .json(),
        Value::Object(map.clone())
    );
    assert_eq!(
        h.get(&format!("/v1/allocation/{}/checks", allocs[0]))
            .await
            .json(),
        json!({})
    );
    assert_eq!(
        h.get("/v1/allocation/ffffffff-0000/checks").await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn service_reads_block_on_the_catalog() {
    let h = Arc::new(start());
    let allocs = catalog(&h).await;
    let current = h.get("/v1/service/redis").await.index();

    // The first allocation stops for good while the query blocks: its instance leaves
    // the catalog in the same write, which wakes the query.
    let writer = h.clone();
    let alloc = allocs[0].clone();
    let update = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(150)).await;
        writer
            .server
            .update_allocs(vec![caravan_state::AllocClientUpdate {
                alloc_id: alloc.as_str().into(),
                client_status: "complete".into(),
                ..Default::default()
            }])
            .await
            .unwrap();
    });
    let started = Instant::now();
    let reply = h
        .get(&format!("/v1/service/redis?index={current}&wait=10s"))
        .await;
    let waited = started.elapsed();
    update.await.unwrap();
    assert!(waited >= Duration::from_millis(100), "{waited:?}");
    assert!(waited < Duration::from_secs(5), "{waited:?}");
    assert!(reply.index() > current);
    let left: Vec<Value> = reply
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["AllocID"].clone())
        .collect();
    assert_eq!(left, [json!(allocs[1])]);

    // Without a change, the query waits out its time and answers the same index.
    let current = reply.index();
    let started = Instant::now();
    let reply = h
        .get(&format!("/v1/services?index={current}&wait=100ms"))
        .await;
    assert!(started.elapsed() >= Duration::from_millis(90));
    assert_eq!(reply.index(), current);
}
