//! Allocations, evaluations and nodes once a node runs work: list stubs, reads by id
//! prefix, stop, drain and eligibility, and the client routes through a fake client.
#![allow(clippy::unwrap_used)]

mod common;

use axum::http::StatusCode;
use caravan_model::NodeId;
use common::{FakeClient, TempDir, job, start, start_with_client};
use serde_json::json;

const NODE: &str = "5f3c1a7e-0000-4000-8000-000000000001";

#[tokio::test]
async fn allocation_stubs_and_reads() {
    let h = start();
    h.add_node(NODE).await;
    let allocs = h.place(job("web", 2), 2).await;
    let stub = &allocs[0];
    for key in [
        "ID",
        "EvalID",
        "Name",
        "Namespace",
        "NodeID",
        "NodeName",
        "JobID",
        "JobType",
        "JobVersion",
        "TaskGroup",
        "DesiredStatus",
        "DesiredDescription",
        "ClientStatus",
        "ClientDescription",
        "TaskStates",
        "CreateIndex",
        "ModifyIndex",
        "CreateTime",
        "ModifyTime",
    ] {
        assert!(stub.get(key).is_some(), "alloc stub lacks {key}: {stub}");
    }
    assert!(stub.get("Job").is_none(), "stubs leave the job out");
    assert_eq!(stub["JobID"], "web");
    assert_eq!(stub["JobType"], "service");
    assert_eq!(stub["NodeID"], NODE);

    let all = h.get("/v1/allocations").await;
    assert_eq!(all.status, StatusCode::OK);
    assert_eq!(all.json().as_array().unwrap().len(), 2);
    let id = stub["ID"].as_str().unwrap();
    let by_prefix = h
        .get(&format!("/v1/allocations?prefix={}", &id[..8]))
        .await
        .json();
    assert!(by_prefix.as_array().unwrap().iter().any(|a| a["ID"] == id));

    // The full allocation, by id and by a unique prefix.
    let full = h.get(&format!("/v1/allocation/{id}")).await.json();
    assert_eq!(full["ID"], id);
    assert_eq!(full["Job"]["ID"], "web");
    let other = allocs[1]["ID"].as_str().unwrap();
    let common_len = id
        .chars()
        .zip(other.chars())
        .take_while(|(a, b)| a == b)
        .count();
    let unique = &id[..common_len + 1];
    assert_eq!(
        h.get(&format!("/v1/allocation/{unique}")).await.json()["ID"],
        id
    );
    if common_len > 0 {
        let ambiguous = h
            .get(&format!("/v1/allocation/{}", &id[..common_len]))
            .await;
        assert_eq!(ambiguous.status, StatusCode::BAD_REQUEST);
        assert!(ambiguous.text().contains(id) && ambiguous.text().contains(other));
    }
    let missing = h.get("/v1/allocation/ffffffff-dead").await;
    assert_eq!(
        (missing.status, missing.text().as_str()),
        (StatusCode::NOT_FOUND, "alloc not found")
    );

    // The node's allocations are whole ones.
    let on_node = h.get(&format!("/v1/node/{NODE}/allocations")).await.json();
    assert_eq!(on_node.as_array().unwrap().len(), 2);
    assert!(on_node[0].get("Job").is_some());
}

#[tokio::test]
async fn stopping_an_allocation() {
    let h = start();
    h.add_node(NODE).await;
    let allocs = h.place(job("web", 1), 1).await;
    let id = allocs[0]["ID"].as_str().unwrap().to_owned();
    let reply = h
        .call("POST", &format!("/v1/allocation/{}/stop", &id[..12]), None)
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    assert!(reply.json().get("EvalID").is_some());
    assert!(reply.json().get("Index").is_some());
    let alloc = h.get(&format!("/v1/allocation/{id}")).await.json();
    assert_eq!(alloc["DesiredStatus"], "stop");
    assert_eq!(
        h.call("PUT", "/v1/allocation/nope/stop", None).await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn evaluations() {
    let h = start();
    h.add_node(NODE).await;
    let registered = h.register(job("web", 1)).await;
    let eval_id = registered["EvalID"].as_str().unwrap().to_owned();
    let eval = h
        .wait_for(&format!("/v1/evaluation/{eval_id}"), |e| {
            e["Status"] == "complete"
        })
        .await;
    for key in [
        "ID",
        "Namespace",
        "Priority",
        "Type",
        "TriggeredBy",
        "JobID",
        "Status",
        "CreateIndex",
        "ModifyIndex",
    ] {
        assert!(eval.get(key).is_some(), "evaluation lacks {key}");
    }
    assert_eq!(eval["TriggeredBy"], "job-register");

    let list = h.get("/v1/evaluations").await.json();
    assert!(
        list.as_array()
            .unwrap()
            .iter()
            .any(|e| e["ID"] == eval_id.as_str())
    );
    let filtered = h.get("/v1/evaluations?job=nope").await.json();
    assert_eq!(filtered, json!([]));
    let related = h
        .get(&format!("/v1/evaluation/{}?related=true", &eval_id[..8]))
        .await
        .json();
    assert_eq!(related["ID"], eval_id.as_str());
    assert!(related["RelatedEvals"].is_array());

    let placed = h
        .wait_for(&format!("/v1/evaluation/{eval_id}/allocations"), |a| {
            !a.as_array().unwrap().is_empty()
        })
        .await;
    assert_eq!(placed[0]["EvalID"], eval_id.as_str());
    assert_eq!(h.get("/v1/evaluation/nope").await.text(), "eval not found");
}

#[tokio::test]
async fn nodes_list_read_drain_and_eligibility() {
    let h = start();
    h.add_node(NODE).await;
    let nodes = h.get("/v1/nodes").await;
    assert_eq!(nodes.status, StatusCode::OK);
    let stub = &nodes.json()[0];
    for key in [
        "Address",
        "ID",
        "Datacenter",
        "Name",
        "NodeClass",
        "NodePool",
        "Version",
        "Drain",
        "SchedulingEligibility",
        "Status",
        "StatusDescription",
        "Drivers",
        "CreateIndex",
        "ModifyIndex",
    ] {
        assert!(stub.get(key).is_some(), "node stub lacks {key}: {stub}");
    }
    assert_eq!(stub["Status"], "ready");
    assert_eq!(stub["Address"], "127.0.0.1");
    assert!(stub.get("Attributes").is_none());
    let with_os = h.get("/v1/nodes?os=true").await.json();
    assert_eq!(with_os[0]["Attributes"]["os.name"], "debian");

    let node = h.get("/v1/node/5f3c").await.json();
    assert_eq!(node["ID"], NODE);
    assert!(node["Attributes"].is_object());
    assert_eq!(h.get("/v1/node/0000").await.status, StatusCode::NOT_FOUND);

    let drain = h
        .call(
            "PUT",
            &format!("/v1/node/{NODE}/drain"),
            Some(json!({"DrainSpec": {"Deadline": 0, "IgnoreSystemJobs": false}})),
        )
        .await;
    assert_eq!(drain.status, StatusCode::OK, "{}", drain.text());
    assert!(drain.json().get("NodeModifyIndex").is_some());
    let node = h.get(&format!("/v1/node/{NODE}")).await.json();
    assert_eq!(node["Drain"], true);
    assert_eq!(node["SchedulingEligibility"], "ineligible");

    let undrain = h
        .call(
            "PUT",
            &format!("/v1/node/{NODE}/drain"),
            Some(json!({"DrainSpec": null, "MarkEligible": true})),
        )
        .await;
    assert_eq!(undrain.status, StatusCode::OK, "{}", undrain.text());
    let node = h.get(&format!("/v1/node/{NODE}")).await.json();
    assert_eq!(
        (node["Drain"].clone(), node["SchedulingEligibility"].clone()),
        (json!(false), json!("eligible"))
    );

    let uri = format!("/v1/node/{NODE}/eligibility");
    let ineligible = h
        .call("POST", &uri, Some(json!({"Eligibility": "ineligible"})))
        .await;
    assert_eq!(ineligible.status, StatusCode::OK, "{}", ineligible.text());
    assert_eq!(
        h.get(&format!("/v1/node/{NODE}")).await.json()["SchedulingEligibility"],
        "ineligible"
    );
    let bad = h
        .call("POST", &uri, Some(json!({"Eligibility": "maybe"})))
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    let unknown = h
        .call(
            "POST",
            "/v1/node/0000/eligibility",
            Some(json!({"Eligibility": "eligible"})),
        )
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn client_routes_need_the_client_that_runs_the_allocation() {
    // A server-only agent cannot answer for an allocation's node.
    let h = start();
    h.add_node(NODE).await;
    let id = h.place(job("web", 1), 1).await[0]["ID"]
        .as_str()
        .unwrap()
        .to_owned();
    let reply = h.get(&format!("/v1/client/allocation/{id}/stats")).await;
    assert_eq!(reply.status, StatusCode::NOT_IMPLEMENTED);

    // A client for another node cannot either.
    let dir = TempDir::new();
    let elsewhere = start_with_client(FakeClient::new("another-node", dir.path()));
    elsewhere.add_node(NODE).await;
    let id = elsewhere.place(job("web", 1), 1).await[0]["ID"]
        .as_str()
        .unwrap()
        .to_owned();
    let reply = elsewhere
        .get(&format!("/v1/client/allocation/{id}/stats"))
        .await;
    assert_eq!(reply.status, StatusCode::NOT_IMPLEMENTED);
    assert!(reply.text().contains(NODE), "{}", reply.text());
}

#[tokio::test]
async fn restart_signal_and_stats_reach_the_client() {
    let dir = TempDir::new();
    let client = FakeClient::new(NODE, dir.path());
    let h = start_with_client(client.clone());
    assert_eq!(client.node_id, NodeId::from(NODE));
    h.add_node(NODE).await;
    let id = h.place(job("web", 1), 1).await[0]["ID"]
        .as_str()
        .unwrap()
        .to_owned();

    let restart = h
        .call(
            "PUT",
            &format!("/v1/client/allocation/{id}/restart"),
            Some(json!({"TaskName": "server"})),
        )
        .await;
    assert_eq!(restart.status, StatusCode::OK, "{}", restart.text());
    let all = h
        .call("POST", &format!("/v1/client/allocation/{id}/restart"), None)
        .await;
    assert_eq!(all.status, StatusCode::OK);
    let signal = h
        .call(
            "POST",
            &format!("/v1/client/allocation/{id}/signal"),
            Some(json!({"Task": "server", "Signal": "SIGHUP"})),
        )
        .await;
    assert_eq!(signal.status, StatusCode::OK, "{}", signal.text());
    assert_eq!(
        client.calls(),
        [
            format!("restart {id} Some(\"server\")"),
            format!("restart {id} None"),
            format!("signal {id} Some(\"server\") SIGHUP"),
        ]
    );
    let bogus = h
        .call(
            "POST",
            &format!("/v1/client/allocation/{id}/signal"),
            Some(json!({"Signal": "SIGBOGUS"})),
        )
        .await;
    assert_eq!(bogus.status, StatusCode::BAD_REQUEST);
    let missing = h
        .call(
            "POST",
            &format!("/v1/client/allocation/{id}/signal"),
            Some(json!({})),
        )
        .await;
    assert_eq!(missing.status, StatusCode::BAD_REQUEST);

    let stats = h.get(&format!("/v1/client/allocation/{id}/stats")).await;
    assert_eq!(stats.status, StatusCode::OK);
    assert_eq!(stats.json()["ResourceUsage"]["MemoryStats"]["RSS"], 1024);
}

#[tokio::test]
async fn system_gc_removes_finished_evaluations_and_their_stopped_allocations() {
    let h = start();
    h.add_node(NODE).await;
    let allocs = h.place(job("web", 1), 1).await;
    let id = allocs[0]["ID"].as_str().unwrap().to_owned();

    // Stop the job; the client reports the allocation finished.
    assert_eq!(
        h.call("DELETE", "/v1/job/web", None).await.status,
        StatusCode::OK
    );
    h.server
        .update_allocs(vec![caravan_state::AllocClientUpdate {
            alloc_id: id.as_str().into(),
            client_status: "complete".into(),
            ..Default::default()
        }])
        .await
        .unwrap();
    h.wait_for("/v1/evaluations", |evals| {
        evals
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["Status"] != "pending")
    })
    .await;

    assert_eq!(
        h.call("PUT", "/v1/system/gc", None).await.status,
        StatusCode::OK
    );
    let allocs = h.get("/v1/allocations").await.json();
    assert!(allocs.as_array().unwrap().is_empty(), "collected: {allocs}");
    assert_eq!(
        h.get(&format!("/v1/allocation/{id}")).await.status,
        StatusCode::NOT_FOUND
    );
}
