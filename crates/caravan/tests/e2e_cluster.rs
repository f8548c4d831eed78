//! A real cluster: three servers replicating with Raft and client agents on other
//! hosts, each agent a process in its own network namespace with its own address
//! ([`support::cluster`]). The servers lose their leader, a partitioned server and a
//! whole restart without losing an acknowledged write; clients run scenario 3 across
//! nodes, keep their tasks through a SIGKILL of the agent, and a lost client's work
//! moves elsewhere.

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Value, json};
use support::cluster::{Cluster, ClusterSpec, DNS_PORT, Host};
use support::fixtures::curl;
use support::{hello_app_bin, is_root};

/// Node loss: heartbeat TTL + grace (5 s + 5 s by default), then scheduling and a
/// task start, with room for a slow machine.
const NODE_LOSS: Duration = Duration::from_secs(60);
const DEADLINE: Duration = Duration::from_secs(60);

fn skip_unless_root() -> bool {
    if is_root() {
        return false;
    }
    eprintln!("skipping: cluster tests need root (network namespaces)");
    true
}

/// A service job of one `sleep`, registered with the API's JSON.
fn sleep_job(id: &str) -> Value {
    json!({"Job": {
        "ID": id,
        "Name": id,
        "Type": "service",
        "Datacenters": ["dc1"],
        "TaskGroups": [{
            "Name": "g",
            "Count": 1,
            "Tasks": [{
                "Name": "t",
                "Driver": "raw_exec",
                "Config": {"command": "/bin/sleep", "args": ["3600"]},
                "Resources": {"CPU": 20, "MemoryMB": 16}
            }]
        }]
    }})
}

/// The sorted ids of a `/v1/jobs` answer.
fn ids_of(jobs: &Value) -> Vec<String> {
    let mut ids: Vec<String> = jobs
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|j| j["ID"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    ids.sort();
    ids
}

fn job_ids(cluster: &Cluster, host: &Host, query: &str) -> Vec<String> {
    ids_of(&cluster.get_json(host, &format!("/v1/jobs{query}")))
}

/// A write through `host`'s HTTP API, run inside its namespace (the test process
/// cannot reach a partitioned host): the HTTP status, 0 when it did not answer.
fn put_inside(host: &Host, path: &str, body: &Value) -> u16 {
    let url = format!("http://{}:4646{path}", host.ip());
    let out = host.exec(&[
        "curl",
        "-s",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        "-m",
        "20",
        "-X",
        "PUT",
        "--data-binary",
        &body.to_string(),
        &url,
    ]);
    out.stdout.trim().parse().unwrap_or(0)
}

fn stale_job_ids_inside(host: &Host) -> Vec<String> {
    let url = format!("http://{}:4646/v1/jobs?stale", host.ip());
    let out = host.exec(&["curl", "-s", "-m", "5", &url]);
    ids_of(&serde_json::from_str(&out.stdout).unwrap_or(Value::Null))
}

#[test]
fn servers_keep_every_acknowledged_write_through_leader_loss_partition_and_restart() {
    if skip_unless_root() {
        return;
    }
    let cluster = Cluster::start(ClusterSpec {
        servers: 3,
        clients: 0,
        ..ClusterSpec::default()
    });
    let leader = cluster.wait_for_leader();
    let peers = cluster.get_json(cluster.server(leader), "/v1/operator/raft/configuration");
    assert_eq!(
        peers["Servers"].as_array().map(Vec::len),
        Some(3),
        "three voters: {peers}"
    );

    // Writes through every server: a follower forwards to the leader.
    let mut expected = Vec::new();
    for (i, host) in cluster.servers().enumerate() {
        let id = format!("before-{i}");
        cluster.put_json(host, "/v1/jobs", &sleep_job(&id));
        expected.push(id);
    }
    expected.sort();

    // The leader dies: another is elected, nothing acknowledged is lost, writes go on.
    cluster.server(leader).kill();
    let new_leader = cluster.wait_for_leader();
    assert_ne!(new_leader, leader, "a new leader is elected");
    for host in cluster.servers().filter(|h| h.is_running()) {
        assert_eq!(job_ids(&cluster, host, ""), expected, "on {}", host.name());
    }
    cluster.put_json(
        cluster.server(new_leader),
        "/v1/jobs",
        &sleep_job("after-failover"),
    );
    expected.push("after-failover".into());
    expected.sort();

    // The old leader comes back and catches up.
    cluster.server(leader).start();
    cluster.wait_for("the old leader to catch up", DEADLINE, |last| {
        let ids = stale_job_ids_inside(cluster.server(leader));
        *last = format!("{ids:?}");
        (ids == expected).then_some(())
    });

    // A partitioned follower cannot commit; healed, it catches up.
    let leader = cluster.wait_for_leader();
    let follower = (0..3).find(|i| *i != leader).expect("a follower");
    cluster.server(follower).partition();
    let status = put_inside(
        cluster.server(follower),
        "/v1/jobs",
        &sleep_job("from-the-minority"),
    );
    assert_ne!(
        status, 200,
        "a partitioned server must not acknowledge a write"
    );
    cluster.put_json(
        cluster.server(leader),
        "/v1/jobs",
        &sleep_job("during-partition"),
    );
    expected.push("during-partition".into());
    expected.sort();
    assert_eq!(
        job_ids(&cluster, cluster.server(leader), ""),
        expected,
        "the majority never saw the minority's write"
    );
    cluster.server(follower).heal();
    // The refused write was never acknowledged; a request still in flight when the
    // partition heals may yet land (as with any timed-out write), so the healed
    // follower must simply agree with the leader.
    cluster.wait_for("the healed follower to catch up", DEADLINE, |last| {
        let ids = stale_job_ids_inside(cluster.server(follower));
        let leader_ids = job_ids(&cluster, cluster.server(leader), "");
        *last = format!("follower {ids:?}, leader {leader_ids:?}");
        (ids == leader_ids && expected.iter().all(|id| ids.contains(id))).then_some(())
    });
    expected = job_ids(&cluster, cluster.server(leader), "");

    // Every server restarted at once: the state comes back from disk.
    for host in cluster.servers() {
        host.kill();
    }
    for host in cluster.servers() {
        host.start();
    }
    let leader = cluster.wait_for_leader();
    for host in cluster.servers() {
        cluster.wait_for(
            "the state to be back after a full restart",
            DEADLINE,
            |last| {
                let ids = stale_job_ids_inside(host);
                *last = format!("{}: {ids:?}", host.name());
                (ids == expected).then_some(())
            },
        );
    }
    cluster.put_json(
        cluster.server(leader),
        "/v1/jobs",
        &sleep_job("after-restart"),
    );
    expected.push("after-restart".into());
    expected.sort();

    // operator snapshot save, a write, then restore: the write is gone everywhere.
    let snap_file = cluster.net.dir().join("state.snap");
    let snap_path = snap_file.display().to_string();
    cluster
        .cli(
            cluster.server(leader),
            &["operator", "snapshot", "save", &snap_path],
        )
        .success();
    cluster.put_json(
        cluster.server(leader),
        "/v1/jobs",
        &sleep_job("after-snapshot"),
    );
    let follower = (leader + 1) % 3;
    cluster
        .cli(
            cluster.server(follower),
            &["operator", "snapshot", "restore", &snap_path],
        )
        .success();
    for host in cluster.servers() {
        cluster.wait_for("the snapshot restored on every server", DEADLINE, |last| {
            let ids = stale_job_ids_inside(host);
            *last = format!("{}: {ids:?}", host.name());
            (ids == expected).then_some(())
        });
    }

    // A dead server is removed from the configuration; the other two go on.
    cluster.server(follower).kill();
    let address = format!(
        "{}:{}",
        cluster.server(follower).ip(),
        support::cluster::RPC_PORT
    );
    cluster
        .cli(
            cluster.server(leader),
            &[
                "operator",
                "raft",
                "remove-peer",
                &format!("-peer-address={address}"),
            ],
        )
        .success();
    let config = cluster.get_json(cluster.server(leader), "/v1/operator/raft/configuration");
    let addresses: Vec<&str> = config["Servers"]
        .as_array()
        .map(|a| a.iter().filter_map(|s| s["Address"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(addresses.len(), 2, "{config}");
    assert!(!addresses.contains(&address.as_str()), "{config}");
    cluster.put_json(
        cluster.server(leader),
        "/v1/jobs",
        &sleep_job("two-servers"),
    );
}

/// Scenario 3 split over nodes: redis on the client in zone a, the app on another.
fn scenario_3_across_nodes() -> String {
    format!(
        r#"
job "hello" {{
  datacenters = ["dc1"]
  group "redis" {{
    constraint {{
      attribute = "${{meta.zone}}"
      value     = "a"
    }}
    network {{
      port "redis" {{}}
    }}
    service {{
      name     = "redis"
      port     = "redis"
      provider = "nomad"
    }}
    task "redis" {{
      driver = "raw_exec"
      config {{
        command = "/usr/bin/redis-server"
        args    = ["--port", "${{NOMAD_PORT_redis}}", "--bind", "${{NOMAD_IP_redis}}", "--protected-mode", "no", "--save", ""]
      }}
      resources {{
        cpu    = 50
        memory = 64
      }}
    }}
  }}
  group "app" {{
    constraint {{
      attribute = "${{meta.zone}}"
      operator  = "!="
      value     = "a"
    }}
    network {{
      port "http" {{}}
    }}
    service {{
      name     = "app"
      port     = "http"
      provider = "nomad"
    }}
    task "app" {{
      driver = "raw_exec"
      config {{
        command = "{bin}"
      }}
      env {{
        PORT       = "${{NOMAD_PORT_http}}"
        HELLO_BIND = "${{NOMAD_IP_http}}"
      }}
      template {{
        data        = <<EOH
{{{{ range nomadService "redis" }}}}DEMO_REDIS_ADDR={{{{ .Address }}}}:{{{{ .Port }}}}{{{{ end }}}}
EOH
        destination = "secrets/config.env"
        env         = true
        change_mode = "restart"
      }}
      resources {{
        cpu    = 50
        memory = 32
      }}
    }}
  }}
}}
"#,
        bin = hello_app_bin().display()
    )
}

/// The running allocation of `group` in job `hello`: (alloc id, node id).
fn running_alloc(cluster: &Cluster, server: &Host, group: &str) -> Option<(String, String)> {
    let allocs = cluster.get_json(server, "/v1/job/hello/allocations");
    allocs.as_array()?.iter().find_map(|a| {
        (a["TaskGroup"] == group && a["ClientStatus"] == "running" && a["DesiredStatus"] == "run")
            .then(|| {
                (
                    a["ID"].as_str().unwrap_or_default().to_owned(),
                    a["NodeID"].as_str().unwrap_or_default().to_owned(),
                )
            })
    })
}

/// The app's address in the catalog, once one healthy-enough instance is there.
fn service_addrs(cluster: &Cluster, server: &Host, name: &str) -> Vec<String> {
    let regs = cluster.get_json(server, &format!("/v1/service/{name}"));
    regs.as_array()
        .map(|a| {
            a.iter()
                .map(|r| {
                    format!(
                        "{}:{}",
                        r["Address"].as_str().unwrap_or_default(),
                        r["Port"]
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The pid listening on `port` inside `host`'s namespace.
fn listener_pid(host: &Host, port: &str) -> Option<u32> {
    let out = host.exec(&["ss", "-ltnpH", &format!("sport = :{port}")]);
    let at = out.stdout.find("pid=")? + 4;
    out.stdout[at..]
        .split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

fn dig_a(server: &Host, name: &str) -> Vec<String> {
    let out = std::process::Command::new("dig")
        .args([
            &format!("@{}", server.ip()),
            "-p",
            &DNS_PORT.to_string(),
            "+short",
            "+tries=1",
            "+time=2",
            name,
            "A",
        ])
        .output()
        .expect("dig runs");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn clients_run_scenario_3_across_nodes_keep_tasks_through_a_restart_and_lose_a_node() {
    if skip_unless_root() {
        return;
    }
    let zones = ["a", "b", "c"];
    let cluster = Cluster::start(ClusterSpec {
        servers: 3,
        clients: 3,
        client_meta: zones
            .iter()
            .map(|z| BTreeMap::from([("zone".to_owned(), (*z).to_owned())]))
            .collect(),
        ..ClusterSpec::default()
    });
    let leader = cluster.wait_for_leader();
    let server = cluster.server((leader + 1) % 3); // a follower: everything forwards
    cluster.wait_for("three ready nodes", DEADLINE, |last| {
        let nodes = cluster.get_json(server, "/v1/nodes");
        *last = nodes.to_string();
        (nodes
            .as_array()?
            .iter()
            .filter(|n| n["Status"] == "ready")
            .count()
            == 3)
            .then_some(())
    });
    let node_of: BTreeMap<String, usize> = cluster
        .get_json(server, "/v1/nodes")
        .as_array()
        .expect("nodes")
        .iter()
        .map(|n| {
            let name = n["Name"].as_str().unwrap_or_default();
            let index = name.trim_start_matches('c').parse::<usize>().unwrap_or(1) - 1;
            (n["ID"].as_str().unwrap_or_default().to_owned(), index)
        })
        .collect();

    // Scenario 3 across nodes: the app on one reaches redis on another.
    let job_file = cluster.net.dir().join("hello.nomad");
    std::fs::write(&job_file, scenario_3_across_nodes()).expect("job file written");
    cluster
        .cli(server, &["job", "run", &job_file.display().to_string()])
        .success();
    let (redis_alloc, redis_node) = cluster.wait_for("redis running", DEADLINE, |_| {
        running_alloc(&cluster, server, "redis")
    });
    let (_, app_node) = cluster.wait_for("the app running", DEADLINE, |_| {
        running_alloc(&cluster, server, "app")
    });
    assert_eq!(node_of[&redis_node], 0, "redis runs in zone a");
    assert_ne!(node_of[&app_node], 0, "the app runs elsewhere");
    let app = cluster.wait_for("the app to count visits in redis", DEADLINE, |last| {
        let addr = service_addrs(&cluster, server, "app").pop()?;
        let (code, body) = curl(&format!("http://{addr}/"));
        *last = format!("{addr}: {code} {body}");
        (code == 200 && body.contains("visited")).then_some(addr)
    });
    let redis_host = cluster.client(0);
    assert_eq!(
        dig_a(server, "redis.service.consul"),
        vec![redis_host.ip().to_string()],
        "DNS answers redis on its node"
    );

    // SIGKILL redis's agent and start it again: redis keeps running, still managed.
    let redis_port = service_addrs(&cluster, server, "redis")
        .pop()
        .and_then(|a| a.rsplit_once(':').map(|(_, p)| p.to_owned()))
        .expect("redis is in the catalog");
    let pid = listener_pid(redis_host, &redis_port).expect("redis listens");
    redis_host.kill();
    redis_host.start();
    cluster.wait_for("the restarted client to report", DEADLINE, |last| {
        let alloc = cluster.get_json(server, &format!("/v1/allocation/{redis_alloc}"));
        *last = alloc["ClientStatus"].to_string();
        let nodes = cluster.get_json(server, "/v1/nodes");
        let ready = nodes
            .as_array()?
            .iter()
            .any(|n| n["ID"] == redis_node.as_str() && n["Status"] == "ready");
        (ready && alloc["ClientStatus"] == "running").then_some(())
    });
    assert_eq!(
        listener_pid(redis_host, &redis_port),
        Some(pid),
        "the same redis process serves after the agent restart"
    );
    let (code, body) = curl(&format!("http://{app}/"));
    assert!(code == 200 && body.contains("visited"), "{code} {body}");

    // The app's node is cut off (its agent and tasks keep running, unreachable): the
    // allocation runs elsewhere, and the old instance leaves the catalog and DNS.
    let app_host = cluster.client(node_of[&app_node]);
    let old_ip = app_host.ip().to_string();
    let old_port = app
        .rsplit_once(':')
        .map(|(_, p)| p.to_owned())
        .expect("an app address");
    app_host.partition();
    let (_, new_node) = cluster.wait_for("the app replaced on another node", NODE_LOSS, |last| {
        let found = running_alloc(&cluster, server, "app");
        *last = format!("{found:?}");
        found.filter(|(_, node)| *node != app_node)
    });
    assert_ne!(node_of[&new_node], 0, "the constraint still holds");
    cluster.wait_for(
        "the lost instance out of the catalog and DNS",
        DEADLINE,
        |last| {
            let addrs = service_addrs(&cluster, server, "app");
            let dns = dig_a(server, "app.service.consul");
            *last = format!("catalog {addrs:?}, dns {dns:?}");
            (addrs.len() == 1
                && !addrs[0].starts_with(&format!("{old_ip}:"))
                && !dns.contains(&old_ip)
                && !dns.is_empty())
            .then_some(())
        },
    );
    let new_app = service_addrs(&cluster, server, "app")
        .pop()
        .expect("the new app");
    let (code, body) = curl(&format!("http://{new_app}/"));
    assert!(code == 200 && body.contains("visited"), "{code} {body}");

    // The node comes back: it stops what was replaced, and is ready again.
    assert!(
        listener_pid(app_host, &old_port).is_some(),
        "the cut-off node's app ran on while partitioned"
    );
    app_host.heal();
    cluster.wait_for(
        "the returning node to stop the replaced app",
        DEADLINE,
        |last| {
            let nodes = cluster.get_json(server, "/v1/nodes");
            let ready = nodes
                .as_array()?
                .iter()
                .any(|n| n["ID"] == app_node.as_str() && n["Status"] == "ready");
            let still = listener_pid(app_host, &old_port);
            *last = format!("ready {ready}, old app pid {still:?}");
            (ready && still.is_none()).then_some(())
        },
    );
    assert_eq!(
        service_addrs(&cluster, server, "app"),
        vec![new_app],
        "only the replacement is in the catalog"
    );

    // Still managed: stopping the job stops redis on the restarted client.
    cluster.cli(server, &["job", "stop", "hello"]).success();
    cluster.wait_for("redis stopped", DEADLINE, |_| {
        listener_pid(redis_host, &redis_port)
            .is_none()
            .then_some(())
    });
}

/// Runs `caravan tls ...` in `dir`.
fn tls_cmd(dir: &std::path::Path, args: &[&str]) {
    let out = std::process::Command::new(support::caravan_bin())
        .arg("tls")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("caravan tls runs");
    assert!(out.status.success(), "caravan tls {args:?}: {out:?}");
}

#[test]
fn the_rpc_port_speaks_mutual_tls_when_configured() {
    if skip_unless_root() {
        return;
    }
    let certs = tempfile::tempdir().expect("a temp dir");
    tls_cmd(certs.path(), &["ca", "create"]);
    tls_cmd(certs.path(), &["cert", "create", "-server"]);
    tls_cmd(certs.path(), &["cert", "create", "-client"]);
    let block = |kind: &str| {
        let file = |name: &str| certs.path().join(name).display().to_string();
        format!(
            "tls {{\n  rpc = true\n  ca_file = {:?}\n  cert_file = {:?}\n  key_file = {:?}\n  \
             verify_server_hostname = true\n}}\n",
            file("caravan-agent-ca.pem"),
            file(&format!("global-{kind}-caravan.pem")),
            file(&format!("global-{kind}-caravan-key.pem")),
        )
    };
    let cluster = Cluster::start(ClusterSpec {
        servers: 3,
        clients: 1,
        extra_server_config: block("server"),
        extra_client_config: block("client"),
        ..ClusterSpec::default()
    });
    let leader = cluster.wait_for_leader();
    let server = cluster.server(leader);
    cluster.wait_for("the client registered over TLS", DEADLINE, |last| {
        let nodes = cluster.get_json(server, "/v1/nodes");
        *last = nodes.to_string();
        (nodes.as_array()?.iter().any(|n| n["Status"] == "ready")).then_some(())
    });
    // A job placed and run through the TLS port, written through a follower.
    let follower = cluster.server((leader + 1) % 3);
    cluster.put_json(follower, "/v1/jobs", &sleep_job("over-tls"));
    cluster.wait_for("the job running on the client", DEADLINE, |last| {
        let allocs = cluster.get_json(server, "/v1/job/over-tls/allocations");
        *last = allocs.to_string();
        (allocs
            .as_array()?
            .iter()
            .any(|a| a["ClientStatus"] == "running"))
        .then_some(())
    });
    // Without a certificate the RPC port refuses to talk: a plain TCP peer gets no
    // answer to a well-formed frame.
    let rpc = std::net::SocketAddr::new(server.ip().into(), support::cluster::RPC_PORT);
    let mut plain = std::net::TcpStream::connect(rpc).expect("the port accepts TCP");
    plain
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout set");
    let frame = br#"{"id":1,"method":"status.peer","body":null}"#;
    let mut bytes = (frame.len() as u32).to_be_bytes().to_vec();
    bytes.extend_from_slice(frame);
    use std::io::{Read, Write};
    let _ = plain.write_all(&bytes);
    let mut answer = Vec::new();
    let _ = plain.read_to_end(&mut answer);
    assert!(
        !String::from_utf8_lossy(&answer).contains("\"ok\""),
        "a plain connection must not be answered: {answer:?}"
    );
}
