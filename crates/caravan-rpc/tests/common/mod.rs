//! A test handler and server helpers shared by the integration tests.

#![allow(dead_code)] // each test binary uses a different subset

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use caravan_rpc::{BoxFuture, ErrorKind, Handler, PeerInfo, RpcError};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, oneshot};
use tokio::task::JoinHandle;

/// Generous: only a hang should ever reach it.
pub const LONG: Duration = Duration::from_secs(60);

/// Methods: `echo` (body back), `sum` (array of numbers), `slow` (waits for the gate,
/// then echoes), `fail` (`{"kind", "leader", "retry"}` -> that error), `whoami` (peer
/// TLS names), `panic`.
pub struct TestHandler {
    pub calls: AtomicUsize,
    /// `slow` calls whose future was dropped before the gate opened.
    pub abandoned: Arc<AtomicUsize>,
    /// `slow` calls wait here until the test adds permits.
    pub gate: Arc<Semaphore>,
    /// Remote addresses seen, to count connections.
    pub peers: Mutex<Vec<std::net::SocketAddr>>,
}

impl TestHandler {
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            calls: AtomicUsize::new(0),
            abandoned: Arc::new(AtomicUsize::new(0)),
            gate: Arc::new(Semaphore::new(0)),
            peers: Mutex::new(Vec::new()),
        })
    }

    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    pub fn distinct_peers(&self) -> usize {
        let mut peers = self.peers.lock().expect("lock").clone();
        peers.sort();
        peers.dedup();
        peers.len()
    }
}

impl Handler for TestHandler {
    fn call(
        &self,
        method: String,
        body: Value,
        peer: PeerInfo,
    ) -> BoxFuture<'static, Result<Value, RpcError>> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.peers.lock().expect("lock").push(peer.addr);
        let gate = self.gate.clone();
        let abandoned = self.abandoned.clone();
        Box::pin(async move {
            match method.as_str() {
                "echo" => Ok(body),
                "sum" => {
                    let nums: Vec<i64> = serde_json::from_value(body)
                        .map_err(|e| RpcError::bad_request(format!("sum wants numbers: {e}")))?;
                    Ok(json!(nums.iter().sum::<i64>()))
                }
                "slow" => {
                    let waiting = Abandoned(Some(abandoned));
                    let permit = gate.acquire().await.expect("gate open");
                    permit.forget();
                    waiting.finished();
                    Ok(body)
                }
                "fail" => {
                    let kind: ErrorKind =
                        serde_json::from_value(body["kind"].clone()).expect("kind");
                    let mut err = if kind == ErrorKind::NotLeader {
                        RpcError::not_leader(body["leader"].as_str().map(str::to_string))
                    } else {
                        RpcError::new(kind, "asked to fail")
                    };
                    if let Some(retry) = body["retry"].as_bool() {
                        err = err.with_retry(retry);
                    }
                    Err(err)
                }
                "whoami" => Ok(json!(peer.tls_names)),
                "panic" => panic!("asked to panic"),
                other => Err(RpcError::unknown_method(other)),
            }
        })
    }
}

/// A running server and the means to stop it.
pub struct Running {
    pub addr: String,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl Running {
    /// Stops the server and waits until its connections are closed.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.expect("join").expect("serve");
        }
    }
}

pub async fn start_on(
    listener: TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    handler: Arc<TestHandler>,
) -> Running {
    let addr = listener.local_addr().expect("addr").to_string();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(caravan_rpc::serve(listener, tls, handler, async move {
        let _ = stopped.await;
    }));
    Running {
        addr,
        stop: Some(stop),
        task: Some(task),
    }
}

pub async fn start(tls: Option<Arc<rustls::ServerConfig>>, handler: Arc<TestHandler>) -> Running {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    start_on(listener, tls, handler).await
}

/// Counts a `slow` call dropped while waiting at the gate.
struct Abandoned(Option<Arc<AtomicUsize>>);

impl Abandoned {
    fn finished(mut self) {
        self.0 = None;
    }
}

impl Drop for Abandoned {
    fn drop(&mut self) {
        if let Some(count) = &self.0 {
            count.fetch_add(1, Ordering::SeqCst);
        }
    }
}
