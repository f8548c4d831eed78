//! End to end with docker: a real `caravan agent -dev` per test runs the seeds' job
//! files with the docker driver and the locally built images (`scripts/build-images`:
//! redis:7, mrkaran/hello-app:1.0.0, caravan/pause:latest), checked with redis-cli
//! and curl; then bridge-mode groups: tasks of a group talk over localhost, mapped
//! ports answer on the host's addresses, one allocation reaches another's mapped
//! port, and nothing (network namespace, veth, nftables rule, container) is left
//! after `job stop`, nor after the agent is SIGKILLed and restarted.
//!
//! Every test skips (prints a line and passes) when no Docker Engine answers or the
//! images cannot be built; the images are built once per run when missing. Bridge
//! tests also need root. Each agent has a bridge of its own (see `support`), so the
//! tests run in parallel; those that use the seeds' static ports (6379, 8080) take
//! turns, and skip when something outside the tests holds those ports.

mod support;

use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Mutex, MutexGuard, OnceLock};

use support::fixtures::{curl, host_ipv4, repo_dir};
use support::{
    Agent, hello_app_bin, is_root, node_containers, path_str, ports_of, processes_with_env, signal,
    wait_for,
};

/// The images the seeds' jobs and the pause container use.
const IMAGES: [&str; 4] = [
    "redis:7",
    "mrkaran/hello-app:1.0.0",
    "caravan/hello-app:latest",
    "caravan/pause:latest",
];
/// The agent's default dynamic port range.
const DYNAMIC_PORTS: std::ops::RangeInclusive<u16> = 20000..=32000;

// Preconditions.

/// Why the docker tests cannot run here, if they cannot. Builds the images once
/// (for every test of this run) when docker answers and they are missing.
fn docker_skip_reason() -> Option<String> {
    static READY: OnceLock<Result<(), String>> = OnceLock::new();
    READY
        .get_or_init(|| {
            let answers = Command::new("docker")
                .arg("info")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if !answers {
                return Err("no Docker Engine answers here".to_owned());
            }
            if images_present() {
                return Ok(());
            }
            let script = repo_dir().join("scripts/build-images");
            eprintln!("building the test images with {}", script.display());
            let built = Command::new(&script)
                .stdout(Stdio::null())
                .status()
                .map_err(|e| format!("cannot run {}: {e}", script.display()))?;
            if !built.success() || !images_present() {
                return Err(format!(
                    "the images could not be built ({} exited with {built})",
                    script.display()
                ));
            }
            Ok(())
        })
        .clone()
        .err()
}

fn images_present() -> bool {
    Command::new("docker")
        .args(["image", "inspect"])
        .args(IMAGES)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Skips the calling test (prints why and returns) without docker and the images.
macro_rules! require_docker {
    () => {
        if let Some(reason) = docker_skip_reason() {
            eprintln!("skipped: {reason}");
            return;
        }
    };
}

/// Skips the calling test without root (bridge networking needs it) or without the
/// tools the test counts leftovers with.
macro_rules! require_bridge {
    () => {
        require_docker!();
        if !is_root() {
            eprintln!("skipped: bridge networking needs root");
            return;
        }
        if !Path::new(&tool("nft")).exists() || !Path::new(&tool("ip")).exists() {
            eprintln!("skipped: nft and ip are needed to count leftovers");
            return;
        }
    };
}

/// The seeds' static ports: one test at a time holds them.
fn static_ports() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The first of `ports` that something on this host listens on.
fn taken(ports: &[u16]) -> Option<u16> {
    ports
        .iter()
        .copied()
        .find(|p| TcpListener::bind(("0.0.0.0", *p)).is_err())
}

/// Takes the static-port lock, or skips the calling test when one of the ports is
/// held outside the tests.
macro_rules! hold_static_ports {
    ($($port:expr),+) => {{
        let guard = static_ports();
        if let Some(port) = taken(&[$($port),+]) {
            eprintln!("skipped: port {port} is in use on this host");
            return;
        }
        guard
    }};
}

// Helpers.

fn seed(name: &str) -> PathBuf {
    repo_dir().join("examples/seeds").join(name)
}

/// `/usr/sbin/<name>` when it is there (root's tools may be missing from PATH).
fn tool(name: &str) -> String {
    ["/usr/sbin", "/sbin", "/usr/bin", "/bin"]
        .iter()
        .map(|dir| Path::new(dir).join(name))
        .find(|path| path.exists())
        .map_or_else(|| name.to_owned(), |p| p.display().to_string())
}

/// Runs `caravan job run` on a file, expecting success; returns the job id.
#[track_caller]
fn run_file(agent: &Agent, file: &Path) -> String {
    let out = agent.cli(&["job", "run", path_str(file)]);
    support::job_id_from_run(&out.success())
}

/// `redis-cli -h HOST -p PORT <args>`, its trimmed output.
fn redis_cli(host: &str, port: u16, args: &[&str]) -> String {
    let out = Command::new("redis-cli")
        .args(["-h", host, "-p", &port.to_string()])
        .args(args)
        .output()
        .expect("run redis-cli (Debian package redis-tools)");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

fn wait_redis_pong(host: &str, port: u16) {
    wait_for(&format!("redis on {host}:{port} to answer PONG"), |last| {
        *last = redis_cli(host, port, &["ping"]);
        (last == "PONG").then_some(())
    });
}

/// Waits until `url` answers 200; returns the body.
fn wait_http_ok(url: &str) -> String {
    wait_for(&format!("{url} to answer 200"), |last| {
        let (code, body) = curl(url);
        *last = format!("{code} {body}");
        (code == 200).then_some(body)
    })
}

fn docker_inspect(container: &str, format: &str) -> String {
    let out = Command::new("docker")
        .args(["inspect", "-f", format, container])
        .output()
        .expect("run docker inspect");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// What an agent's bridge networking and docker hold on this host.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Pieces {
    /// Named network namespaces with the bridge's prefix.
    netns: usize,
    /// Interfaces attached to the bridge (allocations' veths).
    veths: usize,
    /// Allocation chains in the bridge's nftables table.
    chains: usize,
    /// Entries of the table's host port map.
    port_map: usize,
    /// Containers labelled with the agent's node.
    containers: usize,
}

fn pieces(agent: &Agent) -> Pieces {
    let prefix = agent.bridge.netns_prefix();
    let netns = std::fs::read_dir("/var/run/netns")
        .map(|dir| {
            dir.flatten()
                .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
                .count()
        })
        .unwrap_or(0);
    let veths = Command::new(tool("ip"))
        .args(["-o", "link", "show", "master", &agent.bridge.name])
        .stderr(Stdio::null())
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).lines().count())
        .unwrap_or(0);
    let table = Command::new(tool("nft"))
        .args(["list", "table", "ip", agent.bridge.table()])
        .stderr(Stdio::null())
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    Pieces {
        netns,
        veths,
        chains: table.matches("chain alloc-").count(),
        port_map: table.matches("goto alloc-").count(),
        containers: node_containers(&agent.node_id()).len(),
    }
}

/// Waits until the agent's pieces are `want` again.
fn wait_pieces(agent: &Agent, what: &str, want: Pieces) {
    wait_for(what, |last| {
        let now = pieces(agent);
        *last = format!("{now:?}, want {want:?}");
        (now == want).then_some(())
    });
}

// Scenario 1: redis with the docker driver, on a dynamic and on a static port.

#[test]
fn scenario_1_redis_on_a_dynamic_port() {
    require_docker!();
    let agent = Agent::start("dk-s1-dyn");
    assert_eq!(run_file(&agent, &seed("s1-dynamic-port.nomad")), "redis");

    let alloc = &agent.wait_allocs_running("redis", 1)[0];
    let port = ports_of(alloc)["redis"];
    assert!(DYNAMIC_PORTS.contains(&port), "dynamic port {port}");
    wait_redis_pong("127.0.0.1", port);

    // The one container is the allocation's, in docker's bridge with the port
    // published on the node's address.
    let containers = node_containers(&agent.node_id());
    assert_eq!(containers.len(), 1, "{containers:?}");
    assert_eq!(
        docker_inspect(&containers[0], "{{.HostConfig.NetworkMode}}"),
        "bridge"
    );

    agent.cli(&["job", "stop", "redis"]).success();
    wait_for("the container to be removed", |last| {
        let left = node_containers(&agent.node_id());
        *last = format!("{left:?}");
        left.is_empty().then_some(())
    });
}

#[test]
fn scenario_1_redis_on_static_port_6379() {
    require_docker!();
    let _ports = hold_static_ports!(6379);
    let agent = Agent::start("dk-s1-static");
    assert_eq!(run_file(&agent, &seed("s1-static-port.nomad")), "redis");
    let alloc = &agent.wait_allocs_running("redis", 1)[0];
    assert_eq!(ports_of(alloc)["redis"], 6379);
    wait_redis_pong("127.0.0.1", 6379);
}

// Scenario 2: app and redis in one group, both `network_mode = "host"`.

#[test]
fn scenario_2_app_reaches_redis_on_the_host_network() {
    require_docker!();
    let _ports = hold_static_ports!(6379, 8080);
    let agent = Agent::start("dk-s2");
    assert_eq!(run_file(&agent, &seed("s2-same-group.nomad")), "hello");
    agent.wait_allocs_running("hello", 1);
    wait_redis_pong("127.0.0.1", 6379);

    // The task's own network_mode wins: both containers are on the host's network.
    let containers = node_containers(&agent.node_id());
    assert_eq!(containers.len(), 2, "{containers:?}");
    for c in &containers {
        assert_eq!(docker_inspect(c, "{{.HostConfig.NetworkMode}}"), "host");
    }

    // DEMO_REDIS_ADDR = "${NOMAD_ADDR_redis}": the app counts its visits in redis.
    let first = wait_http_ok("http://127.0.0.1:8080/");
    assert!(first.contains("visited 1 times"), "{first}");
    let (code, second) = curl("http://127.0.0.1:8080/");
    assert_eq!(code, 200);
    assert!(second.contains("visited 2 times"), "{second}");
    assert_eq!(redis_cli("127.0.0.1", 6379, &["get", "hello:visits"]), "2");
}

// Scenario 3: app and redis in two groups; `localhost:6379` is the app's own.

#[test]
fn scenario_3_two_groups_do_not_share_localhost() {
    require_docker!();
    let _ports = hold_static_ports!(6379, 8080);
    let agent = Agent::start("dk-s3");
    assert_eq!(run_file(&agent, &seed("s3-two-groups.nomad")), "hello");
    agent.wait_allocs_running("hello", 2);
    wait_redis_pong("127.0.0.1", 6379);
    assert_eq!(wait_http_ok("http://127.0.0.1:8080/health").trim(), "ok");

    // As with Nomad: each group's container has its own localhost, so the app
    // cannot reach redis there and says so.
    let (code, body) = curl("http://127.0.0.1:8080/");
    assert_eq!(code, 503, "{body}");
    assert!(
        body.contains("redis at localhost:6379 is unreachable"),
        "{body}"
    );
}

// Bridge mode.

/// A bridge-mode group: redis in docker, hello-app with raw_exec counting visits in
/// it over localhost; `app` and `redis` mapped from host ports.
fn web_job(hello_app: &Path) -> String {
    r#"
job "web" {
  datacenters = ["dc1"]

  group "web" {
    network {
      mode = "bridge"
      port "app" {
        to = 8080
      }
      port "redis" {
        to = 6379
      }
    }

    task "redis" {
      driver = "docker"
      config {
        image = "redis:7"
      }
      resources {
        cpu    = 100
        memory = 64
      }
    }

    task "app" {
      driver = "raw_exec"
      env {
        DEMO_REDIS_ADDR = "localhost:6379"
      }
      config {
        command = "@HELLO@"
      }
      resources {
        cpu    = 100
        memory = 32
      }
    }
  }
}
"#
    .replace("@HELLO@", path_str(hello_app))
}

/// A bridge-mode group without docker (a namespace of its own) whose task keeps
/// writing to the redis behind `target:port`.
fn peer_job(agent: &Agent, target: &str, port: u16) -> String {
    r#"
job "peer" {
  datacenters = ["dc1"]

  group "peer" {
    network {
      mode = "bridge"
    }

    task "knock" {
      driver = "raw_exec"
      config {
        command = "/bin/sh"
        args    = ["-c", "while true; do redis-cli -h @TARGET@ -p @PORT@ set reached-from-peer yes; sleep 0.2; done; true", "@MARKER@"]
      }
      resources {
        cpu    = 20
        memory = 16
      }
    }
  }
}
"#
    .replace("@TARGET@", target)
    .replace("@PORT@", &port.to_string())
    .replace("@MARKER@", &agent.marker)
}

#[test]
fn bridge_tasks_share_localhost_and_mapped_ports_answer_on_the_hosts_addresses() {
    require_bridge!();
    let hello = hello_app_bin();
    let agent = Agent::start("dk-bridge");
    // The agent made its bridge and table at start: nothing of an allocation yet.
    let baseline = pieces(&agent);
    assert_eq!(baseline, Pieces::default(), "a fresh agent holds nothing");

    // Phase 1: redis (docker) and hello-app (raw_exec) share the allocation's
    // namespace; hello-app reaches redis on localhost.
    assert_eq!(agent.run_job(&web_job(hello)), "web");
    let web = &agent.wait_allocs_running("web", 1)[0];
    let ports = ports_of(web);
    let (app, redis) = (ports["app"], ports["redis"]);
    let first = wait_http_ok(&format!("http://127.0.0.1:{app}/"));
    assert!(first.contains("visited 1 times"), "{first}");

    // Phase 2: the allocation's address is reported and given to the tasks.
    let address = web["NetworkStatus"]["Address"]
        .as_str()
        .expect("a network status")
        .to_owned();
    let ip: Ipv4Addr = address.parse().expect("an IPv4 address");
    assert!(
        agent.bridge.subnet.contains(ip),
        "{ip} in {}",
        agent.bridge.subnet
    );
    assert_eq!(web["NetworkStatus"]["InterfaceName"], "eth0");
    assert!(
        !processes_with_env("NOMAD_ALLOC_IP_app", &address).is_empty(),
        "hello-app runs with NOMAD_ALLOC_IP_app={address}"
    );

    // Phase 3: the mapped ports answer on the host's own address too (or, without
    // a default route, on the bridge's), and the docker task's port is mapped.
    let host = host_ipv4().unwrap_or_else(|| agent.bridge.gateway());
    let second = wait_http_ok(&format!("http://{host}:{app}/"));
    assert!(second.contains("visited 2 times"), "{second}");
    assert_eq!(redis_cli("127.0.0.1", redis, &["get", "hello:visits"]), "2");
    assert_eq!(
        redis_cli(&host.to_string(), redis, &["get", "hello:visits"]),
        "2"
    );

    // Phase 4: another allocation, in a namespace of its own, reaches the first
    // one's mapped port through the host's address.
    assert_eq!(
        agent.run_job(&peer_job(&agent, &host.to_string(), redis)),
        "peer"
    );
    agent.wait_allocs_running("peer", 1);
    wait_for("the peer's write to reach redis", |last| {
        *last = redis_cli("127.0.0.1", redis, &["get", "reached-from-peer"]);
        (last == "yes").then_some(())
    });
    let running = pieces(&agent);
    assert_eq!(
        running,
        Pieces {
            netns: 2,      // the peer's, and web's (the pause container's, named too)
            veths: 2,      // one per allocation
            chains: 1,     // web's; the peer maps no port
            port_map: 4,   // app and redis, tcp and udp
            containers: 2, // pause and redis
        }
    );

    // Phase 5: stopping both jobs removes every piece.
    agent.cli(&["job", "stop", "web"]).success();
    agent.cli(&["job", "stop", "peer"]).success();
    wait_pieces(&agent, "every piece to be removed after job stop", baseline);
    let (code, _) = curl(&format!("http://127.0.0.1:{app}/"));
    assert_ne!(
        code, 200,
        "nothing answers on a port that is no longer mapped"
    );
}

/// Two docker tasks of a bridge-mode group (hello-app and redis, talking over
/// localhost) and a raw_exec group in a namespace of its own.
fn crash_job(agent: &Agent) -> String {
    r#"
job "crash" {
  datacenters = ["dc1"]

  group "web" {
    network {
      mode = "bridge"
      port "app" {
        to = 8080
      }
    }

    task "redis" {
      driver = "docker"
      config {
        image = "redis:7"
      }
      resources {
        cpu    = 100
        memory = 64
      }
    }

    task "app" {
      driver = "docker"
      env {
        DEMO_REDIS_ADDR = "localhost:6379"
      }
      config {
        image = "caravan/hello-app:latest"
        ports = ["app"]
      }
      resources {
        cpu    = 100
        memory = 32
      }
    }
  }

  group "sleeper" {
    network {
      mode = "bridge"
    }

    task "sleep" {
      driver = "raw_exec"
      config {
        command = "/bin/sh"
        args    = ["-c", "sleep 600; true", "@MARKER@"]
      }
      resources {
        cpu    = 20
        memory = 16
      }
    }
  }
}
"#
    .replace("@MARKER@", &agent.marker)
}

#[test]
fn a_restart_after_sigkill_removes_what_the_dead_agent_left() {
    require_bridge!();
    let mut agent = Agent::start("dk-crash");
    let baseline = pieces(&agent);

    // Phase 1: two docker tasks talk over the group's localhost.
    assert_eq!(agent.run_job(&crash_job(&agent)), "crash");
    let allocs = agent.wait_allocs_running("crash", 2);
    let web = allocs
        .iter()
        .find(|a| a["TaskGroup"] == "web")
        .expect("the web allocation");
    let app = ports_of(web)["app"];
    let body = wait_http_ok(&format!("http://127.0.0.1:{app}/"));
    assert!(body.contains("visited 1 times"), "{body}");
    let running = pieces(&agent);
    assert_eq!(
        running,
        Pieces {
            netns: 2,
            veths: 2,
            chains: 1,
            port_map: 2,
            containers: 3,
        }
    );

    // Phase 2: a crash removes nothing.
    agent.kill_hard();
    assert_eq!(pieces(&agent), running);
    // The dev agent keeps its state in memory and does not find raw_exec processes
    // again after a crash: the sleeper is this test's to stop.
    for (pid, _) in agent.task_processes() {
        signal(pid, "KILL");
    }

    // Phase 3: the restarted agent (same data dir, same node) knows no allocation,
    // and removes the containers, namespace, veths and rules before it runs any.
    agent.restart();
    wait_pieces(&agent, "the restart to remove every piece", baseline);
    let (code, _) = curl(&format!("http://127.0.0.1:{app}/"));
    assert_ne!(code, 200, "the dead allocation's port is no longer mapped");

    // Phase 4: and it runs bridge-mode allocations as before.
    assert_eq!(agent.run_job(&crash_job(&agent)), "crash");
    let allocs = agent.wait_allocs_running("crash", 2);
    let web = allocs
        .iter()
        .find(|a| a["TaskGroup"] == "web")
        .expect("the web allocation");
    let app = ports_of(web)["app"];
    let body = wait_http_ok(&format!("http://127.0.0.1:{app}/"));
    assert!(body.contains("visited 1 times"), "a new redis: {body}");
}
