//! `job run` to task running on a dev agent, and `GET /v1/allocations` reads per second.
//!
//! Starts the release `caravan` binary as `caravan agent -dev -http-port 0` in a
//! temporary data dir, then 100 times: registers a distinct raw_exec job
//! (`/bin/sleep 600`) with `PUT /v1/jobs` on a fresh connection, as `caravan job run`
//! does, and follows `/v1/job/<id>/allocations` with blocking queries until the
//! allocation's `ClientStatus` is `running`; the time from the connect to that answer is
//! one sample. Each job is then purged and its task waited out, so runs do not overlap.
//! The ~100 dead allocations left in the state are what the read benchmark lists: two
//! threads on HTTP/1.1 keep-alive connections for three seconds, and `wrk` as the peer
//! when it is installed. Depends on std and serde_json only: it talks HTTP itself.
//!
//! `cargo build --release -p caravan && cargo run --release -p caravan --example bench_job_run`
//!
//! `BENCH_AGENT_LOG_LEVEL=debug` runs the agent at that level and keeps its log (the path
//! is printed), to see where the time goes.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const RUNS: usize = 100;
const READ_THREADS: usize = 2;
const READ_FOR: Duration = Duration::from_secs(3);
/// How long one run may take before the bench gives up.
const RUN_DEADLINE: Duration = Duration::from_secs(30);
/// How long the agent gets to print its address, and to exit after SIGINT.
const AGENT_GRACE: Duration = Duration::from_secs(15);
/// What a blocking query asks the server to wait at most.
const BLOCK_WAIT: &str = "5s";
/// The agent's log level, and whether its log is kept.
const LOG_LEVEL_ENV: &str = "BENCH_AGENT_LOG_LEVEL";

type Res<T> = Result<T, String>;

fn main() -> ExitCode {
    let binary = match caravan_binary() {
        Ok(binary) => binary,
        Err(e) => {
            eprintln!("bench_job_run: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut agent = match Agent::start(&binary) {
        Ok(agent) => agent,
        Err(e) => {
            eprintln!("bench_job_run: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = bench(&agent);
    let stopped = agent.stop();
    match result.and(stopped) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench_job_run: {e}");
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

fn bench(agent: &Agent) -> Res<()> {
    let mut http = Http::new(agent.addr);
    wait_for_ready_node(&mut http)?;

    let mut samples = Vec::with_capacity(RUNS);
    let mut steps: [Vec<Duration>; STEPS.len()] = Default::default();
    for run in 0..RUNS {
        let id = format!("bench-run-{}-{run}", std::process::id());
        let run_result = job_run(&mut http, &id).map_err(|e| format!("run {run}: {e}"))?;
        samples.push(run_result.took);
        for (all, step) in steps.iter_mut().zip(run_result.steps.into_iter().flatten()) {
            all.push(step);
        }
        stop_job(&mut http, &id, &run_result.alloc)
            .map_err(|e| format!("run {run}: stopping: {e}"))?;
    }
    samples.sort();
    println!(
        "job run -> running (raw_exec, dev agent): p50 {} ms, p99 {} ms, max {} ms over {RUNS} runs (target p50 <= 50 ms)",
        ms(percentile(&samples, 50)),
        ms(percentile(&samples, 99)),
        ms(samples[samples.len() - 1]),
    );
    let breakdown: Vec<String> = STEPS
        .iter()
        .zip(&mut steps)
        .filter(|(_, all)| !all.is_empty())
        .map(|(name, all)| {
            all.sort();
            format!("{name} {} ms", ms(percentile(all, 50)))
        })
        .collect();
    println!("  steps (p50 of each): {}", breakdown.join(", "));

    let listed = http.get_json("/v1/allocations")?.1;
    let allocs = listed.as_array().map_or(0, Vec::len);
    let rate = read_rate(agent.addr)?;
    println!(
        "GET /v1/allocations: {rate:.0} req/s ({allocs} allocations, {READ_THREADS} connections, {} s)",
        READ_FOR.as_secs()
    );
    match find_in_path("wrk") {
        Some(wrk) => {
            let rate = wrk_rate(&wrk, agent.addr)?;
            println!(
                "GET /v1/allocations, peer load generator wrk -t2 -c16 -d3s: {rate} req/s ({allocs} allocations)"
            );
        }
        None => println!("wrk is not installed: no peer figure (apt-get install wrk)"),
    }
    Ok(())
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

/// The steps of one run, told apart by the timestamps the agent records (the same clock
/// as this process's): the allocation's `CreateTime` (the scheduler's time), its task's
/// `Received` and `Started` events (the client's), and its `ModifyTime` (when the server
/// applied the client's `running` update).
const STEPS: [&str; 5] = [
    "register+eval+schedule+plan",
    "client watch wake-up",
    "alloc hooks+driver start",
    "status report (batched)",
    "blocking query answer",
];

/// One `job run`: how long it took, the allocation that runs, and the steps when the
/// allocation carried every timestamp.
struct RunResult {
    took: Duration,
    alloc: String,
    steps: Option<[Duration; STEPS.len()]>,
}

/// Registers the job and follows its allocations until one runs; the time is from the
/// connect to the answer that showed it running.
fn job_run(http: &mut Http, id: &str) -> Res<RunResult> {
    let job = json!({"Job": {
        "ID": id,
        "Name": id,
        "Type": "service",
        "Datacenters": ["dc1"],
        "TaskGroups": [{
            "Name": "bench",
            "Count": 1,
            "Tasks": [{
                "Name": "sleep",
                "Driver": "raw_exec",
                "Config": {"command": "/bin/sleep", "args": ["600"]},
                "Resources": {"CPU": 20, "MemoryMB": 16},
            }],
        }],
    }});
    let body = serde_json::to_vec(&job).map_err(|e| format!("encoding the job: {e}"))?;
    // A fresh connection, as `caravan job run` makes one.
    http.close();
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
                "allocation {}: {}",
                failed["ClientStatus"], failed["ClientDescription"]
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

/// Requests per second of `GET /v1/allocations` from keep-alive connections.
fn read_rate(addr: SocketAddr) -> Res<f64> {
    let start = Instant::now();
    let until = start + READ_FOR;
    let threads: Vec<_> = (0..READ_THREADS)
        .map(|_| {
            std::thread::spawn(move || -> Res<u64> {
                let mut http = Http::new(addr);
                let mut done = 0;
                while Instant::now() < until {
                    http.request("GET", "/v1/allocations", None)?
                        .expect_ok("GET /v1/allocations")?;
                    done += 1;
                }
                Ok(done)
            })
        })
        .collect();
    let mut total = 0;
    for thread in threads {
        total += thread
            .join()
            .map_err(|_| "a reader thread panicked".to_owned())??;
    }
    Ok(total as f64 / start.elapsed().as_secs_f64())
}

/// `wrk -t2 -c16 -d3s` against `/v1/allocations`: its `Requests/sec`.
fn wrk_rate(wrk: &Path, addr: SocketAddr) -> Res<String> {
    let out = Command::new(wrk)
        .args(["-t2", "-c16", "-d3s"])
        .arg(format!("http://{addr}/v1/allocations"))
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("running wrk: {e}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(format!(
            "wrk failed ({}): {stdout}{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    if let Some(line) = stdout.lines().find(|l| l.contains("Non-2xx")) {
        return Err(format!("wrk: {}", line.trim()));
    }
    stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix("Requests/sec:"))
        .map(|rate| rate.trim().to_owned())
        .ok_or_else(|| format!("no Requests/sec in wrk's output: {stdout}"))
}

fn find_in_path(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(name))
        .find(|path| path.is_file())
}

/// The nearest-rank percentile of sorted samples.
fn percentile(sorted: &[Duration], p: usize) -> Duration {
    let rank = (sorted.len() * p).div_ceil(100).max(1);
    sorted[rank - 1]
}

fn ms(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1000.0)
}

fn string(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_owned()
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
    fn start(binary: &Path) -> Res<Self> {
        let dir =
            std::env::temp_dir().join(format!("caravan-bench-job-run-{}", std::process::id()));
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
        let _ = Command::new("kill")
            .args(["-INT", &pid])
            .stderr(Stdio::null())
            .status();
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

    fn close(&mut self) {
        self.conn = None;
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
