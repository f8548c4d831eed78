//! The DNS interface of a dev agent, asked with `dig`: services registered by jobs are
//! served as A and SRV records (tags and RFC 2782 forms included), and an instance whose
//! check is critical leaves DNS while staying in the catalog with its health.

mod support;

use std::process::Command;

use support::{Agent, wait_for};

/// `dig` against the agent; `None` when dig is not installed (the test then skips).
fn dig(agent: &Agent, args: &[&str]) -> Option<String> {
    let out = Command::new("dig")
        .args([
            "@127.0.0.1",
            "-p",
            &agent.dns_port.to_string(),
            "+time=2",
            "+tries=1",
        ])
        .args(args)
        .output()
        .ok()?;
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn have_dig() -> bool {
    Command::new("dig").arg("-v").output().is_ok()
}

/// The server's working directory is the task dir, under the agent's temp dir: that is
/// how the harness finds leftovers (python refuses an extra marker argument).
fn web_job() -> String {
    r#"job "web" {
  group "web" {
    count = 2
    network {
      port "http" {}
    }
    service {
      name     = "web"
      provider = "nomad"
      port     = "http"
      tags     = ["v1"]
      check {
        type     = "tcp"
        interval = "1s"
        timeout  = "1s"
      }
    }
    task "server" {
      driver = "raw_exec"
      config {
        command = "/usr/bin/python3"
        args    = ["-m", "http.server", "${NOMAD_PORT_http}", "--bind", "127.0.0.1", "--directory", "/tmp"]
      }
    }
  }
}
"#
    .to_owned()
}

fn broken_job(marker: &str) -> String {
    format!(
        r#"job "broken" {{
  group "broken" {{
    network {{
      port "http" {{}}
    }}
    service {{
      name     = "broken"
      provider = "nomad"
      port     = "http"
      check {{
        type     = "tcp"
        interval = "1s"
        timeout  = "1s"
      }}
    }}
    task "idle" {{
      driver = "raw_exec"
      config {{
        command = "/bin/sh"
        args    = ["-c", "exec sleep 600", "{marker}"]
      }}
    }}
  }}
}}
"#
    )
}

#[test]
fn services_are_served_as_a_and_srv_and_critical_instances_leave_dns() {
    if !have_dig() {
        eprintln!("skipped: dig is not installed");
        return;
    }
    let agent = Agent::start("dns");

    // Phase 1: two healthy instances of "web" answer A and SRV, by name and by tag.
    agent.run_job(&web_job());
    let allocs = agent.wait_allocs_running("web", 2);
    let mut ports: Vec<u16> = allocs
        .iter()
        .map(|a| agent.alloc_ports(a["ID"].as_str().expect("id"))["http"])
        .collect();
    ports.sort_unstable();
    // The checks decide: wait until both instances passed theirs (a check that runs
    // before python listens makes an instance critical for a second).
    wait_for("both web instances passing", |last| {
        let regs = agent.get_json("/v1/service/web");
        *last = regs.to_string();
        let passing = regs
            .as_array()
            .map_or(0, |r| r.iter().filter(|g| g["Health"] == "passing").count());
        (passing == 2).then_some(())
    });
    let srv_ports = wait_for("both web instances in DNS", |last| {
        let out = dig(&agent, &["+short", "web.service.consul", "SRV"])?;
        *last = out.clone();
        let mut found: Vec<u16> = out
            .lines()
            .filter_map(|l| l.split_whitespace().nth(2))
            .filter_map(|p| p.parse().ok())
            .collect();
        found.sort_unstable();
        (found.len() == 2).then_some(found)
    });
    assert_eq!(
        srv_ports, ports,
        "SRV records carry the allocations' host ports"
    );
    let a = dig(&agent, &["+short", "v1.web.service.consul", "A"]).expect("dig");
    assert_eq!(
        a.trim(),
        "127.0.0.1",
        "tag lookup answers the instances' address"
    );
    let rfc2782 = dig(&agent, &["+short", "_web._v1.service.consul", "SRV"]).expect("dig");
    assert_eq!(rfc2782.lines().count(), 2, "RFC 2782 form: {rfc2782}");
    let unknown = dig(&agent, &["nope.service.consul", "A"]).expect("dig");
    assert!(
        unknown.contains("status: NXDOMAIN"),
        "unknown service: {unknown}"
    );

    // Phase 2: an instance whose check fails is critical: still in the catalog, not in DNS.
    agent.run_job(&broken_job(&agent.marker));
    agent.wait_allocs_running("broken", 1);
    wait_for("the broken instance to turn critical", |last| {
        let regs = agent.get_json("/v1/service/broken");
        *last = regs.to_string();
        (regs[0]["Health"] == "critical").then_some(())
    });
    let answer = dig(&agent, &["broken.service.consul", "A"]).expect("dig");
    assert!(
        answer.contains("status: NXDOMAIN"),
        "a critical instance is not served: {answer}"
    );
    let web = dig(&agent, &["web.service.consul", "A"]).expect("dig");
    let regs = agent.get_json("/v1/service/web");
    assert!(
        web.contains("127.0.0.1"),
        "healthy services are still served: {web}\n{regs}"
    );
}
