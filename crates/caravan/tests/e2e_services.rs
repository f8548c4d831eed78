//! End to end: the seeds' scenario 3 with `provider = "nomad"` on a real
//! `caravan agent -dev`: services registered in the catalog as their tasks run, the
//! app finding redis through a template that follows the catalog, http checks that
//! mark an instance critical and passing again, registrations gone with the job; the
//! template failures that fail a task; and the docker seed unchanged (skipped
//! without docker and its images, as in `e2e_docker.rs`).

mod support;

use serde_json::Value;

use support::fixtures::{
    alloc_of, curl, docker_seed_skip_reason, host_ipv4, read_example, rendered_addrs, replace_once,
    repo_dir,
};
use support::{Agent, hello_app_bin, path_str, ports_of, wait_for};

/// The raw_exec scenario 3 job with the hello-app binary built for the tests and the
/// redis group's `count`.
fn scenario_3(redis_count: u32) -> String {
    let hcl = read_example("raw_exec/s3-nomad-service.nomad");
    let bin = hello_app_bin().display().to_string();
    let hcl = replace_once(&hcl, "\"/usr/local/bin/hello-app\"", &format!("{bin:?}"));
    let redis = hcl.find("group \"redis\"").expect("the redis group");
    let (head, tail) = hcl.split_at(redis);
    format!(
        "{head}{}",
        tail.replacen("count = 1", &format!("count = {redis_count}"), 1)
    )
}

/// The instances of a service, from `/v1/service/:name` (with a query).
fn instances(agent: &Agent, name_and_query: &str) -> Vec<Value> {
    agent
        .get_json(&format!("/v1/service/{name_and_query}"))
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// `address:port` of each instance, sorted.
fn addresses(list: &[Value]) -> Vec<String> {
    let mut out: Vec<String> = list
        .iter()
        .map(|i| format!("{}:{}", i["Address"].as_str().unwrap_or(""), i["Port"]))
        .collect();
    out.sort();
    out
}

/// The `DEMO_REDIS_ADDR` values of the app's rendered file, sorted.
fn rendered_file_addrs(agent: &Agent, app_alloc: &str) -> Vec<String> {
    let file = agent
        .data_dir
        .join("alloc")
        .join(app_alloc)
        .join("app/secrets/config.env");
    rendered_addrs(&std::fs::read_to_string(file).unwrap_or_default())
}

/// Waits until the app's file lists exactly the catalog's redis instances, and
/// there are `n` of them; returns them.
#[track_caller]
fn wait_rendered(agent: &Agent, app_alloc: &str, n: usize) -> Vec<String> {
    wait_for(&format!("the app's file to list {n} redis"), |last| {
        let catalog = addresses(&instances(agent, "redis"));
        let rendered = rendered_file_addrs(agent, app_alloc);
        *last = format!("catalog {catalog:?}, file {rendered:?}");
        (catalog.len() == n && rendered == catalog).then_some(rendered)
    })
}

fn restarts(agent: &Agent, alloc: &str, task: &str) -> u64 {
    agent.alloc(alloc)["TaskStates"][task]["Restarts"]
        .as_u64()
        .unwrap_or(0)
}

/// Scenario 3: the app (one group) reaches redis (another group) through the
/// rendered `DEMO_REDIS_ADDR`; the CLI shows the instances; scaling redis to 2 lists
/// both, scaling back re-renders and restarts the app; the job's stop empties the
/// catalog.
#[test]
fn scenario_3_the_app_finds_redis_in_the_catalog_and_follows_it() {
    let agent = Agent::start("svc-s3");
    assert_eq!(agent.run_job(&scenario_3(1)), "hello");
    let redis = alloc_of(&agent, "hello", "redis");
    let redis_id = redis["ID"].as_str().expect("id").to_owned();
    let redis_port = ports_of(&redis)["redis"];
    let app = alloc_of(&agent, "hello", "app");
    let app_id = app["ID"].as_str().expect("id").to_owned();
    let app_port = ports_of(&app)["app"];

    // Phase 1: the catalog, as the CLI shows it: job, address, port, node, alloc.
    let info = wait_for("redis in `service info`", |last| {
        let out = agent.cli(&["service", "info", "redis"]);
        *last = format!("{out:?}");
        (out.code == 0 && out.stdout.contains(&format!("127.0.0.1:{redis_port}")))
            .then_some(out.stdout)
    });
    let row = info.lines().nth(1).expect("one instance row");
    let node = agent.node_id();
    for want in ["hello", &node[..8], &redis_id[..8], "passing"] {
        assert!(row.contains(want), "{want:?} in {info}");
    }
    let list = agent.cli(&["service", "list"]).success().stdout;
    assert!(list.contains("redis") && list.contains("app"), "{list}");
    let reg = &instances(&agent, "redis")[0];
    assert_eq!(
        reg["ID"],
        format!("_nomad-task-{redis_id}-group-redis-redis-redis")
    );
    assert_eq!(reg["JobID"], "hello");
    assert_eq!(reg["NodeID"], node);
    assert_eq!(reg["Provider"], "nomad");

    // Phase 2: the template rendered redis's address; the app counts in it.
    assert_eq!(
        wait_rendered(&agent, &app_id, 1),
        [format!("127.0.0.1:{redis_port}")]
    );
    let url = format!("http://127.0.0.1:{app_port}/");
    let body = wait_for("the app to count visits in redis", |last| {
        let (code, body) = curl(&url);
        *last = format!("{code} {body}");
        (code == 200 && body.contains("visited")).then_some(body)
    });
    assert!(body.contains("times"), "{body}");

    // Phase 3: two redis: the file lists both (the app allocation is updated in place).
    assert_eq!(agent.run_job(&scenario_3(2)), "hello");
    let both = wait_rendered(&agent, &app_id, 2);
    assert!(
        both.contains(&format!("127.0.0.1:{redis_port}")),
        "{both:?}"
    );

    // Phase 4: back to one: the file is rendered again and the app restarted.
    let before = restarts(&agent, &app_id, "app");
    assert_eq!(agent.run_job(&scenario_3(1)), "hello");
    wait_rendered(&agent, &app_id, 1);
    wait_for("the app restarted by its template", |last| {
        let now = restarts(&agent, &app_id, "app");
        *last = format!("{now} restarts (was {before})");
        (now > before).then_some(())
    });
    let events = agent.alloc(&app_id)["TaskStates"]["app"]["Events"].clone();
    assert!(
        events
            .as_array()
            .into_iter()
            .flatten()
            .any(|e| e["DisplayMessage"] == "Template with change_mode restart re-rendered"),
        "{events}"
    );

    // Phase 5: the job stops: no registration is left.
    agent.cli(&["job", "stop", "hello"]).success();
    wait_for("the catalog to be empty", |last| {
        let services = agent.get_json("/v1/services");
        *last = services.to_string();
        services
            .as_array()
            .is_some_and(|s| {
                s.iter()
                    .all(|ns| ns["Services"].as_array().is_none_or(Vec::is_empty))
            })
            .then_some(())
    });
    assert!(instances(&agent, "redis").is_empty());
}

/// A job whose task serves `/health` with 200 while `local/healthy` exists in its
/// task directory, and 500 otherwise, checked every second.
fn flaky_job(agent: &Agent) -> String {
    const SERVER: &str = r#"
import http.server, os
flag = os.path.join(os.environ["NOMAD_TASK_DIR"], "healthy")
class Health(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        ok = os.path.exists(flag)
        self.send_response(200 if ok else 500)
        self.end_headers()
        self.wfile.write(b"ok" if ok else b"sick")
    def log_message(self, *args):
        pass
http.server.HTTPServer((os.environ["NOMAD_IP_http"], int(os.environ["NOMAD_PORT_http"])), Health).serve_forever()
"#;
    let script = agent.write_file("health_server.py", SERVER);
    r#"
job "flaky" {
  datacenters = ["dc1"]

  group "web" {
    network {
      port "http" {}
    }

    service {
      name     = "web"
      provider = "nomad"
      port     = "http"

      check {
        name     = "health"
        type     = "http"
        path     = "/health"
        interval = "1s"
        timeout  = "1s"
      }
    }

    task "server" {
      driver = "raw_exec"

      config {
        command = "python3"
        args    = ["@SCRIPT@", "@MARKER@"]
      }

      resources {
        cpu    = 50
        memory = 32
      }
    }
  }
}
"#
    .replace("@SCRIPT@", path_str(&script))
    .replace("@MARKER@", &agent.marker)
}

/// The health column of the first row of `service info web`.
fn cli_health(agent: &Agent) -> String {
    let out = agent.cli(&["service", "info", "web"]);
    out.stdout
        .lines()
        .nth(1)
        .and_then(|row| row.split_whitespace().last())
        .unwrap_or_default()
        .to_owned()
}

/// A failing http check marks the instance critical, in `service info` and in the
/// healthy-only view; a passing one brings it back.
#[test]
fn a_failing_check_marks_the_instance_critical_and_recovery_brings_it_back() {
    let agent = Agent::start("svc-check");
    assert_eq!(agent.run_job(&flaky_job(&agent)), "flaky");
    let alloc = &agent.wait_allocs_running("flaky", 1)[0];
    let alloc_id = alloc["ID"].as_str().expect("id");
    let flag = agent
        .data_dir
        .join("alloc")
        .join(alloc_id)
        .join("server/local/healthy");

    // Phase 1: healthy: passing everywhere, with the check's result.
    std::fs::write(&flag, "").expect("create the health flag");
    wait_for("the instance passing and in the healthy view", |last| {
        let healthy = instances(&agent, "web?healthy=true");
        *last = format!("{healthy:?}");
        (healthy.len() == 1 && healthy[0]["Checks"][0]["Output"] != "").then_some(())
    });
    assert_eq!(cli_health(&agent), "passing");
    let reg = &instances(&agent, "web")[0];
    assert_eq!(reg["Checks"][0]["Name"], "health");
    assert_eq!(reg["Checks"][0]["Status"], "passing");

    // Phase 2: failing: critical in the CLI, gone from the healthy view, still listed.
    std::fs::remove_file(&flag).expect("remove the health flag");
    wait_for("the instance critical", |last| {
        *last = cli_health(&agent);
        (last == "critical").then_some(())
    });
    assert!(instances(&agent, "web?healthy=true").is_empty());
    let all = instances(&agent, "web");
    assert_eq!(all.len(), 1, "Nomad's view keeps every instance");
    assert_eq!(all[0]["Health"], "critical");

    // Phase 3: passing again brings it back.
    std::fs::write(&flag, "").expect("create the health flag");
    wait_for("the instance passing again", |last| {
        let healthy = instances(&agent, "web?healthy=true");
        *last = format!("{healthy:?}");
        (healthy.len() == 1).then_some(())
    });
    assert_eq!(cli_health(&agent), "passing");

    agent.cli(&["job", "stop", "flaky"]).success();
    wait_for("the instance gone", |last| {
        let all = instances(&agent, "web");
        *last = format!("{all:?}");
        all.is_empty().then_some(())
    });
}

/// A batch job with one task whose template is `template`.
fn template_job(agent: &Agent, job: &str, template: &str) -> String {
    r#"
job "@JOB@" {
  datacenters = ["dc1"]
  type        = "batch"

  group "g" {
    reschedule {
      attempts  = 0
      unlimited = false
    }

    restart {
      attempts = 0
      mode     = "fail"
    }

    task "t" {
      driver = "raw_exec"

      @TEMPLATE@

      config {
        command = "/bin/sh"
        args    = ["-c", "true", "@MARKER@"]
      }
    }
  }
}
"#
    .replace("@JOB@", job)
    .replace("@TEMPLATE@", template)
    .replace("@MARKER@", &agent.marker)
}

/// The display message of the task's `Task hook failed` event, once it failed.
#[track_caller]
fn template_failure(agent: &Agent, job: &str) -> String {
    wait_for(&format!("the task of {job} to fail"), |last| {
        let allocs = agent.job_allocs(job);
        *last = support::summarize_allocs(&allocs);
        let alloc = allocs.first()?;
        let state = &alloc["TaskStates"]["t"];
        (state["Failed"] == true).then_some(())?;
        state["Events"]
            .as_array()?
            .iter()
            .find(|e| e["Type"] == "Task hook failed")
            .and_then(|e| e["DisplayMessage"].as_str().map(str::to_owned))
    })
}

/// A destination outside the task directory is refused when the job is submitted
/// (the client refuses it too, for jobs that reach it otherwise: see the client's
/// tests), and a syntax error fails the task with an event naming the line.
#[test]
fn template_failures_are_refused_or_fail_the_task_with_a_clear_event() {
    let agent = Agent::start("svc-tmpl-fail");
    let escape = r#"template {
        data        = "x"
        destination = "../../etc/x"
      }"#;
    let file = agent.write_file("escape.nomad", &template_job(&agent, "escape", escape));
    let out = agent.cli(&["job", "run", path_str(&file)]);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(
        out.stderr
            .contains("destination \"../../etc/x\" escapes the task directory"),
        "{out:?}"
    );
    assert!(agent.job_allocs("escape").is_empty());

    let syntax = r#"template {
        data        = "line one\n{{ range nomadService \"redis\" }\n"
        destination = "local/broken.conf"
      }"#;
    assert_eq!(
        agent.run_job(&template_job(&agent, "syntax", syntax)),
        "syntax"
    );
    let message = template_failure(&agent, "syntax");
    assert!(
        message.starts_with("Template failed: template: local/broken.conf:2:"),
        "{message}"
    );
}

// Docker: the seed unchanged.

/// The seed `s3-nomad-service.nomad` with docker, unchanged: the app container
/// reaches redis's container through the address the catalog advertises (the node's,
/// so the agent binds the host's address rather than 127.0.0.1, which inside a
/// container is the container).
#[test]
fn scenario_3_docker_seed_unchanged() {
    if let Some(reason) = docker_seed_skip_reason() {
        eprintln!("skipped: {reason}");
        return;
    }
    let Some(host) = host_ipv4() else {
        eprintln!("skipped: the host has no address besides loopback");
        return;
    };
    let host = host.to_string();
    let agent = Agent::start_with("svc-dk-s3", &["-bind", &host]);
    let seed = repo_dir().join("examples/seeds/s3-nomad-service.nomad");
    let out = agent.cli(&["job", "run", path_str(&seed)]);
    assert_eq!(support::job_id_from_run(&out.success()), "hello");
    let redis = alloc_of(&agent, "hello", "redis");
    let redis_port = ports_of(&redis)["redis"];
    let app = alloc_of(&agent, "hello", "app");
    let app_id = app["ID"].as_str().expect("id").to_owned();
    let app_port = ports_of(&app)["app"];

    assert_eq!(
        wait_rendered(&agent, &app_id, 1),
        [format!("{host}:{redis_port}")]
    );
    let url = format!("http://{host}:{app_port}/");
    let body = wait_for("the app container to count visits in redis", |last| {
        let (code, body) = curl(&url);
        *last = format!("{code} {body}");
        (code == 200 && body.contains("visited")).then_some(body)
    });
    assert!(body.contains("times"), "{body}");
    agent.cli(&["job", "stop", "hello"]).success();
    wait_for("the catalog to forget redis", |last| {
        let all = instances(&agent, "redis");
        *last = format!("{all:?}");
        all.is_empty().then_some(())
    });
}
