//! Job routes against a real server: register, list, read, stop, versions, summary.
#![allow(clippy::unwrap_used)]

mod common;

use axum::http::StatusCode;
use common::{job, start};
use serde_json::json;

#[tokio::test]
async fn register_then_list_and_read() {
    let h = start();
    let reply = h
        .call("PUT", "/v1/jobs", Some(json!({"Job": job("web", 1)})))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    let body = reply.json();
    assert!(!body["EvalID"].as_str().unwrap().is_empty());
    for key in [
        "EvalCreateIndex",
        "JobModifyIndex",
        "Warnings",
        "Index",
        "LastContact",
        "KnownLeader",
    ] {
        assert!(
            body.get(key).is_some(),
            "register response lacks {key}: {body}"
        );
    }
    assert!(reply.index() >= 1);
    assert_eq!(reply.headers["x-nomad-knownleader"], "true");

    // The list carries Nomad's stub fields.
    let list = h.get("/v1/jobs").await;
    assert_eq!(list.status, StatusCode::OK);
    let stubs = list.json();
    let stub = &stubs[0];
    for key in [
        "ID",
        "ParentID",
        "Name",
        "Namespace",
        "Type",
        "Priority",
        "Status",
        "StatusDescription",
        "JobSummary",
        "CreateIndex",
        "ModifyIndex",
        "JobModifyIndex",
        "SubmitTime",
        "Datacenters",
        "Periodic",
        "ParameterizedJob",
        "Stop",
        "Version",
    ] {
        assert!(stub.get(key).is_some(), "job stub lacks {key}: {stub}");
    }
    assert_eq!(stub["ID"], "web");
    assert_eq!(stub["Namespace"], "default");
    assert_eq!(stub["Type"], "service");
    assert_eq!(stub["JobSummary"]["JobID"], "web");
    assert!(stub.get("Meta").is_none(), "Meta only with ?meta=true");
    assert!(
        h.get("/v1/jobs?meta=true").await.json()[0]
            .get("Meta")
            .is_some()
    );

    // The full job, canonicalized by the server.
    let read = h.get("/v1/job/web").await;
    assert_eq!(read.status, StatusCode::OK);
    let stored = read.json();
    assert_eq!(stored["ID"], "web");
    assert_eq!(stored["TaskGroups"][0]["Tasks"][0]["Driver"], "raw_exec");
    assert_eq!(stored["Priority"], 50);
}

#[tokio::test]
async fn post_to_job_id_registers_and_checks_the_id() {
    let h = start();
    let ok = h
        .call("POST", "/v1/job/api", Some(json!({"Job": job("api", 1)})))
        .await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.text());
    let mismatch = h
        .call("POST", "/v1/job/other", Some(json!({"Job": job("api", 2)})))
        .await;
    assert_eq!(mismatch.status, StatusCode::BAD_REQUEST);
    assert!(
        mismatch.text().contains("does not match"),
        "{}",
        mismatch.text()
    );
}

#[tokio::test]
async fn bad_jobs_are_400_and_store_nothing() {
    let h = start();
    let mut no_driver = job("web", 1);
    no_driver["TaskGroups"][0]["Tasks"][0]["Driver"] = json!("");
    let cases = [
        serde_json::to_vec(&json!({"Job": no_driver})).unwrap(),
        b"{not json".to_vec(),
        b"[]".to_vec(),
        serde_json::to_vec(&json!({"Job": null})).unwrap(),
        serde_json::to_vec(&json!({"Job": {"ID": 7}})).unwrap(),
        Vec::new(),
    ];
    for body in cases {
        let reply = h.call_raw("PUT", "/v1/jobs", body.clone()).await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{}",
            String::from_utf8_lossy(&body)
        );
        assert_eq!(reply.headers["content-type"], "text/plain; charset=utf-8");
        let text = reply.text();
        assert!(
            !text.is_empty() && !text.contains('\n'),
            "one line: {text:?}"
        );
    }
    // The validation message names the path of the problem.
    let mut no_driver = job("web", 1);
    no_driver["TaskGroups"][0]["Tasks"][0]["Driver"] = json!("");
    let text = h
        .call("PUT", "/v1/jobs", Some(json!({"Job": no_driver})))
        .await
        .text();
    assert!(text.starts_with("1 error occurred: * "), "{text}");
    assert!(text.contains(r#"group "app" -> task "server""#), "{text}");

    assert_eq!(h.get("/v1/jobs").await.json(), json!([]));
    assert_eq!(h.get("/v1/job/web").await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn unknown_jobs_are_404() {
    let h = start();
    for uri in [
        "/v1/job/nope",
        "/v1/job/nope/versions",
        "/v1/job/nope/summary",
    ] {
        let reply = h.get(uri).await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{uri}");
    }
    assert_eq!(h.get("/v1/job/nope").await.text(), "job not found");
    assert_eq!(
        h.call("DELETE", "/v1/job/nope", None).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        h.call("PUT", "/v1/job/nope/evaluate", None).await.status,
        StatusCode::NOT_FOUND
    );
    // Like Nomad, an unknown job simply has no allocations or evaluations.
    assert_eq!(h.get("/v1/job/nope/allocations").await.json(), json!([]));
    assert_eq!(h.get("/v1/job/nope/evaluations").await.json(), json!([]));
}

#[tokio::test]
async fn stop_then_purge() {
    let h = start();
    h.register(job("web", 1)).await;
    let stop = h.call("DELETE", "/v1/job/web", None).await;
    assert_eq!(stop.status, StatusCode::OK, "{}", stop.text());
    let body = stop.json();
    for key in ["EvalID", "EvalCreateIndex", "JobModifyIndex", "Index"] {
        assert!(body.get(key).is_some(), "deregister response lacks {key}");
    }
    assert!(!body["EvalID"].as_str().unwrap().is_empty());
    assert_eq!(h.get("/v1/job/web").await.json()["Stop"], true);

    let purge = h.call("DELETE", "/v1/job/web?purge=true", None).await;
    assert_eq!(purge.status, StatusCode::OK);
    assert_eq!(h.get("/v1/job/web").await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn versions_summary_evaluations_and_evaluate() {
    let h = start();
    h.register(job("web", 1)).await;
    h.register(job("web", 2)).await;

    let versions = h.get("/v1/job/web/versions").await.json();
    let list = versions["Versions"].as_array().unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(list[0]["Version"], 1, "newest first");
    assert!(versions.get("Index").is_some());
    let with_diffs = h.get("/v1/job/web/versions?diffs=true").await.json();
    let diff = &with_diffs["Diffs"][0];
    assert_eq!(diff["Type"], "Edited");
    assert_eq!(diff["TaskGroups"][0]["Fields"][0]["Name"], "Count");

    let summary = h.get("/v1/job/web/summary").await.json();
    assert_eq!(summary["JobID"], "web");
    assert_eq!(summary["Namespace"], "default");
    for key in [
        "Queued", "Complete", "Failed", "Running", "Starting", "Lost", "Unknown",
    ] {
        assert!(
            summary["Summary"]["app"].get(key).is_some(),
            "summary lacks {key}"
        );
    }
    for key in ["Children", "CreateIndex", "ModifyIndex"] {
        assert!(summary.get(key).is_some(), "summary lacks {key}");
    }

    let evaluate = h.call("PUT", "/v1/job/web/evaluate", None).await;
    assert_eq!(evaluate.status, StatusCode::OK, "{}", evaluate.text());
    let eval_id = evaluate.json()["EvalID"].as_str().unwrap().to_owned();
    let evals = h.get("/v1/job/web/evaluations").await.json();
    assert!(
        evals
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["ID"] == eval_id.as_str())
    );
    assert!(
        evals
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["JobID"] == "web")
    );
}

#[tokio::test]
async fn namespaces_scope_jobs() {
    let h = start();
    h.register(job("web", 1)).await;
    let reply = h
        .call(
            "PUT",
            "/v1/jobs?namespace=prod",
            Some(json!({"Job": job("api", 1)})),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());

    let ids = |v: serde_json::Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|j| j["ID"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(ids(h.get("/v1/jobs").await.json()), ["web"]);
    assert_eq!(ids(h.get("/v1/jobs?namespace=prod").await.json()), ["api"]);
    assert_eq!(
        ids(h.get("/v1/jobs?namespace=*").await.json()),
        ["web", "api"]
    );
    assert_eq!(h.get("/v1/job/api").await.status, StatusCode::NOT_FOUND);
    assert_eq!(
        h.get("/v1/job/api?namespace=prod").await.json()["Namespace"],
        "prod"
    );
    assert_eq!(ids(h.get("/v1/jobs?prefix=w").await.json()), ["web"]);
    assert_eq!(
        ids(h.get("/v1/jobs?prefix=x").await.json()),
        Vec::<String>::new()
    );
}

#[tokio::test]
async fn enforce_index_guards_registration() {
    let h = start();
    let create = json!({"Job": job("web", 1), "EnforceIndex": true, "JobModifyIndex": 0});
    assert_eq!(
        h.call("PUT", "/v1/jobs", Some(create.clone())).await.status,
        StatusCode::OK
    );
    let again = h.call("PUT", "/v1/jobs", Some(create)).await;
    assert_eq!(again.status, StatusCode::BAD_REQUEST);
    let current = h.get("/v1/job/web").await.json()["JobModifyIndex"].clone();
    let update = json!({"Job": job("web", 2), "EnforceIndex": true, "JobModifyIndex": current});
    assert_eq!(
        h.call("PUT", "/v1/jobs", Some(update)).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn parse_returns_the_job() {
    let h = start();
    let source = serde_json::to_string(&json!({"Job": job("parsed", 3)})).unwrap();
    let reply = h
        .call(
            "PUT",
            "/v1/jobs/parse",
            Some(json!({"JobHCL": source, "Canonicalize": true})),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    let parsed = reply.json();
    assert_eq!(parsed["ID"], "parsed");
    assert_eq!(parsed["TaskGroups"][0]["Count"], 3);
    assert_eq!(parsed["Priority"], 50, "canonicalized");

    let empty = h
        .call("POST", "/v1/jobs/parse", Some(json!({"JobHCL": ""})))
        .await;
    assert_eq!(
        (empty.status, empty.text().as_str()),
        (StatusCode::BAD_REQUEST, "job spec is empty")
    );
    let broken = h
        .call(
            "POST",
            "/v1/jobs/parse",
            Some(json!({"JobHCL": "job \"x\" {"})),
        )
        .await;
    assert_eq!(broken.status, StatusCode::BAD_REQUEST);
    assert!(
        broken.text().starts_with("failed to parse job: "),
        "{}",
        broken.text()
    );
    assert!(!broken.text().contains('\n'));
}

#[tokio::test]
async fn parse_reads_hcl_with_variables_and_no_files() {
    let h = start();
    let hcl = r#"
variable "count" {
  type    = number
  default = 1
}

job "hcl" {
  datacenters = ["dc1"]
  group "app" {
    count = var.count
    task "server" {
      driver = "raw_exec"
      config {
        command = "/bin/sleep"
      }
    }
  }
}
"#;
    let body = json!({"JobHCL": hcl, "Variables": "count = 4\n"});
    let reply = h.call("POST", "/v1/jobs/parse", Some(body)).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    let parsed = reply.json();
    assert_eq!(parsed["ID"], "hcl");
    assert_eq!(parsed["TaskGroups"][0]["Count"], 4);
    assert_eq!(parsed["TaskGroups"][0]["Tasks"][0]["Driver"], "raw_exec");

    // The server's files are not the job file's to read.
    let sneaky = hcl.replace("\"/bin/sleep\"", "file(\"/etc/hostname\")");
    let reply = h
        .call("POST", "/v1/jobs/parse", Some(json!({"JobHCL": sneaky})))
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.text());
    assert!(
        reply.text().contains("filesystem functions disabled"),
        "{}",
        reply.text()
    );
}

#[tokio::test]
async fn validate_reports_problems_without_storing() {
    let h = start();
    let ok = h
        .call(
            "PUT",
            "/v1/validate/job",
            Some(json!({"Job": job("web", 1)})),
        )
        .await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.text());
    let body = ok.json();
    for key in [
        "DriverConfigValidated",
        "ValidationErrors",
        "Error",
        "Warnings",
    ] {
        assert!(body.get(key).is_some(), "validate response lacks {key}");
    }
    assert_eq!(body["ValidationErrors"], json!([]));
    assert_eq!(body["Error"], "");

    let mut bad = job("web", 1);
    bad["TaskGroups"][0]["Tasks"][0]["Driver"] = json!("");
    let body = h
        .call("PUT", "/v1/validate/job", Some(json!({"Job": bad})))
        .await
        .json();
    assert_eq!(
        body["ValidationErrors"].as_array().unwrap().len(),
        1,
        "{body}"
    );
    assert!(
        body["Error"]
            .as_str()
            .unwrap()
            .starts_with("1 error occurred: * ")
    );
    assert_eq!(h.get("/v1/jobs").await.json(), json!([]));
}

#[tokio::test]
async fn jobs_have_no_deployments() {
    let h = start();
    h.register(job("web", 1)).await;
    assert_eq!(h.get("/v1/job/web/deployment").await.json(), json!(null));
    assert_eq!(h.get("/v1/job/web/deployments").await.json(), json!([]));
}
