//! Calls per second over loopback for 1 and 32 concurrent callers, plain and TLS.
//!
//! `cargo run --release -p caravan-rpc --example bench_rpc [seconds-per-case]`

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use caravan_rpc::tls::{self, CertKind, TlsFiles};
use caravan_rpc::{BoxFuture, ClientTls, Handler, PeerInfo, RpcClient, RpcError};
use serde_json::{Value, json};
use tokio::net::TcpListener;

struct Echo;

impl Handler for Echo {
    fn call(
        &self,
        _: String,
        body: Value,
        _: PeerInfo,
    ) -> BoxFuture<'static, Result<Value, RpcError>> {
        Box::pin(async move { Ok(body) })
    }
}

async fn serve(tls: Option<Arc<rustls::ServerConfig>>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    tokio::spawn(caravan_rpc::serve(
        listener,
        tls,
        Arc::new(Echo),
        std::future::pending(),
    ));
    addr
}

fn tls_pair(dir: &std::path::Path) -> (Arc<rustls::ServerConfig>, ClientTls) {
    let (ca, ca_key) = tls::create_ca("bench ca", 1).expect("ca");
    let (cert, key) =
        tls::create_cert(&ca, &ca_key, CertKind::Server, "global", &[], &[], 1).expect("cert");
    let files = TlsFiles {
        ca_file: dir.join("ca.pem"),
        cert_file: dir.join("cert.pem"),
        key_file: dir.join("key.pem"),
        verify_server_hostname: true,
    };
    std::fs::write(&files.ca_file, ca).expect("write");
    std::fs::write(&files.cert_file, cert).expect("write");
    std::fs::write(&files.key_file, key).expect("write");
    tls::load(&files, "global").expect("load")
}

async fn run(client: &RpcClient, addr: &str, callers: usize, secs: u64) -> f64 {
    let body = json!({"Namespace": "default", "JobID": "example", "Index": 1234});
    // Warm up: connect (and handshake) outside the measurement.
    client
        .call(addr, "echo", body.clone(), Duration::from_secs(10))
        .await
        .expect("warm up");
    let done = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let until = start + Duration::from_secs(secs);
    let mut tasks = Vec::new();
    for _ in 0..callers {
        let (client, addr, body, done) =
            (client.clone(), addr.to_string(), body.clone(), done.clone());
        tasks.push(tokio::spawn(async move {
            while Instant::now() < until {
                client
                    .call(&addr, "echo", body.clone(), Duration::from_secs(10))
                    .await
                    .expect("call");
                done.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    for t in tasks {
        t.await.expect("join");
    }
    done.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64()
}

#[tokio::main]
async fn main() {
    let secs = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(3);
    let dir = tempfile::tempdir().expect("tempdir");
    let (server_tls, client_tls) = tls_pair(dir.path());
    let plain_addr = serve(None).await;
    let tls_addr = serve(Some(server_tls)).await;
    for (name, addr, client) in [
        ("plain", plain_addr, RpcClient::new(None)),
        ("tls", tls_addr, RpcClient::new(Some(client_tls))),
    ] {
        for callers in [1, 32] {
            let rate = run(&client, &addr, callers, secs).await;
            println!("{name:>5} {callers:>2} callers: {rate:>9.0} calls/s");
        }
    }
}
