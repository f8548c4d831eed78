//! Router-wide behaviour: unknown routes, wrong methods, body limits, headers.
#![allow(clippy::unwrap_used)]

mod common;

use axum::http::StatusCode;
use caravan_http::MAX_BODY_BYTES;
use common::{job, start};
use serde_json::json;

#[tokio::test]
async fn unknown_route_is_404() {
    let h = start();
    let reply = h.get("/v1/nonsense").await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert!(reply.text().contains("/v1/nonsense"));
    assert_eq!(h.get("/").await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn wrong_method_is_405() {
    let h = start();
    assert_eq!(
        h.call("DELETE", "/v1/jobs", None).await.status,
        StatusCode::METHOD_NOT_ALLOWED
    );
    assert_eq!(
        h.call("POST", "/v1/nodes", None).await.status,
        StatusCode::METHOD_NOT_ALLOWED
    );
    assert_eq!(
        h.call("GET", "/v1/jobs/parse", None).await.status,
        StatusCode::METHOD_NOT_ALLOWED
    );
}

#[tokio::test]
async fn oversize_body_is_413_and_stores_nothing() {
    let h = start();
    let mut big = job("big", 1);
    big["Meta"] = json!({"padding": "x".repeat(MAX_BODY_BYTES)});
    let body = serde_json::to_vec(&json!({"Job": big})).unwrap();
    let reply = h.call_raw("PUT", "/v1/jobs", body).await;
    assert_eq!(reply.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(h.get("/v1/jobs").await.json(), json!([]));

    // Just under the limit is fine.
    let mut fits = job("fits", 1);
    fits["Meta"] = json!({"padding": "x".repeat(MAX_BODY_BYTES - 4096)});
    let reply = h.call("PUT", "/v1/jobs", Some(json!({"Job": fits}))).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
}

#[tokio::test]
async fn reads_carry_query_headers() {
    let h = start();
    let reply = h.get("/v1/jobs").await;
    assert_eq!(
        reply.headers["x-nomad-index"], "1",
        "an empty table reads as index 1"
    );
    assert_eq!(reply.headers["x-nomad-knownleader"], "true");
    assert_eq!(reply.headers["x-nomad-lastcontact"], "0");
    assert_eq!(reply.headers["content-type"], "application/json");
}

#[tokio::test]
async fn bad_query_parameters_are_400() {
    let h = start();
    assert_eq!(
        h.get("/v1/jobs?index=abc").await.status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        h.get("/v1/jobs?index=1&wait=5").await.status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        h.get("/v1/job/web?namespace=*").await.status,
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn pretty_output_is_indented() {
    let h = start();
    let reply = h.get("/v1/regions?pretty").await;
    assert!(reply.text().contains('\n'));
    assert_eq!(reply.json(), json!(["global"]));
}
