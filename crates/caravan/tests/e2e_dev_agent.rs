//! End to end: a real `caravan agent -dev` per test, driven by the real CLI and HTTP
//! API, running real processes with the raw_exec driver (redis-server, hello-app, sh).
//!
//! Every test starts its own agent on port 0 with its own data dir, so the tests run in
//! parallel; every wait polls a condition with a deadline. On the way out the harness
//! stops the agent with SIGINT and fails the test if any task process outlived it.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use support::{Agent, free_port, path_str, ports_of, processes_with_env, wait_for};

/// The agent's default dynamic port range.
const DYNAMIC_PORTS: std::ops::RangeInclusive<u16> = 20000..=32000;

fn examples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples")
}

fn read_example(rel: &str) -> String {
    let path = examples_dir().join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// `text` with `from` replaced by `to`, failing the test if `from` is not there (so an
/// edit of an example cannot silently turn a test into a no-op).
#[track_caller]
fn replace_once(text: &str, from: &str, to: &str) -> String {
    assert_eq!(text.matches(from).count(), 1, "{from:?} once in:\n{text}");
    text.replace(from, to)
}

/// Runs `redis-cli -p PORT <args>` and returns its trimmed output.
fn redis_cli(port: u16, args: &[&str]) -> String {
    let out = Command::new("redis-cli")
        .args(["-h", "127.0.0.1", "-p", &port.to_string()])
        .args(args)
        .output()
        .expect("run redis-cli (Debian package redis-tools)");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// Waits until the redis on `port` answers PONG.
fn wait_redis_pong(port: u16) {
    wait_for(&format!("redis on port {port} to answer PONG"), |last| {
        *last = redis_cli(port, &["ping"]);
        (last == "PONG").then_some(())
    });
}

/// A service job whose task is a shell that sleeps, carrying the agent's marker on its
/// command line. `@JOB@`, `@GROUP_EXTRA@` and `@TASK_EXTRA@` are filled in.
fn sleeper_job(agent: &Agent, job: &str, group_extra: &str, task_extra: &str) -> String {
    r#"
job "@JOB@" {
  datacenters = ["dc1"]
  type        = "service"

  group "g" {
    @GROUP_EXTRA@

    task "sleep" {
      driver = "raw_exec"

      config {
        command = "/bin/sh"
        # `; true` keeps the shell (and so the marker) alive instead of exec'ing sleep.
        args = ["-c", "sleep 600; true", "@MARKER@"]
      }

      @TASK_EXTRA@

      resources {
        cpu    = 20
        memory = 16
      }
    }
  }
}
"#
    .replace("@JOB@", job)
    .replace("@GROUP_EXTRA@", group_extra)
    .replace("@TASK_EXTRA@", task_extra)
    .replace("@MARKER@", &agent.marker)
}

/// Scenario 1: redis-server on a dynamic and on a static host port, each answering
/// `redis-cli ping` on exactly the port the allocation names.
#[test]
fn scenario_1_redis_on_dynamic_and_static_ports() {
    let agent = Agent::start("s1");

    // The example file unchanged: a port from the dynamic range.
    let dynamic = examples_dir().join("raw_exec/s1-dynamic-port.nomad");
    let out = agent.cli(&["job", "run", path_str(&dynamic)]);
    let job = support::job_id_from_run(&out.success());
    assert_eq!(job, "redis");

    // The static example on a port free right now instead of 16379, so that parallel
    // tests (and a redis the machine runs) do not collide; renamed to run alongside.
    let port = free_port();
    let hcl = read_example("raw_exec/s1-static-port.nomad");
    let hcl = replace_once(&hcl, "static = 16379", &format!("static = {port}"));
    let hcl = replace_once(&hcl, "job \"redis\"", "job \"redis-static\"");
    assert_eq!(agent.run_job(&hcl), "redis-static");

    let dyn_alloc = &agent.wait_allocs_running("redis", 1)[0];
    let dyn_port = ports_of(dyn_alloc)["redis"];
    assert!(
        DYNAMIC_PORTS.contains(&dyn_port),
        "dynamic port {dyn_port} outside {DYNAMIC_PORTS:?}"
    );
    wait_redis_pong(dyn_port);

    let static_alloc = &agent.wait_allocs_running("redis-static", 1)[0];
    assert_eq!(
        ports_of(static_alloc),
        BTreeMap::from([("redis".into(), port)])
    );
    wait_redis_pong(port);
}

/// Several jobs with several dynamic ports each, registered at once from several
/// threads: every host port on the node is handed out once, from the dynamic range.
#[test]
fn jobs_never_share_a_host_port() {
    let agent = Agent::start("ports");
    let jobs = ["p1", "p2", "p3", "p4"];
    let network = r#"count = 3
    network {
      port "a" {}
      port "b" {}
      port "c" {}
    }"#;
    std::thread::scope(|s| {
        for job in jobs {
            let hcl = sleeper_job(&agent, job, network, "");
            let agent = &agent;
            s.spawn(move || assert_eq!(agent.run_job(&hcl), job));
        }
    });

    let mut seen: BTreeMap<u16, String> = BTreeMap::new();
    for job in jobs {
        for alloc in agent.wait_allocs_running(job, 3) {
            let name = alloc["Name"].as_str().expect("alloc name").to_owned();
            let ports = ports_of(&alloc);
            assert_eq!(
                ports.keys().map(String::as_str).collect::<Vec<_>>(),
                ["a", "b", "c"],
                "{name}"
            );
            for (label, port) in ports {
                assert!(DYNAMIC_PORTS.contains(&port), "{name} {label}: {port}");
                if let Some(other) = seen.insert(port, format!("{name} {label}")) {
                    panic!("port {port} given to both {other} and {name} {label}");
                }
            }
        }
    }
    assert_eq!(seen.len(), jobs.len() * 3 * 3);
}

/// A static port that something outside Caravan holds is not handed out: `job run`
/// exits 2 (placement failure) and says which port.
#[test]
fn a_static_port_bound_on_the_host_is_not_handed_out() {
    // Bound before the agent starts, so that its first look at the host's sockets
    // already sees it: the test does not depend on how often the agent looks again.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a port");
    let port = listener.local_addr().expect("local addr").port();
    let agent = Agent::start("bound");
    let network = format!(
        r#"network {{
      port "held" {{
        static = {port}
      }}
    }}"#
    );
    let file = agent.write_file("held.nomad", &sleeper_job(&agent, "held", &network, ""));
    let out = agent.cli(&["job", "run", path_str(&file)]);
    assert_eq!(out.code, 2, "job run should fail to place: {out:#?}");
    // A line of the placement failure names the port as a number of its own (not as
    // digits inside an id or a time).
    let printed = format!("{}{}", out.stdout, out.stderr);
    let port_text = port.to_string();
    let names_port = |line: &str| {
        line.contains("port")
            && line.match_indices(&port_text).any(|(i, _)| {
                let before = line[..i].chars().next_back();
                let after = line[i + port_text.len()..].chars().next();
                !before.is_some_and(|c| c.is_ascii_alphanumeric())
                    && !after.is_some_and(|c| c.is_ascii_alphanumeric())
            })
    };
    assert!(
        printed.lines().any(names_port),
        "the reason should name port {port}: {out:#?}"
    );
    // Nothing runs on (or took over) the port: the listener is still the only holder.
    let running: Vec<Value> = agent
        .job_allocs("held")
        .into_iter()
        .filter(|a| a["ClientStatus"] == "running")
        .collect();
    assert!(running.is_empty(), "{running:#?}");
    drop(listener);
}

/// Scenario 2: hello-app and redis in one group; the app reaches redis through
/// `DEMO_REDIS_ADDR = "${NOMAD_ADDR_redis}"` and counts visits.
#[test]
fn scenario_2_app_reaches_redis_through_nomad_addr() {
    let hello = support::hello_app_bin();
    let agent = Agent::start("s2");
    let file = examples_dir().join("raw_exec/s2-same-group.nomad");
    let var = format!("hello_app_bin={}", hello.display());
    let out = agent.cli(&["job", "run", "-var", &var, path_str(&file)]);
    assert_eq!(support::job_id_from_run(&out.success()), "hello");

    let alloc = &agent.wait_allocs_running("hello", 1)[0];
    let ports = ports_of(alloc);
    let (app, redis) = (ports["app"], ports["redis"]);
    assert_ne!(app, redis);
    wait_redis_pong(redis);

    // The app's environment names the redis task's address.
    let addr = format!("127.0.0.1:{redis}");
    assert!(
        !processes_with_env("DEMO_REDIS_ADDR", &addr).is_empty(),
        "no process with DEMO_REDIS_ADDR={addr}"
    );

    let url = format!("http://127.0.0.1:{app}/");
    let curl = || {
        let out = Command::new("curl")
            .args(["-sS", "--max-time", "5", "-w", "\n%{http_code}", &url])
            .output()
            .expect("run curl");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    // Until the app listens, curl fails; the first 200 is the first counted visit.
    let first = wait_for("hello-app to answer 200", |last| {
        *last = curl();
        last.ends_with("\n200").then(|| last.clone())
    });
    assert!(first.contains("visited 1 times"), "{first}");
    let second = curl();
    assert!(second.contains("visited 2 times"), "{second}");
    assert_eq!(redis_cli(redis, &["get", "hello:visits"]), "2");
}

/// Every runtime variable a raw_exec task gets, compared with the allocation's real
/// values (digest section 2: identity, resources, directories, ports, meta).
#[test]
fn runtime_variables_match_the_allocation() {
    let agent = Agent::start("env");
    let static_port = free_port();
    let hcl = r#"
job "envjob" {
  datacenters = ["dc1"]

  meta {
    owner = "e2e"
  }

  group "grp" {
    meta {
      Tier = "back-end"
    }

    network {
      port "http" {}
      port "db" {
        static = @STATIC@
      }
      port "mapped" {
        to = 8080
      }
    }

    task "show" {
      driver = "raw_exec"

      meta {
        my-key = "v1"
      }

      env {
        E2E_ADDR = "${NOMAD_ADDR_http}"
      }

      config {
        command = "/bin/sh"
        # Written then renamed, so a reader never sees half a file.
        args = ["-c", "env > \"$NOMAD_TASK_DIR/env.tmp\" && mv \"$NOMAD_TASK_DIR/env.tmp\" \"$NOMAD_TASK_DIR/env.txt\"; sleep 600; true", "@MARKER@"]
      }

      resources {
        cpu    = 123
        memory = 45
      }
    }
  }
}
"#
    .replace("@STATIC@", &static_port.to_string())
    .replace("@MARKER@", &agent.marker);
    assert_eq!(agent.run_job(&hcl), "envjob");
    let alloc = agent.wait_allocs_running("envjob", 1).remove(0);
    let id = alloc["ID"].as_str().expect("alloc id").to_owned();

    // Read the file the task wrote, through the API until it exists, then the CLI.
    let api_text = wait_for("the task's env.txt", |last| {
        let r = agent.get(&format!("/v1/client/fs/cat/{id}?path=show/local/env.txt"));
        *last = format!("{} {}", r.status, r.body);
        (r.status == 200 && r.body.contains("NOMAD_TASK_NAME=")).then_some(r.body)
    });
    let cli_text = agent
        .cli(&["alloc", "fs", &id, "show/local/env.txt"])
        .success()
        .stdout;
    assert_eq!(cli_text.trim_end(), api_text.trim_end());
    let env: BTreeMap<&str, &str> = api_text
        .lines()
        .filter_map(|l| l.split_once('='))
        .filter(|(k, _)| k.starts_with("NOMAD_") || k.starts_with("E2E_"))
        .collect();

    // What the variables must be, from the allocation, its node and the agent.
    let node = agent.get_json(&format!(
        "/v1/node/{}",
        alloc["NodeID"].as_str().expect("node")
    ));
    let agent_self = agent.get_json("/v1/agent/self");
    let s = |v: &Value| v.as_str().expect("a string").to_owned();
    let name = s(&alloc["Name"]);
    let index = name
        .rsplit_once('[')
        .and_then(|(_, i)| i.strip_suffix(']'))
        .expect("an index in the alloc name");
    let task_res = &alloc["AllocatedResources"]["Tasks"]["show"];
    let alloc_dir = agent.data_dir.join("alloc").join(&id);
    let mut want: BTreeMap<String, String> = BTreeMap::from([
        ("NOMAD_ALLOC_ID".into(), id.clone()),
        ("NOMAD_SHORT_ALLOC_ID".into(), id[..8].to_owned()),
        ("NOMAD_ALLOC_NAME".into(), name.clone()),
        ("NOMAD_ALLOC_INDEX".into(), index.to_owned()),
        ("NOMAD_JOB_ID".into(), s(&alloc["JobID"])),
        ("NOMAD_JOB_NAME".into(), s(&alloc["Job"]["Name"])),
        ("NOMAD_GROUP_NAME".into(), s(&alloc["TaskGroup"])),
        ("NOMAD_TASK_NAME".into(), "show".into()),
        ("NOMAD_DC".into(), s(&node["Datacenter"])),
        ("NOMAD_REGION".into(), s(&agent_self["config"]["Region"])),
        ("NOMAD_NAMESPACE".into(), s(&alloc["Namespace"])),
        (
            "NOMAD_CPU_LIMIT".into(),
            task_res["Cpu"]["CpuShares"].to_string(),
        ),
        (
            "NOMAD_MEMORY_LIMIT".into(),
            task_res["Memory"]["MemoryMB"].to_string(),
        ),
        (
            "NOMAD_ALLOC_DIR".into(),
            alloc_dir.join("alloc").display().to_string(),
        ),
        (
            "NOMAD_TASK_DIR".into(),
            alloc_dir.join("show/local").display().to_string(),
        ),
        (
            "NOMAD_SECRETS_DIR".into(),
            alloc_dir.join("show/secrets").display().to_string(),
        ),
    ]);
    // The values themselves, so the comparison cannot pass on two wrong answers.
    assert_eq!(
        (
            &*want["NOMAD_ALLOC_NAME"],
            &*want["NOMAD_DC"],
            &*want["NOMAD_REGION"]
        ),
        ("envjob.grp[0]", "dc1", "global")
    );
    assert_eq!(
        (&*want["NOMAD_CPU_LIMIT"], &*want["NOMAD_MEMORY_LIMIT"]),
        ("123", "45")
    );

    let ports = alloc["AllocatedResources"]["Shared"]["Ports"]
        .as_array()
        .expect("shared ports");
    assert_eq!(ports.len(), 3, "{ports:#?}");
    for p in ports {
        let l = s(&p["Label"]);
        let (ip, value, to) = (
            s(&p["HostIP"]),
            p["Value"].as_u64().expect("value"),
            p["To"].as_i64().expect("to"),
        );
        let port = if to > 0 {
            to.to_string()
        } else {
            value.to_string()
        };
        want.insert(format!("NOMAD_IP_{l}"), ip.clone());
        want.insert(format!("NOMAD_HOST_IP_{l}"), ip.clone());
        want.insert(format!("NOMAD_ADDR_{l}"), format!("{ip}:{value}"));
        want.insert(format!("NOMAD_HOST_ADDR_{l}"), format!("{ip}:{value}"));
        want.insert(format!("NOMAD_HOST_PORT_{l}"), value.to_string());
        want.insert(format!("NOMAD_PORT_{l}"), port.clone());
        want.insert(format!("NOMAD_ALLOC_PORT_{l}"), port);
    }
    assert_eq!(want["NOMAD_PORT_db"], static_port.to_string());
    assert_eq!(want["NOMAD_PORT_mapped"], "8080");
    assert_ne!(want["NOMAD_HOST_PORT_mapped"], "8080");
    want.insert("E2E_ADDR".into(), want["NOMAD_ADDR_http"].clone());

    // Meta from the job, the group and the task, under the key and its upper case,
    // with bytes outside [A-Za-z0-9_.] turned into `_`.
    let job = &alloc["Job"];
    let group = &job["TaskGroups"][0];
    for meta in [&job["Meta"], &group["Meta"], &group["Tasks"][0]["Meta"]] {
        for (k, v) in meta.as_object().expect("a meta object") {
            let clean = |k: &str| {
                k.chars()
                    .map(|c| {
                        if c.is_ascii_alphanumeric() || c == '_' || c == '.' {
                            c
                        } else {
                            '_'
                        }
                    })
                    .collect::<String>()
            };
            want.insert(format!("NOMAD_META_{}", clean(k)), s(v));
            want.insert(format!("NOMAD_META_{}", clean(&k.to_uppercase())), s(v));
        }
    }
    assert_eq!(want["NOMAD_META_my_key"], "v1");
    assert_eq!(want["NOMAD_META_TIER"], "back-end");

    let wrong: Vec<String> = want
        .iter()
        .filter(|(k, v)| env.get(k.as_str()) != Some(&v.as_str()))
        .map(|(k, v)| format!("{k}: want {v:?}, got {:?}", env.get(k.as_str())))
        .collect();
    assert!(wrong.is_empty(), "wrong variables:\n{}", wrong.join("\n"));

    // Nothing a host-mode allocation without cores, memory_max or a parent job must
    // not have, and no port or meta variable beyond the expected ones.
    let families = [
        "NOMAD_IP_",
        "NOMAD_HOST_IP_",
        "NOMAD_ADDR_",
        "NOMAD_HOST_ADDR_",
        "NOMAD_HOST_PORT_",
        "NOMAD_PORT_",
        "NOMAD_ALLOC_PORT_",
        "NOMAD_META_",
    ];
    let unexpected: Vec<&&str> = env
        .keys()
        .filter(|k| {
            [
                "NOMAD_ALLOC_IP_",
                "NOMAD_ALLOC_ADDR_",
                "NOMAD_ALLOC_INTERFACE_",
                "NOMAD_MEMORY_MAX_LIMIT",
                "NOMAD_CPU_CORES",
                "NOMAD_JOB_PARENT_ID",
            ]
            .iter()
            .any(|p| k.starts_with(p))
                || (families.iter().any(|f| k.starts_with(f)) && !want.contains_key(**k))
        })
        .collect();
    assert!(
        unexpected.is_empty(),
        "unexpected variables: {unexpected:?}"
    );
}

/// A task that exits 3 is restarted per its policy (2 attempts, 1 s apart), then not
/// restarted, and the allocation fails.
#[test]
fn a_crashing_task_is_restarted_per_policy_then_fails() {
    let agent = Agent::start("crash");
    let hcl = r#"
job "crash" {
  datacenters = ["dc1"]

  group "g" {
    restart {
      attempts = 2
      delay    = "1s"
      interval = "1m"
      mode     = "fail"
    }

    # The failed allocation is the subject: no replacement.
    reschedule {
      attempts  = 0
      unlimited = false
    }

    task "boom" {
      driver = "raw_exec"

      config {
        command = "/bin/sh"
        args    = ["-c", "exit 3", "@MARKER@"]
      }

      resources {
        cpu    = 20
        memory = 16
      }
    }
  }
}
"#
    .replace("@MARKER@", &agent.marker);
    assert_eq!(agent.run_job(&hcl), "crash");
    let allocs = wait_for("the crash job's allocation", |last| {
        let a = agent.job_allocs("crash");
        *last = support::summarize_allocs(&a);
        (!a.is_empty()).then_some(a)
    });
    assert_eq!(allocs.len(), 1, "{}", support::summarize_allocs(&allocs));
    let id = allocs[0]["ID"].as_str().expect("alloc id");
    let alloc = agent.wait_alloc_status(id, "failed");

    let task = &alloc["TaskStates"]["boom"];
    assert_eq!(task["Restarts"], 2, "{task:#}");
    assert_eq!(task["Failed"], true, "{task:#}");
    assert_eq!(task["State"], "dead", "{task:#}");
    let events: Vec<&Value> = task["Events"].as_array().expect("events").iter().collect();
    let count = |t: &str| events.iter().filter(|e| e["Type"] == t).count();
    assert_eq!(count("Restarting"), 2, "{task:#}");
    assert_eq!(count("Not Restarting"), 1, "{task:#}");
    let exit_codes: Vec<&Value> = events
        .iter()
        .filter(|e| e["Type"] == "Terminated")
        .map(|e| &e["ExitCode"])
        .collect();
    assert_eq!(exit_codes, [&json!(3); 3], "{task:#}");
    // The last word is the decision not to restart.
    let last_restart_decision = events
        .iter()
        .rev()
        .find(|e| e["Type"] == "Restarting" || e["Type"] == "Not Restarting")
        .expect("a restart decision");
    assert_eq!(last_restart_decision["Type"], "Not Restarting");
}

/// Changing an env value is a destructive update: a new allocation runs the new
/// version, the old one is stopped and its process is gone.
#[test]
fn a_job_update_replaces_the_allocation() {
    let agent = Agent::start("update");
    let version = |v: &str| {
        let env = format!(
            "env {{\n        E2E_VERSION = \"{}-{v}\"\n      }}",
            agent.marker
        );
        sleeper_job(&agent, "upd", "", &env)
    };
    let (one, two) = (
        format!("{}-one", agent.marker),
        format!("{}-two", agent.marker),
    );

    assert_eq!(agent.run_job(&version("one")), "upd");
    let old = agent.wait_allocs_running("upd", 1).remove(0);
    let old_id = old["ID"].as_str().expect("alloc id").to_owned();
    assert_eq!(old["Job"]["Version"], 0);
    assert!(!processes_with_env("E2E_VERSION", &one).is_empty());

    assert_eq!(agent.run_job(&version("two")), "upd");
    let new = agent.wait_allocs_running("upd", 1).remove(0);
    assert_ne!(new["ID"].as_str(), Some(old_id.as_str()), "not replaced");
    assert_eq!(new["Job"]["Version"], 1);
    assert_eq!(agent.get_json("/v1/job/upd")["Version"], 1);

    let old = agent.wait_alloc_status(&old_id, "complete");
    assert_eq!(old["DesiredStatus"], "stop");
    wait_for("the old version's processes to exit", |last| {
        let left = processes_with_env("E2E_VERSION", &one);
        *last = format!("{left:?}");
        left.is_empty().then_some(())
    });
    assert!(!processes_with_env("E2E_VERSION", &two).is_empty());
}

/// A destructive update of redis on a static port: the new allocation gets the same
/// port once the old one has let go of it, and the redis answering there is the new one.
/// (`-detach`: how `job run` reports this update is the next test's subject.)
#[test]
fn an_update_hands_a_static_port_to_the_new_allocation() {
    let agent = Agent::start("update-static");
    let port = free_port();
    let hcl = read_example("raw_exec/s1-static-port.nomad");
    let hcl = replace_once(&hcl, "static = 16379", &format!("static = {port}"));
    let version = |v: &str| {
        let hcl = replace_once(
            &hcl,
            "driver = \"raw_exec\"",
            &format!(
                "driver = \"raw_exec\"\n      env {{\n        E2E_VERSION = \"{v}\"\n      }}"
            ),
        );
        agent.write_file(&format!("redis-{v}.nomad"), &hcl)
    };
    // The pid of the redis that answers on the port.
    let answering = || {
        redis_cli(port, &["info", "server"])
            .lines()
            .find_map(|l| l.trim().strip_prefix("process_id:"))
            .and_then(|p| p.parse::<u32>().ok())
    };
    // The pid of an allocation's redis (found by its working directory: redis-server
    // rewrites its title over its environment).
    let redis_of = |alloc: &str| {
        let procs = agent.alloc_processes(alloc);
        assert_eq!(procs.len(), 1, "one redis in allocation {alloc}: {procs:?}");
        procs[0].0
    };

    let one = version("one");
    agent.cli(&["job", "run", path_str(&one)]).success();
    let old = agent.wait_allocs_running("redis", 1).remove(0);
    let old_id = old["ID"].as_str().expect("alloc id").to_owned();
    wait_redis_pong(port);
    assert_eq!(answering(), Some(redis_of(&old_id)));

    let two = version("two");
    agent
        .cli(&["job", "run", "-detach", path_str(&two)])
        .success();
    let new_id = wait_for("a running allocation of version 1", |last| {
        let allocs = agent.job_allocs("redis");
        *last = support::summarize_allocs(&allocs);
        allocs
            .iter()
            .find(|a| a["JobVersion"] == 1 && a["ClientStatus"] == "running")
            .and_then(|a| a["ID"].as_str())
            .map(str::to_owned)
    });
    assert_ne!(new_id, old_id, "not replaced");
    assert_eq!(
        agent.alloc_ports(&new_id),
        BTreeMap::from([("redis".into(), port)])
    );
    let new_pid = redis_of(&new_id);
    wait_for("the new redis to answer on the port", |last| {
        let pid = answering();
        *last = format!("answering: {pid:?}, new redis: {new_pid}");
        (pid == Some(new_pid)).then_some(())
    });
    agent.wait_alloc_status(&old_id, "complete");
    assert_eq!(agent.alloc_processes(&old_id), []);
}

/// `job run` of a destructive update to a job with a static port succeeds: the plan
/// that stops the old allocation places the new one on the same port, as Nomad does
/// (the client holds the new one back until the old one has let go of the port).
#[test]
fn a_static_port_job_update_places_at_once() {
    let agent = Agent::start("update-static-run");
    let port = free_port();
    let network = format!(
        r#"network {{
      port "p" {{
        static = {port}
      }}
    }}"#
    );
    let version = |v: &str| {
        let env = format!("env {{\n        E2E_VERSION = \"{v}\"\n      }}");
        sleeper_job(&agent, "upd-static", &network, &env)
    };
    assert_eq!(agent.run_job(&version("one")), "upd-static");
    agent.wait_allocs_running("upd-static", 1);
    let file = agent.write_file("upd-static-two.nomad", &version("two"));
    let out = agent.cli(&["job", "run", path_str(&file)]);
    assert_eq!(out.code, 0, "the update should place at once: {out:#?}");
    let new = agent.wait_allocs_running("upd-static", 1).remove(0);
    assert_eq!(new["Job"]["Version"], 1);
    assert_eq!(ports_of(&new), BTreeMap::from([("p".into(), port)]));
}

/// `job stop` ends the task's whole process tree, background children included.
#[test]
fn job_stop_leaves_no_process_behind() {
    let agent = Agent::start("stop");
    let hcl = sleeper_job(&agent, "stopme", "", "").replace(
        "\"sleep 600; true\"",
        // A background child too: it must not survive as an orphan.
        "\"sleep 600 & sleep 600; true\"",
    );
    assert_eq!(agent.run_job(&hcl), "stopme");
    let alloc = agent.wait_allocs_running("stopme", 1).remove(0);
    let pgrep = || {
        let out = Command::new("pgrep")
            .args(["-f", &agent.marker])
            .output()
            .expect("run pgrep");
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    };
    wait_for("the shell and both sleeps", |last| {
        *last = format!("pgrep: {:?}, tasks: {:?}", pgrep(), agent.task_processes());
        (!pgrep().is_empty() && agent.task_processes().len() >= 3).then_some(())
    });

    agent.cli(&["job", "stop", "stopme"]).success();
    wait_for("every task process to exit", |last| {
        let (p, t) = (pgrep(), agent.task_processes());
        *last = format!("pgrep: {p:?}, tasks: {t:?}");
        (p.is_empty() && t.is_empty()).then_some(())
    });
    let id = alloc["ID"].as_str().expect("alloc id");
    let alloc = agent.wait_alloc_status(id, "complete");
    assert_eq!(alloc["DesiredStatus"], "stop");
    assert_eq!(agent.get_json("/v1/job/stopme")["Stop"], true);
}

/// A job without a driver gets 400 with a one-line reason, and nothing is stored.
#[test]
fn a_bad_job_gets_400_and_changes_nothing() {
    let agent = Agent::start("bad");
    let before = agent.get("/v1/jobs");
    assert_eq!(before.json(), json!([]));
    let job = json!({"Job": {
        "ID": "bad",
        "Name": "bad",
        "Datacenters": ["dc1"],
        "TaskGroups": [{
            "Name": "g",
            "Tasks": [{"Name": "t", "Config": {"command": "/bin/true"}}]
        }]
    }});
    let r = agent.put("/v1/jobs", &job);
    assert_eq!(r.status, 400, "{r:#?}");
    assert!(
        r.body.contains("driver"),
        "the reason names the driver: {r:#?}"
    );
    assert_eq!(r.body.trim().lines().count(), 1, "one line: {r:#?}");

    let after = agent.get("/v1/jobs");
    assert_eq!(after.json(), json!([]));
    assert_eq!(after.index(), before.index(), "the jobs table moved");
    assert_eq!(agent.get_json("/v1/evaluations"), json!([]));
    assert_eq!(agent.get("/v1/job/bad").status, 404);
}

/// Blocking queries on /v1/jobs: they return when the table changes (a registration
/// from another thread) and when the wait runs out (same index, no error).
#[test]
fn blocking_queries_return_on_change_and_on_timeout() {
    let agent = Agent::start("block");
    let index = agent.get("/v1/jobs").index();

    // Timeout: the same index and data, after the wait.
    let start = Instant::now();
    let r = agent.get(&format!("/v1/jobs?index={index}&wait=300ms"));
    let took = start.elapsed();
    assert_eq!(r.status, 200, "{r:#?}");
    assert_eq!(r.index(), index);
    assert_eq!(r.json(), json!([]));
    assert!(
        took >= Duration::from_millis(250),
        "returned after {took:?}"
    );
    assert!(took < Duration::from_secs(10), "returned after {took:?}");

    // Change: the query is sent first; another thread registers a job. Whichever the
    // agent sees first, the answer must carry the job and a newer index.
    let start = Instant::now();
    let mut stream = support::send_request(
        agent.http_addr,
        "GET",
        &format!("/v1/jobs?index={index}&wait=30s"),
        None,
    );
    let file = agent.write_file("blocker.nomad", &sleeper_job(&agent, "blocker", "", ""));
    std::thread::scope(|s| {
        s.spawn(|| {
            // Not needed for correctness: gives the query time to start waiting.
            std::thread::sleep(Duration::from_millis(200));
            agent
                .cli(&["job", "run", "-detach", path_str(&file)])
                .success();
        });
        let r = support::read_response(&mut stream).expect("the blocking query's answer");
        let took = start.elapsed();
        assert_eq!(r.status, 200, "{r:#?}");
        assert!(r.index() > index, "index {} after {index}", r.index());
        let jobs = r.json();
        let ids: Vec<&str> = jobs
            .as_array()
            .expect("a list")
            .iter()
            .filter_map(|j| j["ID"].as_str())
            .collect();
        assert_eq!(ids, ["blocker"]);
        assert!(took < Duration::from_secs(20), "returned after {took:?}");
    });
    agent.wait_allocs_running("blocker", 1);
}

/// Every example job file validates with the CLI.
#[test]
fn every_example_job_file_validates() {
    let mut files: BTreeSet<PathBuf> = BTreeSet::new();
    for dir in ["seeds", "raw_exec"] {
        let dir = examples_dir().join(dir);
        for entry in std::fs::read_dir(&dir).expect("read an examples dir") {
            let path = entry.expect("a dir entry").path();
            if path.extension().is_some_and(|e| e == "nomad") {
                files.insert(path);
            }
        }
    }
    assert!(files.len() >= 10, "too few example files: {files:?}");
    let tmp = std::env::temp_dir().join(format!("caravan-e2e-validate-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).expect("create a temp dir");
    let mut failed = Vec::new();
    for (n, file) in files.iter().enumerate() {
        let mut cmd = Command::new(support::caravan_bin());
        cmd.args(["job", "validate"]).arg(file);
        let out = support::run_with_deadline(cmd, &tmp, &format!("validate-{n}"));
        if out.code != 0 || !out.stdout.contains("Job validation successful") {
            failed.push(format!("{}: {out:#?}", file.display()));
        }
    }
    let _ = std::fs::remove_dir_all(&tmp);
    assert!(failed.is_empty(), "{}", failed.join("\n"));
}
