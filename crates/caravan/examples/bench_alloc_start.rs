//! Allocation start latency in host and in bridge network mode, on a dev agent: what
//! the namespace + veth + nftables setup adds to a start (DESIGN.md section 6: bridge
//! adds <= 10 ms).
//!
//! Starts the release `caravan` binary as `caravan agent -dev` on ports 0, in a
//! temporary data dir, with a bridge of its own (`cvb<pid>`, 10.149.<pid>.0/24: its
//! own nftables table and netns prefix, so a real agent's `caravan0` and the e2e tests'
//! bridges are never touched). Then `RUNS` times each, host and bridge runs alternating
//! so both see the same machine: registers a distinct raw_exec job (`/bin/sleep 600`,
//! `network { mode = "bridge" }` for the bridge runs) with `PUT /v1/jobs` and follows
//! `/v1/job/<id>/allocations` with blocking queries until the allocation's
//! `ClientStatus` is `running`; the time from the request to that answer is one sample.
//! Each job is then purged and its task waited out, so runs do not overlap. The agent's
//! own timestamps split a start into steps (as in `bench_job_run`); the client's
//! "hooks + driver start" step is where the network setup happens.
//!
//! Bridge mode needs root (only root creates network namespaces): without it the bridge
//! runs are skipped with a message. At the end the agent is stopped (it tears down its
//! allocations' networks) and the bridge, its table and its forward rules are removed;
//! the bench fails if a namespace, link or table of its bridge is left.
//!
//! `cargo build --release -p caravan --bins --examples && target/release/examples/bench_alloc_start`
//!
//! `BENCH_AGENT_LOG_LEVEL=debug` runs the agent at that level and keeps its log (the path
//! is printed), to see where the time goes.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use caravan_net::{BridgeConfig, Ipv4Subnet, LinuxNetOps};
use serde_json::{Value, json};

const RUNS: usize = 50;
/// How long one run may take before the bench gives up.
const RUN_DEADLINE: Duration = Duration::from_secs(30);
/// How long the agent gets to print its address, and to exit after SIGINT.
const AGENT_GRACE: Duration = Duration::from_secs(20);
/// What a blocking query asks the server to wait at most.
const BLOCK_WAIT: &str = "5s";
/// The agent's log level, and whether its log is kept.
const LOG_LEVEL_ENV: &str = "BENCH_AGENT_LOG_LEVEL";
/// DESIGN.md section 6: what bridge mode may add to a start.
const TARGET_ADDED: Duration = Duration::from_millis(10);

type Res<T> = Result<T, String>;

fn main() -> ExitCode {
    let binary = match caravan_binary() {
        Ok(binary) => binary,
        Err(e) => {
            eprintln!("bench_alloc_start: {e}");
            return ExitCode::FAILURE;
        }
    };
    let bridge = if nix::unistd::geteuid().is_root() {
        Some(Bridge::new())
    } else {
        eprintln!(
            "bench_alloc_start: not running as root: bridge mode skipped (only root creates network namespaces)"
        );
        None
    };
    let mut agent = match Agent::start(&binary, bridge.as_ref()) {
        Ok(agent) => agent,
        Err(e) => {
            eprintln!("bench_alloc_start: {e}");
            if let Some(bridge) = &bridge {
                bridge.remove();
            }
            return ExitCode::FAILURE;
        }
    };
    let result = bench(&agent, bridge.is_some());
    let stopped = agent.stop();
    // The bridge goes after the agent: the agent removes its allocations' pieces.
    let cleaned = match &bridge {
        Some(bridge) => {
            let veths = bridge.attached();
            bridge.remove();
            bridge.leftovers(veths)
        }
        None => Ok(()),
    };
    match result.and(stopped).and(cleaned) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench_alloc_start: {e}");
            eprintln!("{}", agent.log_tail());
            ExitCode::FAILURE
        }
    }
}

/// `target/release/caravan`, beside `target/release/examples/` where this runs from.
fn caravan_binary() -> Res<PathBuf> {
    let exe = std::env::current_exe().map_err(|e| format!("locating this executable: {e}"))?;
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .ok_or_else(|| format!("{} has no grandparent directory", exe.display()))?;
    let binary = dir.join("caravan");
    if !binary.is_file() {
        return Err(format!(
            "{} not found: run `cargo build --release -p caravan` first",
            binary.display()
        ));
    }
    Ok(binary)
}

/// The samples of one network mode.
#[derive(Default)]
struct Samples {
    took: Vec<Duration>,
    steps: [Vec<Duration>; STEPS.len()],
}

impl Samples {
    fn push(&mut self, run: &RunResult) {
        self.took.push(run.took);
        for (all, step) in self.steps.iter_mut().zip(run.steps.iter().flatten()) {
            all.push(*step);
        }
    }

    fn sort(&mut self) {
        self.took.sort();
        for all in &mut self.steps {
            all.sort();
        }
    }

    /// `name p50 ms` for each step that every run carried.
    fn breakdown(&self) -> String {
        STEPS
            .iter()
            .zip(&self.steps)
            .filter(|(_, all)| !all.is_empty())
            .map(|(name, all)| format!("{name} {}", ms(percentile(all, 50))))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

fn bench(agent: &Agent, bridge: bool) -> Res<()> {
    let mut http = Http::new(agent.addr);
    wait_for_ready_node(&mut http)?;
    let modes: &[Mode] = if bridge {
        &[Mode::Host, Mode::Bridge]
    } else {
        &[Mode::Host]
    };
    // One run of each mode first, not counted: the bridge and its table are made by
    // the first bridge-mode allocation, and the first start warms the client's caches.
    for mode in modes {
        let id = format!("bench-start-warmup-{}-{}", mode.name(), std::process::id());
        let run = start_alloc(&mut http, &id, *mode).map_err(|e| format!("warm-up: {e}"))?;
        stop_job(&mut http, &id, &run.alloc).map_err(|e| format!("warm-up: stopping: {e}"))?;
    }
    let mut host = Samples::default();
    let mut bridged = Samples::default();
    for run in 0..RUNS {
        for mode in modes {
            let id = format!("bench-start-{}-{}-{run}", mode.name(), std::process::id());
            let result = start_alloc(&mut http, &id, *mode)
                .map_err(|e| format!("{} run {run}: {e}", mode.name()))?;
            match mode {
                Mode::Host => host.push(&result),
                Mode::Bridge => bridged.push(&result),
            }
            stop_job(&mut http, &id, &result.alloc)
                .map_err(|e| format!("{} run {run}: stopping: {e}", mode.name()))?;
        }
    }
    host.sort();
    bridged.sort();
    let (host_p50, host_p99) = (percentile(&host.took, 50), percentile(&host.took, 99));
    if !bridge {
        println!(
            "alloc start: host p50 {} ms p99 {} ms over {RUNS} runs; bridge skipped (needs root; target: bridge adds <= {} ms)",
            ms(host_p50),
            ms(host_p99),
            ms(TARGET_ADDED),
        );
        println!("  steps (p50 of each), host: {}", host.breakdown());
        return Ok(());
    }
    let (bridge_p50, bridge_p99) = (percentile(&bridged.took, 50), percentile(&bridged.took, 99));
    let added = signed_ms(bridge_p50, host_p50);
    println!(
        "alloc start: host p50 {} ms p99 {} ms; bridge p50 {} ms p99 {} ms; bridge adds {added} ms at p50 (target <= {} ms; {RUNS} runs each){}",
        ms(host_p50),
        ms(host_p99),
        ms(bridge_p50),
        ms(bridge_p99),
        ms(TARGET_ADDED),
        if bridge_p50.saturating_sub(host_p50) <= TARGET_ADDED {
            ""
        } else {
            " MISSED"
        },
    );
    println!("  steps (p50 of each), host: {}", host.breakdown());
    println!("  steps (p50 of each), bridge: {}", bridged.breakdown());
    Ok(())
}

#[derive(Debug, Clone, Copy)]
enum Mode {
    Host,
    Bridge,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Self::Host => "host",
            Self::Bridge => "bridge",
        }
    }
}

/// Waits until the agent's client node is registered and ready.
fn wait_for_ready_node(http: &mut Http) -> Res<()> {
    let deadline = Instant::now() + AGENT_GRACE;
    let mut index = 0;
    loop {
        let (next, nodes) = http.get_json(&format!("/v1/nodes?index={index}&wait=1s"))?;
        let ready = nodes
            .as_array()
            .is_some_and(|nodes| nodes.iter().any(|n| n["Status"] == "ready"));
        if ready {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!("no ready node after {AGENT_GRACE:?}: {nodes}"));
        }
        index = next;
    }
}

/// The steps of one start, told apart by the timestamps the agent records (the same
/// clock as this process's): the allocation's `CreateTime` (the scheduler's), its
/// task's `Received` and `Started` events (the client's), and its `ModifyTime` (when
/// the server applied the client's `running` update). The allocation's hooks (its
/// directory and its network: the namespace, veth and nftables of bridge mode) run
/// before the task runner records `Received`.
const STEPS: [&str; 5] = [
    "register+schedule",
    "client wake-up+alloc hooks",
    "task hooks+driver start",
    "status report",
    "query answer",
];

struct RunResult {
    took: Duration,
    alloc: String,
    steps: Option<[Duration; STEPS.len()]>,
}

/// Registers the job and follows its allocations until one runs; the time is from the
/// request to the answer that showed it running.
fn start_alloc(http: &mut Http, id: &str, mode: Mode) -> Res<RunResult> {
    let mut group = json!({
        "Name": "bench",
        "Count": 1,
        "Tasks": [{
            "Name": "sleep",
            "Driver": "raw_exec",
            "Config": {"command": "/bin/sleep", "args": ["600"]},
            "Resources": {"CPU": 20, "MemoryMB": 16},
        }],
    });
    if let Mode::Bridge = mode {
        group["Networks"] = json!([{"Mode": "bridge"}]);
    }
    let job = json!({"Job": {
        "ID": id,
        "Name": id,
        "Type": "service",
        "Datacenters": ["dc1"],
        "TaskGroups": [group],
    }});
    let body = serde_json::to_vec(&job).map_err(|e| format!("encoding the job: {e}"))?;
    let sent_at = unix_nanos();
    let start = Instant::now();
    let registered = http.request("PUT", "/v1/jobs", Some(&body))?;
    registered.expect_ok("PUT /v1/jobs")?;
    let mut index = registered.index;
    loop {
        let path = format!("/v1/job/{id}/allocations?index={index}&wait={BLOCK_WAIT}");
        let (next, allocs) = http.get_json(&path)?;
        let allocs = allocs.as_array().cloned().unwrap_or_default();
        if let Some(alloc) = allocs.iter().find(|a| a["ClientStatus"] == "running") {
            let took = start.elapsed();
            return Ok(RunResult {
                took,
                alloc: string(&alloc["ID"]),
                steps: steps(alloc, sent_at, sent_at + took.as_nanos() as i64),
            });
        }
        if let Some(failed) = allocs
            .iter()
            .find(|a| matches!(a["ClientStatus"].as_str(), Some("failed" | "lost")))
        {
            return Err(format!(
                "allocation {}: {} {}",
                failed["ClientStatus"], failed["ClientDescription"], failed["TaskStates"]
            ));
        }
        if start.elapsed() > RUN_DEADLINE {
            return Err(format!(
                "not running after {RUN_DEADLINE:?}: {}",
                Value::Array(allocs)
            ));
        }
        index = index.max(next);
    }
}

/// The durations between the run's timestamps, in `STEPS`' order.
fn steps(alloc: &Value, sent_at: i64, seen_at: i64) -> Option<[Duration; STEPS.len()]> {
    let event = |kind: &str| {
        alloc["TaskStates"]["sleep"]["Events"]
            .as_array()?
            .iter()
            .find(|e| e["Type"] == kind)?["Time"]
            .as_i64()
    };
    let times = [
        sent_at,
        alloc["CreateTime"].as_i64()?,
        event("Received")?,
        event("Started")?,
        alloc["ModifyTime"].as_i64()?,
        seen_at,
    ];
    let mut steps = [Duration::ZERO; STEPS.len()];
    for (step, pair) in steps.iter_mut().zip(times.windows(2)) {
        *step = Duration::from_nanos(u64::try_from(pair[1] - pair[0]).unwrap_or(0));
    }
    Some(steps)
}

fn unix_nanos() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i64)
}

/// Purges the job and waits until its task has stopped, so the next run starts on an
/// idle agent.
fn stop_job(http: &mut Http, id: &str, alloc: &str) -> Res<()> {
    let stopped = http.request("DELETE", &format!("/v1/job/{id}?purge=true"), None)?;
    stopped.expect_ok("DELETE /v1/job")?;
    let start = Instant::now();
    let mut index = stopped.index;
    loop {
        let path = format!("/v1/allocation/{alloc}?index={index}&wait={BLOCK_WAIT}");
        let (next, alloc) = http.get_json(&path)?;
        if !matches!(alloc["ClientStatus"].as_str(), Some("pending" | "running")) {
            return Ok(());
        }
        if start.elapsed() > RUN_DEADLINE {
            return Err(format!(
                "still {} after {RUN_DEADLINE:?}",
                alloc["ClientStatus"]
            ));
        }
        index = index.max(next);
    }
}

/// The nearest-rank percentile of sorted samples.
fn percentile(sorted: &[Duration], p: usize) -> Duration {
    let rank = (sorted.len() * p).div_ceil(100).max(1);
    sorted[rank - 1]
}

fn ms(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1000.0)
}

/// `a - b` in milliseconds, negative when `b` is longer.
fn signed_ms(a: Duration, b: Duration) -> String {
    format!("{:.1}", (a.as_secs_f64() - b.as_secs_f64()) * 1000.0)
}

fn string(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_owned()
}

/// This bench's bridge: its name is also its nftables table, and with a `-` its netns
/// prefix, as the agent's `-bridge-network-name` makes them.
struct Bridge {
    name: String,
    subnet: Ipv4Subnet,
}

impl Bridge {
    /// `cvb<pid in hex>` (at most 11 characters: an interface name has 15) on
    /// 10.149.<pid % 256>.0/24, outside the e2e tests' 10.150-199 range.
    fn new() -> Self {
        let pid = std::process::id();
        let third = u8::try_from(pid % 256).expect("invariant: below 256");
        Self {
            name: format!("cvb{pid:x}"),
            subnet: Ipv4Subnet::new(Ipv4Addr::new(10, 149, third, 0), 24)
                .expect("invariant: a /24 is a valid prefix"),
        }
    }

    fn args(&self) -> [String; 4] {
        [
            "-bridge-network-name".to_owned(),
            self.name.clone(),
            "-bridge-network-subnet".to_owned(),
            self.subnet.to_string(),
        ]
    }

    fn config(&self) -> BridgeConfig {
        BridgeConfig {
            bridge: self.name.clone(),
            subnet: self.subnet,
            table: self.name.clone(),
            netns_prefix: format!("{}-", self.name),
            ..BridgeConfig::default()
        }
    }

    /// Removes the bridge, its nftables table and its accept rules in the host's
    /// forward chain, as the e2e harness does (caravan-net's own removal).
    fn remove(&self) {
        // Where the library keeps its address allocator while removing: unused here.
        let scratch = std::env::temp_dir().join(format!(
            "caravan-bench-bridge-cleanup-{}",
            std::process::id()
        ));
        let removed = LinuxNetOps::new(self.config(), &scratch)
            .map_err(|e| e.to_string())
            .and_then(|ops| {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| e.to_string())?
                    .block_on(ops.remove_bridge())
                    .map_err(|e| e.to_string())
            });
        let _ = std::fs::remove_dir_all(&scratch);
        if let Err(e) = removed {
            eprintln!("bench_alloc_start: removing the bridge {}: {e}", self.name);
            // The plain tools, in case the library could not.
            quiet(Command::new("ip").args(["link", "del", &self.name]));
            quiet(Command::new("nft").args(["delete", "table", "ip", &self.name]));
        }
    }

    /// The links still attached to the bridge (allocations' veths the agent left).
    fn attached(&self) -> Vec<String> {
        let out = Command::new("ip")
            .args(["-o", "link", "show", "master", &self.name])
            .stderr(Stdio::null())
            .output();
        let Ok(out) = out else {
            return Vec::new();
        };
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.split(": ").nth(1))
            .map(|name| format!("link {}", name.split('@').next().unwrap_or(name)))
            .collect()
    }

    /// Whatever of this bridge is still on the host: `veths` (attached to it before
    /// it was removed), its link, its table, its namespaces.
    fn leftovers(&self, veths: Vec<String>) -> Res<()> {
        let mut left = veths;
        if quiet(Command::new("ip").args(["link", "show", &self.name])) {
            left.push(format!("link {}", self.name));
        }
        if quiet(Command::new("nft").args(["list", "table", "ip", &self.name])) {
            left.push(format!("nftables table ip {}", self.name));
        }
        let prefix = format!("{}-", self.name);
        let netns = self.config().netns_dir;
        for entry in std::fs::read_dir(&netns).into_iter().flatten().flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with(&prefix) {
                left.push(format!("netns {name}"));
            }
        }
        if left.is_empty() {
            Ok(())
        } else {
            Err(format!("left on the host: {}", left.join(", ")))
        }
    }
}

/// Runs a command without output; whether it succeeded.
fn quiet(command: &mut Command) -> bool {
    command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// A dev agent running as a child process, stopped (SIGINT, then SIGKILL) when dropped.
struct Agent {
    child: Option<Child>,
    addr: SocketAddr,
    dir: PathBuf,
    log: PathBuf,
    keep_log: bool,
}

impl Agent {
    fn start(binary: &Path, bridge: Option<&Bridge>) -> Res<Self> {
        let dir =
            std::env::temp_dir().join(format!("caravan-bench-alloc-start-{}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
        let log = dir.join("agent.log");
        let level = std::env::var(LOG_LEVEL_ENV).ok();
        let mut command = Command::new(binary);
        command
            .args([
                "agent",
                "-dev",
                "-http-port",
                "0",
                "-consul-port",
                "0",
                "-dns-port",
                "0",
                "-data-dir",
            ])
            .arg(dir.join("data"))
            .args(bridge.map(Bridge::args).into_iter().flatten())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        if let Some(level) = &level {
            command.args(["-log-level", level]);
        }
        let mut child = command
            .spawn()
            .map_err(|e| format!("starting {}: {e}", binary.display()))?;
        let stderr = child.stderr.take();
        let mut agent = Self {
            child: Some(child),
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            dir,
            log: log.clone(),
            keep_log: level.is_some(),
        };
        let stderr = stderr.ok_or("the agent's stderr is not piped")?;
        let mut file =
            std::fs::File::create(&log).map_err(|e| format!("creating {}: {e}", log.display()))?;
        // Copies the agent's stderr to its log, and hands over the HTTP address.
        let (addr_tx, addr_rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if let Some(addr) = line.trim().strip_prefix("Bind Addrs: HTTP: ") {
                    let _ = addr_tx.send(addr.trim().to_owned());
                }
                let _ = writeln!(file, "{line}");
            }
        });
        let addr = addr_rx
            .recv_timeout(AGENT_GRACE)
            .map_err(|_| format!("the agent printed no HTTP address\n{}", agent.log_tail()))?;
        agent.addr = addr
            .parse()
            .map_err(|e| format!("the agent's HTTP address {addr:?}: {e}"))?;
        if agent.keep_log {
            eprintln!("agent log: {}", log.display());
        }
        Ok(agent)
    }

    /// SIGINT, so the agent stops its tasks; SIGKILL if it has not exited in time.
    fn stop(&mut self) -> Res<()> {
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        let pid = child.id().to_string();
        quiet(Command::new("kill").args(["-INT", &pid]));
        let deadline = Instant::now() + AGENT_GRACE;
        loop {
            match child.try_wait() {
                Ok(Some(status)) if status.success() => return Ok(()),
                Ok(Some(status)) => return Err(format!("the agent exited with {status}")),
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20));
                }
                _ => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(format!(
                        "the agent ignored SIGINT for {AGENT_GRACE:?}: killed"
                    ));
                }
            }
        }
    }

    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        let tail = lines[lines.len().saturating_sub(30)..].join("\n");
        format!("--- last lines of the agent's log ---\n{tail}")
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.stop();
        if !self.keep_log {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// A minimal HTTP/1.1 client on one keep-alive connection, opened again when the server
/// has closed it.
struct Http {
    addr: SocketAddr,
    conn: Option<BufReader<TcpStream>>,
}

struct Response {
    status: u16,
    index: u64,
    body: Vec<u8>,
}

impl Response {
    fn expect_ok(&self, what: &str) -> Res<&Self> {
        if self.status == 200 {
            Ok(self)
        } else {
            Err(format!(
                "{what}: HTTP {}: {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            ))
        }
    }
}

impl Http {
    fn new(addr: SocketAddr) -> Self {
        Self { addr, conn: None }
    }

    /// `GET path`, expecting 200 and JSON: `X-Nomad-Index` and the body.
    fn get_json(&mut self, path: &str) -> Res<(u64, Value)> {
        let response = self.request("GET", path, None)?;
        response.expect_ok(&format!("GET {path}"))?;
        let body = serde_json::from_slice(&response.body)
            .map_err(|e| format!("GET {path}: decoding the body: {e}"))?;
        Ok((response.index, body))
    }

    fn request(&mut self, method: &str, path: &str, body: Option<&[u8]>) -> Res<Response> {
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nUser-Agent: caravan-bench\r\nAccept: */*\r\n",
            self.addr
        );
        if let Some(body) = body {
            head.push_str("Content-Type: application/json\r\n");
            head.push_str(&format!("Content-Length: {}\r\n", body.len()));
        }
        head.push_str("\r\n");
        let mut message = head.into_bytes();
        message.extend_from_slice(body.unwrap_or_default());
        let reused = self.conn.is_some();
        match self.exchange(&message) {
            Ok(response) => Ok(response),
            // The server closed an idle keep-alive connection before reading this
            // request: send it again on a new one.
            Err(Exchange::Closed) if reused => {
                self.conn = None;
                self.exchange(&message)
                    .map_err(|e| e.describe(method, path))
            }
            Err(e) => {
                self.conn = None;
                Err(e.describe(method, path))
            }
        }
    }

    fn exchange(&mut self, message: &[u8]) -> Result<Response, Exchange> {
        let conn = match &mut self.conn {
            Some(conn) => conn,
            None => {
                let stream = TcpStream::connect(self.addr).map_err(Exchange::Io)?;
                stream.set_nodelay(true).map_err(Exchange::Io)?;
                self.conn.insert(BufReader::new(stream))
            }
        };
        if conn.get_mut().write_all(message).is_err() {
            return Err(Exchange::Closed);
        }
        let mut status_line = String::new();
        match conn.read_line(&mut status_line) {
            Ok(0) | Err(_) => return Err(Exchange::Closed),
            Ok(_) => {}
        }
        let mut parts = status_line.split_whitespace();
        let version = parts.next().unwrap_or_default().to_owned();
        let status: u16 = parts
            .next()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| Exchange::Protocol(format!("bad status line {status_line:?}")))?;
        let mut keep_alive = version == "HTTP/1.1";
        let mut length = None;
        let mut chunked = false;
        let mut index = 0;
        loop {
            let mut line = String::new();
            if conn.read_line(&mut line).map_err(Exchange::Io)? == 0 {
                return Err(Exchange::Protocol(
                    "connection closed in the headers".into(),
                ));
            }
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            let Some((name, value)) = line.split_once(':') else {
                return Err(Exchange::Protocol(format!("bad header {line:?}")));
            };
            let value = value.trim();
            match name.to_ascii_lowercase().as_str() {
                "content-length" => length = value.parse::<usize>().ok(),
                "transfer-encoding" => chunked = value.eq_ignore_ascii_case("chunked"),
                "connection" => keep_alive = !value.eq_ignore_ascii_case("close"),
                "x-nomad-index" => index = value.parse().unwrap_or(0),
                _ => {}
            }
        }
        let mut body = Vec::new();
        if chunked {
            read_chunked(conn, &mut body)?;
        } else if let Some(length) = length {
            body.resize(length, 0);
            conn.read_exact(&mut body).map_err(Exchange::Io)?;
        } else {
            conn.read_to_end(&mut body).map_err(Exchange::Io)?;
            keep_alive = false;
        }
        if !keep_alive {
            self.conn = None;
        }
        Ok(Response {
            status,
            index,
            body,
        })
    }
}

fn read_chunked(conn: &mut BufReader<TcpStream>, body: &mut Vec<u8>) -> Result<(), Exchange> {
    loop {
        let mut size = String::new();
        conn.read_line(&mut size).map_err(Exchange::Io)?;
        let size = size.trim_end().split(';').next().unwrap_or_default();
        let size = usize::from_str_radix(size.trim(), 16)
            .map_err(|_| Exchange::Protocol(format!("bad chunk size {size:?}")))?;
        if size == 0 {
            // Trailers, up to the empty line.
            loop {
                let mut line = String::new();
                if conn.read_line(&mut line).map_err(Exchange::Io)? == 0
                    || line.trim_end().is_empty()
                {
                    return Ok(());
                }
            }
        }
        let start = body.len();
        body.resize(start + size, 0);
        conn.read_exact(&mut body[start..]).map_err(Exchange::Io)?;
        let mut crlf = [0u8; 2];
        conn.read_exact(&mut crlf).map_err(Exchange::Io)?;
    }
}

/// Why one request/response exchange failed.
enum Exchange {
    /// The connection was closed before any of the response arrived.
    Closed,
    Io(std::io::Error),
    Protocol(String),
}

impl Exchange {
    fn describe(self, method: &str, path: &str) -> String {
        match self {
            Self::Closed => format!("{method} {path}: the server closed the connection"),
            Self::Io(e) => format!("{method} {path}: {e}"),
            Self::Protocol(e) => format!("{method} {path}: {e}"),
        }
    }
}
