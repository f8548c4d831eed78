//! Blocking queries: `?index=N&wait=` returns when the table moves past N, or at the
//! deadline with the same data; `X-Nomad-Index` always names the table's index.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use common::{job, start};
use serde_json::json;

#[tokio::test]
async fn returns_when_a_job_is_registered() {
    let h = Arc::new(start());
    h.register_settled(job("first", 1)).await;
    let current = h.get("/v1/jobs").await.index();

    // Register another job after a short delay, while the query below blocks.
    let writer = h.clone();
    let register = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(150)).await;
        writer.register(job("second", 1)).await;
    });
    let started = Instant::now();
    let reply = h.get(&format!("/v1/jobs?index={current}&wait=10s")).await;
    let waited = started.elapsed();
    register.await.unwrap();

    assert_eq!(reply.status, StatusCode::OK);
    assert!(
        waited >= Duration::from_millis(100),
        "returned before the write: {waited:?}"
    );
    assert!(
        waited < Duration::from_secs(5),
        "did not wake on the write: {waited:?}"
    );
    assert!(reply.index() > current);
    let ids: Vec<_> = reply
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["ID"].clone())
        .collect();
    assert!(ids.contains(&json!("second")), "{ids:?}");
}

#[tokio::test]
async fn returns_at_the_deadline_without_a_change() {
    let h = start();
    h.register_settled(job("web", 1)).await;
    let current = h.get("/v1/jobs").await.index();

    let started = Instant::now();
    let reply = h.get(&format!("/v1/jobs?index={current}&wait=100ms")).await;
    let waited = started.elapsed();
    assert_eq!(reply.status, StatusCode::OK);
    assert!(
        waited >= Duration::from_millis(90),
        "did not block: {waited:?}"
    );
    assert!(waited < Duration::from_secs(3), "overslept: {waited:?}");
    assert_eq!(reply.index(), current);
    assert_eq!(reply.json()[0]["ID"], "web");
}

#[tokio::test]
async fn an_older_index_answers_at_once() {
    let h = start();
    h.register(job("web", 1)).await;
    let started = Instant::now();
    let reply = h.get("/v1/jobs?index=1&wait=5s").await;
    assert!(started.elapsed() < Duration::from_secs(1));
    assert!(reply.index() > 1);
}

#[tokio::test]
async fn reads_block_on_their_own_table() {
    let h = Arc::new(start());
    h.register_settled(job("web", 1)).await;
    let current = h.get("/v1/job/web").await.index();
    let writer = h.clone();
    let update = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        writer.register(job("web", 3)).await;
    });
    let reply = h
        .get(&format!("/v1/job/web?index={current}&wait=10s"))
        .await;
    update.await.unwrap();
    assert!(reply.index() > current);
    assert_eq!(reply.json()["TaskGroups"][0]["Count"], 3);
}
