//! Shared test harness: a real server (in-memory state, local log, system clock) behind
//! the router, driven with `oneshot` and no socket.
#![allow(dead_code, clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Request, StatusCode};
use caravan_http::{AgentInfo, Api, BoxFuture, ClientApi, ClientApiError, router};
use caravan_model::{
    AllocId, DriverInfo, Node, NodeCpuResources, NodeDiskResources, NodeId, NodeMemoryResources,
    NodeNetwork, NodeResources,
};
use caravan_server::{LocalLog, Server, ServerConfig, StateHandle, SystemClock};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

/// A started server and the router over it.
pub struct Harness {
    pub server: Arc<Server>,
    pub router: Router,
}

pub fn new_server() -> Arc<Server> {
    let state = StateHandle::default();
    let log = Arc::new(LocalLog::new(state.clone()));
    Server::new(ServerConfig::default(), state, log, Arc::new(SystemClock))
}

/// A started server with a server-only API.
pub fn start() -> Harness {
    let server = new_server();
    server.start();
    let router = router(Api::new(server.clone(), AgentInfo::default()));
    Harness { server, router }
}

/// A started server whose API answers client routes through `client`.
pub fn start_with_client(client: Arc<dyn ClientApi>) -> Harness {
    let server = new_server();
    server.start();
    let router = router(Api::new(server.clone(), AgentInfo::default()).with_client(client));
    Harness { server, router }
}

/// A response, read whole.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// `X-Nomad-Index`.
    pub fn index(&self) -> u64 {
        self.headers
            .get("x-nomad-index")
            .expect("X-Nomad-Index header")
            .to_str()
            .unwrap()
            .parse()
            .unwrap()
    }
}

impl Harness {
    pub async fn call(&self, method: &str, uri: &str, body: Option<Value>) -> Reply {
        let body = body
            .map(|b| serde_json::to_vec(&b).unwrap())
            .unwrap_or_default();
        self.call_raw(method, uri, body).await
    }

    pub async fn call_raw(&self, method: &str, uri: &str, body: Vec<u8>) -> Reply {
        let response = self.send(method, uri, body).await;
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        Reply {
            status,
            headers,
            body,
        }
    }

    /// The response with its body unread (for streams).
    pub async fn send(&self, method: &str, uri: &str, body: Vec<u8>) -> axum::response::Response {
        let request = Request::builder()
            .method(method)
            .uri(uri)
            .body(Body::from(body))
            .unwrap();
        self.router.clone().oneshot(request).await.unwrap()
    }

    pub async fn get(&self, uri: &str) -> Reply {
        self.call("GET", uri, None).await
    }

    /// Registers `job` (a job object) and asserts it was accepted.
    pub async fn register(&self, job: Value) -> Value {
        let reply = self
            .call("PUT", "/v1/jobs", Some(json!({ "Job": job })))
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
        reply.json()
    }

    /// Registers `job` and waits until the server has processed its evaluation, so that
    /// no write is still on its way (blocking-query tests need a quiet store).
    pub async fn register_settled(&self, job: Value) -> Value {
        let registered = self.register(job).await;
        let eval = registered["EvalID"].as_str().unwrap().to_owned();
        self.wait_for(&format!("/v1/evaluation/{eval}"), |e| {
            e["Status"] != "pending"
        })
        .await;
        registered
    }

    /// Registers a ready raw_exec node and returns its id.
    pub async fn add_node(&self, id: &str) -> NodeId {
        self.server.register_node(raw_exec_node(id)).await.unwrap();
        NodeId::from(id)
    }

    /// Polls `uri` until `done` holds for its JSON, for up to five seconds.
    pub async fn wait_for(&self, uri: &str, done: impl Fn(&Value) -> bool) -> Value {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        loop {
            let reply = self.get(uri).await;
            if reply.status == StatusCode::OK {
                let value = reply.json();
                if done(&value) {
                    return value;
                }
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "timed out waiting on {uri}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Registers `job` and waits until `count` of its allocations are placed.
    pub async fn place(&self, job: Value, count: usize) -> Vec<Value> {
        let id = job["ID"].as_str().unwrap().to_owned();
        self.register(job).await;
        let uri = format!("/v1/job/{id}/allocations");
        let allocs = self
            .wait_for(&uri, |v| {
                v.as_array()
                    .unwrap()
                    .iter()
                    .filter(|a| a["DesiredStatus"] == "run")
                    .count()
                    >= count
            })
            .await;
        allocs.as_array().unwrap().clone()
    }
}

/// A ready client node with the raw_exec driver and room for small jobs.
pub fn raw_exec_node(id: &str) -> Node {
    let mut attributes = BTreeMap::new();
    for (k, v) in [
        ("kernel.name", "linux"),
        ("os.name", "debian"),
        ("cpu.arch", "amd64"),
        ("driver.raw_exec", "1"),
        ("unique.hostname", "test-host"),
        ("unique.network.ip-address", "127.0.0.1"),
        ("nomad.version", "1.9.0"),
    ] {
        attributes.insert(k.to_owned(), v.to_owned());
    }
    let mut drivers = BTreeMap::new();
    drivers.insert(
        "raw_exec".to_owned(),
        DriverInfo {
            detected: true,
            healthy: true,
            ..DriverInfo::default()
        },
    );
    Node {
        id: NodeId::from(id),
        name: format!("node-{}", &id[..id.len().min(8)]),
        datacenter: "dc1".into(),
        node_pool: "default".into(),
        http_addr: "127.0.0.1:4646".into(),
        attributes,
        drivers,
        node_resources: NodeResources {
            cpu: NodeCpuResources {
                cpu_shares: 8000,
                total_cpu_cores: 4,
                reservable_cpu_cores: vec![0, 1, 2, 3],
            },
            memory: NodeMemoryResources { memory_mb: 8192 },
            disk: NodeDiskResources { disk_mb: 100_000 },
            networks: vec![NodeNetwork {
                mode: "host".into(),
                device: "lo".into(),
                ip: "127.0.0.1".into(),
                cidr: "127.0.0.1/32".into(),
            }],
            min_dynamic_port: 20000,
            max_dynamic_port: 32000,
        },
        status: "ready".into(),
        scheduling_eligibility: "eligible".into(),
        ..Node::default()
    }
}

/// A service job with one raw_exec task per group.
pub fn job(id: &str, count: i64) -> Value {
    json!({
        "ID": id,
        "Name": id,
        "Type": "service",
        "Datacenters": ["dc1"],
        "TaskGroups": [{
            "Name": "app",
            "Count": count,
            "Tasks": [{
                "Name": "server",
                "Driver": "raw_exec",
                "Config": {"command": "/bin/sleep", "args": ["600"]},
                "Resources": {"CPU": 100, "MemoryMB": 64},
            }],
        }],
    })
}

/// A directory under the system temp dir, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new() -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path =
            std::env::temp_dir().join(format!("caravan-http-test-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&path).unwrap();
        Self(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A client that serves allocation directories from `root/<alloc id>` and records
/// restart and signal calls.
#[derive(Debug)]
pub struct FakeClient {
    pub node_id: NodeId,
    pub root: PathBuf,
    pub calls: Mutex<Vec<String>>,
}

impl FakeClient {
    pub fn new(node_id: &str, root: &Path) -> Arc<Self> {
        Arc::new(Self {
            node_id: NodeId::from(node_id),
            root: root.to_path_buf(),
            calls: Mutex::new(Vec::new()),
        })
    }

    pub fn calls(&self) -> Vec<String> {
        self.calls.lock().unwrap().clone()
    }
}

impl ClientApi for FakeClient {
    fn node_id(&self) -> NodeId {
        self.node_id.clone()
    }

    fn alloc_dir(&self, alloc: &AllocId) -> Option<PathBuf> {
        let dir = self.root.join(alloc.as_str());
        dir.is_dir().then_some(dir)
    }

    fn restart_alloc(
        &self,
        alloc: AllocId,
        task: Option<String>,
    ) -> BoxFuture<'_, Result<(), ClientApiError>> {
        self.calls
            .lock()
            .unwrap()
            .push(format!("restart {alloc} {task:?}"));
        Box::pin(async { Ok(()) })
    }

    fn signal_alloc(
        &self,
        alloc: AllocId,
        task: Option<String>,
        signal: String,
    ) -> BoxFuture<'_, Result<(), ClientApiError>> {
        if signal == "SIGBOGUS" {
            return Box::pin(async move {
                Err(ClientApiError::BadRequest(format!(
                    "unknown signal {signal}"
                )))
            });
        }
        self.calls
            .lock()
            .unwrap()
            .push(format!("signal {alloc} {task:?} {signal}"));
        Box::pin(async { Ok(()) })
    }

    fn alloc_stats(&self, _alloc: AllocId) -> BoxFuture<'_, Result<Value, ClientApiError>> {
        Box::pin(async {
            Ok(
                json!({"ResourceUsage": {"MemoryStats": {"RSS": 1024}}, "Tasks": {}, "Timestamp": 1}),
            )
        })
    }
}

/// Decodes a stream of concatenated JSON frames.
pub fn frames(bytes: &[u8]) -> Vec<Value> {
    serde_json::Deserializer::from_slice(bytes)
        .into_iter::<Value>()
        .map(Result::unwrap)
        .collect()
}

/// The data of log frames, decoded and joined.
pub fn frame_data(frames: &[Value]) -> String {
    let mut out = Vec::new();
    for frame in frames {
        if let Some(data) = frame["Data"].as_str() {
            out.extend(caravan_http::base64::decode(data).unwrap());
        }
    }
    String::from_utf8(out).unwrap()
}
