//! End to end: discovery through the dev agent's Consul face, without Consul. The
//! seeds' scenario 3 with `provider = "consul"` and the `service` template (raw_exec,
//! and the docker seed unchanged when docker and its images are here); a service a
//! program outside any job registers through `PUT /v1/agent/service/register`,
//! followed by a job's template as its TTL check fails and passes and as it is
//! deregistered; and the KV store through the Consul port, read by a template with
//! `key` that holds its task back until the key is put and follows its changes.

mod support;

use std::process::{Child, Command, Stdio};

use serde_json::{Value, json};

use support::fixtures::{
    alloc_of, curl, docker_seed_skip_reason, host_ipv4, read_example, rendered_addrs, replace_once,
    repo_dir,
};
use support::{Agent, free_port, hello_app_bin, path_str, ports_of, processes_with_env, wait_for};

/// A GET on the Consul port, on the address the agent binds (`-bind` too, unlike
/// `Agent::consul`, which assumes 127.0.0.1), that must answer 200 with a JSON list.
#[track_caller]
fn consul_list(agent: &Agent, path: &str) -> Vec<Value> {
    let addr = std::net::SocketAddr::new(agent.http_addr.ip(), agent.consul_port);
    let r = support::http(addr, "GET", path, None);
    assert_eq!(r.status, 200, "GET {path}: {r:#?}");
    assert!(r.headers.contains_key("x-consul-index"), "{r:#?}");
    r.json().as_array().cloned().unwrap_or_default()
}

/// `address:port` of each entry of `/v1/health/service/:svc`, sorted.
fn health_addrs(entries: &[Value]) -> Vec<String> {
    let mut out: Vec<String> = entries
        .iter()
        .map(|e| {
            let s = &e["Service"];
            format!("{}:{}", s["Address"].as_str().unwrap_or(""), s["Port"])
        })
        .collect();
    out.sort();
    out
}

/// A file of an allocation, through `/v1/client/fs/cat` (`None` until it exists).
fn cat(agent: &Agent, alloc: &str, path: &str) -> Option<String> {
    let r = agent.get(&format!("/v1/client/fs/cat/{alloc}?path={path}"));
    (r.status == 200).then_some(r.body)
}

/// Waits until `cat` of the file satisfies `done`; returns the text.
#[track_caller]
fn wait_file(agent: &Agent, alloc: &str, path: &str, done: impl Fn(&str) -> bool) -> String {
    wait_for(&format!("{path} of {alloc}"), |last| {
        let text = cat(agent, alloc, path);
        *last = format!("{text:?}");
        text.filter(|t| done(t))
    })
}

/// The raw_exec scenario 3 job (Consul flavour) with the hello-app binary built for
/// the tests.
fn scenario_3_consul() -> String {
    let hcl = read_example("raw_exec/s3-consul-service.nomad");
    let bin = hello_app_bin().display().to_string();
    replace_once(&hcl, "\"/usr/local/bin/hello-app\"", &format!("{bin:?}"))
}

/// Scenario 3 with `provider = "consul"`: redis is in Consul's catalog and passing
/// health view with the port it runs on, the app's `service "redis"` template renders
/// its address, and the app counts visits in it; the job's stop empties the catalog.
#[test]
fn scenario_3_consul_the_app_finds_redis_through_the_service_template() {
    let agent = Agent::start("cd-s3");
    assert_eq!(agent.run_job(&scenario_3_consul()), "hello");
    let redis = alloc_of(&agent, "hello", "redis");
    let redis_id = redis["ID"].as_str().expect("id").to_owned();
    let redis_port = ports_of(&redis)["redis"];
    let redis_addr = format!("127.0.0.1:{redis_port}");
    let app = alloc_of(&agent, "hello", "app");
    let app_id = app["ID"].as_str().expect("id").to_owned();
    let app_port = ports_of(&app)["app"];

    // Phase 1: Consul's views of the catalog: health (passing) and catalog.
    let passing = wait_for("redis passing in Consul's health view", |last| {
        let entries = consul_list(&agent, "/v1/health/service/redis?passing");
        *last = format!("{entries:?}");
        (health_addrs(&entries) == [redis_addr.as_str()]).then_some(entries)
    });
    let service_id = format!("_nomad-task-{redis_id}-group-redis-redis-redis");
    assert_eq!(passing[0]["Service"]["ID"], service_id.as_str());
    assert_eq!(passing[0]["Service"]["Service"], "redis");
    let statuses: Vec<&Value> = passing[0]["Checks"]
        .as_array()
        .expect("checks")
        .iter()
        .map(|c| &c["Status"])
        .collect();
    assert!(statuses.iter().all(|s| **s == "passing"), "{passing:?}");
    let catalog = consul_list(&agent, "/v1/catalog/service/redis");
    assert_eq!(catalog.len(), 1, "{catalog:?}");
    assert_eq!(catalog[0]["ServiceID"], service_id.as_str());
    assert_eq!(catalog[0]["ServicePort"], redis_port);
    assert_eq!(catalog[0]["ServiceAddress"], "127.0.0.1");
    let services = agent.consul("GET", "/v1/catalog/services", None).json();
    assert!(
        services.get("redis").is_some() && services.get("app").is_some(),
        "{services}"
    );

    // Phase 2: the template rendered redis's address, and the app runs with it (the
    // template may have restarted it once redis registered).
    let text = wait_file(&agent, &app_id, "app/secrets/config.env", |t| {
        rendered_addrs(t) == [redis_addr.as_str()]
    });
    assert_eq!(rendered_addrs(&text), [redis_addr.as_str()]);
    wait_for("the app running with DEMO_REDIS_ADDR", |last| {
        let procs = processes_with_env("DEMO_REDIS_ADDR", &redis_addr);
        *last = format!("{procs:?}");
        (!procs.is_empty()).then_some(())
    });
    let url = format!("http://127.0.0.1:{app_port}/");
    let body = wait_for("the app to count visits in redis", |last| {
        let (code, body) = curl(&url);
        *last = format!("{code} {body}");
        (code == 200 && body.contains("visited")).then_some(body)
    });
    assert!(body.contains("times"), "{body}");

    // Phase 3: the job stops: Consul's catalog forgets it.
    agent.cli(&["job", "stop", "hello"]).success();
    wait_for("Consul's catalog to forget redis", |last| {
        let catalog = consul_list(&agent, "/v1/catalog/service/redis");
        *last = format!("{catalog:?}");
        catalog.is_empty().then_some(())
    });
}

/// A redis-server the test runs itself (outside any job), killed on drop.
struct OwnRedis {
    child: Child,
    port: u16,
}

impl OwnRedis {
    fn start() -> OwnRedis {
        let port = free_port();
        let child = Command::new("/usr/bin/redis-server")
            .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
            .args(["--save", "", "--appendonly", "no"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-server");
        let redis = OwnRedis { child, port };
        wait_for("our redis-server to answer", |last| {
            *last = redis.ping();
            (last == "PONG").then_some(())
        });
        redis
    }

    /// `redis-cli ping` at `address:port` (the rendered one).
    fn ping_at(addr: &str) -> String {
        let (host, port) = addr.rsplit_once(':').expect("address:port");
        let out = Command::new("redis-cli")
            .args(["-h", host, "-p", port, "ping"])
            .output()
            .expect("run redis-cli");
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    fn ping(&self) -> String {
        Self::ping_at(&format!("127.0.0.1:{}", self.port))
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A long-running raw_exec job whose task holds one template, `change_mode = "noop"`,
/// rendered into `local/out.txt`.
fn watcher_job(agent: &Agent, job: &str, template: &str) -> String {
    r#"
job "@JOB@" {
  datacenters = ["dc1"]

  group "g" {
    task "t" {
      driver = "raw_exec"

      template {
        data        = <<EOT
@TEMPLATE@
EOT
        destination = "local/out.txt"
        change_mode = "noop"
      }

      config {
        command = "/bin/sh"
        args    = ["-c", "sleep 3600", "@MARKER@"]
      }

      resources {
        cpu    = 20
        memory = 16
      }
    }
  }
}
"#
    .replace("@JOB@", job)
    .replace("@TEMPLATE@", template)
    .replace("@MARKER@", &agent.marker)
}

/// The addresses the template rendered (one `address:port` a line).
fn lines(text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

/// A program outside any job registers its redis through the Consul agent API, with a
/// TTL check: a job's `service` template finds it (and the address answers), a failed
/// check takes it out of `?passing` and of the file, a passed one brings it back, and
/// deregistering removes it.
#[test]
fn a_service_registered_through_the_consul_api_is_discovered_and_followed_by_a_template() {
    let agent = Agent::start("cd-agent-reg");
    let redis = OwnRedis::start();
    let own = format!("127.0.0.1:{}", redis.port);

    // Phase 1: registered, its TTL check passing from the start.
    let body = json!({
        "Name": "ext-redis", "ID": "ext-redis-1", "Tags": ["cache"],
        "Address": "127.0.0.1", "Port": redis.port,
        "Check": {"CheckID": "ext-redis-ttl", "TTL": "10m", "Status": "passing"},
    });
    let r = agent.consul("PUT", "/v1/agent/service/register", Some(&body.to_string()));
    assert_eq!(r.status, 200, "{r:#?}");
    let passing = consul_list(&agent, "/v1/health/service/ext-redis?passing");
    assert_eq!(health_addrs(&passing), [own.as_str()]);

    // Phase 2: a job's template discovers it, and what it rendered answers.
    let template = r#"{{ range service "cache.ext-redis" }}{{ .Address }}:{{ .Port }}
{{ end }}"#;
    assert_eq!(
        agent.run_job(&watcher_job(&agent, "finder", template)),
        "finder"
    );
    let alloc = alloc_of(&agent, "finder", "g");
    let alloc_id = alloc["ID"].as_str().expect("id").to_owned();
    let text = wait_file(&agent, &alloc_id, "t/local/out.txt", |t| {
        lines(t) == [own.as_str()]
    });
    assert_eq!(OwnRedis::ping_at(&lines(&text)[0]), "PONG");

    // Phase 3: the check fails: out of `?passing` and out of the file; still listed
    // with every health.
    let r = agent.consul("PUT", "/v1/agent/check/fail/ext-redis-ttl", None);
    assert_eq!(r.status, 200, "{r:#?}");
    assert!(consul_list(&agent, "/v1/health/service/ext-redis?passing").is_empty());
    let all = consul_list(&agent, "/v1/health/service/ext-redis");
    assert_eq!(health_addrs(&all), [own.as_str()]);
    wait_file(&agent, &alloc_id, "t/local/out.txt", |t| {
        lines(t).is_empty()
    });

    // Phase 4: it passes again: back in both.
    let r = agent.consul("PUT", "/v1/agent/check/pass/ext-redis-ttl", None);
    assert_eq!(r.status, 200, "{r:#?}");
    let passing = consul_list(&agent, "/v1/health/service/ext-redis?passing");
    assert_eq!(health_addrs(&passing), [own.as_str()]);
    wait_file(&agent, &alloc_id, "t/local/out.txt", |t| {
        lines(t) == [own.as_str()]
    });

    // Phase 5: deregistered: gone from Consul's views and from the file. The task
    // ran on throughout (noop): one start, no restart.
    let r = agent.consul("PUT", "/v1/agent/service/deregister/ext-redis-1", None);
    assert_eq!(r.status, 200, "{r:#?}");
    assert!(consul_list(&agent, "/v1/catalog/service/ext-redis").is_empty());
    wait_file(&agent, &alloc_id, "t/local/out.txt", |t| {
        lines(t).is_empty()
    });
    let state = &agent.alloc(&alloc_id)["TaskStates"]["t"];
    assert_eq!(state["State"], "running", "{state}");
    assert_eq!(state["Restarts"], 0, "{state}");
    agent.cli(&["job", "stop", "finder"]).success();
}

/// `GET /v1/kv/:key` answered 200: the entry's `ModifyIndex`.
#[track_caller]
fn modify_index(agent: &Agent, key: &str) -> u64 {
    let r = agent.consul("GET", &format!("/v1/kv/{key}"), None);
    assert_eq!(r.status, 200, "{r:#?}");
    r.json()[0]["ModifyIndex"]
        .as_u64()
        .unwrap_or_else(|| panic!("no ModifyIndex: {r:#?}"))
}

/// A `PUT /v1/kv/...` (or DELETE) answering `true` or `false`.
#[track_caller]
fn kv_write(agent: &Agent, method: &str, path: &str, body: Option<&str>) -> bool {
    let r = agent.consul(method, path, body);
    assert_eq!(r.status, 200, "{method} {path}: {r:#?}");
    r.json()
        .as_bool()
        .unwrap_or_else(|| panic!("not a boolean: {r:#?}"))
}

/// The KV store through the Consul port (get, put, check-and-set, delete), and a
/// template reading it with `key`: its task starts only once the key is put, and the
/// file follows the key's changes without a restart (change_mode noop).
#[test]
fn kv_through_the_consul_port_holds_back_and_then_follows_a_key_template() {
    let agent = Agent::start("cd-kv");
    let template = r#"greeting={{ key "config/greeting" }}"#;
    assert_eq!(
        agent.run_job(&watcher_job(&agent, "greeter", template)),
        "greeter"
    );

    // Phase 1: no key: the task waits, saying for what.
    let r = agent.consul("GET", "/v1/kv/config/greeting", None);
    assert_eq!(r.status, 404, "{r:#?}");
    let alloc_id = wait_for("the task to say what it waits for", |last| {
        let allocs = agent.job_allocs("greeter");
        *last = support::summarize_allocs(&allocs);
        let alloc = allocs.first()?;
        let state = &alloc["TaskStates"]["t"];
        let waiting = state["Events"].as_array()?.iter().any(|e| {
            e["Type"] == "Template" && e["DisplayMessage"] == "Missing: kv.get(config/greeting)"
        });
        waiting.then(|| alloc["ID"].as_str().map(str::to_owned))?
    });
    let alloc = agent.alloc(&alloc_id);
    assert_eq!(alloc["ClientStatus"], "pending", "{alloc}");
    assert_eq!(alloc["TaskStates"]["t"]["State"], "pending");
    assert_eq!(cat(&agent, &alloc_id, "t/local/out.txt"), None);

    // Phase 2: put only if absent: the first wins, the second does not apply.
    assert!(kv_write(
        &agent,
        "PUT",
        "/v1/kv/config/greeting?cas=0",
        Some("hello")
    ));
    assert!(!kv_write(
        &agent,
        "PUT",
        "/v1/kv/config/greeting?cas=0",
        Some("again")
    ));
    let r = agent.consul("GET", "/v1/kv/config/greeting?raw", None);
    assert_eq!(r.body, "hello");

    // Phase 3: the task starts with the key rendered.
    agent.wait_alloc_status(&alloc_id, "running");
    assert_eq!(
        cat(&agent, &alloc_id, "t/local/out.txt").as_deref(),
        Some("greeting=hello\n")
    );

    // Phase 4: check-and-set: a stale index does not apply, the current one does;
    // the file follows, and the task is neither restarted nor started again.
    let index = modify_index(&agent, "config/greeting");
    assert!(!kv_write(
        &agent,
        "PUT",
        &format!("/v1/kv/config/greeting?cas={}", index + 1000),
        Some("stale")
    ));
    assert!(kv_write(
        &agent,
        "PUT",
        &format!("/v1/kv/config/greeting?cas={index}"),
        Some("bonjour")
    ));
    assert!(modify_index(&agent, "config/greeting") > index);
    wait_file(&agent, &alloc_id, "t/local/out.txt", |t| {
        t == "greeting=bonjour\n"
    });
    // A plain put, and another key under the same folder: only the first shows.
    assert!(kv_write(
        &agent,
        "PUT",
        "/v1/kv/config/greeting",
        Some("hola")
    ));
    assert!(kv_write(&agent, "PUT", "/v1/kv/config/other", Some("x")));
    wait_file(&agent, &alloc_id, "t/local/out.txt", |t| {
        t == "greeting=hola\n"
    });
    let keys = agent.consul("GET", "/v1/kv/config/?keys", None).json();
    assert_eq!(keys, json!(["config/greeting", "config/other"]));
    let state = &agent.alloc(&alloc_id)["TaskStates"]["t"];
    assert_eq!(state["State"], "running", "{state}");
    assert_eq!(state["Restarts"], 0, "{state}");
    let started = state["Events"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["Type"] == "Started")
        .count();
    assert_eq!(started, 1, "{state}");

    // Phase 5: deleted (check-and-set again): `key` waits for it to come back, so the
    // file keeps the last value and the task runs on.
    let index = modify_index(&agent, "config/greeting");
    assert!(!kv_write(
        &agent,
        "DELETE",
        &format!("/v1/kv/config/greeting?cas={}", index + 1000),
        None
    ));
    assert!(kv_write(
        &agent,
        "DELETE",
        &format!("/v1/kv/config/greeting?cas={index}"),
        None
    ));
    assert_eq!(
        agent.consul("GET", "/v1/kv/config/greeting", None).status,
        404
    );
    assert_eq!(
        cat(&agent, &alloc_id, "t/local/out.txt").as_deref(),
        Some("greeting=hola\n")
    );
    assert_eq!(agent.alloc(&alloc_id)["ClientStatus"], "running");
    agent.cli(&["job", "stop", "greeter"]).success();
}

// Docker: the seed unchanged.

/// The seed `s3-consul-service.nomad` with docker, unchanged: redis in Consul's
/// passing view, and the app container reaching it through the address its `service`
/// template rendered (the node's: the agent binds the host's address).
#[test]
fn scenario_3_consul_docker_seed_unchanged() {
    if let Some(reason) = docker_seed_skip_reason() {
        eprintln!("skipped: {reason}");
        return;
    }
    let Some(host) = host_ipv4() else {
        eprintln!("skipped: the host has no address besides loopback");
        return;
    };
    let host = host.to_string();
    let agent = Agent::start_with("cd-dk-s3", &["-bind", &host]);
    let seed = repo_dir().join("examples/seeds/s3-consul-service.nomad");
    let out = agent.cli(&["job", "run", path_str(&seed)]);
    assert_eq!(support::job_id_from_run(&out.success()), "hello");
    let redis = alloc_of(&agent, "hello", "redis");
    let redis_addr = format!("{host}:{}", ports_of(&redis)["redis"]);
    let app = alloc_of(&agent, "hello", "app");
    let app_id = app["ID"].as_str().expect("id").to_owned();
    let app_port = ports_of(&app)["app"];

    wait_for("redis passing in Consul's health view", |last| {
        let entries = consul_list(&agent, "/v1/health/service/redis?passing");
        *last = format!("{entries:?}");
        (health_addrs(&entries) == [redis_addr.as_str()]).then_some(())
    });
    wait_file(&agent, &app_id, "app/secrets/config.env", |t| {
        rendered_addrs(t) == [redis_addr.as_str()]
    });
    let url = format!("http://{host}:{app_port}/");
    let body = wait_for("the app container to count visits in redis", |last| {
        let (code, body) = curl(&url);
        *last = format!("{code} {body}");
        (code == 200 && body.contains("visited")).then_some(body)
    });
    assert!(body.contains("times"), "{body}");
    agent.cli(&["job", "stop", "hello"]).success();
    wait_for("Consul's catalog to forget redis", |last| {
        let all = consul_list(&agent, "/v1/catalog/service/redis");
        *last = format!("{all:?}");
        all.is_empty().then_some(())
    });
}
