//! `serve` on a real loopback socket: answers, and stops when told, even with a log
//! follower connected.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::{FakeClient, TempDir, job, start_with_client};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const NODE: &str = "0d0d0d0d-0000-4000-8000-000000000001";

async fn request(addr: std::net::SocketAddr, path: &str) -> TcpStream {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let head = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    stream.write_all(head.as_bytes()).await.unwrap();
    stream
}

#[tokio::test]
async fn serves_until_shutdown_even_while_following_logs() {
    let tmp = TempDir::new();
    let h = start_with_client(FakeClient::new(NODE, tmp.path()));
    h.add_node(NODE).await;
    let alloc = h.place(job("web", 1), 1).await[0]["ID"]
        .as_str()
        .unwrap()
        .to_owned();
    let logs = tmp.path().join(&alloc).join("alloc/logs");
    std::fs::create_dir_all(&logs).unwrap();
    std::fs::write(logs.join("server.stdout.0"), "hi\n").unwrap();

    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(caravan_http::serve(listener, h.router.clone(), async {
        let _ = stopped.await;
    }));

    // A plain request.
    let mut stream = request(addr, "/v1/status/leader").await;
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(
        response.to_ascii_lowercase().contains("x-nomad-index: 1"),
        "{response}"
    );
    assert!(response.ends_with("\"127.0.0.1:4647\""), "{response}");

    // A follower that would never end on its own.
    let path = format!("/v1/client/fs/logs/{alloc}?task=server&type=stdout&follow=true&plain=true");
    let mut follower = request(addr, &path).await;
    let mut seen = Vec::new();
    while !String::from_utf8_lossy(&seen).contains("hi\n") {
        let mut buf = [0; 1024];
        let n = follower.read(&mut buf).await.unwrap();
        assert!(n > 0, "stream closed early");
        seen.extend_from_slice(&buf[..n]);
    }

    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .expect("shutdown waited on the follower")
        .unwrap()
        .unwrap();
    let mut rest = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), follower.read_to_end(&mut rest)).await;
}
