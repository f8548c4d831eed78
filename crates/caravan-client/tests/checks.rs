//! Service checks: the runner's exact event sequence under paused time with the
//! FakeProber, then the real probes against tiny servers in the test (http, tcp) and
//! host processes (script).

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use caravan_client::FakeClock;
use caravan_client::checks::{
    CheckAddress, CheckEvent, CheckRunner, CheckSpec, CheckState, CheckUpdate, FakeProber,
    FakeScriptExecutor, HostScriptExecutor, LiveProber, ProbeOutcome, ProbeResult, Prober,
    Provider, RestartRequest, probe_http, probe_script, probe_tcp,
};
use caravan_model::{CheckRestart, ServiceCheck};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

/// The Unix time the fake clock starts at.
const T0: i64 = 1_700_000_000_000_000_000;
const S: i64 = 1_000_000_000;
/// Long enough never to fail a slow machine, short enough to end a hung test.
const PATIENCE: Duration = Duration::from_secs(30);

fn spec(id: &str, check_type: &str, interval_s: i64, timeout_s: i64) -> CheckSpec {
    CheckSpec {
        id: id.into(),
        name: format!("{id}-check"),
        service: "web".into(),
        task: String::new(),
        provider: Provider::Consul,
        check: ServiceCheck {
            name: format!("{id}-check"),
            check_type: check_type.into(),
            interval: caravan_model::Duration::from_secs(interval_s),
            timeout: caravan_model::Duration::from_secs(timeout_s),
            ..ServiceCheck::default()
        },
        address: None,
    }
}

fn update(id: &str, status: CheckState, output: &str, at: i64) -> CheckEvent {
    CheckEvent::Update(CheckUpdate {
        id: id.into(),
        status,
        output: output.into(),
        timestamp: at,
    })
}

fn drain(rx: &mut mpsc::UnboundedReceiver<CheckEvent>) -> Vec<CheckEvent> {
    let mut events = Vec::new();
    while let Ok(event) = rx.try_recv() {
        events.push(event);
    }
    events
}

fn spawn_fake(
    checks: Vec<CheckSpec>,
    fake: &Arc<FakeProber>,
) -> (
    caravan_client::checks::CheckRunnerHandle,
    mpsc::UnboundedReceiver<CheckEvent>,
) {
    let (tx, rx) = mpsc::unbounded_channel();
    let prober: Arc<dyn Prober> = fake.clone();
    let handle = CheckRunner::spawn_with_clock(checks, prober, tx, Arc::new(FakeClock::new(T0)));
    (handle, rx)
}

// ---- the runner, paused time ------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn reports_first_result_and_changes_on_the_interval() {
    let fake = Arc::new(FakeProber::new());
    for result in [
        ProbeResult::failure("refused"),
        ProbeResult::ok("up"),
        ProbeResult::ok("up"),
        ProbeResult::failure("503"),
        ProbeResult::failure("503"),
    ] {
        fake.push("alive", result);
    }
    let (handle, mut rx) = spawn_fake(vec![spec("alive", "http", 10, 2)], &fake);
    let start = tokio::time::Instant::now();

    tokio::time::sleep(Duration::from_secs(45)).await;

    // Runs at 1s (half the interval, capped at 1s), then every 10s; the first result
    // is reported even though critical is the initial status, then only changes.
    assert_eq!(
        drain(&mut rx),
        [
            update("alive", CheckState::Critical, "refused", T0 + S),
            update("alive", CheckState::Passing, "up", T0 + 11 * S),
            update("alive", CheckState::Critical, "503", T0 + 31 * S),
        ]
    );
    let offsets: Vec<Duration> = fake.calls().iter().map(|c| c.at - start).collect();
    assert_eq!(
        offsets,
        [1, 11, 21, 31, 41].map(Duration::from_secs),
        "probe times"
    );
    handle.stop().await;
}

#[tokio::test(start_paused = true)]
async fn nomad_checks_start_pending_and_short_intervals_start_sooner() {
    let fake = Arc::new(FakeProber::new());
    fake.push("n", ProbeResult::ok("nomad: http ok"));
    let mut check = spec("n", "http", 1, 1);
    check.provider = Provider::Nomad;
    let (_handle, mut rx) = spawn_fake(vec![check], &fake);

    tokio::time::sleep(Duration::from_millis(2600)).await;

    // interval 1s: first run at 0.5s, then 1.5s, 2.5s; one report, pending -> passing.
    assert_eq!(
        drain(&mut rx),
        [update(
            "n",
            CheckState::Passing,
            "nomad: http ok",
            T0 + S / 2
        )]
    );
    assert_eq!(fake.calls().len(), 3);
}

#[tokio::test(start_paused = true)]
async fn a_probe_that_outlives_its_timeout_is_a_failure() {
    let fake = Arc::new(FakeProber::new());
    fake.push_delayed("slow", ProbeResult::ok("late"), Duration::from_secs(60));
    let (_handle, mut rx) = spawn_fake(vec![spec("slow", "tcp", 10, 2)], &fake);

    tokio::time::sleep(Duration::from_secs(5)).await;

    // First run at 1s, abandoned at timeout (2s) + kill grace (1s).
    assert_eq!(
        drain(&mut rx),
        [update(
            "slow",
            CheckState::Critical,
            "tcp check timed out after 2s",
            T0 + 4 * S
        )]
    );
}

#[tokio::test(start_paused = true)]
async fn check_restart_asks_once_per_task_start() {
    let fake = Arc::new(FakeProber::new());
    fake.push("db", ProbeResult::failure("refused"));
    let mut check = spec("db", "tcp", 10, 2);
    check.task = "redis".into();
    check.check.check_restart = Some(CheckRestart {
        limit: 2,
        grace: Some(caravan_model::Duration::from_secs(0)),
        ignore_warnings: false,
    });
    let (handle, mut rx) = spawn_fake(vec![check], &fake);
    let restart = |at: i64| {
        CheckEvent::Restart(RestartRequest {
            task: "redis".into(),
            check_id: "db".into(),
            check_name: "db-check".into(),
            reason: "healthcheck: check \"db-check\" unhealthy".into(),
            timestamp: at,
        })
    };

    // Runs at 1s and 11s: the second unhealthy result in a row asks for a restart;
    // the one at 21s is ignored, as the task has not started again yet.
    tokio::time::sleep(Duration::from_secs(25)).await;
    assert_eq!(
        drain(&mut rx),
        [
            update("db", CheckState::Critical, "refused", T0 + S),
            restart(T0 + 11 * S),
        ]
    );

    // The task restarted: results at 31s and 41s count again.
    handle.task_started("redis", T0 + 25 * S);
    tokio::time::sleep(Duration::from_secs(20)).await;
    assert_eq!(drain(&mut rx), [restart(T0 + 41 * S)]);
}

#[tokio::test(start_paused = true)]
async fn dropping_or_stopping_the_handle_stops_the_checks() {
    let fake = Arc::new(FakeProber::new());
    fake.push("a", ProbeResult::ok("up"));
    fake.push("b", ProbeResult::ok("up"));
    let (handle, _rx) = spawn_fake(vec![spec("a", "tcp", 10, 1)], &fake);
    tokio::time::sleep(Duration::from_secs(12)).await;
    drop(handle);
    let (handle, _rx2) = spawn_fake(vec![spec("b", "tcp", 10, 1)], &fake);
    tokio::time::sleep(Duration::from_secs(12)).await;
    handle.stop().await;
    tokio::time::sleep(Duration::from_secs(60)).await;

    let ids: Vec<String> = fake.calls().into_iter().map(|c| c.check_id).collect();
    assert_eq!(ids, ["a", "a", "b", "b"]);
}

#[tokio::test(start_paused = true)]
async fn checks_run_independently() {
    let fake = Arc::new(FakeProber::new());
    fake.push("fast", ProbeResult::ok("up"));
    fake.push("slow", ProbeResult::warning("busy"));
    let (_handle, mut rx) = spawn_fake(
        vec![spec("fast", "tcp", 2, 1), spec("slow", "http", 30, 1)],
        &fake,
    );
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert_eq!(
        drain(&mut rx),
        [
            update("fast", CheckState::Passing, "up", T0 + S),
            update("slow", CheckState::Warning, "busy", T0 + S),
        ]
    );
    let fast = fake.calls().iter().filter(|c| c.check_id == "fast").count();
    assert_eq!(fast, 5, "at 1, 3, 5, 7, 9s");
}

// ---- script probes through an executor ------------------------------------------

#[tokio::test(start_paused = true)]
async fn script_exit_codes_and_timeout() {
    let exec = FakeScriptExecutor::new();
    let mut check = spec("s", "script", 10, 5);
    check.check.command = "/bin/check".into();
    check.check.args = vec!["--quick".into()];
    let table = [
        (0, ProbeOutcome::Ok),
        (1, ProbeOutcome::Warning),
        (2, ProbeOutcome::Failure),
        (137, ProbeOutcome::Failure),
    ];
    for (code, outcome) in table {
        exec.push(code, "said something", Duration::from_secs(1));
        let result = probe_script(&check, &exec).await;
        assert_eq!(
            result,
            ProbeResult::new(outcome, "said something"),
            "exit {code}"
        );
    }
    exec.push(0, "never", Duration::from_secs(60));
    let start = tokio::time::Instant::now();
    let result = probe_script(&check, &exec).await;
    assert_eq!(result, ProbeResult::failure("Timed out (5s) running check"));
    assert_eq!(start.elapsed(), Duration::from_secs(5));
    let call = exec.calls().pop().unwrap();
    assert_eq!(
        (call.command.as_str(), call.args, call.timeout),
        (
            "/bin/check",
            vec!["--quick".to_owned()],
            Duration::from_secs(5)
        )
    );
}

#[tokio::test]
async fn live_prober_runs_scripts_in_their_task_and_refuses_what_it_cannot_do() {
    let dir = tempfile::tempdir().unwrap();
    let env = BTreeMap::from([("PATH".to_owned(), "/usr/bin:/bin".to_owned())]);
    let prober = LiveProber::new()
        .with_script_executor("app", Arc::new(HostScriptExecutor::new(dir.path(), env)));
    let mut script = spec("s", "script", 10, 5);
    script.task = "app".into();
    script.check.command = "/bin/sh".into();
    script.check.args = vec!["-c".into(), "echo degraded; exit 1".into()];
    assert_eq!(
        prober.probe(&script).await,
        ProbeResult::warning("degraded\n")
    );

    script.task = "other".into();
    assert_eq!(
        prober.probe(&script).await,
        ProbeResult::failure("no script executor for task \"other\"")
    );
    let mut grpc = spec("g", "grpc", 10, 1);
    grpc.check.grpc_use_tls = true;
    assert_eq!(
        prober.probe(&grpc).await,
        ProbeResult::failure("grpc checks with TLS are not supported yet")
    );
    let mut https = spec("h", "http", 10, 1);
    https.check.protocol = "https".into();
    https.address = Some(CheckAddress::new("127.0.0.1", 1));
    assert_eq!(
        prober.probe(&https).await,
        ProbeResult::failure("https checks are not supported yet")
    );
}

// ---- http and tcp against real sockets ---------------------------------------------

/// An HTTP server that answers each connection with the next of `responses` (the
/// last repeats) and sends every request it read.
async fn http_server(responses: Vec<String>) -> (SocketAddr, mpsc::UnboundedReceiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut served = 0;
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            let mut request = Vec::new();
            let mut buf = [0u8; 1024];
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => request.extend_from_slice(&buf[..n]),
                }
            }
            let text = String::from_utf8_lossy(&request).into_owned();
            let _ = tx.send(text);
            let response = &responses[served.min(responses.len() - 1)];
            served += 1;
            let _ = stream.write_all(response.as_bytes()).await;
            let _ = stream.shutdown().await;
        }
    });
    (addr, rx)
}

fn http_spec(addr: SocketAddr, path: &str) -> CheckSpec {
    let mut check = spec("web", "http", 1, 2);
    check.check.path = path.into();
    check.address = Some(addr.into());
    check
}

#[tokio::test]
async fn http_status_codes_bodies_and_request_shape() {
    let big = "x".repeat(10_000);
    let (addr, mut requests) = http_server(vec![
        "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok".into(),
        "HTTP/1.1 429 Too Many Requests\r\n\r\nslow down".into(),
        "HTTP/1.1 503 Service Unavailable\r\nTransfer-Encoding: chunked\r\n\r\n\
         4\r\ndown\r\n6\r\n again\r\n0\r\n\r\n"
            .into(),
        format!("HTTP/1.1 500 Internal Server Error\r\nContent-Length: 10000\r\n\r\n{big}"),
    ])
    .await;
    let mut check = http_spec(addr, "health?deep=1");
    check.check.header = BTreeMap::from([("X-Probe".to_owned(), vec!["yes".to_owned()])]);
    let url = format!("http://{addr}/health?deep=1");

    let ok = probe_http(&check).await;
    assert_eq!(
        ok,
        ProbeResult::ok(format!("HTTP GET {url}: 200 OK Output: ok"))
    );
    let request = requests.recv().await.unwrap();
    assert!(
        request.starts_with("GET /health?deep=1 HTTP/1.1\r\n"),
        "{request}"
    );
    assert!(request.contains(&format!("Host: {addr}\r\n")), "{request}");
    assert!(request.contains("X-Probe: yes\r\n"), "{request}");

    assert_eq!(
        probe_http(&check).await,
        ProbeResult::warning(format!(
            "HTTP GET {url}: 429 Too Many Requests Output: slow down"
        ))
    );
    assert_eq!(
        probe_http(&check).await,
        ProbeResult::failure(format!(
            "HTTP GET {url}: 503 Service Unavailable Output: down again"
        ))
    );
    let big_result = probe_http(&check).await;
    assert_eq!(big_result.outcome, ProbeOutcome::Failure);
    assert_eq!(
        big_result.output,
        format!(
            "HTTP GET {url}: 500 Internal Server Error Output: {}",
            "x".repeat(4096)
        )
    );
}

#[tokio::test]
async fn http_errors_and_timeouts_are_failures() {
    // A port nobody listens on (bound, then closed).
    let closed = {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        listener.local_addr().unwrap()
    };
    let refused = probe_http(&http_spec(closed, "/")).await;
    assert_eq!(refused.outcome, ProbeOutcome::Failure);
    assert!(
        refused
            .output
            .starts_with(&format!("HTTP GET http://{closed}/: ")),
        "{refused:?}"
    );

    // A server that accepts and never answers.
    let silent = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent_addr = silent.local_addr().unwrap();
    let mut check = http_spec(silent_addr, "/");
    check.check.timeout = caravan_model::Duration::from_millis(300);
    let hung = probe_http(&check).await;
    assert_eq!(
        hung,
        ProbeResult::failure(format!(
            "HTTP GET http://{silent_addr}/: timeout after 300ms"
        ))
    );
    drop(silent);
}

#[tokio::test]
async fn runner_http_check_goes_passing_then_critical() {
    let (addr, _requests) = http_server(vec![
        "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok".into(),
        "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 4\r\n\r\nboom".into(),
    ])
    .await;
    let (tx, mut rx) = mpsc::unbounded_channel();
    let _handle = CheckRunner::spawn(
        vec![http_spec(addr, "/health")],
        Arc::new(LiveProber::new()),
        tx,
    );
    let url = format!("http://{addr}/health");
    let mut statuses = Vec::new();
    for _ in 0..2 {
        let event = tokio::time::timeout(PATIENCE, rx.recv())
            .await
            .unwrap()
            .unwrap();
        let CheckEvent::Update(update) = event else {
            panic!("unexpected {event:?}");
        };
        statuses.push((update.status, update.output));
    }
    assert_eq!(
        statuses,
        [
            (
                CheckState::Passing,
                format!("HTTP GET {url}: 200 OK Output: ok")
            ),
            (
                CheckState::Critical,
                format!("HTTP GET {url}: 500 Internal Server Error Output: boom")
            ),
        ]
    );
}

#[tokio::test]
async fn runner_tcp_check_goes_critical_when_the_listener_closes() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mut check = spec("redis", "tcp", 1, 1);
    check.address = Some(addr.into());
    assert_eq!(
        probe_tcp(&check).await,
        ProbeResult::ok(format!("TCP connect {addr}: Success"))
    );

    let (tx, mut rx) = mpsc::unbounded_channel();
    let _handle = CheckRunner::spawn(vec![check], Arc::new(LiveProber::new()), tx);
    let first = tokio::time::timeout(PATIENCE, rx.recv())
        .await
        .unwrap()
        .unwrap();
    assert!(
        matches!(&first, CheckEvent::Update(u) if u.status == CheckState::Passing),
        "{first:?}"
    );

    drop(listener);
    let second = tokio::time::timeout(PATIENCE, rx.recv())
        .await
        .unwrap()
        .unwrap();
    let CheckEvent::Update(update) = second else {
        panic!("unexpected {second:?}");
    };
    assert_eq!(update.status, CheckState::Critical);
    assert!(
        update.output.starts_with(&format!("TCP connect {addr}: ")),
        "{update:?}"
    );
}
