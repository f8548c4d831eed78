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

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

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
/// The agent's log level, and whether its log is kept.
const LOG_LEVEL_ENV: &str = "BENCH_AGENT_LOG_LEVEL";

type Res<T> = Result<T, String>;

fn main() -> ExitCode {
    let binary = match caravan_binary() {
        Ok(binary) => binary,
        Err(e) => {
            eprintln!("bench_catalog: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut agent = match Agent::start(&binary) {
        Ok(agent) => agent,
        Err(e) => {
            eprintln!("bench_catalog: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = bench(&agent);
    let stopped = agent.stop();
    match result.and(stopped) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench_catalog: {e}");
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
        let (done, rate) = read_rate(agent.addr_for(read), read)?;
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
    let mut http = Http::new(agent.addr_for(read));
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
fn read_rate(addr: SocketAddr, read: &Endpoint) -> Res<(u64, f64)> {
    let start = Instant::now();
    let until = start + READ_FOR;
    let path = read.path;
    let threads: Vec<_> = (0..READ_THREADS)
        .map(|t| {
            std::thread::spawn(move || -> Res<u64> {
                let mut http = Http::new(addr);
                let mut done = 0;
                let mut i = t;
                while Instant::now() < until {
                    let path = path(i);
                    let response = http.request("GET", &path, None)?;
                    response.expect_ok(&format!("GET {path}"))?;
                    // A name the catalog does not know would answer `[]`, cheaply.
                    if response.body.len() <= 2 {
                        return Err(format!("GET {path}: no instances"));
                    }
                    done += 1;
                    i = (i + READ_THREADS) % SERVICES;
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
    Ok((total, total as f64 / start.elapsed().as_secs_f64()))
}

/// `wrk -t2 -c16 -d3s` against `url`: its `Requests/sec`.
fn wrk_rate(wrk: &Path, url: &str) -> Res<String> {
    let out = Command::new(wrk)
        .args(["-t2", "-c16", "-d3s", url])
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

/// A dev agent running as a child process, stopped (SIGINT, then SIGKILL) when dropped.
struct Agent {
    child: Option<Child>,
    /// Nomad's HTTP API.
    addr: SocketAddr,
    /// Consul's HTTP API.
    consul_addr: SocketAddr,
    dir: PathBuf,
    log: PathBuf,
    keep_log: bool,
    /// Clock ticks per second, for `/proc/<pid>/stat`.
    ticks: u64,
}

impl Agent {
    fn start(binary: &Path) -> Res<Self> {
        let dir =
            std::env::temp_dir().join(format!("caravan-bench-catalog-{}", std::process::id()));
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
        let ticks = Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|out| String::from_utf8_lossy(&out.stdout).trim().parse().ok())
            .unwrap_or(100);
        let mut child = command
            .spawn()
            .map_err(|e| format!("starting {}: {e}", binary.display()))?;
        let stderr = child.stderr.take();
        let unbound = SocketAddr::from(([127, 0, 0, 1], 0));
        let mut agent = Self {
            child: Some(child),
            addr: unbound,
            consul_addr: unbound,
            dir,
            log: log.clone(),
            keep_log: level.is_some(),
            ticks,
        };
        let stderr = stderr.ok_or("the agent's stderr is not piped")?;
        let mut file =
            std::fs::File::create(&log).map_err(|e| format!("creating {}: {e}", log.display()))?;
        // Copies the agent's stderr to its log, and hands over both API addresses.
        let (addr_tx, addr_rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                let trimmed = line.trim();
                for (api, prefix) in [("http", "Bind Addrs: HTTP: "), ("consul", "Consul HTTP: ")] {
                    if let Some(addr) = trimmed.strip_prefix(prefix) {
                        let _ = addr_tx.send((api, addr.trim().to_owned()));
                    }
                }
                let _ = writeln!(file, "{line}");
            }
        });
        for _ in 0..2 {
            let (api, addr) = addr_rx
                .recv_timeout(AGENT_GRACE)
                .map_err(|_| format!("the agent printed no API addresses\n{}", agent.log_tail()))?;
            let addr: SocketAddr = addr
                .parse()
                .map_err(|e| format!("the agent's {api} address {addr:?}: {e}"))?;
            match api {
                "http" => agent.addr = addr,
                _ => agent.consul_addr = addr,
            }
        }
        if agent.keep_log {
            eprintln!("agent log: {}", log.display());
        }
        Ok(agent)
    }

    fn addr_for(&self, read: &Endpoint) -> SocketAddr {
        if read.consul {
            self.consul_addr
        } else {
            self.addr
        }
    }

    /// The agent's user + system CPU time so far (`/proc/<pid>/stat`).
    fn cpu(&self) -> Res<Duration> {
        let pid = self.child.as_ref().ok_or("the agent is stopped")?.id();
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map_err(|e| format!("reading the agent's /proc/{pid}/stat: {e}"))?;
        // The fields after the command name (which may hold spaces), from `state`
        // (field 3): utime and stime are fields 14 and 15.
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
        let ticks = field(11)? + field(12)?;
        Ok(Duration::from_secs_f64(ticks as f64 / self.ticks as f64))
    }

    /// SIGINT; SIGKILL if the agent has not exited in time.
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
        Ok(Response { status, body })
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
