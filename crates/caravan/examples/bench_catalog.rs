//! Catalog API reads per second on a dev agent (issue 6, Benchmarks: "catalog API
//! reads/s"), through Consul's health and catalog endpoints and Nomad's service one.
//!
//! Starts the release `caravan` binary as `caravan agent -dev` on ports 0 (Nomad's and
//! Consul's APIs, DNS) in a temporary data dir, and registers `SERVICES` services x
//! `INSTANCES` instances through the Consul agent API (`PUT /v1/agent/service/register`),
//! each instance with its own id, port and tags and a TTL check: passing for all but the
//! last instance of each service, which is critical, so `?passing` has one to leave out.
//! After checking one answer of each kind, it measures for `READ_FOR` each, with
//! `READ_THREADS` threads on HTTP/1.1 keep-alive connections, the service name cycling
//! through the catalog:
//!
//! - `GET /v1/health/service/svc-<i>?passing` (Consul),
//! - `GET /v1/catalog/service/svc-<i>` (Consul),
//! - `GET /v1/service/svc-<i>?provider=consul` (Nomad's API; Consul-provider
//!   registrations appear there only when asked for).
//!
//! and, when `wrk` is installed, `wrk -t2 -c16 -d3s` on one health URL as the peer. The
//! agent is stopped and its data dir removed at the end. Depends on std and serde_json
//! only: it talks HTTP itself.
//!
//! `cargo build --release -p caravan --bins --examples && target/release/examples/bench_catalog`
//!
//! `BENCH_AGENT_LOG_LEVEL=debug` runs the agent at that level and keeps its log (the path
//! is printed), to see where the time goes.

#[path = "support/mod.rs"]
mod support;

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::Res;
use support::agent::Agent;
use support::http::Http;
use support::load::{find_in_path, read_rate, wrk_rate};

/// The catalog (issue 5's scale: 1,000 services x 5 instances).
const SERVICES: usize = 1000;
const INSTANCES: usize = 5;
/// The instances of a service whose check passes; the others' is critical.
const PASSING: usize = INSTANCES - 1;
/// The first instance's port; instance `j` of service `i` has `BASE_PORT + i * INSTANCES + j`.
const BASE_PORT: usize = 20000;
/// Long enough that no check expires during the run.
const CHECK_TTL: &str = "1h";
const READ_THREADS: usize = 2;
const READ_FOR: Duration = Duration::from_secs(3);
/// How long the agent gets to print its addresses, and to exit after SIGINT.
const AGENT_GRACE: Duration = Duration::from_secs(30);

fn main() -> ExitCode {
    support::agent::run("bench_catalog", AGENT_GRACE, bench)
}

/// One kind of read: its name in the figures, the API it goes to, its path for service
/// `i`, and how many instances its answer lists.
struct Endpoint {
    name: &'static str,
    consul: bool,
    path: fn(usize) -> String,
    instances: usize,
}

const READS: [Endpoint; 3] = [
    Endpoint {
        name: "consul health",
        consul: true,
        path: |i| format!("/v1/health/service/{}?passing", service(i)),
        instances: PASSING,
    },
    Endpoint {
        name: "consul catalog",
        consul: true,
        path: |i| format!("/v1/catalog/service/{}", service(i)),
        instances: INSTANCES,
    },
    Endpoint {
        name: "nomad service",
        consul: false,
        path: |i| format!("/v1/service/{}?provider=consul", service(i)),
        instances: INSTANCES,
    },
];

impl Endpoint {
    fn addr(&self, agent: &Agent) -> SocketAddr {
        if self.consul {
            agent.consul_addr
        } else {
            agent.addr
        }
    }
}

fn service(i: usize) -> String {
    format!("svc-{i}")
}

fn bench(agent: &Agent) -> Res<()> {
    let registered = register(agent.consul_addr)?;

    let mut sizes = Vec::with_capacity(READS.len());
    for read in &READS {
        sizes.push(check_answer(agent, read)?);
    }
    let mut rates = Vec::with_capacity(READS.len());
    let mut costs = Vec::with_capacity(READS.len());
    for read in &READS {
        let cpu_start = agent.cpu()?;
        let (done, rate) = read_catalog(read.addr(agent), read)?;
        let cpu = agent.cpu()? - cpu_start;
        rates.push(format!("{} {rate:.0} req/s", read.name));
        costs.push(format!(
            "{} {} us",
            read.name,
            cpu.div_f64(done.max(1) as f64).as_micros()
        ));
    }
    println!(
        "catalog reads: {} ({SERVICES} services x {INSTANCES} instances, {READ_THREADS} connections)",
        rates.join(", ")
    );
    let sizes: Vec<String> = READS
        .iter()
        .zip(&sizes)
        .map(|(read, size)| format!("{} {size} B", read.name))
        .collect();
    println!(
        "  {} s each; agent CPU per request: {}; answers: {} (health: {PASSING} of {INSTANCES} instances passing); setup: {} registrations in {} ms",
        READ_FOR.as_secs(),
        costs.join(", "),
        sizes.join(", "),
        SERVICES * INSTANCES,
        registered.as_millis(),
    );
    match find_in_path("wrk") {
        Some(wrk) => {
            let path = (READS[0].path)(0);
            let rate = wrk_rate(&wrk, &format!("http://{}{path}", agent.consul_addr))?;
            println!(
                "catalog reads, peer load generator wrk -t2 -c16 -d3s: GET {path} {rate} req/s"
            );
        }
        None => println!("wrk is not installed: no peer figure (apt-get install wrk)"),
    }
    Ok(())
}

/// Registers the catalog through the Consul agent API, one service after another on one
/// keep-alive connection; how long it took.
fn register(consul: SocketAddr) -> Res<Duration> {
    let mut http = Http::new(consul);
    let start = Instant::now();
    for i in 0..SERVICES {
        for j in 0..INSTANCES {
            let status = if j < PASSING { "passing" } else { "critical" };
            let body = json!({
                "Name": service(i),
                "ID": format!("{}-{j}", service(i)),
                "Address": "127.0.0.1",
                "Port": BASE_PORT + i * INSTANCES + j,
                "Tags": [format!("instance-{j}"), format!("shard-{}", i % 10)],
                "Meta": {"instance": j.to_string()},
                "Check": {"TTL": CHECK_TTL, "Status": status},
            });
            let body = serde_json::to_vec(&body).map_err(|e| format!("encoding: {e}"))?;
            http.request("PUT", "/v1/agent/service/register", Some(&body))?
                .expect_ok("PUT /v1/agent/service/register (Consul API)")?;
        }
    }
    Ok(start.elapsed())
}

/// Checks that the answer for the last service lists the instances it should, with
/// their ports; its size in bytes.
fn check_answer(agent: &Agent, read: &Endpoint) -> Res<usize> {
    let i = SERVICES - 1;
    let path = (read.path)(i);
    let mut http = Http::new(read.addr(agent));
    let response = http.request("GET", &path, None)?;
    response.expect_ok(&format!("GET {path}"))?;
    let body: Value = serde_json::from_slice(&response.body)
        .map_err(|e| format!("GET {path}: decoding the body: {e}"))?;
    let mut ports: Vec<u64> = body
        .as_array()
        .ok_or_else(|| format!("GET {path}: not a list: {body}"))?
        .iter()
        .filter_map(|entry| {
            entry["Service"]["Port"]
                .as_u64()
                .or_else(|| entry["ServicePort"].as_u64())
                .or_else(|| entry["Port"].as_u64())
        })
        .collect();
    ports.sort();
    let want: Vec<u64> = (0..read.instances)
        .map(|j| (BASE_PORT + i * INSTANCES + j) as u64)
        .collect();
    if ports != want {
        return Err(format!(
            "GET {path}: instance ports {ports:?}, expected {want:?}: {body}"
        ));
    }
    Ok(response.body.len())
}

/// How many requests of one kind of read keep-alive connections made in `READ_FOR`,
/// and how many per second; thread `t` reads services `t`, `t + READ_THREADS`, ...
/// round the catalog.
fn read_catalog(addr: SocketAddr, read: &Endpoint) -> Res<(u64, f64)> {
    let path = read.path;
    read_rate(addr, READ_THREADS, READ_FOR, |http, t, done| {
        let path = path((t + done as usize * READ_THREADS) % SERVICES);
        let response = http.request("GET", &path, None)?;
        response.expect_ok(&format!("GET {path}"))?;
        // A name the catalog does not know would answer `[]`, cheaply.
        if response.body.len() <= 2 {
            return Err(format!("GET {path}: no instances"));
        }
        Ok(())
    })
}
