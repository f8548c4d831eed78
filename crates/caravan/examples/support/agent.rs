//! The dev agent a bench measures: the release `caravan` binary run as a child process.

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::Res;

/// The agent's log level, and whether its log is kept.
const LOG_LEVEL_ENV: &str = "BENCH_AGENT_LOG_LEVEL";

/// The `main` of a bench on a plain dev agent: starts it (`grace` to print its addresses
/// and to exit), runs `bench` on it and stops it. A failure is printed after `<name>: `,
/// with the end of the agent's log when it got as far as running.
pub fn run(name: &str, grace: Duration, bench: impl FnOnce(&Agent) -> Res<()>) -> ExitCode {
    let binary = match caravan_binary() {
        Ok(binary) => binary,
        Err(e) => {
            eprintln!("{name}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut agent = match Agent::start(&binary, name, grace, &[]) {
        Ok(agent) => agent,
        Err(e) => {
            eprintln!("{name}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = bench(&agent);
    let stopped = agent.stop();
    match result.and(stopped) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{name}: {e}");
            eprintln!("{}", agent.log_tail());
            ExitCode::FAILURE
        }
    }
}

/// `target/release/caravan`, beside `target/release/examples/` where this runs from.
pub fn caravan_binary() -> Res<PathBuf> {
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

/// A dev agent running as a child process, stopped (SIGINT, then SIGKILL) when dropped.
pub struct Agent {
    child: Option<Child>,
    /// Nomad's HTTP API.
    pub addr: SocketAddr,
    /// Consul's HTTP API.
    pub consul_addr: SocketAddr,
    /// Its `-data-dir`.
    pub data_dir: PathBuf,
    dir: PathBuf,
    log: PathBuf,
    keep_log: bool,
    /// How long it gets to print its addresses, and to exit after SIGINT.
    grace: Duration,
    /// Clock ticks per second, for `/proc/<pid>/stat`.
    ticks: u64,
}

impl Agent {
    /// Starts `binary` as `caravan agent -dev` with every port 0 and `extra_args`, in
    /// a temporary directory named after the bench, and waits for the addresses it
    /// printed. `BENCH_AGENT_LOG_LEVEL` sets its log level and keeps its log.
    pub fn start(binary: &Path, bench: &str, grace: Duration, extra_args: &[String]) -> Res<Self> {
        let dir = std::env::temp_dir().join(format!(
            "caravan-{}-{}",
            bench.replace('_', "-"),
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
        let data_dir = dir.join("data");
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
            .arg(&data_dir)
            .args(extra_args)
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
            data_dir,
            dir,
            log: log.clone(),
            keep_log: level.is_some(),
            grace,
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
                .recv_timeout(grace)
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

    /// The agent's user + system CPU time so far (`/proc/<pid>/stat`, its own threads,
    /// not its tasks).
    pub fn cpu(&self) -> Res<Duration> {
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

    /// SIGINT, so the agent stops its tasks; SIGKILL if it has not exited in time.
    pub fn stop(&mut self) -> Res<()> {
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        let pid = child.id().to_string();
        let _ = Command::new("kill")
            .args(["-INT", &pid])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let deadline = Instant::now() + self.grace;
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
                        "the agent ignored SIGINT for {:?}: killed",
                        self.grace
                    ));
                }
            }
        }
    }

    /// The last 30 lines of the agent's log, under a heading.
    pub fn log_tail(&self) -> String {
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
