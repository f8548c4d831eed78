//! A cluster on loopback: servers and client agents of the release `caravan` binary,
//! each a child process started from an agent configuration file this module writes,
//! on ports picked free beforehand (a server's RPC port is in every peer's
//! `retry_join`, so it must be known before any starts). Members can be SIGKILLed and
//! started again on the same data dir. Dropping the cluster stops every member, kills
//! what their tasks left behind (found by their working directory or command line
//! under the cluster's directory) and removes that directory.

use std::fmt::Write as _;
use std::fs::File;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::Res;
use super::http::Http;

/// The members' log level (`warn` unless set), and whether the cluster's directory
/// (configurations, logs, data) is kept.
const LOG_LEVEL_ENV: &str = "BENCH_AGENT_LOG_LEVEL";

/// What to start.
#[derive(Debug, Clone)]
pub struct Spec {
    pub servers: usize,
    pub clients: usize,
    /// `server { min_heartbeat_ttl heartbeat_grace }`; `None` keeps the defaults.
    pub heartbeat: Option<(Duration, Duration)>,
    /// How long a member gets to answer HTTP after starting, and to exit on SIGINT.
    pub grace: Duration,
}

/// One agent of the cluster.
pub struct Member {
    pub name: String,
    /// Nomad's HTTP API.
    pub http: SocketAddr,
    /// The RPC address a server advertises (and its peers join); `None` for a client.
    pub rpc: Option<String>,
    config: PathBuf,
    log: PathBuf,
    binary: PathBuf,
    child: Option<Child>,
    grace: Duration,
}

impl Member {
    /// Starts the agent on its configuration file; its output is appended to its log.
    pub fn start(&mut self) -> Res<()> {
        if self.child.is_some() {
            return Err(format!("{} is already running", self.name));
        }
        let log = File::options()
            .create(true)
            .append(true)
            .open(&self.log)
            .map_err(|e| format!("opening {}: {e}", self.log.display()))?;
        let err = log
            .try_clone()
            .map_err(|e| format!("opening {}: {e}", self.log.display()))?;
        let child = Command::new(&self.binary)
            .arg("agent")
            .arg("-config")
            .arg(&self.config)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(err)
            .spawn()
            .map_err(|e| format!("starting {}: {e}", self.binary.display()))?;
        self.child = Some(child);
        Ok(())
    }

    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// The agent's process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// SIGKILL, and reaps it.
    pub fn kill(&mut self) -> Res<()> {
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        child
            .kill()
            .map_err(|e| format!("killing {}: {e}", self.name))?;
        child
            .wait()
            .map_err(|e| format!("reaping {}: {e}", self.name))?;
        Ok(())
    }

    /// SIGINT; SIGKILL if it has not exited within the grace. An agent that had already
    /// died, or exited with a failure, or had to be killed is an error.
    pub fn stop(&mut self) -> Res<()> {
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!(
                "{} had exited before the stop: {status}",
                self.name
            ));
        }
        let _ = Command::new("kill")
            .args(["-INT", &child.id().to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let deadline = Instant::now() + self.grace;
        loop {
            match child.try_wait() {
                Ok(Some(status)) if status.success() => return Ok(()),
                Ok(Some(status)) => return Err(format!("{} exited with {status}", self.name)),
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20));
                }
                _ => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(format!(
                        "{} ignored SIGINT for {:?}: killed",
                        self.name, self.grace
                    ));
                }
            }
        }
    }

    /// An error if the agent has exited by itself.
    pub fn check_alive(&mut self) -> Res<()> {
        match self.child.as_mut().map(Child::try_wait) {
            Some(Ok(Some(status))) => {
                self.child = None;
                Err(format!("{} exited by itself: {status}", self.name))
            }
            _ => Ok(()),
        }
    }

    /// Waits until the agent answers `path` with 200.
    pub fn wait_http(&mut self, path: &str, within: Duration) -> Res<()> {
        let deadline = Instant::now() + within;
        let mut http = Http::new(self.http);
        loop {
            self.check_alive()?;
            let last = match http.request("GET", path, None) {
                Ok(r) if r.status == 200 => return Ok(()),
                Ok(r) => format!("HTTP {}: {}", r.status, String::from_utf8_lossy(&r.body)),
                Err(e) => e,
            };
            if Instant::now() > deadline {
                return Err(format!(
                    "{} did not answer GET {path} within {within:?}: {last}",
                    self.name
                ));
            }
            http.close();
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The last `n` lines of its log.
    pub fn log_tail(&self, n: usize) -> String {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    /// How many lines of its log are warnings and errors, and its error and panic
    /// lines.
    pub fn log_problems(&self) -> (usize, Vec<String>) {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let mut warnings = 0;
        let mut errors = Vec::new();
        for line in log.lines() {
            if line.contains(" WARN ") {
                warnings += 1;
            } else if line.contains(" ERROR ") || line.contains("panicked") {
                errors.push(line.to_owned());
            }
        }
        (warnings, errors)
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

/// Servers and clients on loopback, in a temporary directory of their own.
pub struct Cluster {
    pub dir: PathBuf,
    pub servers: Vec<Member>,
    pub clients: Vec<Member>,
    keep: bool,
}

impl Cluster {
    /// Writes every member's configuration and starts the servers, then waits until
    /// they have elected a leader, then starts the clients and waits until each
    /// client's node is ready.
    pub fn start(binary: &Path, name: &str, spec: &Spec) -> Res<Self> {
        let dir = std::env::temp_dir().join(format!("caravan-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
        let level = std::env::var(LOG_LEVEL_ENV).ok();
        let mut cluster = Self {
            dir: dir.clone(),
            servers: Vec::new(),
            clients: Vec::new(),
            keep: level.is_some(),
        };
        let level = level.unwrap_or_else(|| "warn".into());
        let ports = free_ports(spec.servers * 2 + spec.clients)?;
        let rpc: Vec<String> = (0..spec.servers)
            .map(|i| format!("127.0.0.1:{}", ports[i * 2 + 1]))
            .collect();
        for i in 0..spec.servers {
            let name = format!("s{}", i + 1);
            let config = server_config(
                &name,
                &dir,
                &level,
                ports[i * 2],
                ports[i * 2 + 1],
                &rpc,
                spec,
            );
            cluster.servers.push(member(
                binary,
                &dir,
                name,
                ports[i * 2],
                Some(rpc[i].clone()),
                &config,
                spec,
            )?);
        }
        for i in 0..spec.clients {
            let name = format!("c{}", i + 1);
            let http = ports[spec.servers * 2 + i];
            let config = client_config(&name, &dir, &level, http, &rpc);
            cluster
                .clients
                .push(member(binary, &dir, name, http, None, &config, spec)?);
        }
        if cluster.keep {
            eprintln!(
                "cluster directory (configurations, logs, data): {}",
                dir.display()
            );
        }
        for server in &mut cluster.servers {
            server.start()?;
        }
        for server in &mut cluster.servers {
            server.wait_http("/v1/status/leader?stale", spec.grace)?;
        }
        cluster.wait_leader(None, spec.grace * 2)?;
        for client in &mut cluster.clients {
            client.start()?;
        }
        for i in 0..cluster.clients.len() {
            let name = cluster.clients[i].name.clone();
            cluster.wait_node(&name, "ready", spec.grace * 2)?;
        }
        Ok(cluster)
    }

    /// The server whose RPC address is `rpc`.
    pub fn server_at(&self, rpc: &str) -> Option<usize> {
        self.servers
            .iter()
            .position(|s| s.rpc.as_deref() == Some(rpc))
    }

    /// Waits until every running server names the same leader (`?stale`: each its own
    /// view), one that runs and is not `not`: its index in `servers`.
    pub fn wait_leader(&mut self, not: Option<&str>, within: Duration) -> Res<usize> {
        let deadline = Instant::now() + within;
        let mut clients: Vec<Http> = self.servers.iter().map(|s| Http::new(s.http)).collect();
        loop {
            let mut views = Vec::new();
            for (server, http) in self.servers.iter_mut().zip(&mut clients) {
                if !server.is_running() {
                    continue;
                }
                server.check_alive()?;
                views.push(leader_view(http));
            }
            if let Some(Some(first)) = views.first()
                && views.iter().all(|v| v.as_deref() == Some(first))
                && Some(first.as_str()) != not
                && let Some(at) = self.server_at(first)
                && self.servers[at].is_running()
            {
                return Ok(at);
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "no agreed leader within {within:?}: the running servers see {views:?}"
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits until a server lists the node named `name` with `status`: its id.
    pub fn wait_node(&mut self, name: &str, status: &str, within: Duration) -> Res<String> {
        let deadline = Instant::now() + within;
        loop {
            for client in &mut self.clients {
                client.check_alive()?;
            }
            let server = self
                .servers
                .iter()
                .find(|s| s.is_running())
                .ok_or("no server runs")?;
            let mut http = Http::new(server.http);
            let nodes = http.get_json("/v1/nodes?stale").map(|(_, n)| n);
            if let Ok(Value::Array(nodes)) = &nodes
                && let Some(node) = nodes
                    .iter()
                    .find(|n| n["Name"] == name && n["Status"] == status)
            {
                return Ok(super::string(&node["ID"]));
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "node {name} not {status} within {within:?}: {nodes:?}"
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// What the members logged beyond information (how many warnings, the last
    /// errors and panics), one line each, for the report; empty when nothing.
    pub fn problems(&self) -> String {
        let mut out = String::new();
        for m in self.servers.iter().chain(&self.clients) {
            let (warnings, errors) = m.log_problems();
            if warnings == 0 && errors.is_empty() {
                continue;
            }
            let _ = writeln!(
                out,
                "  {}: {warnings} warnings, {} errors",
                m.name,
                errors.len()
            );
            for line in &errors[errors.len().saturating_sub(2)..] {
                let _ = writeln!(out, "    {line}");
            }
        }
        out
    }

    /// The end of every member's log, for a failure.
    pub fn log_tails(&self) -> String {
        let mut out = String::new();
        for m in self.servers.iter().chain(&self.clients) {
            let _ = writeln!(
                out,
                "--- last lines of {}'s log ---\n{}",
                m.name,
                m.log_tail(15)
            );
        }
        out
    }

    /// Stops the clients, then the servers; then kills what tasks left behind. The
    /// first failure, after trying every member; how many leftover processes were
    /// killed.
    pub fn stop(&mut self) -> Res<usize> {
        let mut result = Ok(());
        for m in self.clients.iter_mut().chain(self.servers.iter_mut()) {
            let stopped = m.stop();
            if result.is_ok() {
                result = stopped;
            }
        }
        let left = kill_leftovers(&self.dir);
        result.map(|()| left)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = self.stop();
        if !self.keep {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// A server's answer to `GET /v1/status/leader?stale`, when it names one.
fn leader_view(http: &mut Http) -> Option<String> {
    let (_, leader) = http.get_json("/v1/status/leader?stale").ok()?;
    leader.as_str().filter(|l| !l.is_empty()).map(str::to_owned)
}

fn member(
    binary: &Path,
    dir: &Path,
    name: String,
    http: u16,
    rpc: Option<String>,
    config: &str,
    spec: &Spec,
) -> Res<Member> {
    let path = dir.join(format!("{name}.hcl"));
    std::fs::write(&path, config).map_err(|e| format!("writing {}: {e}", path.display()))?;
    Ok(Member {
        log: dir.join(format!("{name}.log")),
        name,
        http: SocketAddr::from(([127, 0, 0, 1], http)),
        rpc,
        config: path,
        binary: binary.to_owned(),
        child: None,
        grace: spec.grace,
    })
}

fn quoted_list(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|s| format!("{s:?}")).collect();
    format!("[{}]", quoted.join(", "))
}

/// A server's configuration: one attribute per line (HCL2).
fn server_config(
    name: &str,
    dir: &Path,
    level: &str,
    http: u16,
    rpc: u16,
    peers: &[String],
    spec: &Spec,
) -> String {
    let heartbeat = match spec.heartbeat {
        Some((ttl, grace)) => format!(
            "  min_heartbeat_ttl = \"{}ms\"\n  heartbeat_grace   = \"{}ms\"\n",
            ttl.as_millis(),
            grace.as_millis()
        ),
        None => String::new(),
    };
    format!(
        r#"name      = "{name}"
data_dir  = "{data}"
bind_addr = "127.0.0.1"
log_level = "{level}"
ports {{
  http   = {http}
  rpc    = {rpc}
  consul = -1
  dns    = -1
}}
server {{
  enabled          = true
  bootstrap_expect = {expect}
{heartbeat}  server_join {{
    retry_join     = {peers}
    retry_interval = "1s"
  }}
}}
"#,
        data = dir.join(name).display(),
        expect = spec.servers,
        peers = quoted_list(peers),
    )
}

/// A client's configuration.
fn client_config(name: &str, dir: &Path, level: &str, http: u16, servers: &[String]) -> String {
    format!(
        r#"name      = "{name}"
data_dir  = "{data}"
bind_addr = "127.0.0.1"
log_level = "{level}"
ports {{
  http = {http}
}}
client {{
  enabled = true
  servers = {servers}
}}
"#,
        data = dir.join(name).display(),
        servers = quoted_list(servers),
    )
}

/// `n` distinct ports free on loopback now (bound together, then released).
pub fn free_ports(n: usize) -> Res<Vec<u16>> {
    let listeners = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0").map_err(|e| format!("picking a free port: {e}")))
        .collect::<Res<Vec<_>>>()?;
    listeners
        .iter()
        .map(|l| {
            l.local_addr()
                .map(|a| a.port())
                .map_err(|e| format!("picking a free port: {e}"))
        })
        .collect()
}

/// SIGKILLs, by pid, every process (other than this one) whose working directory or
/// command line is under `dir`: tasks of a killed client, their log collectors. Run
/// once the agents have exited. How many there were.
pub fn kill_leftovers(dir: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0;
    };
    let me = std::process::id();
    let needle = dir.to_string_lossy().into_owned();
    let mut killed = 0;
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if pid == me {
            continue;
        }
        let proc_dir = entry.path();
        let in_dir = std::fs::read_link(proc_dir.join("cwd")).is_ok_and(|cwd| cwd.starts_with(dir));
        let names_dir = std::fs::read(proc_dir.join("cmdline"))
            .is_ok_and(|cmd| String::from_utf8_lossy(&cmd).contains(&needle));
        if in_dir || names_dir {
            let status = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
            if status.is_ok_and(|s| s.success()) {
                killed += 1;
            }
        }
    }
    killed
}
