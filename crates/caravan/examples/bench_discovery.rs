//! Native service discovery on a dev agent (issue 5; DESIGN.md section 6): how soon a
//! running task's instance is visible in `/v1/service/<name>`, how soon a catalog
//! change reaches a template's file on disk, and what the agent's CPU pays per catalog
//! change with a large catalog watched by many templates.
//!
//! Starts the release `caravan` binary as `caravan agent -dev` on ports 0 (Nomad's and
//! Consul's APIs) in a temporary data dir, then:
//!
//! 1. **Task running -> instance visible** (target p99 <= 100 ms), `VISIBLE_RUNS` times:
//!    registers a distinct raw_exec job (`/bin/sleep 600`) whose group advertises a
//!    `provider = "nomad"` service of its own name on a dynamic port, and follows
//!    `/v1/service/<name>` with blocking queries until the instance is there. One sample
//!    is from the task's `Started` event (the client's timestamp, this machine's clock)
//!    to that answer; the other from the job's registration. The job is then purged.
//! 2. **Catalog change -> template re-rendered on disk** (target p99 <= 200 ms): one
//!    allocation renders two templates with `change_mode = "noop"` and `splay = "0s"`:
//!    `nomadService "bench-x"` and Consul's `service "bench-y"`. `CHANGES` times each:
//!    the job providing `bench-x` is scaled 1 <-> 2 (`PUT /v1/jobs` with the new
//!    count), and an instance of `bench-y` is registered or deregistered through the
//!    Consul agent API (the change itself: the cleanest trigger). A sample is from the
//!    request until the file, read from the agent's data dir, lists the new instances
//!    (polled every 0.5 ms); for `bench-x`, a blocking query on `/v1/service/bench-x`
//!    in a second thread also splits it at the moment the catalog showed the change.
//! 3. **Agent CPU per catalog change at scale**: `SERVICES` services x `INSTANCES`
//!    instances registered through the Consul agent API, watched by `TEMPLATES`
//!    templates (each reads two services, so every service is watched) in
//!    `TEMPLATE_ALLOCS` allocations; then `SCALE_CHANGES` changes (an extra instance
//!    of one service registered, then deregistered), each awaited on disk. The agent's
//!    user + system CPU time (`/proc/<pid>/stat`) over the changes, divided by their
//!    number, is the figure; the dev agent is server and client in one process, so it
//!    includes the client's re-rendering. The idle rate is printed beside it.
//!
//! `cargo build --release -p caravan --bins --examples && target/release/examples/bench_discovery`
//!
//! `BENCH_AGENT_LOG_LEVEL=debug` runs the agent at that level and keeps its log (the path
//! is printed), to see where the time goes.

#[path = "support/mod.rs"]
mod support;

use std::net::SocketAddr;
use std::path::Path;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::agent::Agent;
use support::http::Http;
use support::nomad::{BLOCK_WAIT, stop_job, stop_wait, wait_for_ready_node, wait_running};
use support::stats::{missed, ms, percentile};
use support::{Res, string, unix_nanos};

/// Part 1: how many jobs are started.
const VISIBLE_RUNS: usize = 50;
/// Part 2: how many changes of each kind.
const CHANGES: usize = 30;
/// Part 3: the catalog and its watchers (issue 5: 1,000 services x 5 instances, 500
/// templates).
const SERVICES: usize = 1000;
const INSTANCES: usize = 5;
const TEMPLATES: usize = 500;
const TEMPLATE_ALLOCS: usize = 10;
const SCALE_CHANGES: usize = 200;
/// How long the idle CPU rate is measured.
const IDLE_FOR: Duration = Duration::from_secs(3);
/// The targets (DESIGN.md section 6, issue 5).
const TARGET_VISIBLE: Duration = Duration::from_millis(100);
const TARGET_RENDERED: Duration = Duration::from_millis(200);
/// How long one step may take before the bench gives up.
const STEP_DEADLINE: Duration = Duration::from_secs(60);
/// How often a rendered file is read while waiting for it to change.
const FILE_POLL: Duration = Duration::from_micros(500);
/// How long the agent gets to print its addresses, and to exit after SIGINT.
const AGENT_GRACE: Duration = Duration::from_secs(30);

fn main() -> ExitCode {
    support::agent::run("bench_discovery", AGENT_GRACE, bench)
}

fn bench(agent: &Agent) -> Res<()> {
    let mut http = Http::new(agent.addr);
    let mut consul = Http::new(agent.consul_addr);
    wait_for_ready_node(&mut http, AGENT_GRACE)?;
    visible(&mut http)?;
    rendered(agent, &mut http, &mut consul)?;
    at_scale(agent, &mut http, &mut consul)?;
    Ok(())
}

// ---- 1. Task running -> instance visible ----

fn visible(http: &mut Http) -> Res<()> {
    let mut from_started = Vec::with_capacity(VISIBLE_RUNS);
    let mut from_register = Vec::with_capacity(VISIBLE_RUNS);
    // Runs whose instance was visible before the task's `Started` event (counted as 0).
    let mut early = 0;
    for run in 0..VISIBLE_RUNS {
        let id = format!("bench-svc-{}-{run}", std::process::id());
        let (started, registered, alloc) =
            visible_once(http, &id).map_err(|e| format!("visible, run {run}: {e}"))?;
        let started = u64::try_from(started).unwrap_or_else(|_| {
            early += 1;
            0
        });
        from_started.push(Duration::from_nanos(started));
        from_register.push(registered);
        stop_job(http, &id, &alloc, STEP_DEADLINE)
            .map_err(|e| format!("visible, run {run}: stopping: {e}"))?;
    }
    from_started.sort();
    from_register.sort();
    let p99 = percentile(&from_started, 99);
    println!(
        "task running -> instance visible in /v1/service: p50 {} ms, p99 {} ms, max {} ms over {VISIBLE_RUNS} runs (target p99 <= {} ms){}",
        ms(percentile(&from_started, 50)),
        ms(p99),
        ms(from_started[from_started.len() - 1]),
        ms(TARGET_VISIBLE),
        missed(p99, TARGET_VISIBLE),
    );
    println!(
        "  job registered -> instance visible: p50 {} ms, p99 {} ms; visible before the task's Started event: {early} of {VISIBLE_RUNS}",
        ms(percentile(&from_register, 50)),
        ms(percentile(&from_register, 99)),
    );
    Ok(())
}

/// One job with a service: (task started -> visible in nanoseconds, registered ->
/// visible, its allocation).
fn visible_once(http: &mut Http, id: &str) -> Res<(i64, Duration, String)> {
    let hcl = service_job(id, "web", 1, id);
    let job = parse_job(http, &hcl)?;
    let start = Instant::now();
    let index = register_job(http, &job)?;
    let (seen_at, seen) = wait_service(http, id, index, |instances| !instances.is_empty())?;
    let registered = seen - start;
    let alloc = string(&seen_at.1[0]["AllocID"]);
    let started = task_event_time(http, &alloc, "sleep", "Started")?;
    Ok((seen_at.0 - started, registered, alloc))
}

/// Follows `/v1/service/<name>` from `index` until `done` holds for its instances:
/// (the unix time of that answer and the instances, the instant of that answer).
fn wait_service(
    http: &mut Http,
    name: &str,
    mut index: u64,
    done: impl Fn(&[Value]) -> bool,
) -> Res<((i64, Vec<Value>), Instant)> {
    let start = Instant::now();
    loop {
        let path = format!("/v1/service/{name}?index={index}&wait={BLOCK_WAIT}");
        let (next, instances) = http.get_json(&path)?;
        let (now, at) = (Instant::now(), unix_nanos());
        let instances = instances.as_array().cloned().unwrap_or_default();
        if done(&instances) {
            return Ok(((at, instances), now));
        }
        if start.elapsed() > STEP_DEADLINE {
            return Err(format!(
                "service {name}: not there after {STEP_DEADLINE:?}: {instances:?}"
            ));
        }
        index = index.max(next);
    }
}

/// The time of the first `kind` event of an allocation's task, once it has one.
fn task_event_time(http: &mut Http, alloc: &str, task: &str, kind: &str) -> Res<i64> {
    let start = Instant::now();
    let mut index = 0;
    loop {
        let path = format!("/v1/allocation/{alloc}?index={index}&wait={BLOCK_WAIT}");
        let (next, alloc) = http.get_json(&path)?;
        let time = alloc["TaskStates"][task]["Events"]
            .as_array()
            .and_then(|events| events.iter().find(|e| e["Type"] == kind))
            .and_then(|e| e["Time"].as_i64());
        if let Some(time) = time {
            return Ok(time);
        }
        if start.elapsed() > STEP_DEADLINE {
            return Err(format!("no {kind} event after {STEP_DEADLINE:?}"));
        }
        index = index.max(next);
    }
}

// ---- 2. Catalog change -> template re-rendered ----

fn rendered(agent: &Agent, http: &mut Http, consul: &mut Http) -> Res<()> {
    let pid = std::process::id();
    let provider = format!("bench-x-{pid}");
    let watcher = format!("bench-watch-{pid}");
    let jobs = [
        parse_job(http, &service_job(&provider, "x", 1, "bench-x"))?,
        parse_job(http, &service_job(&provider, "x", 2, "bench-x"))?,
    ];
    let index = register_job(http, &jobs[0])?;
    wait_service(http, "bench-x", index, |i| i.len() == 1)?;

    let templates = [
        ("x.txt", r#"nomadService "bench-x""#),
        ("y.txt", r#"service "bench-y""#),
    ]
    .map(|(file, query)| template_block(file, &[query]));
    let watch_job = parse_job(http, &task_job(&watcher, &templates.concat()))?;
    register_job(http, &watch_job)?;
    let alloc = running_alloc(http, &watcher)?;
    let local = agent
        .data_dir
        .join("alloc")
        .join(&alloc)
        .join("t")
        .join("local");
    let (x_file, y_file) = (local.join("x.txt"), local.join("y.txt"));
    wait_file(&x_file, |text| lines(text) == 1)?;

    // The catalog as a blocking query sees it, in a thread of its own: when each
    // answer came, and how many instances it listed.
    let seen: Arc<Mutex<Vec<(Instant, usize)>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let follower = {
        let (seen, stop, addr) = (seen.clone(), stop.clone(), agent.addr);
        std::thread::spawn(move || follow_service(addr, "bench-x", &seen, &stop))
    };
    let mut x_total = Vec::with_capacity(CHANGES);
    let mut x_catalog = Vec::with_capacity(CHANGES);
    let mut x_render = Vec::with_capacity(CHANGES);
    let mut result = Ok(());
    for change in 0..CHANGES {
        let count = if change % 2 == 0 { 2 } else { 1 };
        let step = (|| -> Res<()> {
            let start = Instant::now();
            register_job(http, &jobs[count - 1])?;
            let done = wait_file(&x_file, |text| lines(text) == count)?;
            x_total.push(done - start);
            let shown = seen
                .lock()
                .map_err(|_| "the catalog follower panicked")?
                .iter()
                .find(|(at, n)| *at >= start && *n == count)
                .map(|(at, _)| *at);
            if let Some(shown) = shown {
                x_catalog.push(shown.saturating_duration_since(start));
                x_render.push(done.saturating_duration_since(shown));
            }
            wait_settled(http, &provider, count)
        })();
        if let Err(e) = step {
            result = Err(format!("scaling bench-x to {count} (change {change}): {e}"));
            break;
        }
    }
    stop.store(true, Ordering::SeqCst);
    let followed = follower
        .join()
        .map_err(|_| "the catalog follower panicked".to_owned())?;
    result.and(followed)?;

    let mut y_total = Vec::with_capacity(CHANGES);
    for change in 0..CHANGES {
        let port = 30000 + change;
        let start = Instant::now();
        let expect = if change % 2 == 0 {
            let body = json!({
                "Name": "bench-y", "ID": "bench-y-1", "Address": "127.0.0.1", "Port": port,
            });
            consul_put(consul, "/v1/agent/service/register", Some(&body))?;
            format!("127.0.0.1:{port}")
        } else {
            consul_put(consul, "/v1/agent/service/deregister/bench-y-1", None)?;
            String::new()
        };
        let done = wait_file(&y_file, |text| text.trim() == expect)
            .map_err(|e| format!("bench-y change {change}: {e}"))?;
        y_total.push(done - start);
    }

    for all in [&mut x_total, &mut x_catalog, &mut x_render, &mut y_total] {
        all.sort();
    }
    let worst = percentile(&x_total, 99).max(percentile(&y_total, 99));
    println!(
        "catalog change -> template re-rendered on disk: nomadService (job scaled 1<->2) p50 {} ms, p99 {} ms; service (Consul agent register/deregister) p50 {} ms, p99 {} ms; {CHANGES} changes each (target p99 <= {} ms){}",
        ms(percentile(&x_total, 50)),
        ms(percentile(&x_total, 99)),
        ms(percentile(&y_total, 50)),
        ms(percentile(&y_total, 99)),
        ms(TARGET_RENDERED),
        missed(worst, TARGET_RENDERED),
    );
    if !x_catalog.is_empty() {
        println!(
            "  nomadService split at the catalog's answer ({} of {CHANGES}): job update -> catalog p50 {} ms, p99 {} ms; catalog -> file p50 {} ms, p99 {} ms",
            x_catalog.len(),
            ms(percentile(&x_catalog, 50)),
            ms(percentile(&x_catalog, 99)),
            ms(percentile(&x_render, 50)),
            ms(percentile(&x_render, 99)),
        );
    }
    purge(http, &watcher)?;
    purge(http, &provider)?;
    Ok(())
}

/// Blocking queries on `/v1/service/<name>` until `stop`, recording each answer.
fn follow_service(
    addr: SocketAddr,
    name: &str,
    seen: &Mutex<Vec<(Instant, usize)>>,
    stop: &AtomicBool,
) -> Res<()> {
    let mut http = Http::new(addr);
    let mut index = 0;
    while !stop.load(Ordering::SeqCst) {
        let path = format!("/v1/service/{name}?index={index}&wait=1s");
        let (next, instances) = http.get_json(&path)?;
        let at = Instant::now();
        let n = instances.as_array().map_or(0, Vec::len);
        seen.lock()
            .map_err(|_| "the catalog record is poisoned")?
            .push((at, n));
        index = index.max(next);
    }
    Ok(())
}

/// Waits until the job has exactly `count` running allocations that should run and no
/// other allocation still pending or running, so the next change starts from rest.
fn wait_settled(http: &mut Http, job: &str, count: usize) -> Res<()> {
    let start = Instant::now();
    let mut index = 0;
    loop {
        let path = format!("/v1/job/{job}/allocations?index={index}&wait={BLOCK_WAIT}");
        let (next, allocs) = http.get_json(&path)?;
        let allocs = allocs.as_array().cloned().unwrap_or_default();
        let running = allocs
            .iter()
            .filter(|a| a["DesiredStatus"] == "run" && a["ClientStatus"] == "running")
            .count();
        let live = allocs
            .iter()
            .filter(|a| matches!(a["ClientStatus"].as_str(), Some("pending" | "running")))
            .count();
        if running == count && live == count {
            return Ok(());
        }
        if start.elapsed() > STEP_DEADLINE {
            return Err(format!(
                "{job}: not settled at {count} after {STEP_DEADLINE:?}"
            ));
        }
        index = index.max(next);
    }
}

// ---- 3. CPU per change at scale ----

fn at_scale(agent: &Agent, http: &mut Http, consul: &mut Http) -> Res<()> {
    let service = |s: usize| format!("bench-c-{s:04}");
    let per_alloc = TEMPLATES / TEMPLATE_ALLOCS;
    let cpu_start = agent.cpu()?;
    let start = Instant::now();
    for s in 0..SERVICES {
        for i in 0..INSTANCES {
            let body = json!({
                "Name": service(s), "ID": format!("{}-{i}", service(s)),
                "Address": "127.0.0.1", "Port": 10000 + s * INSTANCES + i,
            });
            consul_put(consul, "/v1/agent/service/register", Some(&body))?;
        }
    }
    let registered = start.elapsed();
    let register_cpu = agent.cpu()? - cpu_start;
    let registrations = SERVICES * INSTANCES;

    // Template t reads services 2t and 2t+1 (of TEMPLATES * 2 = SERVICES).
    let pid = std::process::id();
    let mut allocs = Vec::with_capacity(TEMPLATE_ALLOCS);
    let start = Instant::now();
    for a in 0..TEMPLATE_ALLOCS {
        let blocks: String = (a * per_alloc..(a + 1) * per_alloc)
            .map(|t| {
                let reads = [2 * t, 2 * t + 1].map(|s| format!(r#"service "{}""#, service(s)));
                template_block(
                    &format!("t-{t:04}.txt"),
                    &reads.each_ref().map(String::as_str),
                )
            })
            .collect();
        let job = parse_job(http, &task_job(&format!("bench-tmpl-{pid}-{a}"), &blocks))?;
        register_job(http, &job)?;
    }
    for a in 0..TEMPLATE_ALLOCS {
        allocs.push(running_alloc(http, &format!("bench-tmpl-{pid}-{a}"))?);
    }
    let started = start.elapsed();
    let file = |t: usize| {
        agent
            .data_dir
            .join("alloc")
            .join(&allocs[t / per_alloc])
            .join("t")
            .join("local")
            .join(format!("t-{t:04}.txt"))
    };
    for t in 0..TEMPLATES {
        wait_file(&file(t), |text| lines(text) == 2 * INSTANCES)?;
    }

    let idle_start = agent.cpu()?;
    std::thread::sleep(IDLE_FOR);
    let idle = (agent.cpu()? - idle_start).div_f64(IDLE_FOR.as_secs_f64());

    let mut latencies = Vec::with_capacity(SCALE_CHANGES);
    let cpu_start = agent.cpu()?;
    let start = Instant::now();
    for change in 0..SCALE_CHANGES {
        // Pairs of changes on one service: an extra instance, then without it; 7 is
        // coprime with SERVICES, so the pairs visit distinct services.
        let s = (change / 2 * 7) % SERVICES;
        let id = format!("{}-extra", service(s));
        let begin = Instant::now();
        let expect = if change % 2 == 0 {
            let body = json!({
                "Name": service(s), "ID": id, "Address": "127.0.0.1", "Port": 9000,
            });
            consul_put(consul, "/v1/agent/service/register", Some(&body))?;
            2 * INSTANCES + 1
        } else {
            consul_put(consul, &format!("/v1/agent/service/deregister/{id}"), None)?;
            2 * INSTANCES
        };
        let done = wait_file(&file(s / 2), |text| lines(text) == expect)
            .map_err(|e| format!("change {change} of {}: {e}", service(s)))?;
        latencies.push(done - begin);
    }
    let took = start.elapsed();
    let cpu = agent.cpu()? - cpu_start;
    latencies.sort();
    let per_change = cpu.div_f64(SCALE_CHANGES as f64);
    let idle_share = idle
        .mul_f64(took.as_secs_f64())
        .div_f64(SCALE_CHANGES as f64);
    println!(
        "catalog: {SERVICES} services x {INSTANCES} instances, {TEMPLATES} templates ({TEMPLATE_ALLOCS} allocations x {per_alloc}, 2 services each), {SCALE_CHANGES} changes: agent CPU {} ms per change (server and client; {} ms of it the idle rate of {} ms/s), change -> file p50 {} ms, p99 {} ms",
        ms(per_change),
        ms(idle_share),
        ms(idle),
        ms(percentile(&latencies, 50)),
        ms(percentile(&latencies, 99)),
    );
    println!(
        "  setup: {registrations} Consul agent registrations in {} ms ({:.0}/s, agent CPU {} us per registration, no template watching yet); {TEMPLATE_ALLOCS} template allocations running in {} ms",
        ms(registered),
        registrations as f64 / registered.as_secs_f64(),
        register_cpu.div_f64(registrations as f64).as_micros(),
        ms(started),
    );
    for a in 0..TEMPLATE_ALLOCS {
        purge(http, &format!("bench-tmpl-{pid}-{a}"))?;
    }
    Ok(())
}

// ---- Jobs, templates, files ----

/// A `template` block rendering every instance of each `reads` (template function
/// calls) as `address:port` lines into `local/<file>`.
fn template_block(file: &str, reads: &[&str]) -> String {
    let data: String = reads
        .iter()
        .map(|read| {
            format!(r"{{{{ range {read} }}}}{{{{ .Address }}}}:{{{{ .Port }}}}\n{{{{ end }}}}")
        })
        .collect();
    format!(
        r#"
      template {{
        data        = "{}"
        destination = "local/{file}"
        change_mode = "noop"
        splay       = "0s"
      }}
"#,
        data.replace('"', r#"\""#)
    )
}

/// A job whose group `group` runs `count` raw_exec tasks (`/bin/sleep 600`) that
/// advertise `service` (`provider = "nomad"`) on a dynamic port.
fn service_job(id: &str, group: &str, count: usize, service: &str) -> String {
    format!(
        r#"job "{id}" {{
  datacenters = ["dc1"]
  group "{group}" {{
    count = {count}
    network {{
      port "http" {{}}
    }}
    service {{
      name     = "{service}"
      provider = "nomad"
      port     = "http"
    }}
    task "sleep" {{
      driver = "raw_exec"
      config {{
        command = "/bin/sleep"
        args    = ["600"]
      }}
      resources {{
        cpu    = 20
        memory = 16
      }}
    }}
  }}
}}
"#
    )
}

/// A job of one raw_exec task `t` (`/bin/sleep 600`) with `templates`.
fn task_job(id: &str, templates: &str) -> String {
    format!(
        r#"job "{id}" {{
  datacenters = ["dc1"]
  group "g" {{
    task "t" {{
      driver = "raw_exec"
      config {{
        command = "/bin/sleep"
        args    = ["600"]
      }}
{templates}
      resources {{
        cpu    = 20
        memory = 32
      }}
    }}
  }}
}}
"#
    )
}

/// Non-empty lines.
fn lines(text: &str) -> usize {
    text.lines().filter(|l| !l.trim().is_empty()).count()
}

/// Reads `path` every `FILE_POLL` until `done` holds for its content; the instant it
/// did.
fn wait_file(path: &Path, done: impl Fn(&str) -> bool) -> Res<Instant> {
    let start = Instant::now();
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        if done(&text) {
            return Ok(Instant::now());
        }
        if start.elapsed() > STEP_DEADLINE {
            return Err(format!(
                "{}: not as expected after {STEP_DEADLINE:?}: {text:?}",
                path.display()
            ));
        }
        std::thread::sleep(FILE_POLL);
    }
}

/// The API's job JSON for a job file (`PUT /v1/jobs/parse`, canonicalized).
fn parse_job(http: &mut Http, hcl: &str) -> Res<Value> {
    let body = json!({"JobHCL": hcl, "Canonicalize": true});
    let body = serde_json::to_vec(&body).map_err(|e| format!("encoding: {e}"))?;
    let response = http.request("PUT", "/v1/jobs/parse", Some(&body))?;
    response.expect_ok("PUT /v1/jobs/parse")?;
    serde_json::from_slice(&response.body).map_err(|e| format!("the parsed job: {e}"))
}

/// `PUT /v1/jobs`; the index of the registration.
fn register_job(http: &mut Http, job: &Value) -> Res<u64> {
    let body = serde_json::to_vec(&json!({"Job": job})).map_err(|e| format!("encoding: {e}"))?;
    let response = http.request("PUT", "/v1/jobs", Some(&body))?;
    response.expect_ok("PUT /v1/jobs")?;
    Ok(response.index)
}

/// A PUT to Consul's API, expecting 200.
fn consul_put(consul: &mut Http, path: &str, body: Option<&Value>) -> Res<()> {
    let body = body
        .map(serde_json::to_vec)
        .transpose()
        .map_err(|e| format!("encoding: {e}"))?;
    consul
        .request("PUT", path, body.as_deref())?
        .expect_ok(&format!("PUT {path} (Consul API)"))?;
    Ok(())
}

/// Waits until the job has a running allocation; its id.
fn running_alloc(http: &mut Http, job: &str) -> Res<String> {
    let alloc = wait_running(http, job, 0, STEP_DEADLINE).map_err(|e| format!("{job}: {e}"))?;
    Ok(string(&alloc["ID"]))
}

/// Purges a job and waits until none of its allocations runs.
fn purge(http: &mut Http, job: &str) -> Res<()> {
    let allocs = http
        .get_json(&format!("/v1/job/{job}/allocations"))?
        .1
        .as_array()
        .cloned()
        .unwrap_or_default();
    let response = http.request("DELETE", &format!("/v1/job/{job}?purge=true"), None)?;
    response.expect_ok("DELETE /v1/job")?;
    for alloc in allocs {
        stop_wait(http, &string(&alloc["ID"]), response.index, STEP_DEADLINE)?;
    }
    Ok(())
}
