//! The harness of the end-to-end tests: a real `caravan agent -dev` per test, the real
//! CLI against it, a tiny blocking HTTP client, and a check on the way out that no task
//! process the agent started is left behind.
//!
//! Each [`Agent`] owns a unique temporary directory (its data dir, job files, CLI
//! output), a unique marker for task command lines and a bridge of its own for
//! bridge-mode allocations ([`TestBridge`], removed on drop), so tests run in
//! parallel with each other and with anything else on the machine. On drop it also
//! fails the test if a docker container of the agent's node outlived it. Nothing here
//! sleeps for a fixed time where a condition can be awaited: [`wait_for`] polls with
//! a generous deadline.

#![allow(dead_code)] // Each test file uses a different part of the harness.

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use caravan_net::{BridgeConfig, Ipv4Subnet, LinuxNetOps};
use serde_json::Value;

pub mod cluster;
pub mod fixtures;

/// How long any awaited condition may take before the test fails. Generous: CI
/// machines run many tests at once.
pub const DEADLINE: Duration = Duration::from_secs(20);
/// How long a graceful agent shutdown (SIGINT: stop every allocation) may take.
const SHUTDOWN_DEADLINE: Duration = Duration::from_secs(20);
/// How long one CLI command may run (`job run` follows its evaluation).
const CLI_DEADLINE: Duration = Duration::from_secs(60);
/// How often conditions are polled.
const POLL: Duration = Duration::from_millis(50);

/// Distinguishes the agents of one test process.
static SEQ: AtomicU32 = AtomicU32::new(0);

/// The `caravan` binary Cargo built for these tests.
pub fn caravan_bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_caravan"))
}

/// Polls `f` until it returns `Some`, failing the test after [`DEADLINE`] with `what`
/// and the last state `f` reported through `last`.
pub fn wait_for<T>(what: &str, mut f: impl FnMut(&mut String) -> Option<T>) -> T {
    wait_for_within(DEADLINE, what, &mut f)
}

/// [`wait_for`] with its own deadline.
pub fn wait_for_within<T>(
    deadline: Duration,
    what: &str,
    f: &mut dyn FnMut(&mut String) -> Option<T>,
) -> T {
    let start = Instant::now();
    let mut last = String::new();
    loop {
        if let Some(v) = f(&mut last) {
            return v;
        }
        if start.elapsed() > deadline {
            panic!("timed out after {deadline:?} waiting for {what}; last seen: {last}");
        }
        std::thread::sleep(POLL);
    }
}

/// A free TCP port on 127.0.0.1: bound to port 0, then released. Ports the kernel
/// hands out this way come from its ephemeral range (32768-60999 on Linux), which
/// does not overlap the agent's dynamic range (20000-32000).
pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().expect("local addr").port()
}

/// What a CLI command did.
#[derive(Debug)]
pub struct CliOutput {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl CliOutput {
    /// Fails the test unless the command exited 0.
    #[track_caller]
    pub fn success(self) -> Self {
        assert_eq!(self.code, 0, "command failed: {self:#?}");
        self
    }
}

/// An HTTP response: status, headers (lowercase names) and body.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: BTreeMap<String, String>,
    pub body: String,
}

impl Response {
    /// The body as JSON, failing the test if it is not.
    #[track_caller]
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("response is not JSON ({e}): {self:#?}"))
    }

    /// `X-Nomad-Index`, failing the test when it is missing.
    #[track_caller]
    pub fn index(&self) -> u64 {
        self.headers
            .get("x-nomad-index")
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no X-Nomad-Index: {self:#?}"))
    }
}

/// One HTTP/1.1 request with `Connection: close`; the response is read to its end.
pub fn http(addr: SocketAddr, method: &str, path: &str, body: Option<&str>) -> Response {
    let mut stream = send_request(addr, method, path, body);
    read_response(&mut stream).unwrap_or_else(|e| panic!("{method} {path}: {e}"))
}

/// Connects and writes a request, leaving the response unread (for blocking queries
/// started before something else happens).
pub fn send_request(addr: SocketAddr, method: &str, path: &str, body: Option<&str>) -> TcpStream {
    let mut stream = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect to {addr}: {e}"));
    stream
        .set_read_timeout(Some(CLI_DEADLINE))
        .expect("set read timeout");
    let body = body.unwrap_or("");
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream
        .write_all(head.as_bytes())
        .and_then(|()| stream.write_all(body.as_bytes()))
        .unwrap_or_else(|e| panic!("{method} {path}: writing the request: {e}"));
    stream
}

/// Reads a whole response: status line, headers, then a body framed by
/// `Content-Length`, chunked encoding, or the end of the connection.
pub fn read_response(stream: &mut TcpStream) -> io::Result<Response> {
    let mut r = BufReader::new(stream);
    let mut line = String::new();
    r.read_line(&mut line)?;
    let status = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| io::Error::other(format!("bad status line {line:?}")))?;
    let mut headers = BTreeMap::new();
    loop {
        line.clear();
        r.read_line(&mut line)?;
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some((k, v)) = l.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_owned());
        }
    }
    let mut body = Vec::new();
    if headers
        .get("transfer-encoding")
        .is_some_and(|v| v.eq_ignore_ascii_case("chunked"))
    {
        loop {
            line.clear();
            r.read_line(&mut line)?;
            let size = usize::from_str_radix(line.trim().split(';').next().unwrap_or(""), 16)
                .map_err(|_| io::Error::other(format!("bad chunk size {line:?}")))?;
            if size == 0 {
                break;
            }
            let mut chunk = vec![0; size + 2];
            r.read_exact(&mut chunk)?;
            body.extend_from_slice(&chunk[..size]);
        }
    } else if let Some(len) = headers.get("content-length").and_then(|v| v.parse().ok()) {
        body.resize(len, 0);
        r.read_exact(&mut body)?;
    } else {
        r.read_to_end(&mut body)?;
    }
    Ok(Response {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

/// The bridge of one test agent's bridge-mode allocations: its own name (also its
/// nftables table, and with a `-` its netns prefix) and its own /24 in
/// 10.150-199.x, so parallel agents never touch each other's networks, nor the
/// `caravan0` of a real agent on the machine.
#[derive(Debug, Clone)]
pub struct TestBridge {
    /// `cve<hex>`: the bridge and the nftables table.
    pub name: String,
    pub subnet: Ipv4Subnet,
}

impl TestBridge {
    fn new(seq: u32) -> Self {
        let pid = std::process::id();
        let name = format!("cve{:x}{seq:x}", pid % 0x10000);
        let third = u8::try_from(seq % 256).expect("below 256");
        let second = 150 + u8::try_from(pid % 50).expect("below 50");
        let subnet = Ipv4Subnet::new(Ipv4Addr::new(10, second, third, 0), 24).expect("a valid /24");
        Self { name, subnet }
    }

    /// The agent flags that select this bridge.
    fn args(&self) -> [String; 4] {
        [
            "-bridge-network-name".to_owned(),
            self.name.clone(),
            "-bridge-network-subnet".to_owned(),
            self.subnet.to_string(),
        ]
    }

    /// The nftables table (in the `ip` family) holding the port mappings.
    pub fn table(&self) -> &str {
        &self.name
    }

    /// The prefix of the named network namespaces under /var/run/netns.
    pub fn netns_prefix(&self) -> String {
        format!("{}-", self.name)
    }

    /// The bridge's own address: a local address of the host on the bridge.
    pub fn gateway(&self) -> Ipv4Addr {
        self.subnet.gateway()
    }

    /// Removes the bridge, its table and its forward rules, if the agent (running as
    /// root) made them. Allocations' pieces are the agent's to remove.
    fn remove(&self, scratch: &Path) {
        if !is_root() {
            return;
        }
        let config = BridgeConfig {
            bridge: self.name.clone(),
            subnet: self.subnet,
            table: self.name.clone(),
            netns_prefix: self.netns_prefix(),
            ..BridgeConfig::default()
        };
        let Ok(ops) = LinuxNetOps::new(config, scratch) else {
            return;
        };
        let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        else {
            return;
        };
        if let Err(e) = runtime.block_on(ops.remove_bridge()) {
            eprintln!("could not remove the test bridge {}: {e}", self.name);
        }
    }
}

/// Whether this process runs as root, as bridge networking needs.
pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// A running `caravan agent -dev` with its own data dir and HTTP port, stopped on drop.
#[derive(Debug)]
pub struct Agent {
    child: Child,
    /// The bridge of this agent's bridge-mode allocations.
    pub bridge: TestBridge,
    /// Flags given to every start of this agent, after its own.
    extra_args: Vec<String>,
    /// How many times the agent was started (each start logs to its own file).
    starts: u32,
    /// The HTTP API's address.
    pub http_addr: SocketAddr,
    /// `http://127.0.0.1:<port>`, for `-address`.
    pub address: String,
    /// The port of the agent's Consul HTTP API (started with `-consul-port 0`).
    pub consul_port: u16,
    /// The port of the agent's DNS interface, udp and tcp (started with `-dns-port 0`).
    pub dns_port: u16,
    /// This agent's own directory: data dir, job files, logs.
    pub dir: PathBuf,
    /// The agent's data dir (allocation directories live under `alloc/`).
    pub data_dir: PathBuf,
    /// A string unique to this agent, to put on task command lines.
    pub marker: String,
    log: PathBuf,
    cli_runs: AtomicU32,
}

impl Agent {
    /// Starts an agent and waits until its API answers and its node is ready. `name`
    /// names the test (it appears in paths and markers, to tell leftovers apart).
    pub fn start(name: &str) -> Agent {
        Self::start_with(name, &[])
    }

    /// [`Agent::start`] with more agent flags (kept for [`Agent::restart`]).
    pub fn start_with(name: &str, extra_args: &[&str]) -> Agent {
        let seq = SEQ.fetch_add(1, Ordering::Relaxed);
        let unique = format!("{name}-{}-{seq:04}", std::process::id());
        let dir = std::env::temp_dir().join(format!("caravan-e2e-{unique}"));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("create the test's temp dir");
        let data_dir = dir.join("data");
        let log = dir.join("agent.log");
        let bridge = TestBridge::new(seq);
        let child = spawn_agent(&data_dir, &bridge, extra_args, &log);
        let mut agent = Agent {
            child,
            bridge,
            extra_args: extra_args.iter().map(|a| (*a).to_owned()).collect(),
            starts: 1,
            http_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            address: String::new(),
            consul_port: 0,
            dns_port: 0,
            dir,
            data_dir,
            marker: format!("e2emark-{unique}"),
            log,
            cli_runs: AtomicU32::new(0),
        };
        agent.wait_ready();
        agent
    }

    /// Kills the agent with SIGKILL, as a crash would: its tasks, containers and
    /// networks stay behind.
    pub fn kill_hard(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts the agent again on the same data dir with the same flags (a new HTTP
    /// port), after [`Agent::kill_hard`] or a stop, and waits until it is ready.
    pub fn restart(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            panic!("restart: the agent is still running");
        }
        self.starts += 1;
        self.log = self.dir.join(format!("agent-{}.log", self.starts));
        let extra: Vec<&str> = self.extra_args.iter().map(String::as_str).collect();
        self.child = spawn_agent(&self.data_dir, &self.bridge, &extra, &self.log);
        self.wait_ready();
    }

    /// The node id the agent keeps in its data dir.
    pub fn node_id(&self) -> String {
        fs::read_to_string(self.data_dir.join("node-id"))
            .map(|id| id.trim().to_owned())
            .unwrap_or_default()
    }

    /// Waits until the agent listens, its API answers and its node is ready.
    fn wait_ready(&mut self) {
        // The agent prints `Bind Addrs: HTTP: 127.0.0.1:<port>` once it listens.
        let http_addr = wait_for("the agent's HTTP address in its log", |last| {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("the agent exited with {status}:\n{}", self.log_text());
            }
            *last = self.log_text();
            last.lines()
                .find_map(|l| l.split_once("Bind Addrs: HTTP: "))
                .and_then(|(_, addr)| addr.trim().parse::<SocketAddr>().ok())
        });
        // The next banner line names Consul's API (on a port of its own: `-consul-port 0`).
        let consul_addr = wait_for("the agent's Consul HTTP address in its log", |last| {
            *last = self.log_text();
            last.lines()
                .find_map(|l| l.split_once("Consul HTTP: "))
                .and_then(|(_, addr)| addr.trim().parse::<SocketAddr>().ok())
        });
        let dns_addr = wait_for("the agent's DNS address in its log", |last| {
            *last = self.log_text();
            last.lines()
                .find_map(|l| l.split_once("DNS: "))
                .and_then(|(_, rest)| rest.split_whitespace().next())
                .and_then(|addr| addr.parse::<SocketAddr>().ok())
        });
        let agent = self;
        agent.dns_port = dns_addr.port();
        agent.http_addr = http_addr;
        agent.address = format!("http://{http_addr}");
        agent.consul_port = consul_addr.port();
        wait_for("/v1/agent/self", |last| {
            let r = agent.get("/v1/agent/self");
            *last = format!("{r:?}");
            (r.status == 200).then_some(())
        });
        wait_for("the node to be ready", |last| {
            let nodes = agent.get_json("/v1/nodes");
            *last = nodes.to_string();
            nodes
                .as_array()
                .is_some_and(|n| n.len() == 1 && n[0]["Status"] == "ready")
                .then_some(())
        });
    }

    /// The agent's combined stdout and stderr so far.
    pub fn log_text(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn get(&self, path: &str) -> Response {
        http(self.http_addr, "GET", path, None)
    }

    /// GET that must answer 200 with JSON.
    #[track_caller]
    pub fn get_json(&self, path: &str) -> Value {
        let r = self.get(path);
        assert_eq!(r.status, 200, "GET {path}: {r:#?}");
        r.json()
    }

    pub fn put(&self, path: &str, body: &Value) -> Response {
        http(self.http_addr, "PUT", path, Some(&body.to_string()))
    }

    /// The address of the agent's Consul HTTP API.
    pub fn consul_addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.consul_port))
    }

    /// A request to the agent's Consul HTTP API.
    pub fn consul(&self, method: &str, path: &str, body: Option<&str>) -> Response {
        http(self.consul_addr(), method, path, body)
    }

    /// Writes a file into this agent's directory and returns its path.
    pub fn write_file(&self, name: &str, contents: &str) -> PathBuf {
        let path = self.dir.join(name);
        fs::write(&path, contents).expect("write a test file");
        path
    }

    /// Runs the CLI against this agent: `caravan -address <agent> <args...>`.
    pub fn cli(&self, args: &[&str]) -> CliOutput {
        let n = self.cli_runs.fetch_add(1, Ordering::Relaxed);
        let mut cmd = Command::new(caravan_bin());
        cmd.arg("-address").arg(&self.address).args(args);
        run_with_deadline(cmd, &self.dir, &format!("cli-{n}"))
    }

    /// Writes `hcl` to a file, runs `caravan job run` on it (exit 0 expected) and
    /// returns the job's id, as the CLI reports it.
    #[track_caller]
    pub fn run_job(&self, hcl: &str) -> String {
        let n = self.cli_runs.fetch_add(1, Ordering::Relaxed);
        let file = self.write_file(&format!("job-{n}.nomad"), hcl);
        let out = self.cli(&["job", "run", path_str(&file)]);
        job_id_from_run(&out.success())
    }

    /// The allocations of a job (list stubs, all of them).
    pub fn job_allocs(&self, job: &str) -> Vec<Value> {
        self.get_json(&format!("/v1/job/{job}/allocations"))
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// Waits until exactly `n` allocations of `job` that should run are running, and
    /// returns them in full (`/v1/allocation/:id`), sorted by name.
    #[track_caller]
    pub fn wait_allocs_running(&self, job: &str, n: usize) -> Vec<Value> {
        let ids = wait_for(&format!("{n} running allocations of job {job:?}"), |last| {
            let allocs = self.job_allocs(job);
            *last = summarize_allocs(&allocs);
            let running: Vec<String> = allocs
                .iter()
                .filter(|a| a["DesiredStatus"] == "run" && a["ClientStatus"] == "running")
                .map(|a| a["ID"].as_str().unwrap_or_default().to_owned())
                .collect();
            let wanted = allocs
                .iter()
                .filter(|a| a["DesiredStatus"] == "run")
                .count();
            (running.len() == n && wanted == n).then_some(running)
        });
        let mut allocs: Vec<Value> = ids.iter().map(|id| self.alloc(id)).collect();
        allocs.sort_by(|a, b| a["Name"].as_str().cmp(&b["Name"].as_str()));
        allocs
    }

    /// Waits until the allocation's client status is `status`, and returns it in full.
    #[track_caller]
    pub fn wait_alloc_status(&self, id: &str, status: &str) -> Value {
        wait_for(&format!("allocation {id} to be {status}"), |last| {
            let a = self.alloc(id);
            *last = format!(
                "{} ({}) tasks: {}",
                a["ClientStatus"], a["ClientDescription"], a["TaskStates"]
            );
            (a["ClientStatus"] == status).then_some(a)
        })
    }

    /// `GET /v1/allocation/:id`.
    #[track_caller]
    pub fn alloc(&self, id: &str) -> Value {
        self.get_json(&format!("/v1/allocation/{id}"))
    }

    /// The allocation's host ports by label (`AllocatedResources.Shared.Ports`).
    #[track_caller]
    pub fn alloc_ports(&self, id: &str) -> BTreeMap<String, u16> {
        ports_of(&self.alloc(id))
    }

    /// Processes the agent started that still run: those whose environment names this
    /// agent's directory (every task gets `NOMAD_ALLOC_DIR` under it, and children
    /// inherit it) or whose command line carries the marker. The agent is not one.
    pub fn task_processes(&self) -> Vec<(u32, String)> {
        let agent = self.child.id();
        let marker = self.marker.as_bytes();
        processes_matching(|p| {
            p.pid != agent && (contains(&p.cmdline, marker) || p.lives_in(&self.dir))
        })
    }

    /// The processes of one allocation: those working in or told about its directory.
    pub fn alloc_processes(&self, alloc_id: &str) -> Vec<(u32, String)> {
        let dir = self.data_dir.join("alloc").join(alloc_id);
        processes_matching(|p| p.lives_in(&dir))
    }

    /// Sends SIGINT and waits for the agent to exit; SIGKILL after a deadline.
    /// Returns the exit status, and whether it needed the SIGKILL.
    fn stop(&mut self) -> (Option<ExitStatus>, bool) {
        if let Ok(Some(status)) = self.child.try_wait() {
            return (Some(status), false);
        }
        signal(self.child.id(), "INT");
        let start = Instant::now();
        while start.elapsed() < SHUTDOWN_DEADLINE {
            if let Ok(Some(status)) = self.child.try_wait() {
                return (Some(status), false);
            }
            std::thread::sleep(POLL);
        }
        let _ = self.child.kill();
        (self.child.wait().ok(), true)
    }
}

/// Starts `caravan agent -dev` on `data_dir` with its bridge and `extra_args`, its
/// output going to `log`.
fn spawn_agent(data_dir: &Path, bridge: &TestBridge, extra_args: &[&str], log: &Path) -> Child {
    let log_file = fs::File::create(log).expect("create the agent log");
    Command::new(caravan_bin())
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
        .arg(data_dir)
        .args(bridge.args())
        .args(extra_args)
        .stdin(Stdio::null())
        .stdout(log_file.try_clone().expect("clone the log file"))
        .stderr(log_file)
        .spawn()
        .expect("start caravan agent -dev")
}

/// The docker containers (ids) labelled with this node, or none when docker does not
/// answer.
pub fn node_containers(node_id: &str) -> Vec<String> {
    if node_id.is_empty() {
        return Vec::new();
    }
    let filter = format!("label=caravan.node_id={node_id}");
    match Command::new("docker")
        .args(["ps", "-aq", "--filter", &filter])
        .stderr(Stdio::null())
        .output()
    {
        Ok(out) if out.status.success() => String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let panicking = std::thread::panicking();
        let node_id = self.node_id();
        let (status, killed) = self.stop();
        // After a graceful stop the tasks are gone; give stragglers a moment to be reaped.
        let mut left = Vec::new();
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(5) {
            left = self.task_processes();
            if left.is_empty() {
                break;
            }
            std::thread::sleep(POLL);
        }
        for (pid, _) in &left {
            signal(*pid, "KILL");
        }
        let containers = node_containers(&node_id);
        if !containers.is_empty() {
            let _ = Command::new("docker")
                .args(["rm", "-f"])
                .args(&containers)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
        self.bridge.remove(&self.dir.join("bridge-cleanup"));
        let mut problems = Vec::new();
        if killed {
            problems.push(format!(
                "the agent did not exit within {SHUTDOWN_DEADLINE:?} of SIGINT"
            ));
        } else if !status.is_some_and(|s| s.success()) {
            problems.push(format!("the agent exited with {status:?} after SIGINT"));
        }
        if !left.is_empty() {
            problems.push(format!(
                "task processes outlived the agent (now killed): {left:?}"
            ));
        }
        if !containers.is_empty() {
            problems.push(format!(
                "containers outlived the agent (now removed): {containers:?}"
            ));
        }
        if panicking || !problems.is_empty() {
            eprintln!(
                "---- agent log ({}) ----\n{}",
                self.log.display(),
                self.log_text()
            );
        } else {
            let _ = fs::remove_dir_all(&self.dir);
        }
        if !problems.is_empty() {
            if panicking {
                eprintln!("also: {}", problems.join("; "));
            } else {
                panic!("{}", problems.join("; "));
            }
        }
    }
}

/// Runs a command with stdout and stderr going to files in `dir` (so no pipe can fill
/// up), killing it after [`CLI_DEADLINE`].
pub fn run_with_deadline(mut cmd: Command, dir: &Path, name: &str) -> CliOutput {
    let (out_path, err_path) = (
        dir.join(format!("{name}.out")),
        dir.join(format!("{name}.err")),
    );
    let out = fs::File::create(&out_path).expect("create a stdout file");
    let err = fs::File::create(&err_path).expect("create a stderr file");
    for var in [
        "CARAVAN_ADDR",
        "NOMAD_ADDR",
        "CARAVAN_NAMESPACE",
        "NOMAD_NAMESPACE",
        "NOMAD_REGION",
        "CARAVAN_TOKEN",
        "NOMAD_TOKEN",
    ] {
        cmd.env_remove(var);
    }
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .unwrap_or_else(|e| panic!("start {cmd:?}: {e}"));
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for a command") {
            break status;
        }
        if start.elapsed() > CLI_DEADLINE {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "{cmd:?} did not finish within {CLI_DEADLINE:?}; output so far:\n{}\n{}",
                fs::read_to_string(&out_path).unwrap_or_default(),
                fs::read_to_string(&err_path).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    CliOutput {
        code: status.code().unwrap_or(-1),
        stdout: fs::read_to_string(&out_path).unwrap_or_default(),
        stderr: fs::read_to_string(&err_path).unwrap_or_default(),
    }
}

/// A path as the `&str` a command line takes (the test's paths are UTF-8).
#[track_caller]
pub fn path_str(path: &Path) -> &str {
    path.to_str()
        .unwrap_or_else(|| panic!("not UTF-8: {}", path.display()))
}

/// The job id in `job run`'s `Evaluation triggered by job "<id>"` line.
#[track_caller]
pub fn job_id_from_run(out: &CliOutput) -> String {
    out.stdout
        .lines()
        .find_map(|l| l.split_once("Evaluation triggered by job \""))
        .and_then(|(_, rest)| rest.split_once('"'))
        .map(|(id, _)| id.to_owned())
        .unwrap_or_else(|| panic!("no job id in the output of job run: {out:#?}"))
}

/// The host ports of an allocation (`AllocatedResources.Shared.Ports`) by label.
pub fn ports_of(alloc: &Value) -> BTreeMap<String, u16> {
    alloc["AllocatedResources"]["Shared"]["Ports"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| {
            let label = p["Label"].as_str().expect("port label").to_owned();
            let value = p["Value"].as_u64().expect("port value");
            (label, u16::try_from(value).expect("port fits u16"))
        })
        .collect()
}

/// One line per allocation: id, desired and client status, for failure messages.
pub fn summarize_allocs(allocs: &[Value]) -> String {
    allocs
        .iter()
        .map(|a| {
            format!(
                "{} {} desired={} client={} ({})",
                a["ID"].as_str().unwrap_or("?"),
                a["Name"].as_str().unwrap_or("?"),
                a["DesiredStatus"],
                a["ClientStatus"],
                a["ClientDescription"]
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

/// What [`processes_matching`] knows about a process.
#[derive(Debug)]
pub struct ProcInfo {
    pub pid: u32,
    /// NUL-separated arguments.
    pub cmdline: Vec<u8>,
    /// NUL-separated `KEY=VALUE` entries, as the process started. Programs that
    /// rewrite their title (redis-server does) overwrite this area, so it is a hint.
    pub environ: Vec<u8>,
    /// The working directory (raw_exec starts tasks in their task directory).
    pub cwd: Option<PathBuf>,
}

impl ProcInfo {
    /// Whether the process works under `dir` or its environment names a path under
    /// it (every task gets `NOMAD_ALLOC_DIR` and friends; children inherit both).
    pub fn lives_in(&self, dir: &Path) -> bool {
        let with_slash = format!("{}/", dir.display());
        self.cwd.as_deref().is_some_and(|cwd| cwd.starts_with(dir))
            || contains(&self.environ, with_slash.as_bytes())
    }
}

/// Processes (other than this one) for which `pred` holds, with their command lines.
/// Processes that vanish or cannot be read are skipped; zombies have no command line,
/// environment or working directory, and so never match.
pub fn processes_matching(pred: impl Fn(&ProcInfo) -> bool) -> Vec<(u32, String)> {
    let me = std::process::id();
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        if pid == me {
            continue;
        }
        let info = ProcInfo {
            pid,
            cmdline: fs::read(entry.path().join("cmdline")).unwrap_or_default(),
            environ: fs::read(entry.path().join("environ")).unwrap_or_default(),
            cwd: fs::read_link(entry.path().join("cwd")).ok(),
        };
        if pred(&info) {
            let shown = String::from_utf8_lossy(&info.cmdline).replace('\0', " ");
            found.push((pid, shown.trim_end().to_owned()));
        }
    }
    found.sort();
    found
}

/// Processes whose environment holds `KEY=VALUE` exactly (one NUL-separated entry).
/// Not for programs that rewrite their title (see [`ProcInfo::environ`]).
pub fn processes_with_env(key: &str, value: &str) -> Vec<(u32, String)> {
    let entry = format!("{key}={value}");
    processes_matching(|p| p.environ.split(|&b| b == 0).any(|e| e == entry.as_bytes()))
}

/// Sends a signal with kill(1) (this crate forbids `unsafe`, so no libc).
pub fn signal(pid: u32, sig: &str) {
    let _ = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// The hello-app binary (examples/hello-app), next to the `caravan` binary. A plain
/// `cargo test` may not have built it; then it is built once, into the same target dir.
pub fn hello_app_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let profile_dir = caravan_bin().parent().expect("the binary's directory");
        let bin = profile_dir.join("hello-app");
        if bin.exists() {
            return bin;
        }
        let target_dir = profile_dir.parent().expect("the target directory");
        let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../Cargo.toml");
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.args(["build", "-p", "hello-app", "--manifest-path"])
            .arg(&manifest)
            .env("CARGO_TARGET_DIR", target_dir);
        if profile_dir.file_name().is_some_and(|n| n == "release") {
            cmd.arg("--release");
        }
        let status = cmd.status().expect("run cargo build -p hello-app");
        assert!(
            status.success(),
            "cargo build -p hello-app failed: {status}"
        );
        assert!(
            bin.exists(),
            "cargo build -p hello-app made no {}",
            bin.display()
        );
        bin
    })
}
