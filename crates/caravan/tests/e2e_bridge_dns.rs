//! End to end: a bridge-mode group's `network { dns { ... } }` is the resolv.conf
//! every task of the group sees, as in Nomad. A raw_exec task in a namespace of its
//! own reads it through `ip netns exec` (caravan-net writes it to
//! `/etc/netns/<name>/resolv.conf`, removed when the job stops); with a docker task
//! in the group, the pause container carries it as its `Dns`/`DnsSearch`/
//! `DnsOptions` and the docker task, joining the pause container, sees the same.
//!
//! Bridge networking needs root; the docker test also needs a Docker Engine and the
//! `caravan/pause` and `redis:7` images (built by `scripts/build-images`, which
//! `scripts/test` runs). Each test skips with a line otherwise.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use support::{Agent, is_root, wait_for};

/// The group's dns block of both tests, and what its resolv.conf must hold.
const DNS_BLOCK: &str = r#"
      dns {
        servers  = ["192.0.2.53", "192.0.2.54"]
        searches = ["svc.example", "example"]
        options  = ["ndots:2"]
      }
"#;
const EXPECTED: [&str; 4] = [
    "nameserver 192.0.2.53",
    "nameserver 192.0.2.54",
    "search svc.example example",
    "options ndots:2",
];

macro_rules! require_root {
    () => {
        if !is_root() {
            eprintln!("skipped: bridge networking needs root");
            return;
        }
    };
}

/// A task that prints its resolv.conf, then stays up so the file can be looked at.
fn raw_exec_task(name: &str, marker: &str) -> String {
    format!(
        r#"
    task "{name}" {{
      driver = "raw_exec"
      config {{
        command = "/bin/sh"
        args    = ["-c", "cat /etc/resolv.conf; exec sleep 600", "{marker}"]
      }}
      resources {{
        cpu    = 20
        memory = 16
      }}
    }}
"#
    )
}

fn job(name: &str, tasks: &str) -> String {
    format!(
        r#"
job "{name}" {{
  datacenters = ["dc1"]

  group "g" {{
    network {{
      mode = "bridge"
{DNS_BLOCK}
    }}
{tasks}
  }}
}}
"#
    )
}

/// Waits until the task's stdout holds every expected line, and returns it.
#[track_caller]
fn wait_resolv_conf(agent: &Agent, alloc: &str, task: &str) -> String {
    wait_for(
        &format!("{task}'s stdout to show the group's dns"),
        |last| {
            let out = agent.cli(&["alloc", "logs", alloc, task]);
            *last = format!("{out:?}");
            EXPECTED
                .iter()
                .all(|line| out.stdout.lines().any(|l| l.trim() == *line))
                .then_some(out.stdout)
        },
    )
}

/// `/etc/netns/<prefix><short id>`: where `ip netns exec` finds the resolv.conf.
fn etc_netns_dir(agent: &Agent, alloc: &str) -> PathBuf {
    let short = alloc.get(..8).unwrap_or(alloc);
    Path::new("/etc/netns").join(format!("{}{short}", agent.bridge.netns_prefix()))
}

#[test]
fn a_raw_exec_task_in_a_bridge_namespace_sees_the_groups_dns() {
    require_root!();
    let agent = Agent::start("dns-raw");

    // Phase 1: the task prints the group's servers, searches and options.
    let tasks = raw_exec_task("show", &agent.marker);
    assert_eq!(agent.run_job(&job("dnsraw", &tasks)), "dnsraw");
    let alloc = agent.wait_allocs_running("dnsraw", 1)[0]["ID"]
        .as_str()
        .expect("an id")
        .to_owned();
    let seen = wait_resolv_conf(&agent, &alloc, "show");
    assert!(
        !seen.contains("127.0.0.53"),
        "no loopback server inside the namespace: {seen}"
    );

    // Phase 2: it came from the namespace's file, not from the host's.
    let dir = etc_netns_dir(&agent, &alloc);
    let file = std::fs::read_to_string(dir.join("resolv.conf")).expect("the netns resolv.conf");
    assert_eq!(file, seen);
    let host = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    assert!(!host.contains("192.0.2.53"), "the host's file is untouched");

    // Phase 3: stopping the job removes the file with the namespace.
    agent.cli(&["job", "stop", "dnsraw"]).success();
    wait_for("the netns resolv.conf to be removed", |last| {
        *last = format!("{} exists", dir.display());
        (!dir.exists()).then_some(())
    });
}

/// Why the docker test cannot run here, if it cannot.
fn docker_skip_reason() -> Option<String> {
    let answers = Command::new("docker")
        .arg("info")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !answers {
        return Some("no Docker Engine answers here".to_owned());
    }
    let present = Command::new("docker")
        .args(["image", "inspect", "caravan/pause:latest", IMAGE])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    (!present).then(|| {
        format!("caravan/pause:latest or {IMAGE} is missing (scripts/build-images, which scripts/test runs)")
    })
}

/// Any image of scripts/build-images will do: the test reads the container's
/// resolv.conf from the host (`docker inspect`), so the image needs no shell.
const IMAGE: &str = "redis:7";

/// The resolv.conf docker gave a task's container, read from the host.
fn container_resolv_conf(task: &str, alloc: &str) -> Option<String> {
    let out = Command::new("docker")
        .args([
            "inspect",
            "-f",
            "{{.ResolvConfPath}}",
            &format!("{task}-{alloc}"),
        ])
        .output()
        .ok()?;
    let path = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    std::fs::read_to_string(path).ok()
}

#[test]
fn docker_and_raw_exec_tasks_of_a_bridge_group_see_the_same_dns() {
    require_root!();
    if let Some(reason) = docker_skip_reason() {
        eprintln!("skipped: {reason}");
        return;
    }
    let agent = Agent::start("dns-docker");

    // Phase 1: a docker task (joining the pause container) and a raw_exec task
    // (entering its namespace by name) both see the group's resolv.conf.
    let tasks = format!(
        r#"
    task "box" {{
      driver = "docker"
      config {{
        image = "{IMAGE}"
      }}
      resources {{
        cpu    = 20
        memory = 32
      }}
    }}
{}"#,
        raw_exec_task("show", &agent.marker)
    );
    assert_eq!(agent.run_job(&job("dnsdocker", &tasks)), "dnsdocker");
    let alloc = agent.wait_allocs_running("dnsdocker", 1)[0]["ID"]
        .as_str()
        .expect("an id")
        .to_owned();
    let docker_saw = wait_for("the docker task's resolv.conf", |last| {
        let seen = container_resolv_conf("box", &alloc);
        *last = format!("{seen:?}");
        seen.filter(|text| {
            EXPECTED
                .iter()
                .all(|line| text.lines().any(|l| l.trim() == *line))
        })
    });
    let raw_saw = wait_resolv_conf(&agent, &alloc, "show");
    for seen in [&docker_saw, &raw_saw] {
        let servers: Vec<&str> = seen
            .lines()
            .filter(|l| l.starts_with("nameserver"))
            .collect();
        assert_eq!(
            servers,
            ["nameserver 192.0.2.53", "nameserver 192.0.2.54"],
            "{seen}"
        );
    }

    // Phase 2: stopping the job removes the namespace's file.
    let dir = etc_netns_dir(&agent, &alloc);
    assert!(dir.join("resolv.conf").is_file(), "{}", dir.display());
    agent.cli(&["job", "stop", "dnsdocker"]).success();
    wait_for("the netns resolv.conf to be removed", |last| {
        *last = format!("{} exists", dir.display());
        (!dir.exists()).then_some(())
    });
}

#[test]
fn a_bridge_task_resolves_the_catalog_through_dns_on_the_gateway() {
    require_root!();
    let agent = Agent::start("dns-gw");
    // A service outside any job, registered as Consul's agent API takes it.
    let reg = agent.consul(
        "PUT",
        "/v1/agent/service/register",
        Some(r#"{"Name": "ext", "ID": "ext-1", "Address": "10.9.8.7", "Port": 80}"#),
    );
    assert_eq!(reg.status, 200, "{reg:?}");
    let gateway = agent.bridge.gateway();
    let hcl = format!(
        r#"
job "dnsgw" {{
  datacenters = ["dc1"]
  group "g" {{
    network {{
      mode = "bridge"
      dns {{
        servers = ["{gateway}"]
      }}
    }}
    task "look" {{
      driver = "raw_exec"
      config {{
        command = "/bin/sh"
        args    = ["-c", "until getent ahostsv4 ext.service.consul; do sleep 0.2; done; exec sleep 600", "{marker}"]
      }}
      resources {{
        cpu    = 20
        memory = 16
      }}
    }}
  }}
}}
"#,
        marker = agent.marker
    );
    assert_eq!(agent.run_job(&hcl), "dnsgw");
    let alloc = agent.wait_allocs_running("dnsgw", 1)[0]["ID"]
        .as_str()
        .expect("an id")
        .to_owned();
    wait_for("the task to resolve ext.service.consul", |last| {
        let out = agent.cli(&["alloc", "logs", &alloc, "look"]);
        *last = format!("{out:?}");
        out.stdout.contains("10.9.8.7").then_some(())
    });
}
