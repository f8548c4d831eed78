//! The plain-TCP wire end to end: real sockets on port 0.

mod common;

use std::time::Duration;

use caravan_rpc::{ErrorKind, MAX_FRAME_LEN, RpcClient};
use common::{LONG, TestHandler, start, start_on};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_trip_plain_and_typed() {
    let handler = TestHandler::new();
    let server = start(None, handler.clone()).await;
    let client = RpcClient::new(None);

    let back = client
        .call(&server.addr, "echo", json!({"a": [1, "two", null]}), LONG)
        .await
        .expect("echo");
    assert_eq!(back, json!({"a": [1, "two", null]}));

    // A null result is a result, not a missing one.
    assert_eq!(
        client.call(&server.addr, "echo", Value::Null, LONG).await,
        Ok(Value::Null)
    );

    let sum: i64 = client
        .call_typed(&server.addr, "sum", &vec![1, 2, 39], LONG)
        .await
        .expect("sum");
    assert_eq!(sum, 42);

    // A host name is resolved.
    let port = server.addr.rsplit(':').next().expect("port");
    let sum: i64 = client
        .call_typed(&format!("localhost:{port}"), "sum", &vec![2, 3], LONG)
        .await
        .expect("sum by name");
    assert_eq!(sum, 5);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_calls_do_not_hold_up_fast_ones_on_one_connection() {
    let handler = TestHandler::new();
    let server = start(None, handler.clone()).await;
    let client = RpcClient::new(None);

    // 100 slow calls that cannot finish until the gate opens, interleaved with 100
    // fast ones. If a slow call blocked the connection, the fast ones would never
    // finish and this test would hang into its deadline.
    let (done_tx, mut done_rx) = tokio::sync::mpsc::unbounded_channel();
    for i in 0..200u64 {
        let (client, addr, done) = (client.clone(), server.addr.clone(), done_tx.clone());
        tokio::spawn(async move {
            let method = if i % 2 == 0 { "slow" } else { "echo" };
            let r = client.call(&addr, method, json!(i), LONG).await;
            let _ = done.send((method, i, r));
        });
    }
    drop(done_tx);

    let mut order = Vec::new();
    let deadline = tokio::time::Instant::now() + LONG;
    while order.len() < 100 {
        let (method, i, r) = tokio::time::timeout_at(deadline, done_rx.recv())
            .await
            .expect("fast calls finish while slow ones wait")
            .expect("sender alive");
        assert_eq!(r, Ok(json!(i)));
        order.push(method);
    }
    assert!(order.iter().all(|m| *m == "echo"), "{order:?}");

    // Open the gate: every slow call completes, with its own answer.
    handler.gate.add_permits(100);
    while let Some((method, i, r)) = tokio::time::timeout_at(deadline, done_rx.recv())
        .await
        .expect("slow calls finish once released")
    {
        assert_eq!(method, "slow");
        assert_eq!(r, Ok(json!(i)));
        order.push(method);
    }
    assert_eq!(order.len(), 200);
    // All of it went over a single connection.
    assert_eq!(handler.distinct_peers(), 1);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_methods_and_handler_errors_survive_the_wire() {
    let handler = TestHandler::new();
    let server = start(None, handler.clone()).await;
    let client = RpcClient::new(None);

    let err = client
        .call(&server.addr, "Job.Nope", json!({}), LONG)
        .await
        .expect_err("unknown");
    assert_eq!(err.kind, ErrorKind::UnknownMethod);
    assert!(err.message.contains("Job.Nope"), "{err}");
    assert!(!err.retry);

    let err = client
        .call(
            &server.addr,
            "fail",
            json!({"kind": "not_leader", "leader": "10.0.0.9:4647"}),
            LONG,
        )
        .await
        .expect_err("not leader");
    assert_eq!(err.kind, ErrorKind::NotLeader);
    assert_eq!(err.leader.as_deref(), Some("10.0.0.9:4647"));
    assert!(err.retry);

    for (kind, retry) in [
        ("not_found", false),
        ("bad_request", false),
        ("unavailable", true),
        ("internal", false),
    ] {
        let err = client
            .call(&server.addr, "fail", json!({"kind": kind}), LONG)
            .await
            .expect_err(kind);
        assert_eq!(err.kind.as_str(), kind);
        assert_eq!(err.retry, retry, "{kind}");
        assert_eq!(err.leader, None);
    }
    // An explicit retry flag wins over the kind's default.
    let err = client
        .call(
            &server.addr,
            "fail",
            json!({"kind": "internal", "retry": true}),
            LONG,
        )
        .await
        .expect_err("internal");
    assert!(err.retry);

    // A handler that cannot decode its body says so.
    let err = client
        .call(&server.addr, "sum", json!("nope"), LONG)
        .await
        .expect_err("bad body");
    assert_eq!(err.kind, ErrorKind::BadRequest);

    // A panicking handler fails its call only; the connection carries on.
    let err = client
        .call(&server.addr, "panic", json!({}), LONG)
        .await
        .expect_err("panic");
    assert_eq!(err.kind, ErrorKind::Internal);
    assert_eq!(
        client.call(&server.addr, "echo", json!(1), LONG).await,
        Ok(json!(1))
    );
    assert_eq!(handler.distinct_peers(), 1);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timed_out_call_does_not_spoil_the_connection() {
    let handler = TestHandler::new();
    let server = start(None, handler.clone()).await;
    let client = RpcClient::new(None);

    // The gate is closed, so this call cannot be answered before its timeout.
    let err = client
        .call(
            &server.addr,
            "slow",
            json!("late"),
            Duration::from_millis(200),
        )
        .await
        .expect_err("timeout");
    assert_eq!(err.kind, ErrorKind::Timeout);

    // The server still runs it (it cannot know the caller gave up): one permit for it,
    // one for the next call. Its late answer arrives for nobody and is dropped.
    handler.gate.add_permits(2);
    assert_eq!(
        client.call(&server.addr, "slow", json!("next"), LONG).await,
        Ok(json!("next"))
    );
    assert_eq!(
        client.call(&server.addr, "echo", json!(2), LONG).await,
        Ok(json!(2))
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_server_is_reached_again_on_the_next_call() {
    let handler = TestHandler::new();
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let local = listener.local_addr().expect("addr");
    let server = start_on(listener, None, handler.clone()).await;
    let client = RpcClient::new(None);
    assert_eq!(
        client.call(&server.addr, "echo", json!(1), LONG).await,
        Ok(json!(1))
    );

    // A call in flight when the server goes away fails, and says it may be retried.
    let in_flight = {
        let (client, addr) = (client.clone(), server.addr.clone());
        tokio::spawn(async move { client.call(&addr, "slow", json!(0), LONG).await })
    };
    let deadline = tokio::time::Instant::now() + LONG;
    while handler.calls() < 2 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "slow call never arrived"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    server.stop().await;
    // Stopping the server drops the handler's future rather than leaving it running
    // (its task notices the closed connection on its own, hence the polling).
    while handler.abandoned.load(std::sync::atomic::Ordering::SeqCst) != 1 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "slow call never dropped"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let err = in_flight.await.expect("join").expect_err("server stopped");
    assert_eq!(err.kind, ErrorKind::Transport);
    assert!(err.retry);

    // Same port, new server: the client reconnects by itself.
    let listener = TcpListener::bind(local)
        .await
        .expect("rebind the same port");
    let server = start_on(listener, None, handler.clone()).await;
    assert_eq!(
        client.call(&server.addr, "echo", json!(2), LONG).await,
        Ok(json!(2))
    );
    assert_eq!(handler.distinct_peers(), 2);
    server.stop().await;

    // Nobody listening: a retryable transport error, not a hang.
    let err = client
        .call(&local.to_string(), "echo", json!(3), LONG)
        .await
        .expect_err("nobody listening");
    assert_eq!(err.kind, ErrorKind::Transport);
    assert!(err.retry);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_frames_are_refused_both_ways() {
    let handler = TestHandler::new();
    let server = start(None, handler.clone()).await;

    // A peer announcing a frame over the limit is disconnected without being answered.
    let mut raw = TcpStream::connect(&server.addr).await.expect("connect");
    raw.write_all(&(MAX_FRAME_LEN as u32 + 1).to_be_bytes())
        .await
        .expect("write prefix");
    let mut buf = [0u8; 16];
    let read = tokio::time::timeout(LONG, raw.read(&mut buf))
        .await
        .expect("server closes the connection");
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
    assert_eq!(handler.calls(), 0);

    // The client refuses to send one, and its connection stays usable.
    let client = RpcClient::new(None);
    let huge = Value::String("x".repeat(MAX_FRAME_LEN));
    let err = client
        .call(&server.addr, "echo", huge, LONG)
        .await
        .expect_err("too large");
    assert_eq!(err.kind, ErrorKind::BadRequest);
    assert!(err.message.contains("frame limit"), "{err}");
    assert_eq!(
        client
            .call(&server.addr, "echo", json!("small"), LONG)
            .await,
        Ok(json!("small"))
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_that_does_not_decode_is_answered_bad_request() {
    let handler = TestHandler::new();
    let server = start(None, handler.clone()).await;
    let mut raw = TcpStream::connect(&server.addr).await.expect("connect");
    let payload = br#"{"id": 5, "method": 12}"#;
    raw.write_all(&(payload.len() as u32).to_be_bytes())
        .await
        .expect("write");
    raw.write_all(payload).await.expect("write");
    let mut len = [0u8; 4];
    raw.read_exact(&mut len).await.expect("read len");
    let mut body = vec![0u8; u32::from_be_bytes(len) as usize];
    raw.read_exact(&mut body).await.expect("read body");
    let resp: Value = serde_json::from_slice(&body).expect("json");
    assert_eq!(resp["id"], 5);
    assert_eq!(resp["err"]["kind"], "bad_request");
    assert_eq!(handler.calls(), 0);
    server.stop().await;
}
