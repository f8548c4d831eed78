//! The multi-host harness itself (`support::cluster`), tested with stand-in processes
//! instead of caravan agents: hosts reach each other and the test process, partitions
//! cut a host off both ways and heal, kill and start bring a process back on the same
//! address, parallel networks do not collide, and nothing is left behind, not even
//! by a crashed run. The cluster layer runs a small Python stand-in agent.
//!
//! Everything but the config test needs root (namespaces, veths, nftables); without
//! it those tests say so and pass.

mod support;

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Barrier;
use std::time::Duration;

use serde_json::json;
use support::cluster::{
    Cluster, ClusterSpec, Host, STOP_DEADLINE, TestNet, link_names, netns_names, reachable,
    remove_leftovers, slot_prefix, tagged_rules, try_http, try_lock_slot,
};
use support::{is_root, wait_for};

/// The port of the stand-in web servers.
const WEB_PORT: u16 = 8000;
/// A connection attempt to a partitioned host is dropped, never refused: any bound
/// works, and it does not depend on the machine's speed.
const UNREACHABLE_PROBE: Duration = Duration::from_secs(1);

fn root_or_skip(test: &str) -> bool {
    if !is_root() {
        eprintln!("skipping {test}: it needs root (network namespaces, veths, nftables)");
    }
    is_root()
}

/// Adds a host running `python3 -m http.server` on its own address.
fn web_host(net: &mut TestNet, name: &str) -> usize {
    let index = net.add_host(name);
    let host = net.host(index);
    let ip = host.ip().to_string();
    let port = WEB_PORT.to_string();
    host.set_command(&["python3", "-m", "http.server", "--bind", &ip, &port]);
    host.start();
    index
}

/// Waits until the test process gets an HTTP answer from the host's web server.
fn wait_serving(host: &Host) {
    wait_for(&format!("{} to serve HTTP", host.name()), |last| {
        assert!(host.is_running(), "{} exited:\n{}", host.name(), host.log());
        match try_http(
            host.addr(WEB_PORT),
            "GET",
            "/",
            None,
            Duration::from_secs(5),
        ) {
            Ok(r) if r.status == 200 => Some(()),
            other => {
                *last = format!("{other:?}");
                None
            }
        }
    });
}

/// A listener of the test process on the network's gateway address.
fn gateway_listener(net: &TestNet) -> (TcpListener, SocketAddr) {
    let listener = TcpListener::bind((net.gateway(), 0)).expect("bind on the gateway");
    let addr = listener.local_addr().expect("listener address");
    (listener, addr)
}

#[test]
fn every_host_reaches_every_other_and_the_test_reaches_each() {
    if !root_or_skip("every_host_reaches_every_other_and_the_test_reaches_each") {
        return;
    }
    let mut net = TestNet::new("reach");
    for name in ["a", "b", "c"] {
        web_host(&mut net, name);
    }
    for host in net.hosts() {
        wait_serving(host);
        assert_eq!(host.ip().octets()[..3], net.base().octets()[..3]);
    }
    // Each host has its own address, from .11 on.
    let ips: Vec<String> = net.hosts().iter().map(|h| h.ip().to_string()).collect();
    let base = net.base().octets();
    let want: Vec<String> = (11..14)
        .map(|d| format!("{}.{}.{}.{d}", base[0], base[1], base[2]))
        .collect();
    assert_eq!(ips, want);
    let (_listener, test_addr) = gateway_listener(&net);
    for from in net.hosts() {
        for to in net.hosts() {
            if from.name() != to.name() {
                assert!(
                    from.can_reach(to.addr(WEB_PORT)),
                    "{} cannot reach {}",
                    from.name(),
                    to.name()
                );
            }
        }
        assert!(
            from.can_reach(test_addr),
            "{} cannot reach the test process at {test_addr}",
            from.name()
        );
    }
}

#[test]
fn partition_cuts_a_host_off_both_ways_and_heal_restores_it() {
    if !root_or_skip("partition_cuts_a_host_off_both_ways_and_heal_restores_it") {
        return;
    }
    let mut net = TestNet::new("partition");
    for name in ["a", "b", "c"] {
        web_host(&mut net, name);
    }
    for host in net.hosts() {
        wait_serving(host);
    }
    let (_listener, test_addr) = gateway_listener(&net);
    let (a, b, c) = (net.host(0), net.host(1), net.host(2));

    // Cut off: nothing gets in or out of a, its process keeps running.
    a.partition();
    assert!(a.is_partitioned());
    assert!(a.is_running());
    assert!(
        !reachable(a.addr(WEB_PORT), UNREACHABLE_PROBE),
        "the test reaches a partitioned host"
    );
    assert!(!b.can_reach(a.addr(WEB_PORT)), "b reaches partitioned a");
    assert!(!a.can_reach(b.addr(WEB_PORT)), "partitioned a reaches b");
    assert!(!a.can_reach(test_addr), "partitioned a reaches the test");
    // Inside, a still reaches itself over loopback... and the rest is unaffected.
    assert!(a.can_reach(a.addr(WEB_PORT)), "a cannot reach itself");
    assert!(b.can_reach(c.addr(WEB_PORT)));
    assert!(reachable(b.addr(WEB_PORT), Duration::from_secs(10)));

    // Partitioning twice is harmless; healing restores every path.
    a.partition();
    a.heal();
    assert!(!a.is_partitioned());
    wait_serving(a);
    assert!(b.can_reach(a.addr(WEB_PORT)));
    assert!(a.can_reach(b.addr(WEB_PORT)));
    assert!(a.can_reach(test_addr));
}

#[test]
fn kill_then_start_brings_the_process_back_on_the_same_address() {
    if !root_or_skip("kill_then_start_brings_the_process_back_on_the_same_address") {
        return;
    }
    let mut net = TestNet::new("restart");
    web_host(&mut net, "a");
    let a = net.host(0);
    wait_serving(a);
    let first = a.pid().expect("a runs");

    a.kill();
    assert!(!a.is_running());
    assert_eq!(a.pid(), None);
    assert!(
        !reachable(a.addr(WEB_PORT), Duration::from_secs(10)),
        "a killed server still answers"
    );

    a.start();
    wait_serving(a);
    assert_ne!(a.pid(), Some(first), "a new process");
    let log = a.log();
    assert!(log.contains("==== start 2 of a"), "log: {log}");
    assert!(log.contains("\"GET / HTTP/1.1\" 200"), "log: {log}");

    // A graceful stop ends it by SIGTERM; there is nothing to stop twice.
    a.stop(STOP_DEADLINE).expect("it exits on SIGTERM");
    assert!(!a.is_running());
    assert_eq!(a.stop(STOP_DEADLINE), None);
}

/// What of a network's prefix is visible from the test process.
fn traces(prefix: &str) -> Vec<String> {
    let ours = |n: &String| n.starts_with(&format!("{prefix}-"));
    let mut found: Vec<String> = netns_names().into_iter().filter(ours).collect();
    found.extend(link_names().into_iter().filter(ours));
    found.extend(
        tagged_rules()
            .into_iter()
            .filter(|(_, _, tag)| tag == prefix)
            .map(|(chain, handle, _)| format!("rule {chain} handle {handle}")),
    );
    let tables = Command::new("nft")
        .args(["list", "tables"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    found.extend(
        tables
            .lines()
            .filter(|l| l.contains(prefix) || l.contains("caravan_partition"))
            .map(str::to_owned),
    );
    found
}

fn pid_alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

#[test]
fn drop_removes_processes_namespaces_links_and_rules() {
    if !root_or_skip("drop_removes_processes_namespaces_links_and_rules") {
        return;
    }
    let (prefix, dir, pids);
    {
        let mut net = TestNet::new("drop");
        web_host(&mut net, "a");
        web_host(&mut net, "b");
        for host in net.hosts() {
            wait_serving(host);
        }
        // A partition table lives inside b's namespace, not in the test's.
        net.host(1).partition();
        prefix = net.prefix().to_owned();
        dir = net.dir().to_path_buf();
        pids = net
            .hosts()
            .iter()
            .map(|h| h.pid().expect("runs"))
            .collect::<Vec<_>>();
        let seen = traces(&prefix);
        let names = [
            format!("{prefix}-a"),
            format!("{prefix}-b"),
            format!("{prefix}-br"),
        ];
        for name in &names {
            assert!(seen.contains(name), "{name} missing from {seen:?}");
        }
        // Two namespaces and three links at least; the rule only where a firewall
        // would drop bridged traffic.
        assert!(seen.len() >= 5, "{seen:?}");
    }
    assert_eq!(traces(&prefix), Vec::<String>::new(), "left behind");
    for pid in pids {
        assert!(!pid_alive(pid), "process {pid} outlived the network");
    }
    assert!(!dir.exists(), "{} left behind", dir.display());
}

#[test]
fn parallel_networks_do_not_collide() {
    if !root_or_skip("parallel_networks_do_not_collide") {
        return;
    }
    // Both networks exist at once: each built and serving before either checks.
    let ready = Barrier::new(2);
    let done = Barrier::new(2);
    let results: Vec<(String, String, String)> = std::thread::scope(|s| {
        let handles: Vec<_> = ["x", "y"]
            .into_iter()
            .map(|label| {
                let (ready, done) = (&ready, &done);
                s.spawn(move || {
                    let mut net = TestNet::new(label);
                    web_host(&mut net, "a");
                    ready.wait();
                    wait_serving(net.host(0));
                    let (_listener, test_addr) = gateway_listener(&net);
                    assert!(net.host(0).can_reach(test_addr));
                    done.wait();
                    (
                        net.prefix().to_owned(),
                        net.subnet(),
                        net.host(0).ip().to_string(),
                    )
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a network thread panicked"))
            .collect()
    });
    assert_ne!(results[0].0, results[1].0, "same prefix");
    assert_ne!(results[0].1, results[1].1, "same subnet");
    assert_ne!(results[0].2, results[1].2, "same host address");
}

#[test]
fn leftovers_of_a_crashed_run_are_removed() {
    if !root_or_skip("leftovers_of_a_crashed_run_are_removed") {
        return;
    }
    // A crashed run: its slot's lock is gone, its namespace (with a process in it)
    // and a link named after the slot remain.
    let (slot, lock) = (0..=255u8)
        .rev()
        .find_map(|n| try_lock_slot(n).map(|lock| (n, lock)))
        .expect("a free slot");
    let prefix = slot_prefix(slot);
    let (ns, link) = (format!("{prefix}-zz"), format!("{prefix}-zl"));
    let ip = |args: &[&str]| {
        let status = Command::new("ip").args(args).status().expect("run ip");
        assert!(status.success(), "ip {args:?}: {status}");
    };
    ip(&["netns", "add", &ns]);
    ip(&["link", "add", &link, "type", "bridge"]);
    let mut orphan = Command::new("ip")
        .args(["netns", "exec", &ns, "sleep", "1000"])
        .stdin(Stdio::null())
        .spawn()
        .expect("start a process in the leftover namespace");
    drop(lock);

    remove_leftovers();
    // Another test may claim the slot first; it removes the leftovers on claiming.
    wait_for("the leftovers to be removed", |last| {
        let left: Vec<String> = netns_names()
            .into_iter()
            .chain(link_names())
            .filter(|n| *n == ns || *n == link)
            .collect();
        *last = format!("{left:?}");
        left.is_empty().then_some(())
    });
    wait_for("the leftover process to be killed", |last| {
        let status = orphan.try_wait().expect("wait for the orphan");
        *last = format!("{status:?}");
        status.map(|_| ())
    });
}

#[test]
fn cluster_config_files_are_written() {
    let spec = ClusterSpec {
        servers: 3,
        clients: 2,
        client_datacenter: vec!["dc1".to_owned(), "dc2".to_owned()],
        client_meta: vec![BTreeMap::from([
            ("zone".to_owned(), "a".to_owned()),
            ("rack.id".to_owned(), "r\"1".to_owned()),
        ])],
        extra_server_config: "telemetry {\n  disable = true\n}\n".to_owned(),
        extra_client_config: "plugin \"raw_exec\" {\n  config {\n    enabled = true\n  }\n}"
            .to_owned(),
        ..ClusterSpec::default()
    };
    let root = Path::new("/tmp/cluster-root");
    let configs = spec.agent_configs("10.213.7.0".parse().expect("an address"), root);
    let names: Vec<&str> = configs.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["s1", "s2", "s3", "c1", "c2"]);
    let ips: Vec<String> = configs.iter().map(|c| c.ip.to_string()).collect();
    assert_eq!(
        ips,
        [
            "10.213.7.11",
            "10.213.7.12",
            "10.213.7.13",
            "10.213.7.14",
            "10.213.7.15"
        ]
    );
    let flags: Vec<bool> = configs.iter().map(|c| c.server).collect();
    assert_eq!(flags, [true, true, true, false, false]);

    let s2 = &configs[1].text;
    for line in [
        "name       = \"s2\"",
        "datacenter = \"dc1\"",
        "region     = \"global\"",
        "data_dir   = \"/tmp/cluster-root/s2/data\"",
        "bind_addr  = \"10.213.7.12\"",
        "log_level  = \"debug\"",
        "  http   = 4646",
        "  rpc    = 4647",
        "  consul = 8500",
        "  dns    = 8600",
        "  enabled          = true",
        "  bootstrap_expect = 3",
        "    retry_join = [\"10.213.7.11\", \"10.213.7.12\", \"10.213.7.13\"]",
        "  disable = true",
    ] {
        assert!(s2.lines().any(|l| l == line), "no {line:?} in:\n{s2}");
    }
    assert!(!s2.contains("client"), "{s2}");
    assert!(!s2.contains("raw_exec"), "{s2}");

    let c1 = &configs[3].text;
    for line in [
        "name       = \"c1\"",
        "datacenter = \"dc1\"",
        "data_dir   = \"/tmp/cluster-root/c1/data\"",
        "bind_addr  = \"10.213.7.14\"",
        "  enabled = true",
        "  servers = [\"10.213.7.11:4647\", \"10.213.7.12:4647\", \"10.213.7.13:4647\"]",
        "  meta = {",
        "    zone = \"a\"",
        "    \"rack.id\" = \"r\\\"1\"",
        "  bridge_network_name = \"cvn07-c1\"",
        "plugin \"raw_exec\" {",
    ] {
        assert!(c1.lines().any(|l| l == line), "no {line:?} in:\n{c1}");
    }
    assert!(!c1.contains("server {"), "{c1}");
    assert!(!c1.contains("telemetry"), "{c1}");
    assert!(!c1.contains("retry_join"), "{c1}");

    let c2 = &configs[4].text;
    assert!(c2.contains("datacenter = \"dc2\""), "{c2}");
    assert!(!c2.contains("meta"), "{c2}");
    // Balanced braces: the blocks close.
    for c in &configs {
        assert_eq!(
            c.text.matches('{').count(),
            c.text.matches('}').count(),
            "{}",
            c.text
        );
    }
}

/// A stand-in agent: reads `-config`, serves on `bind_addr:4646`, names the first
/// `retry_join` server as leader, echoes PUT bodies, and logs each request.
const FAKE_AGENT: &str = r#"
import http.server, json, re, sys
cfg = open(sys.argv[sys.argv.index("-config") + 1]).read()
bind = re.search(r'bind_addr\s*=\s*"([^"]+)"', cfg).group(1)
join = re.search(r'retry_join\s*=\s*\[([^\]]*)\]', cfg)
leader = re.findall(r'"([^"]+)"', join.group(1))[0] + ":4647" if join else ""

class Handler(http.server.BaseHTTPRequestHandler):
    def reply(self, code, value):
        body = json.dumps(value).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path == "/v1/status/leader" and leader:
            self.reply(200, leader)
        else:
            self.reply(404, {"error": "no such path"})

    def do_PUT(self):
        data = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.reply(200, {"Path": self.path, "Body": json.loads(data or b"null"), "Host": bind})

http.server.ThreadingHTTPServer((bind, 4646), Handler).serve_forever()
"#;

#[test]
fn cluster_runs_an_agent_per_host_and_finds_the_leader() {
    if !root_or_skip("cluster_runs_an_agent_per_host_and_finds_the_leader") {
        return;
    }
    let script = std::env::temp_dir().join(format!("caravan-fake-agent-{}.py", std::process::id()));
    std::fs::write(&script, FAKE_AGENT).expect("write the stand-in agent");
    let spec = ClusterSpec {
        servers: 3,
        clients: 2,
        client_meta: vec![BTreeMap::from([("zone".to_owned(), "a".to_owned())])],
        agent_command: vec!["python3".to_owned(), script.display().to_string()],
        ..ClusterSpec::default()
    };
    let cluster = Cluster::start(spec);
    let _ = std::fs::remove_file(&script);

    // Each agent got its own config and data dir, and runs on its own address.
    let c1 = cluster.client(0);
    let config = std::fs::read_to_string(c1.dir().join("agent.hcl")).expect("c1's config");
    assert!(
        config.contains(&format!("bind_addr  = \"{}\"", c1.ip())),
        "{config}"
    );
    assert!(config.contains("zone = \"a\""), "{config}");
    assert!(c1.dir().join("data").is_dir());
    assert_eq!(
        cluster.http_addr(cluster.server(1)),
        format!("http://{}:4646", cluster.server(1).ip())
    );

    assert_eq!(cluster.wait_for_leader(), 0);
    let leader = cluster.get_json(cluster.server(2), "/v1/status/leader");
    assert_eq!(leader, json!(format!("{}:4647", cluster.server(0).ip())));
    let echo = cluster.put_json(c1, "/v1/jobs", &json!({"Job": {"ID": "x"}}));
    assert_eq!(
        echo,
        json!({"Path": "/v1/jobs", "Body": {"Job": {"ID": "x"}}, "Host": c1.ip().to_string()})
    );

    // The CLI goes to the host it is pointed at (the stand-in knows no nodes).
    let out = cluster.cli(cluster.client(1), &["node", "status"]);
    assert_ne!(out.code, 0, "{out:#?}");
    assert!(
        cluster.client(1).log().contains("GET /v1/nodes"),
        "{}",
        cluster.client(1).log()
    );
    assert!(!c1.log().contains("GET /v1/nodes"));

    // A killed server comes back; a partitioned one is left out of the vote count.
    cluster.server(2).kill();
    cluster.server(2).start();
    cluster.server(1).partition();
    assert_eq!(cluster.wait_for_leader(), 0);
    assert!(!reachable(cluster.server(1).addr(4646), UNREACHABLE_PROBE));
}
