//! Cluster benchmarks: Caravan's servers replicating through Raft (openraft + redb,
//! fsync on), on loopback, each a process of the release `caravan` binary started
//! from an agent configuration file (`support::cluster`).
//!
//! 1. `writes`: job registrations per second through Raft on 3 servers, with 1 and
//!    with 32 concurrent writers, each `PUT /v1/jobs` of a job whose group has count 0
//!    (so that scheduling does not dominate) sent to the leader on a keep-alive
//!    connection.
//! 2. `failover`: SIGKILL the leader; the time until a surviving server names another
//!    leader and a write to it is acknowledged. Five times, the killed server started
//!    again (on its data dir) in between; p50 and max against the 3 s target.
//! 3. `node-loss`: 3 servers with the default heartbeat TTL (5 s) and grace (5 s) and
//!    2 client agents; a raw_exec job `sleep 3600` with count 1; SIGKILL the client
//!    that runs it; the time until its replacement runs on the other client (target
//!    15 s).
//! 4. `scale`: one server (`--scale-servers 3` for three) with a 60 s heartbeat TTL;
//!    a node simulator in this process registers 5,000 nodes over the RPC port
//!    (`client.register_node`, Nomad-shaped `Node`s with raw_exec) and keeps them
//!    heartbeating; then 10 jobs x 1,000 allocations are registered and the job
//!    summaries polled until all are placed: placements per second end to end, with
//!    where the time went (allocation create times, plan commits, leader CPU).
//!
//! Every part has its own cluster, stopped at its end, also on failure; what tasks a
//! killed client left behind are killed by pid and the temporary directories removed.
//! Arguments: part names to run only those, `--skip <part>` to leave one out.
//! `BENCH_AGENT_LOG_LEVEL=debug` runs the agents at that level and keeps their
//! directories (configurations, logs, data).
//!
//! `cargo build --release -p caravan && cargo run --release -p caravan --example bench_cluster`

#[path = "support/mod.rs"]
mod support;

use std::net::SocketAddr;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use caravan_model::{DriverInfo, Node, NodeId, NodeNetwork};
use caravan_rpc::RpcClient;
use serde_json::{Value, json};
use support::Res;
use support::cluster::{Cluster, Spec};
use support::http::Http;
use support::stats::{missed, ms, percentile};

const PARTS: [&str; 4] = ["writes", "failover", "node-loss", "scale"];

/// How long an agent gets to answer after starting, and to exit after SIGINT.
const GRACE: Duration = Duration::from_secs(30);

/// Part 1.
const WRITE_FOR: Duration = Duration::from_secs(5);
const WRITERS: [usize; 2] = [1, 32];

/// Part 2.
const KILLS: usize = 5;
const FAILOVER_TARGET: Duration = Duration::from_secs(3);
/// How long a failover may take before the bench gives up on it.
const FAILOVER_LIMIT: Duration = Duration::from_secs(60);

/// Part 3.
const NODE_LOSS_TARGET: Duration = Duration::from_secs(15);
const NODE_LOSS_LIMIT: Duration = Duration::from_secs(90);

/// Part 4.
const NODES: usize = 5000;
const JOBS: usize = 10;
const COUNT: usize = 1000;
const PLACEMENT_TARGET: f64 = 20_000.0;
const SIM_TTL: Duration = Duration::from_secs(60);
const SIM_GRACE: Duration = Duration::from_secs(10);
/// Concurrent registrations (and heartbeat loops) of the node simulator.
const SIM_CONCURRENCY: usize = 64;
const RPC_TIMEOUT: Duration = Duration::from_secs(30);
const PLACEMENT_LIMIT: Duration = Duration::from_secs(600);

struct Args {
    parts: Vec<&'static str>,
    scale_servers: usize,
}

impl Args {
    fn parse() -> Res<Self> {
        let mut only = Vec::new();
        let mut skip = Vec::new();
        let mut scale_servers = 1;
        let mut args = std::env::args().skip(1);
        let part = |name: &str| -> Res<&'static str> {
            PARTS
                .iter()
                .find(|p| **p == name)
                .copied()
                .ok_or_else(|| format!("unknown part {name:?} (parts: {})", PARTS.join(", ")))
        };
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "--skip" => skip.push(part(&args.next().ok_or("--skip needs a part")?)?),
                "--scale-servers" => {
                    scale_servers = args
                        .next()
                        .and_then(|n| n.parse().ok())
                        .filter(|n| [1, 3].contains(n))
                        .ok_or("--scale-servers needs 1 or 3")?;
                }
                "-h" | "--help" => {
                    return Err(format!(
                        "usage: bench_cluster [PART...] [--skip PART]... [--scale-servers 1|3]; parts: {}",
                        PARTS.join(", ")
                    ));
                }
                name => only.push(part(name)?),
            }
        }
        let parts = PARTS
            .iter()
            .copied()
            .filter(|p| (only.is_empty() || only.contains(p)) && !skip.contains(p))
            .collect();
        Ok(Self {
            parts,
            scale_servers,
        })
    }
}

fn main() -> ExitCode {
    let args = match Args::parse() {
        Ok(args) => args,
        Err(e) => {
            eprintln!("bench_cluster: {e}");
            return ExitCode::FAILURE;
        }
    };
    let binary = match support::agent::caravan_binary() {
        Ok(binary) => binary,
        Err(e) => {
            eprintln!("bench_cluster: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut failed = false;
    for part in &args.parts {
        let result = match *part {
            "writes" => writes(&binary),
            "failover" => failover(&binary),
            "node-loss" => node_loss(&binary),
            _ => scale(&binary, args.scale_servers),
        };
        if let Err(e) = result {
            eprintln!("bench_cluster {part}: {e}");
            failed = true;
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// Starts a cluster for `part`, runs `bench` on it and stops it; a failure carries the
/// end of every member's log. Problems the members logged are printed to stderr.
fn with_cluster(
    binary: &Path,
    part: &str,
    spec: &Spec,
    bench: impl FnOnce(&mut Cluster) -> Res<()>,
) -> Res<()> {
    let mut cluster = Cluster::start(binary, &format!("bench-cluster-{part}"), spec)?;
    let result = bench(&mut cluster);
    let problems = cluster.problems();
    if !problems.is_empty() {
        eprint!(
            "bench_cluster {part}: the agents logged (BENCH_AGENT_LOG_LEVEL=info keeps the logs):\n{problems}"
        );
    }
    let tails = cluster.log_tails();
    let stopped = cluster.stop();
    match (result, stopped) {
        (Ok(()), Ok(left)) => {
            if left > 0 {
                // A SIGKILLed client leaves its tasks (and their log collectors).
                eprintln!("bench_cluster {part}: killed {left} processes the agents left behind");
            }
            Ok(())
        }
        (Err(e), _) | (Ok(()), Err(e)) => Err(format!("{e}\n{tails}")),
    }
}

fn three_servers() -> Spec {
    Spec {
        servers: 3,
        clients: 0,
        heartbeat: None,
        grace: GRACE,
    }
}

/// The `PUT /v1/jobs` request of a service job that asks for nothing: its group has
/// count 0, so its evaluation places nothing.
fn empty_job(id: &str) -> Vec<u8> {
    let mut job = support::nomad::sleep_job(id);
    job["Job"]["TaskGroups"][0]["Count"] = json!(0);
    serde_json::to_vec(&job).expect("invariant: a JSON value encodes")
}

fn put_job(http: &mut Http, body: &[u8]) -> Res<u64> {
    let response = http.request("PUT", "/v1/jobs", Some(body))?;
    response.expect_ok("PUT /v1/jobs")?;
    Ok(response.index)
}

// ---- 1. writes ----

fn writes(binary: &Path) -> Res<()> {
    with_cluster(binary, "writes", &three_servers(), |cluster| {
        let leader = cluster.wait_leader(None, GRACE)?;
        let addr = cluster.servers[leader].http;
        let mut http = Http::new(addr);
        for i in 0..20 {
            put_job(&mut http, &empty_job(&format!("warm-{i}")))?;
        }
        let mut figures = Vec::new();
        for writers in WRITERS {
            let (done, rate, mut latencies) = write_rate(addr, writers)?;
            latencies.sort();
            figures.push(format!(
                "{writers} writer{} {rate:.0}/s (latency p50 {} ms, p99 {} ms)",
                if writers == 1 { "" } else { "s" },
                ms(percentile(&latencies, 50)),
                ms(percentile(&latencies, 99)),
            ));
            if done == 0 {
                return Err(format!("{writers} writers registered no job"));
            }
            cluster.servers[leader].check_alive()?;
        }
        println!(
            "cluster job registrations through raft: {} (3 servers on loopback, fsync on, PUT /v1/jobs of a count-0 job to the leader, {} s each)",
            figures.join(", "),
            WRITE_FOR.as_secs()
        );
        Ok(())
    })
}

/// `writers` threads registering new jobs on keep-alive connections for `WRITE_FOR`:
/// how many, how many per second, and each one's latency.
fn write_rate(addr: SocketAddr, writers: usize) -> Res<(usize, f64, Vec<Duration>)> {
    let start = Instant::now();
    let until = start + WRITE_FOR;
    let latencies = std::thread::scope(|scope| {
        let threads: Vec<_> = (0..writers)
            .map(|w| {
                scope.spawn(move || -> Res<Vec<Duration>> {
                    let mut http = Http::new(addr);
                    let mut latencies = Vec::new();
                    while Instant::now() < until {
                        let body = empty_job(&format!("w{writers}-{w}-{}", latencies.len()));
                        let sent = Instant::now();
                        put_job(&mut http, &body)?;
                        latencies.push(sent.elapsed());
                    }
                    Ok(latencies)
                })
            })
            .collect();
        let mut all = Vec::new();
        for thread in threads {
            all.extend(
                thread
                    .join()
                    .map_err(|_| "a writer thread panicked".to_owned())??,
            );
        }
        Ok::<_, String>(all)
    })?;
    let rate = latencies.len() as f64 / start.elapsed().as_secs_f64();
    Ok((latencies.len(), rate, latencies))
}

// ---- 2. failover ----

fn failover(binary: &Path) -> Res<()> {
    with_cluster(binary, "failover", &three_servers(), |cluster| {
        let mut took = Vec::new();
        let mut elected = Vec::new();
        for kill in 0..KILLS {
            let leader = cluster.wait_leader(None, GRACE)?;
            let old = cluster.servers[leader]
                .rpc
                .clone()
                .expect("invariant: a server has an RPC address");
            let start = Instant::now();
            cluster.servers[leader].kill()?;
            let (new_leader, named) = wait_new_leader(cluster, &old, start)?;
            let id = format!("failover-{kill}");
            write_until_acknowledged(cluster.servers[new_leader].http, &empty_job(&id), start)?;
            took.push(start.elapsed());
            elected.push(named);
            // The killed server again, on its data dir: back in the cluster, agreeing
            // on the leader, and caught up (a consistent read finds the job).
            cluster.servers[leader].start()?;
            cluster.servers[leader].wait_http(&format!("/v1/job/{id}"), GRACE)?;
            cluster.wait_leader(None, GRACE)?;
        }
        took.sort();
        elected.sort();
        let max = *took.last().expect("invariant: KILLS > 0");
        println!(
            "cluster leader failover: p50 {} ms, max {} ms over {KILLS} SIGKILLs of the leader (until a survivor names a new leader and a write to it is acknowledged; target <= {} ms{}); new leader named p50 {} ms, max {} ms",
            ms(percentile(&took, 50)),
            ms(max),
            FAILOVER_TARGET.as_millis(),
            missed(max, FAILOVER_TARGET),
            ms(percentile(&elected, 50)),
            ms(*elected.last().expect("invariant: KILLS > 0")),
        );
        Ok(())
    })
}

/// Polls the running servers (`?stale`: each its own view) until one names a running
/// leader other than `old`: that leader, and how long after `start` it was named.
fn wait_new_leader(cluster: &mut Cluster, old: &str, start: Instant) -> Res<(usize, Duration)> {
    let mut clients: Vec<Option<Http>> = cluster
        .servers
        .iter()
        .map(|s| s.is_running().then(|| Http::new(s.http)))
        .collect();
    loop {
        for http in clients.iter_mut().flatten() {
            let Ok((_, leader)) = http.get_json("/v1/status/leader?stale") else {
                continue;
            };
            let leader = support::string(&leader);
            if !leader.is_empty()
                && leader != old
                && let Some(at) = cluster.server_at(&leader)
                && cluster.servers[at].is_running()
            {
                return Ok((at, start.elapsed()));
            }
        }
        for server in &mut cluster.servers {
            server.check_alive()?;
        }
        if start.elapsed() > FAILOVER_LIMIT {
            return Err(format!(
                "no new leader {FAILOVER_LIMIT:?} after killing {old}"
            ));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Sends the write until it is acknowledged (a new leader may refuse it for a moment).
fn write_until_acknowledged(addr: SocketAddr, body: &[u8], start: Instant) -> Res<()> {
    let mut http = Http::new(addr);
    loop {
        let last = match put_job(&mut http, body) {
            Ok(_) => return Ok(()),
            Err(e) => e,
        };
        if start.elapsed() > FAILOVER_LIMIT {
            return Err(format!(
                "no write acknowledged by {addr} within {FAILOVER_LIMIT:?}: {last}"
            ));
        }
        http.close();
        std::thread::sleep(Duration::from_millis(5));
    }
}

// ---- 3. node loss ----

fn node_loss(binary: &Path) -> Res<()> {
    let spec = Spec {
        clients: 2,
        ..three_servers()
    };
    with_cluster(binary, "node-loss", &spec, |cluster| {
        let leader = cluster.wait_leader(None, GRACE)?;
        let mut http = Http::new(cluster.servers[leader].http);
        let id = "node-loss";
        let mut job = support::nomad::sleep_job(id);
        job["Job"]["TaskGroups"][0]["Tasks"][0]["Config"]["args"] = json!(["3600"]);
        let body = serde_json::to_vec(&job).map_err(|e| format!("encoding: {e}"))?;
        let index = put_job(&mut http, &body)?;
        let alloc = support::nomad::wait_running(&mut http, id, index, GRACE)?;
        let lost_node = support::string(&alloc["NodeID"]);
        let (_, node) = http.get_json(&format!("/v1/node/{lost_node}"))?;
        let victim = cluster
            .clients
            .iter()
            .position(|c| node["Name"] == c.name.as_str())
            .ok_or_else(|| format!("no client is named like the allocation's node: {node}"))?;

        let start = Instant::now();
        let killed_at = support::unix_nanos();
        cluster.clients[victim].kill()?;
        let mut down = None;
        let mut placed = None;
        let replacement = loop {
            if down.is_none() {
                let (_, node) = http.get_json(&format!("/v1/node/{lost_node}"))?;
                if node["Status"] == "down" {
                    down = Some(start.elapsed());
                }
            }
            let (_, allocs) = http.get_json(&format!("/v1/job/{id}/allocations"))?;
            let other = allocs.as_array().and_then(|allocs| {
                allocs
                    .iter()
                    .find(|a| a["NodeID"] != lost_node.as_str() && a["DesiredStatus"] == "run")
            });
            if let Some(other) = other {
                placed.get_or_insert(start.elapsed());
                if other["ClientStatus"] == "running" {
                    break other.clone();
                }
                if matches!(other["ClientStatus"].as_str(), Some("failed" | "lost")) {
                    return Err(format!("the replacement allocation failed: {other}"));
                }
            }
            for server in &mut cluster.servers {
                server.check_alive()?;
            }
            if start.elapsed() > NODE_LOSS_LIMIT {
                return Err(format!(
                    "no replacement running {NODE_LOSS_LIMIT:?} after the node was killed (node down after {down:?}): {allocs}"
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let took = start.elapsed();
        let created = replacement["CreateTime"]
            .as_i64()
            .map(|t| Duration::from_nanos(u64::try_from(t - killed_at).unwrap_or(0)));
        println!(
            "cluster node loss to replacement running: {} ms (SIGKILL the client running a raw_exec job; 3 servers, 2 clients, heartbeat ttl 5 s + grace 5 s by default; target <= {} ms{}); node down after {} ms, replacement created after {} ms, seen placed after {} ms",
            ms(took),
            NODE_LOSS_TARGET.as_millis(),
            missed(took, NODE_LOSS_TARGET),
            down.map_or("?".into(), ms),
            created.map_or("?".into(), ms),
            placed.map_or("?".into(), ms),
        );
        // Stops the replacement through the surviving client before the agents stop
        // (a client agent leaves its tasks running when it stops).
        let stopped = http.request("DELETE", &format!("/v1/job/{id}?purge=true"), None)?;
        stopped.expect_ok("DELETE /v1/job")?;
        support::nomad::stop_wait(
            &mut http,
            &support::string(&replacement["ID"]),
            stopped.index,
            GRACE,
        )
    })
}

// ---- 4. scheduling at scale ----

fn scale(binary: &Path, servers: usize) -> Res<()> {
    let spec = Spec {
        servers,
        clients: 0,
        heartbeat: Some((SIM_TTL, SIM_GRACE)),
        grace: GRACE,
    };
    with_cluster(binary, "scale", &spec, |cluster| {
        let leader = cluster.wait_leader(None, GRACE)?;
        let rpc = cluster.servers[leader]
            .rpc
            .clone()
            .expect("invariant: a server has an RPC address");
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(|e| format!("starting the simulator's runtime: {e}"))?;
        let sim = Simulator {
            rpc: RpcClient::new(None),
            server: rpc,
            nodes: Arc::new((0..NODES).map(node_id).collect()),
            stop: Arc::default(),
            heartbeats: Arc::default(),
            heartbeat_errors: Arc::default(),
        };
        let registered = runtime.block_on(sim.register())?;
        let heartbeater = runtime.spawn(sim.clone().heartbeat());
        let result = place(cluster, leader, servers, registered, &sim);
        sim.stop.store(true, Ordering::Relaxed);
        let _ = runtime.block_on(heartbeater);
        let errors = sim.heartbeat_errors.load(Ordering::Relaxed);
        if result.is_ok() && errors > 0 {
            return Err(format!("{errors} heartbeats of simulated nodes failed"));
        }
        result
    })
}

/// Registers the allocations and follows the job summaries until all are placed; prints
/// the figures.
fn place(
    cluster: &mut Cluster,
    leader: usize,
    servers: usize,
    registered: Duration,
    sim: &Simulator,
) -> Res<()> {
    let addr = cluster.servers[leader].http;
    let mut http = Http::new(addr);
    let (_, nodes) = http.get_json("/v1/nodes?stale")?;
    let ready = nodes
        .as_array()
        .map_or(0, |n| n.iter().filter(|n| n["Status"] == "ready").count());
    if ready != NODES {
        return Err(format!("{ready} of {NODES} simulated nodes are ready"));
    }
    let pid = cluster.servers[leader]
        .pid()
        .ok_or("the leader is not running")?;
    let cpu_before = process_cpu(pid)?;
    let start_nanos = support::unix_nanos();
    let start = Instant::now();
    for j in 0..JOBS {
        put_job(&mut http, &scale_job(j))?;
    }
    let submitted = start.elapsed();
    let mut done_at = [None; JOBS];
    loop {
        let mut placed_total = 0;
        for (j, done) in done_at.iter_mut().enumerate() {
            let (_, summary) = http.get_json(&format!("/v1/job/scale-{j}/summary?stale"))?;
            let group = &summary["Summary"]["bench"];
            let placed = [
                "Starting", "Running", "Complete", "Failed", "Lost", "Unknown",
            ]
            .iter()
            .map(|k| group[k].as_u64().unwrap_or(0))
            .sum::<u64>() as usize;
            placed_total += placed;
            if placed >= COUNT && done.is_none() {
                *done = Some(start.elapsed());
            }
        }
        if placed_total >= JOBS * COUNT {
            break;
        }
        cluster.servers[leader].check_alive()?;
        if start.elapsed() > PLACEMENT_LIMIT {
            return Err(format!(
                "{placed_total} of {} allocations placed after {PLACEMENT_LIMIT:?}",
                JOBS * COUNT
            ));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let took = start.elapsed();
    let cpu = process_cpu(pid)? - cpu_before;
    let leader_now = cluster.wait_leader(None, GRACE)?;
    let leadership = if leader_now == leader {
        ""
    } else {
        "; the leadership changed meanwhile"
    };
    let rate = (JOBS * COUNT) as f64 / took.as_secs_f64();

    // Where the time went, from the allocations themselves.
    let (_, allocs) = http.get_json("/v1/allocations?stale")?;
    let allocs = allocs.as_array().cloned().unwrap_or_default();
    let ours: Vec<&Value> = allocs
        .iter()
        .filter(|a| a["JobID"].as_str().is_some_and(|j| j.starts_with("scale-")))
        .collect();
    if ours.len() != JOBS * COUNT {
        return Err(format!(
            "the summaries count {} placements, /v1/allocations lists {}",
            JOBS * COUNT,
            ours.len()
        ));
    }
    let times: Vec<i64> = ours
        .iter()
        .filter_map(|a| a["CreateTime"].as_i64())
        .collect();
    let since = |t: i64| Duration::from_nanos(u64::try_from(t - start_nanos).unwrap_or(0));
    let created_first = times.iter().min().copied().map(since);
    let created_last = times.iter().max().copied().map(since);
    let mut commits: Vec<u64> = ours
        .iter()
        .filter_map(|a| a["CreateIndex"].as_u64())
        .collect();
    commits.sort_unstable();
    commits.dedup();
    let mut used: Vec<&str> = ours.iter().filter_map(|a| a["NodeID"].as_str()).collect();
    used.sort_unstable();
    used.dedup();
    let done: Vec<String> = done_at
        .iter()
        .map(|d| d.map_or("?".into(), |d| format!("{:.0}", d.as_secs_f64() * 1000.0)))
        .collect();

    println!(
        "cluster scheduling: {} allocations ({JOBS} jobs x {COUNT}, raw_exec) on {NODES} simulated nodes placed in {} ms: {rate:.0} placements/s end to end ({servers} server{}, fsync on; {PLACEMENT_TARGET:.0}/s is the scheduler's own target{})",
        JOBS * COUNT,
        ms(took),
        if servers == 1 { "" } else { "s" },
        if rate >= PLACEMENT_TARGET {
            ""
        } else {
            ", not reached end to end"
        },
    );
    println!(
        "  where the time went: {JOBS} jobs registered in {} ms; allocations created from {} ms to {} ms after the first PUT, in {} plan commits, on {} nodes; each job seen fully placed at [{}] ms (polling starts once all are registered); leader CPU {} ms in that time{leadership}",
        ms(submitted),
        created_first.map_or("?".into(), ms),
        created_last.map_or("?".into(), ms),
        commits.len(),
        used.len(),
        done.join(", "),
        ms(cpu),
    );
    println!(
        "  simulator: {NODES} nodes registered over RPC in {} ms ({:.0}/s, {SIM_CONCURRENCY} concurrent), heartbeat ttl {} s, {} heartbeats sent",
        ms(registered),
        NODES as f64 / registered.as_secs_f64(),
        SIM_TTL.as_secs(),
        sim.heartbeats.load(Ordering::Relaxed),
    );
    Ok(())
}

/// Job `scale-<j>`: one group `bench` of `COUNT` raw_exec tasks with small resources.
fn scale_job(j: usize) -> Vec<u8> {
    let id = format!("scale-{j}");
    let mut job = support::nomad::sleep_job(&id);
    job["Job"]["TaskGroups"][0]["Count"] = json!(COUNT);
    job["Job"]["TaskGroups"][0]["Tasks"][0]["Resources"] = json!({"CPU": 20, "MemoryMB": 16});
    serde_json::to_vec(&job).expect("invariant: a JSON value encodes")
}

/// A process's user + system CPU time so far (`/proc/<pid>/stat`, in clock ticks of
/// 1/100 s, Linux's `USER_HZ`).
fn process_cpu(pid: u32) -> Res<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map_err(|e| format!("reading /proc/{pid}/stat: {e}"))?;
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let field = |i: usize| -> Res<u64> {
        fields
            .get(i)
            .and_then(|f| f.parse().ok())
            .ok_or_else(|| format!("/proc/{pid}/stat: no field {}", i + 3))
    };
    Ok(Duration::from_millis((field(11)? + field(12)?) * 10))
}

/// A UUID-shaped node id, distinct per `i`.
fn node_id(i: usize) -> String {
    format!("5e7a0000-0000-4000-8000-{i:012x}")
}

/// A simulated node: Nomad-shaped, as a client's fingerprint fills one, with raw_exec
/// detected and healthy and room for many small allocations.
fn sim_node(i: usize, id: &str) -> Node {
    let mut node = Node {
        id: NodeId::from(id),
        name: format!("sim-{i}"),
        datacenter: "dc1".into(),
        node_pool: "default".into(),
        http_addr: "127.0.0.1:4646".into(),
        status: "ready".into(),
        scheduling_eligibility: "eligible".into(),
        ..Node::default()
    };
    let resources = &mut node.node_resources;
    resources.cpu.cpu_shares = 8000;
    resources.cpu.total_cpu_cores = 4;
    resources.cpu.reservable_cpu_cores = (0..4).collect();
    resources.memory.memory_mb = 16 * 1024;
    resources.disk.disk_mb = 100 * 1024;
    resources.networks = vec![NodeNetwork {
        mode: "host".into(),
        ip: "127.0.0.1".into(),
        ..Default::default()
    }];
    resources.min_dynamic_port = 20000;
    resources.max_dynamic_port = 32000;
    node.attributes = [
        ("kernel.name", std::env::consts::OS.to_owned()),
        ("cpu.arch", std::env::consts::ARCH.to_owned()),
        ("cpu.numcores", "4".to_owned()),
        ("cpu.totalcompute", "8000".to_owned()),
        ("memory.totalbytes", (16u64 << 30).to_string()),
        ("unique.hostname", format!("sim-{i}")),
        ("unique.network.ip-address", "127.0.0.1".to_owned()),
        ("driver.raw_exec", "1".to_owned()),
        ("nomad.version", "1.9.0".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    node.drivers.insert(
        "raw_exec".into(),
        DriverInfo {
            detected: true,
            healthy: true,
            health_description: "Healthy".into(),
            attributes: Default::default(),
        },
    );
    node
}

/// Simulated nodes over the RPC port.
#[derive(Clone)]
struct Simulator {
    rpc: RpcClient,
    /// The server called (a follower forwards a client's writes to the leader).
    server: String,
    nodes: Arc<Vec<String>>,
    stop: Arc<AtomicBool>,
    heartbeats: Arc<AtomicU64>,
    heartbeat_errors: Arc<AtomicU64>,
}

impl Simulator {
    /// Registers every node, `SIM_CONCURRENCY` at a time: how long it took.
    async fn register(&self) -> Res<Duration> {
        let start = Instant::now();
        let mut tasks = tokio::task::JoinSet::new();
        for worker in 0..SIM_CONCURRENCY {
            let sim = self.clone();
            tasks.spawn(async move {
                for i in (worker..sim.nodes.len()).step_by(SIM_CONCURRENCY) {
                    let node = serde_json::to_value(sim_node(i, &sim.nodes[i]))
                        .map_err(|e| format!("encoding a node: {e}"))?;
                    let answer = sim
                        .rpc
                        .call(&sim.server, "client.register_node", node, RPC_TIMEOUT)
                        .await
                        .map_err(|e| format!("client.register_node of node {i}: {e}"))?;
                    if answer["ttl_ms"].as_u64().is_none() {
                        return Err(format!("client.register_node answered {answer}"));
                    }
                }
                Ok::<_, String>(())
            });
        }
        while let Some(done) = tasks.join_next().await {
            done.map_err(|e| format!("a registering task failed: {e}"))??;
        }
        Ok(start.elapsed())
    }

    /// Heartbeats every node about three times per TTL, spread evenly, until stopped.
    async fn heartbeat(self) {
        let mut tasks = tokio::task::JoinSet::new();
        let share = self.nodes.len().div_ceil(SIM_CONCURRENCY).max(1);
        let pause = SIM_TTL / 3 / u32::try_from(share).unwrap_or(u32::MAX);
        for worker in 0..SIM_CONCURRENCY {
            let sim = self.clone();
            tasks.spawn(async move {
                'rounds: loop {
                    for i in (worker..sim.nodes.len()).step_by(SIM_CONCURRENCY) {
                        if sim.stop.load(Ordering::Relaxed) {
                            break 'rounds;
                        }
                        let body = json!({"node_id": sim.nodes[i]});
                        match sim
                            .rpc
                            .call(&sim.server, "client.heartbeat", body, RPC_TIMEOUT)
                            .await
                        {
                            Ok(_) => sim.heartbeats.fetch_add(1, Ordering::Relaxed),
                            Err(e) => {
                                eprintln!("bench_cluster scale: heartbeat of node {i}: {e}");
                                sim.heartbeat_errors.fetch_add(1, Ordering::Relaxed)
                            }
                        };
                        // Sleeps in slices, so a stop is seen promptly.
                        let until = tokio::time::Instant::now() + pause;
                        while tokio::time::Instant::now() < until {
                            if sim.stop.load(Ordering::Relaxed) {
                                break 'rounds;
                            }
                            tokio::time::sleep(Duration::from_millis(100).min(pause)).await;
                        }
                    }
                }
            });
        }
        while tasks.join_next().await.is_some() {}
    }
}
