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

#[path = "support/mod.rs"]
mod support;

use std::net::Ipv4Addr;
use std::process::{Command, ExitCode, Stdio};
use std::time::Duration;

use caravan_net::{BridgeConfig, Ipv4Subnet, LinuxNetOps};
use serde_json::json;
use support::Res;
use support::agent::{Agent, caravan_binary};
use support::http::Http;
use support::nomad::{STEP_COUNT, Started, sleep_job, start_job, stop_job, wait_for_ready_node};
use support::stats::{Samples, missed, ms, percentile};

const RUNS: usize = 50;
/// How long one run may take before the bench gives up.
const RUN_DEADLINE: Duration = Duration::from_secs(30);
/// How long the agent gets to print its address, and to exit after SIGINT.
const AGENT_GRACE: Duration = Duration::from_secs(20);
/// DESIGN.md section 6: what bridge mode may add to a start.
const TARGET_ADDED: Duration = Duration::from_millis(10);

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
    let bridge_args: Vec<String> = bridge.iter().flat_map(Bridge::args).collect();
    let mut agent = match Agent::start(&binary, "bench_alloc_start", AGENT_GRACE, &bridge_args) {
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

fn bench(agent: &Agent, bridge: bool) -> Res<()> {
    let mut http = Http::new(agent.addr);
    wait_for_ready_node(&mut http, AGENT_GRACE)?;
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
        stop_job(&mut http, &id, &run.alloc, RUN_DEADLINE)
            .map_err(|e| format!("warm-up: stopping: {e}"))?;
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
            stop_job(&mut http, &id, &result.alloc, RUN_DEADLINE)
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
        println!(
            "  steps (p50 of each), host: {}",
            host.breakdown(&STEPS, "")
        );
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
        missed(bridge_p50.saturating_sub(host_p50), TARGET_ADDED),
    );
    println!(
        "  steps (p50 of each), host: {}",
        host.breakdown(&STEPS, "")
    );
    println!(
        "  steps (p50 of each), bridge: {}",
        bridged.breakdown(&STEPS, "")
    );
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

/// The names of a start's steps (see `support::start_job`). The allocation's hooks
/// (its directory and its network: the namespace, veth and nftables of bridge mode)
/// run before the task runner records `Received`.
const STEPS: [&str; STEP_COUNT] = [
    "register+schedule",
    "client wake-up+alloc hooks",
    "task hooks+driver start",
    "status report",
    "query answer",
];

/// Registers the job and follows its allocations until one runs; the time is from the
/// request to the answer that showed it running.
fn start_alloc(http: &mut Http, id: &str, mode: Mode) -> Res<Started> {
    let mut job = sleep_job(id);
    if let Mode::Bridge = mode {
        job["Job"]["TaskGroups"][0]["Networks"] = json!([{"Mode": "bridge"}]);
    }
    let body = serde_json::to_vec(&job).map_err(|e| format!("encoding the job: {e}"))?;
    start_job(http, id, &body, RUN_DEADLINE)
}

/// `a - b` in milliseconds, negative when `b` is longer.
fn signed_ms(a: Duration, b: Duration) -> String {
    format!("{:.1}", (a.as_secs_f64() - b.as_secs_f64()) * 1000.0)
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
