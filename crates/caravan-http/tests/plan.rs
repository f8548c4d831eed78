//! `job plan`: per-group annotations computed from the scheduler's plan, and the diff.
#![allow(clippy::unwrap_used)]

mod common;

use axum::http::StatusCode;
use common::{job, start};
use serde_json::{Value, json};

const NODE: &str = "7a1e0c55-0000-4000-8000-000000000001";

fn updates(plan: &Value) -> &Value {
    &plan["Annotations"]["DesiredTGUpdates"]["app"]
}

fn count(plan: &Value, key: &str) -> u64 {
    updates(plan)[key]
        .as_u64()
        .unwrap_or_else(|| panic!("no {key} in {plan}"))
}

#[tokio::test]
async fn a_new_job_places_its_count() {
    let h = start();
    h.add_node(NODE).await;
    let reply = h
        .call(
            "PUT",
            "/v1/job/web/plan",
            Some(json!({"Job": job("web", 3), "Diff": true})),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    let plan = reply.json();
    for key in [
        "Annotations",
        "FailedTGAllocs",
        "JobModifyIndex",
        "CreatedEvals",
        "Diff",
        "NextPeriodicLaunch",
        "Warnings",
        "Index",
    ] {
        assert!(plan.get(key).is_some(), "plan response lacks {key}: {plan}");
    }
    let app = updates(&plan);
    for key in [
        "Place",
        "Stop",
        "InPlaceUpdate",
        "DestructiveUpdate",
        "Ignore",
        "Migrate",
        "Canary",
    ] {
        assert!(app.get(key).is_some(), "annotations lack {key}: {app}");
    }
    assert_eq!(
        (
            app["Place"].clone(),
            app["Stop"].clone(),
            app["Ignore"].clone()
        ),
        (json!(3), json!(0), json!(0))
    );
    assert_eq!(plan["JobModifyIndex"], 0);
    assert_eq!(plan["Diff"]["Type"], "Added");
    assert_eq!(plan["Diff"]["TaskGroups"][0]["Updates"]["create"], 3);

    // Planning stores nothing.
    assert_eq!(h.get("/v1/jobs").await.json(), json!([]));
    assert_eq!(h.get("/v1/allocations").await.json(), json!([]));
}

#[tokio::test]
async fn scaling_and_replacing_a_running_job() {
    let h = start();
    h.add_node(NODE).await;
    h.place(job("web", 2), 2).await;

    // The same job: nothing to do.
    let same = h
        .call(
            "PUT",
            "/v1/job/web/plan",
            Some(json!({"Job": job("web", 2), "Diff": true})),
        )
        .await
        .json();
    assert_eq!(updates(&same)["Ignore"], 2, "{same}");
    assert_eq!(updates(&same)["Place"], 0);
    assert_eq!(same["Diff"]["Type"], "None");
    assert!(same["JobModifyIndex"].as_u64().unwrap() > 0);

    // One more. The two running allocations are left alone or moved to the new
    // version in place, as the scheduler decides; none is replaced.
    let up = h
        .call(
            "PUT",
            "/v1/job/web/plan",
            Some(json!({"Job": job("web", 3)})),
        )
        .await
        .json();
    assert_eq!(count(&up, "Place"), 1, "{up}");
    assert_eq!(
        count(&up, "Ignore") + count(&up, "InPlaceUpdate"),
        2,
        "{up}"
    );
    assert_eq!(
        count(&up, "DestructiveUpdate") + count(&up, "Stop"),
        0,
        "{up}"
    );
    assert!(up["Diff"].is_null(), "no diff unless asked");

    // One fewer.
    let down = h
        .call(
            "PUT",
            "/v1/job/web/plan",
            Some(json!({"Job": job("web", 1)})),
        )
        .await
        .json();
    assert_eq!(count(&down, "Stop"), 1, "{down}");
    assert_eq!(
        count(&down, "Ignore") + count(&down, "InPlaceUpdate"),
        1,
        "{down}"
    );
    assert_eq!(count(&down, "Place"), 0, "{down}");

    // A new command replaces the allocations, as a rolling update (one at a time by
    // default): replaced ones and those left for later add up to the count.
    let mut changed = job("web", 2);
    changed["TaskGroups"][0]["Tasks"][0]["Config"]["args"] = json!(["900"]);
    let body = json!({"Job": changed, "Diff": true});
    let replaced = h.call("PUT", "/v1/job/web/plan", Some(body)).await.json();
    assert!(count(&replaced, "DestructiveUpdate") >= 1, "{replaced}");
    assert_eq!(
        count(&replaced, "DestructiveUpdate") + count(&replaced, "Ignore"),
        2,
        "{replaced}"
    );
    assert_eq!(
        count(&replaced, "Place") + count(&replaced, "Stop"),
        0,
        "{replaced}"
    );
    let group = &replaced["Diff"]["TaskGroups"][0];
    assert_eq!(group["Tasks"][0]["Type"], "Edited");
    assert_eq!(
        group["Updates"]["create/destroy update"],
        count(&replaced, "DestructiveUpdate")
    );
}

#[tokio::test]
async fn plan_refuses_bad_requests() {
    let h = start();
    let mismatch = h
        .call(
            "PUT",
            "/v1/job/other/plan",
            Some(json!({"Job": job("web", 1)})),
        )
        .await;
    assert_eq!(mismatch.status, StatusCode::BAD_REQUEST);
    let mut invalid = job("web", 1);
    invalid["TaskGroups"][0]["Tasks"][0]["Driver"] = json!("");
    let invalid = h
        .call("PUT", "/v1/job/web/plan", Some(json!({"Job": invalid})))
        .await;
    assert_eq!(invalid.status, StatusCode::BAD_REQUEST);
    assert!(
        invalid.text().contains("error occurred"),
        "{}",
        invalid.text()
    );
    assert_eq!(
        h.call("GET", "/v1/job/web/plan", None).await.status,
        StatusCode::METHOD_NOT_ALLOWED
    );
}
