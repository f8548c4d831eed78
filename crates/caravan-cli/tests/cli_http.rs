//! The CLI against a fake agent: a tiny HTTP server on 127.0.0.1:0 answering canned
//! Nomad JSON, so that the commands' requests, output and exit codes are checked end to
//! end without a real agent. Each test starts its own server: tests run in parallel.

use std::collections::HashMap;
use std::ffi::OsString;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

/// One canned answer.
#[derive(Clone)]
struct Reply {
    status: u16,
    body: String,
    /// Send the body in small `Transfer-Encoding: chunked` pieces.
    chunked: bool,
}

fn ok(body: Value) -> Reply {
    Reply {
        status: 200,
        body: body.to_string(),
        chunked: false,
    }
}

fn status(code: u16, text: &str) -> Reply {
    Reply {
        status: code,
        body: text.to_owned(),
        chunked: false,
    }
}

/// A request the fake agent received.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    target: String,
    body: String,
}

/// Answers `"METHOD /path?query"` first, then `"METHOD /path"`; anything else is a 404.
struct FakeAgent {
    address: String,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl FakeAgent {
    fn start(routes: Vec<(&str, Reply)>) -> Self {
        let routes: HashMap<String, Reply> =
            routes.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let address = format!("http://{}", listener.local_addr().expect("addr"));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&seen);
        // The thread ends with the test process; each connection is one request.
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let _ = serve(stream, &routes, &log);
            }
        });
        Self { address, seen }
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().expect("lock").clone()
    }

    fn find(&self, method: &str, target_prefix: &str) -> Option<Seen> {
        self.seen()
            .into_iter()
            .find(|s| s.method == method && s.target.starts_with(target_prefix))
    }
}

fn serve(
    stream: TcpStream,
    routes: &HashMap<String, Reply>,
    log: &Mutex<Vec<Seen>>,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let (method, target) = (
        parts.next().unwrap_or_default().to_owned(),
        parts.next().unwrap_or_default().to_owned(),
    );
    let mut length = 0usize;
    loop {
        let mut header = String::new();
        reader.read_line(&mut header)?;
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((k, v)) = header.split_once(':')
            && k.eq_ignore_ascii_case("content-length")
        {
            length = v.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0u8; length];
    reader.read_exact(&mut body)?;
    log.lock().expect("lock").push(Seen {
        method: method.clone(),
        target: target.clone(),
        body: String::from_utf8_lossy(&body).into_owned(),
    });
    let path = target.split('?').next().unwrap_or_default();
    let reply = routes
        .get(&format!("{method} {target}"))
        .or_else(|| routes.get(&format!("{method} {path}")))
        .cloned()
        .unwrap_or_else(|| status(404, "no route in the fake agent"));
    let mut out = stream;
    let head = format!(
        "HTTP/1.1 {} X\r\nContent-Type: application/json\r\nX-Nomad-Index: 7\r\nConnection: close\r\n",
        reply.status
    );
    if reply.chunked {
        out.write_all(format!("{head}Transfer-Encoding: chunked\r\n\r\n").as_bytes())?;
        for piece in reply.body.as_bytes().chunks(7) {
            out.write_all(format!("{:x}\r\n", piece.len()).as_bytes())?;
            out.write_all(piece)?;
            out.write_all(b"\r\n")?;
        }
        out.write_all(b"0\r\n\r\n")?;
    } else {
        out.write_all(
            format!(
                "{head}Content-Length: {}\r\n\r\n{}",
                reply.body.len(),
                reply.body
            )
            .as_bytes(),
        )?;
    }
    out.flush()
}

/// What a CLI run printed and returned.
struct Run {
    code: ExitCode,
    out: String,
    err: String,
}

fn cli(address: &str, args: &[&str]) -> Run {
    let mut argv: Vec<OsString> = vec!["caravan".into()];
    argv.extend(args.iter().map(OsString::from));
    argv.push("-address".into());
    argv.push(address.into());
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = caravan_cli::run(argv, &mut out, &mut err);
    Run {
        code,
        out: String::from_utf8_lossy(&out).into_owned(),
        err: String::from_utf8_lossy(&err).into_owned(),
    }
}

const JOB: &str = r#"
job "example" {
  datacenters = ["dc1"]
  group "cache" {
    network {
      port "redis" {}
    }
    task "redis" {
      driver = "raw_exec"
      config {
        command = "/usr/bin/redis-server"
        args    = ["--port", "${NOMAD_PORT_redis}"]
      }
    }
  }
}
"#;

/// A job file in a directory of this test's own.
fn job_file(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("caravan-cli-{}-{test}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("example.nomad.hcl");
    std::fs::write(&path, JOB).expect("write job");
    path
}

const EVAL: &str = "3b6a4e7e-1111-2222-3333-444455556666";
const ALLOC: &str = "5f8e1e2a-aaaa-bbbb-cccc-ddddeeeeffff";
const NODE: &str = "171a583b-0000-1111-2222-333344445555";

fn eval(status: &str) -> Value {
    json!({"ID": EVAL, "JobID": "example", "TriggeredBy": "job-register", "Status": status,
           "Type": "service", "CreateIndex": 5, "ModifyIndex": 7, "FailedTGAllocs": null})
}

fn alloc_stub() -> Value {
    json!({"ID": ALLOC, "EvalID": EVAL, "NodeID": NODE, "JobID": "example", "TaskGroup": "cache",
           "Name": "example.cache[0]", "DesiredStatus": "run", "ClientStatus": "pending", "CreateIndex": 6,
           "JobVersion": 0, "CreateTime": 1, "ModifyTime": 1})
}

fn run_routes(eval: Value, allocs: Value) -> Vec<(&'static str, Reply)> {
    let eval_path: &'static str = Box::leak(format!("GET /v1/evaluation/{EVAL}").into_boxed_str());
    let allocs_path: &'static str =
        Box::leak(format!("GET /v1/evaluation/{EVAL}/allocations").into_boxed_str());
    vec![
        (
            "PUT /v1/jobs",
            ok(json!({"EvalID": EVAL, "EvalCreateIndex": 5, "JobModifyIndex": 5, "Warnings": ""})),
        ),
        (eval_path, ok(eval)),
        (allocs_path, ok(allocs)),
    ]
}

#[test]
fn run_success_exits_zero_and_reports_the_placement() {
    // Why: the happy path of `job run`: submit, follow the eval, print what was placed.
    let agent = FakeAgent::start(run_routes(eval("complete"), json!([alloc_stub()])));
    let file = job_file("run-ok");
    let run = cli(
        &agent.address,
        &["job", "run", file.to_str().expect("utf-8")],
    );
    assert_eq!(
        run.code,
        ExitCode::SUCCESS,
        "out:\n{}\nerr:\n{}",
        run.out,
        run.err
    );
    assert!(
        run.out.contains("==> ") && run.out.contains("Monitoring evaluation \"3b6a4e7e\""),
        "{}",
        run.out
    );
    assert!(
        run.out.contains("Evaluation triggered by job \"example\""),
        "{}",
        run.out
    );
    assert!(
        run.out
            .contains("Allocation \"5f8e1e2a\" created: node \"171a583b\", group \"cache\""),
        "{}",
        run.out
    );
    assert!(
        run.out
            .contains("Evaluation status changed: \"pending\" -> \"complete\""),
        "{}",
        run.out
    );
    assert!(
        run.out
            .contains("Evaluation \"3b6a4e7e\" finished with status \"complete\""),
        "{}",
        run.out
    );

    // The job went up as {"Job": ...} in the API's shape.
    let put = agent.find("PUT", "/v1/jobs").expect("registered");
    let body: Value = serde_json::from_str(&put.body).expect("json body");
    assert_eq!(body["Job"]["ID"], "example");
    assert_eq!(body["Job"]["TaskGroups"][0]["Name"], "cache");
    assert!(body.get("EnforceIndex").is_none());
}

#[test]
fn placement_failure_exits_two() {
    // Why: a job that cannot be placed must say why and exit 2, as Nomad's does.
    let mut e = eval("complete");
    e["BlockedEval"] = json!("9c1d3f00-0000-0000-0000-000000000000");
    e["FailedTGAllocs"] = json!({"cache": {"NodesEvaluated": 1, "NodesExhausted": 1,
        "DimensionExhausted": {"network: reserved port collision redis=6379": 1}}});
    let agent = FakeAgent::start(run_routes(e, json!([])));
    let file = job_file("run-fail");
    let run = cli(&agent.address, &["run", file.to_str().expect("utf-8")]);
    assert_eq!(
        run.code,
        ExitCode::from(2),
        "out:\n{}\nerr:\n{}",
        run.out,
        run.err
    );
    assert!(
        run.out
            .contains("finished with status \"complete\" but failed to place all allocations:"),
        "{}",
        run.out
    );
    assert!(
        run.out
            .contains("Task Group \"cache\" (failed to place 1 allocation):"),
        "{}",
        run.out
    );
    assert!(
        run.out.contains(
            "      * Dimension \"network: reserved port collision redis=6379\" exhausted on 1 nodes"
        ),
        "{}",
        run.out
    );
    assert!(
        run.out
            .contains("Evaluation \"9c1d3f00\" waiting for additional capacity to place remainder"),
        "{}",
        run.out
    );
}

#[test]
fn unreachable_agent_exits_one_and_names_the_address() {
    // Why: the first thing a new user sees without an agent must tell them what to do.
    let port = {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("addr").port()
    };
    let address = format!("http://127.0.0.1:{port}");
    let file = job_file("unreachable");
    let run = cli(&address, &["job", "run", file.to_str().expect("utf-8")]);
    assert_eq!(run.code, ExitCode::FAILURE);
    assert!(run.err.starts_with("Error submitting job: "), "{}", run.err);
    assert!(
        run.err.contains(&address) && run.err.contains("caravan agent -dev"),
        "{}",
        run.err
    );
    assert!(
        !run.err.contains("os error"),
        "the cause is said once: {}",
        run.err
    );
    let run = cli(&address, &["job", "plan", file.to_str().expect("utf-8")]);
    assert_eq!(
        run.code,
        ExitCode::from(255),
        "plan errors exit 255: {}",
        run.err
    );
}

#[test]
fn detach_check_index_and_rejections() {
    // Why: -detach returns after registering; -check-index reaches the API; a 4xx body
    // is shown as the error.
    let agent = FakeAgent::start(run_routes(eval("pending"), json!([])));
    let file = job_file("detach");
    let path = file.to_str().expect("utf-8");
    let run = cli(
        &agent.address,
        &["job", "run", "-detach", "-check-index", "5", path],
    );
    assert_eq!(run.code, ExitCode::SUCCESS, "{}", run.err);
    assert_eq!(
        run.out,
        format!("Job registration successful\nEvaluation ID: {EVAL}\n")
    );
    let body: Value =
        serde_json::from_str(&agent.find("PUT", "/v1/jobs").expect("put").body).expect("json");
    assert_eq!(
        (body["EnforceIndex"].clone(), body["JobModifyIndex"].clone()),
        (json!(true), json!(5))
    );
    assert!(
        agent.find("GET", "/v1/evaluation/").is_none(),
        "a detached run does not monitor"
    );

    let rejecting = FakeAgent::start(vec![(
        "PUT /v1/jobs",
        status(400, "job exists with conflicting job modify index: 9\n"),
    )]);
    let run = cli(
        &rejecting.address,
        &["job", "run", "-check-index", "5", path],
    );
    assert_eq!(run.code, ExitCode::FAILURE);
    assert_eq!(
        run.err,
        "Error submitting job: job exists with conflicting job modify index: 9\n"
    );
}

#[test]
fn job_status_by_prefix() {
    // Why: `job status ex` finds "example" through ?prefix= and prints every section.
    let stub = json!({"ID": "example", "Type": "service", "Priority": 50, "Status": "running"});
    let agent = FakeAgent::start(vec![
        ("GET /v1/jobs?prefix=ex", ok(json!([stub]))),
        (
            "GET /v1/jobs",
            ok(json!([stub, {"ID": "other", "Type": "batch", "Priority": 50, "Status": "dead"}])),
        ),
        (
            "GET /v1/job/example",
            ok(
                json!({"ID": "example", "Name": "example", "Type": "service", "Priority": 50,
            "Datacenters": ["dc1"], "Namespace": "default", "Status": "running", "SubmitTime": 1_714_557_600_000_000_000i64}),
            ),
        ),
        (
            "GET /v1/job/example/summary",
            ok(json!({"Summary": {"cache": {"Running": 1}}})),
        ),
        (
            "GET /v1/job/example/evaluations",
            ok(json!([eval("complete")])),
        ),
        ("GET /v1/job/example/allocations", ok(json!([alloc_stub()]))),
    ]);
    let run = cli(&agent.address, &["job", "status", "ex"]);
    assert_eq!(run.code, ExitCode::SUCCESS, "{}", run.err);
    assert!(
        run.out.starts_with("ID            = example\n"),
        "{}",
        run.out
    );
    assert!(
        run.out.contains("Submit Date   = 2024-05-01T10:00:00Z"),
        "{}",
        run.out
    );
    assert!(
        run.out
            .contains("\nSummary\nTask Group  Queued  Starting  Running"),
        "{}",
        run.out
    );
    assert!(
        run.out
            .contains("\nAllocations\nID        Node ID   Task Group"),
        "{}",
        run.out
    );
    assert!(
        run.out
            .contains("5f8e1e2a  171a583b  cache       0        run      pending"),
        "{}",
        run.out
    );
    assert!(!run.out.contains("Placement Failure"), "{}", run.out);

    let run = cli(&agent.address, &["status"]);
    assert_eq!(run.code, ExitCode::SUCCESS);
    assert!(
        run.out
            .starts_with("ID       Type     Priority  Status   Submit Date\nexample"),
        "{}",
        run.out
    );
    let run = cli(&agent.address, &["job", "status", "-json", "ex"]);
    let json: Value = serde_json::from_str(&run.out).expect("raw json");
    assert_eq!(json["ID"], "example");
}

#[test]
fn ambiguous_alloc_prefix_lists_the_matches() {
    // Why: a prefix that names two allocations must not pick one silently.
    let agent = FakeAgent::start(vec![(
        "GET /v1/allocations",
        ok(
            json!([alloc_stub(), {"ID": "5f8e0000-1111", "EvalID": EVAL, "JobID": "example", "TaskGroup": "cache",
                                  "DesiredStatus": "stop", "ClientStatus": "complete"}]),
        ),
    )]);
    let run = cli(&agent.address, &["alloc", "status", "5f8e"]);
    assert_eq!(run.code, ExitCode::FAILURE);
    assert!(
        run.err
            .starts_with("Error looking up allocation \"5f8e\": the prefix matches 2 allocations:"),
        "{}",
        run.err
    );
    assert!(
        run.err.contains(ALLOC) && run.err.contains("5f8e0000-1111"),
        "{}",
        run.err
    );
    assert_eq!(
        agent.find("GET", "/v1/allocations").expect("listed").target,
        "/v1/allocations?prefix=5f8e"
    );
    let run = cli(&agent.address, &["alloc", "status", "5"]);
    assert!(run.err.contains("at least two characters"), "{}", run.err);
}

#[test]
fn alloc_logs_decodes_a_chunked_framed_stream() {
    // Why: logs arrive as base64 frames split across HTTP chunks at any byte.
    let frames = concat!(
        r#"{"File":"alloc/logs/redis.stdout.0","Offset":0,"Data":"UmVhZHkgdG8gYWNjZXB0"}"#,
        "{}",
        r#"{"File":"alloc/logs/redis.stdout.0","Offset":15,"Data":"IGNvbm5lY3Rpb25zCg=="}"#,
    );
    let alloc = json!({"ID": ALLOC, "TaskGroup": "cache", "NodeID": NODE,
        "Job": {"TaskGroups": [{"Name": "cache", "Tasks": [{"Name": "redis"}]}]}});
    let alloc_path = format!("GET /v1/allocation/{ALLOC}");
    let logs_path = format!("GET /v1/client/fs/logs/{ALLOC}");
    let agent = FakeAgent::start(vec![
        ("GET /v1/allocations", ok(json!([alloc_stub()]))),
        (alloc_path.as_str(), ok(alloc)),
        (
            logs_path.as_str(),
            Reply {
                status: 200,
                body: frames.to_owned(),
                chunked: true,
            },
        ),
    ]);
    let run = cli(&agent.address, &["alloc", "logs", "5f8e1", "-stderr"]);
    assert_eq!(run.code, ExitCode::SUCCESS, "{}", run.err);
    assert_eq!(run.out, "Ready to accept connections\n");
    let asked = agent
        .find("GET", "/v1/client/fs/logs/")
        .expect("logs asked")
        .target;
    assert!(
        asked.contains("task=redis")
            && asked.contains("type=stderr")
            && asked.contains("follow=false"),
        "{asked}"
    );

    // -n keeps the last lines of what the end of the log holds.
    let run = cli(
        &agent.address,
        &["alloc", "logs", "-n", "1", ALLOC, "redis"],
    );
    assert_eq!(
        (run.code, run.out.as_str()),
        (ExitCode::SUCCESS, "Ready to accept connections\n"),
        "{}",
        run.err
    );
    let asked = agent
        .seen()
        .into_iter()
        .rev()
        .find(|s| s.target.starts_with("/v1/client/fs/logs/"))
        .expect("tail");
    assert!(
        asked.target.contains("origin=end") && asked.target.contains("type=stdout"),
        "{}",
        asked.target
    );
    // -f streams until the agent ends the stream (here at once; normally at Ctrl-C).
    let run = cli(&agent.address, &["alloc", "logs", "-f", ALLOC]);
    assert_eq!(
        (run.code, run.out.as_str()),
        (ExitCode::SUCCESS, "Ready to accept connections\n"),
        "{}",
        run.err
    );
    let asked = agent
        .seen()
        .into_iter()
        .rev()
        .find(|s| s.target.starts_with("/v1/client/fs/logs/"))
        .expect("follow");
    assert!(asked.target.contains("follow=true"), "{}", asked.target);
    let run = cli(&agent.address, &["alloc", "logs", ALLOC, "db"]);
    assert!(run.err.contains("has no task named \"db\""), "{}", run.err);
}

#[test]
fn job_stop_purge_monitors_and_plan_exit_codes() {
    // Why: stop follows its evaluation like run; plan exits 1 when it would place.
    let mut routes = run_routes(eval("complete"), json!([]));
    routes.push(("GET /v1/jobs", ok(json!([{"ID": "example"}]))));
    routes.push(("DELETE /v1/job/example", ok(json!({"EvalID": EVAL}))));
    routes.push((
        "PUT /v1/job/example/plan",
        ok(json!({"JobModifyIndex": 0, "Annotations": {"DesiredTGUpdates": {"cache": {"Place": 1}}},
                  "Diff": {"Type": "Added", "TaskGroups": [{"Type": "Added", "Name": "cache", "Updates": {"create": 1}, "Tasks": []}]}})),
    ));
    let agent = FakeAgent::start(routes);
    let run = cli(&agent.address, &["job", "stop", "-purge", "example"]);
    assert_eq!(run.code, ExitCode::SUCCESS, "{}", run.err);
    assert_eq!(
        agent.find("DELETE", "/v1/job/").expect("deleted").target,
        "/v1/job/example?purge=true"
    );
    assert!(
        run.out.contains("finished with status \"complete\""),
        "{}",
        run.out
    );

    let file = job_file("plan");
    let run = cli(
        &agent.address,
        &["job", "plan", file.to_str().expect("utf-8")],
    );
    assert_eq!(run.code, ExitCode::from(1), "{}", run.err);
    assert!(
        run.out
            .starts_with("+ Job: \"example\"\n+ Task Group: \"cache\" (1 create)\n"),
        "{}",
        run.out
    );
    assert!(
        run.out
            .contains("Scheduler dry-run:\n- All tasks successfully allocated."),
        "{}",
        run.out
    );
}

#[test]
fn node_status_and_peers() {
    // Why: the read-only cluster views render from the list endpoints.
    let agent = FakeAgent::start(vec![
        (
            "GET /v1/nodes",
            ok(
                json!([{"ID": NODE, "Name": "dev", "NodePool": "default", "Datacenter": "dc1",
            "NodeClass": "", "Drain": false, "SchedulingEligibility": "eligible", "Status": "ready"}]),
            ),
        ),
        ("GET /v1/status/peers", ok(json!(["127.0.0.1:4647"]))),
        ("GET /v1/status/leader", ok(json!("127.0.0.1:4647"))),
    ]);
    let run = cli(&agent.address, &["node", "status"]);
    assert_eq!(run.code, ExitCode::SUCCESS, "{}", run.err);
    assert_eq!(
        run.out.lines().nth(1),
        Some("171a583b  default    dc1  dev   <none>  false  eligible     ready")
    );
    // No /v1/operator/raft/configuration here (404): the peers list stands in.
    let run = cli(&agent.address, &["operator", "raft", "list-peers"]);
    assert_eq!(run.code, ExitCode::SUCCESS, "{}", run.err);
    assert!(
        run.out
            .contains("127.0.0.1:4647  127.0.0.1:4647  leader  true"),
        "{}",
        run.out
    );
}

#[test]
fn service_list_info_and_delete() {
    // Why: `service info` resolves a name prefix through the list, then reads the
    // service in the namespace it was found in; `delete` sends NAME and ID in the path.
    let id = "_nomad-task-5f8e1e2a-aaaa-bbbb-cccc-ddddeeeeffff-redis-redis-db";
    let instance = json!({"ID": id, "ServiceName": "redis", "Namespace": "default", "NodeID": NODE,
        "Datacenter": "dc1", "JobID": "example", "AllocID": ALLOC, "Tags": ["db"], "Address": "127.0.0.1",
        "Port": 23456, "Provider": "nomad", "Health": "critical", "Checks": []});
    let delete_path: &'static str =
        Box::leak(format!("DELETE /v1/service/redis/{id}").into_boxed_str());
    let agent = FakeAgent::start(vec![
        (
            "GET /v1/services",
            ok(
                json!([{"Namespace": "default", "Services": [{"ServiceName": "redis", "Tags": ["db"]}]}]),
            ),
        ),
        ("GET /v1/service/redis", ok(json!([instance]))),
        (delete_path, ok(json!({"Index": 9}))),
    ]);

    let run = cli(&agent.address, &["service", "list"]);
    assert_eq!(run.code, ExitCode::SUCCESS, "{}", run.err);
    assert_eq!(run.out, "Service Name  Tags\nredis         [db]\n");

    let run = cli(&agent.address, &["service", "info", "red"]);
    assert_eq!(run.code, ExitCode::SUCCESS, "{}", run.err);
    assert_eq!(
        run.out.lines().nth(1),
        Some("example  127.0.0.1:23456  [db]  171a583b  5f8e1e2a  critical")
    );
    assert!(agent.find("GET", "/v1/services?prefix=red").is_some());
    assert!(
        agent
            .find("GET", "/v1/service/redis?namespace=default")
            .is_some(),
        "{:?}",
        agent.seen()
    );

    let run = cli(&agent.address, &["service", "info", "nope"]);
    assert_eq!(run.code, ExitCode::FAILURE);
    assert!(
        run.err
            .contains("no service registrations with prefix \"nope\""),
        "{}",
        run.err
    );

    let run = cli(&agent.address, &["service", "delete", "redis", id]);
    assert_eq!(run.code, ExitCode::SUCCESS, "{}", run.err);
    assert_eq!(run.out, "Successfully deleted service registration\n");
    assert!(agent.find("DELETE", "/v1/service/redis/").is_some());
}
