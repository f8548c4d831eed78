//! raw_exec with log collector processes: tasks keep running and logging when the
//! agent that started them dies, and no collector outlives its task.
//!
//! A library crate has no binary to run as the collector, so this test has its own
//! `main` (`harness = false` in Cargo.toml) and the test binary plays three parts:
//! `<exe> __logmon__ ...` is the collector (it calls `logmon_main`, as
//! `caravan logmon` does), `<exe> __fake_agent__ ...` is an agent that starts one
//! task and is then killed, and `<exe> [filter]` runs the tests below side by side.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::future::Future;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::process::{ExitCode, Stdio};
use std::sync::Arc;
use std::time::Duration;

use caravan_drivers::testing::{
    self, PATIENCE, READY, Scenario, TempRoot, read_log, start, start_ready, wait_for_log, within,
};
use caravan_drivers::{
    DriverError, ProcStat, RawExecDriver, TaskDriver, TaskHandle, TaskHandleState, TaskSpec,
    log_files,
};
use caravan_model::AllocId;
use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

const LOGMON: &str = "__logmon__";
const FAKE_AGENT: &str = "__fake_agent__";

fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().collect();
    if args.get(1).is_some_and(|a| a == LOGMON) {
        return caravan_drivers::logmon_main(&args[2..]);
    }
    if args.get(1).is_some_and(|a| a == FAKE_AGENT) {
        return fake_agent(&args[2..]);
    }
    run_tests(&args[1..])
}

// The tests.

type Test = fn() -> Pin<Box<dyn Future<Output = ()>>>;

const TESTS: &[(&str, Test)] = &[
    ("the_battery_passes_with_collectors", || {
        Box::pin(the_battery_passes_with_collectors())
    }),
    ("output_survives_the_agent", || {
        Box::pin(output_survives_the_agent())
    }),
    ("logs_rotate_through_a_collector", || {
        Box::pin(logs_rotate_through_a_collector())
    }),
    ("no_collector_outlives_its_task", || {
        Box::pin(no_collector_outlives_its_task())
    }),
    ("failed_starts_leave_no_collector", || {
        Box::pin(failed_starts_leave_no_collector())
    }),
    ("the_collector_copies_stdin_until_eof", || {
        Box::pin(the_collector_copies_stdin_until_eof())
    }),
];

fn collector_prefix() -> Vec<OsString> {
    let exe = std::env::current_exe().expect("the test binary's path");
    vec![exe.into_os_string(), LOGMON.into()]
}

fn collecting_driver() -> Arc<dyn TaskDriver> {
    Arc::new(RawExecDriver::new().with_log_collector(collector_prefix()))
}

fn sh(script: &str) -> BTreeMap<String, Value> {
    serde_json::from_value(json!({ "command": "sh", "args": ["-c", script] }))
        .expect("config object")
}

/// Every check the other drivers pass, with output through collectors.
async fn the_battery_passes_with_collectors() {
    let root = TempRoot::new("logmon-battery");
    testing::run_battery(collecting_driver, |s| {
        root.spec(s.as_str(), s.command_config())
    })
    .await;
}

/// The agent that started a task is signalled as a terminal or service manager
/// would, then killed: the task and its collectors run on and the logs keep
/// growing; a new driver recovers the task and stops it, and the collectors go.
async fn output_survives_the_agent() {
    let root = TempRoot::new("logmon-survive");
    let script = format!("echo {READY}; while :; do echo tick; echo tock >&2; sleep 0.1; done");
    let spec = root.spec("ticker", sh(&script));

    let mut agent = tokio::process::Command::new(std::env::current_exe().expect("exe"))
        .arg(FAKE_AGENT)
        .arg(&spec.dirs.alloc_root)
        .arg(spec.alloc_id.as_str())
        .arg(&spec.task_name)
        .arg(&script)
        .stdout(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
        .expect("start the fake agent");
    let agent_pid = agent.id().expect("the agent's pid");
    let mut line = String::new();
    let mut out = BufReader::new(agent.stdout.take().expect("agent stdout"));
    within(out.read_line(&mut line), "the agent to start the task")
        .await
        .expect("read the agent's output");
    let state: TaskHandleState = serde_json::from_str(&line).expect("the persisted state");
    let task_pid = state.pid.expect("a pid");
    let collectors = recorded_collectors(&state);
    assert_eq!(collectors.len(), 2, "one collector per stream: {state:?}");
    for (pid, _) in &collectors {
        let stat = ProcStat::read(*pid).expect("read").expect("collector runs");
        assert_eq!(stat.pgrp, *pid, "a collector leads its own process group");
    }

    // Why: Ctrl-C, a hangup or a service stop reach the agent's group, not the
    // task's or the collectors'; and the collectors shrug off those signals even
    // when sent to them.
    let agent_group = Pid::from_raw(i32::try_from(agent_pid).expect("pid"));
    for signal in [Signal::SIGHUP, Signal::SIGTERM, Signal::SIGINT] {
        let _ = killpg(agent_group, signal);
        for (pid, _) in &collectors {
            kill(as_pid(*pid), signal).expect("signal a collector");
        }
    }
    let _ = killpg(agent_group, Signal::SIGKILL);
    within(agent.wait(), "the agent to die")
        .await
        .expect("reap the agent");

    // The task writes on: without collectors its next write would hit a closed pipe.
    let ticks_then = ticks(&spec.logs.stdout_base);
    let tocks_then = read_log(&spec.logs.stderr_base).matches("tock").count();
    eventually("the logs to grow after the agent died", || {
        ticks(&spec.logs.stdout_base) >= ticks_then + 5
            && read_log(&spec.logs.stderr_base).matches("tock").count() >= tocks_then + 5
    })
    .await;
    assert!(
        ProcStat::read(task_pid)
            .expect("read")
            .is_some_and(|s| s.is_alive()),
        "the task died with the agent"
    );
    for (pid, ticks) in &collectors {
        assert!(
            ProcStat::is_same_live(*pid, *ticks),
            "collector {pid} died with the agent or of a signal"
        );
    }

    let restarted = RawExecDriver::new();
    let h = within(restarted.recover(&state), "recover")
        .await
        .expect("recover");
    within(
        restarted.stop(&h, "SIGTERM", Duration::from_millis(500)),
        "stop",
    )
    .await
    .expect("stop the recovered task");
    let exit = within(restarted.wait(&h), "the recovered task's exit").await;
    assert_eq!(exit.exit_code, None, "not our child: {exit:?}");
    assert_no_collectors(&state, &spec).await;
}

/// Rotation happens in the collector, at the same size and count as in-process.
async fn logs_rotate_through_a_collector() {
    let root = TempRoot::new("logmon-rotation");
    let d = collecting_driver();
    let mut spec = root.spec("big", sh("head -c 3670016 /dev/zero"));
    spec.logs.max_file_size_mb = 1;
    spec.logs.max_files = 2;
    let stdout = spec.logs.stdout_base.clone();
    let h = start(&*d, spec.clone()).await;
    assert!(within(d.wait(&h), "wait").await.successful());
    // 3.5 MB in files of 1 MB: .0 to .3 were written, the newest two are kept.
    let sizes: Vec<(u64, u64)> = log_files(&stdout)
        .expect("list")
        .into_iter()
        .map(|(i, p)| (i, std::fs::metadata(p).expect("stat").len()))
        .collect();
    assert_eq!(sizes, vec![(2, 1 << 20), (3, 1 << 19)]);
    assert_no_collectors(h.state(), &spec).await;
}

/// However the task ends (by itself, by its stop signal, killed after the stop
/// timeout, destroyed), its collectors are gone once `wait` has returned, with the
/// output written.
async fn no_collector_outlives_its_task() {
    let root = TempRoot::new("logmon-gone");
    let d = collecting_driver();

    // Why: a natural exit; the output is complete when wait returns.
    let spec = root.spec("prints", Scenario::PrintLogs.command_config());
    let h = start(&*d, spec.clone()).await;
    assert!(within(d.wait(&h), "wait").await.successful());
    assert_eq!(read_log(&spec.logs.stdout_base), "battery stdout line\n");
    assert_eq!(read_log(&spec.logs.stderr_base), "battery stderr line\n");
    assert_no_collectors(h.state(), &spec).await;

    // Why: stop with the task's signal, which it obeys.
    let (h, spec) = start_ready(
        &*d,
        root.spec("obeys", Scenario::LongRunning.command_config()),
    )
    .await;
    within(d.stop(&h, "SIGTERM", PATIENCE), "stop")
        .await
        .expect("stop");
    assert_eq!(within(d.wait(&h), "wait").await.signal, Some(15));
    assert_no_collectors(h.state(), &spec).await;

    // Why: stop with a kill, after the task ignored the signal.
    let (h, spec) = start_ready(
        &*d,
        root.spec("ignores", Scenario::IgnoresTerm.command_config()),
    )
    .await;
    within(d.stop(&h, "SIGTERM", Duration::from_millis(300)), "stop")
        .await
        .expect("stop");
    assert_eq!(within(d.wait(&h), "wait").await.signal, Some(9));
    assert_no_collectors(h.state(), &spec).await;

    // Why: a background process that leaves the task's group keeps the pipes open;
    // the collectors are killed after their grace instead of living on with it.
    let spec = root.spec(
        "escapes",
        sh(&format!(
            "setsid sh -c 'echo escaped; exec sleep 1000' & echo {READY}; exec sleep 1000"
        )),
    );
    let (h, spec) = start_ready(&*d, spec).await;
    wait_for_log(&spec.logs.stdout_base, "escaped", PATIENCE).await;
    within(d.destroy(&h), "destroy").await.expect("destroy");
    within(d.wait(&h), "wait").await;
    assert_no_collectors(h.state(), &spec).await;
    kill_escaped_sleeps(&spec);
}

/// A collector that cannot start fails the start; a task that cannot start leaves
/// no collector behind.
async fn failed_starts_leave_no_collector() {
    let root = TempRoot::new("logmon-failed");
    let broken = RawExecDriver::new().with_log_collector(vec!["/nonexistent/caravan".into()]);
    let err = broken
        .start(root.spec("t", Scenario::ExitZero.command_config()))
        .await
        .expect_err("no collector program");
    assert!(matches!(err, DriverError::LogCollector { .. }), "{err}");
    assert!(err.to_string().contains("\"t\""), "{err}");

    let d = collecting_driver();
    let spec = root.spec(
        "t",
        serde_json::from_value(json!({ "command": "/nonexistent/program" })).expect("config"),
    );
    let err = d.start(spec.clone()).await.expect_err("no such program");
    assert!(matches!(err, DriverError::Spawn { .. }), "{err}");
    eventually("the unused collectors to exit", || {
        collectors_writing(&spec).is_empty()
    })
    .await;
}

/// The collector as a process: it copies its stdin into the rotating files and
/// exits 0 at EOF; bad arguments exit 2.
async fn the_collector_copies_stdin_until_eof() {
    let root = TempRoot::new("logmon-eof");
    let base = root.path().join("logs").join("t.stdout");
    let args = caravan_drivers::LogmonArgs {
        base: base.clone(),
        max_files: 10,
        max_file_bytes: 4,
    };
    let mut child = tokio::process::Command::new(std::env::current_exe().expect("exe"))
        .arg(LOGMON)
        .args(args.to_args())
        .stdin(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn the collector");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(b"hello world").await.expect("write");
    drop(stdin);
    let status = within(child.wait(), "the collector to exit at EOF")
        .await
        .expect("wait");
    assert!(status.success(), "{status:?}");
    assert_eq!(read_log(&base), "hello world");
    assert_eq!(log_files(&base).expect("list").len(), 3);

    let status = tokio::process::Command::new(std::env::current_exe().expect("exe"))
        .args([LOGMON, "-path"])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .await
        .expect("run");
    assert_eq!(status.code(), Some(2));
}

// Helpers.

/// The collectors a handle's state records, as (pid, start ticks).
fn recorded_collectors(state: &TaskHandleState) -> Vec<(u32, u64)> {
    state
        .driver_state
        .get("log_collectors")
        .and_then(Value::as_array)
        .map(|ids| {
            ids.iter()
                .filter_map(|id| {
                    Some((
                        u32::try_from(id.get("pid")?.as_u64()?).ok()?,
                        id.get("start_ticks")?.as_u64()?,
                    ))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Live processes whose command line names one of the task's log bases: its
/// collectors, found without trusting what the driver recorded.
fn collectors_writing(spec: &TaskSpec) -> Vec<u32> {
    let bases = [
        spec.logs.stdout_base.as_os_str().as_bytes(),
        spec.logs.stderr_base.as_os_str().as_bytes(),
    ];
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|cmdline| cmdline.split(|b| *b == 0).any(|arg| bases.contains(&arg)))
                && ProcStat::read(*pid)
                    .ok()
                    .flatten()
                    .is_some_and(|s| s.is_alive())
        })
        .collect()
}

/// The task's collectors are gone: the recorded ones and any other.
async fn assert_no_collectors(state: &TaskHandleState, spec: &TaskSpec) {
    let recorded = recorded_collectors(state);
    assert_eq!(recorded.len(), 2, "one collector per stream: {state:?}");
    // `wait` has returned, so they should be gone already; a zombie not yet reaped
    // by init counts as gone.
    for (pid, ticks) in recorded {
        assert!(
            !ProcStat::is_same_live(pid, ticks),
            "collector {pid} outlived its task"
        );
    }
    let left = collectors_writing(spec);
    assert!(left.is_empty(), "collectors left: {left:?}");
}

fn kill_escaped_sleeps(spec: &TaskSpec) {
    let task_dir = spec.dirs.task_dir.as_os_str().as_bytes().to_vec();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return;
    };
    for pid in entries.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok()) {
        let cwd = std::fs::read_link(format!("/proc/{pid}/cwd")).unwrap_or_default();
        if cwd.as_os_str().as_bytes() == task_dir.as_slice() {
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
    }
}

fn ticks(base: &Path) -> usize {
    read_log(base).matches("tick").count()
}

fn as_pid(pid: u32) -> Pid {
    Pid::from_raw(i32::try_from(pid).expect("a pid"))
}

/// Polls until `cond` holds; panics after [`PATIENCE`].
async fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    within(
        async {
            while !cond() {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        },
        what,
    )
    .await;
}

// The other parts the binary plays.

/// `__fake_agent__ <alloc root> <alloc id> <task> <script>`: starts the script as a
/// raw_exec task with collectors, prints its handle state as one JSON line once the
/// task is ready, and idles until it is killed.
fn fake_agent(args: &[OsString]) -> ExitCode {
    let [alloc_root, alloc_id, task, script] = args else {
        eprintln!("usage: {FAKE_AGENT} <alloc root> <alloc id> <task> <script>");
        return ExitCode::from(2);
    };
    let mut spec = TaskSpec::new(
        AllocId::new(alloc_id.to_string_lossy()),
        &task.to_string_lossy(),
        PathBuf::from(alloc_root),
    );
    spec.driver_config = sh(&script.to_string_lossy());
    spec.env = BTreeMap::from([("PATH".to_owned(), testing::TEST_PATH.to_owned())]);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        let driver = RawExecDriver::new().with_log_collector(collector_prefix());
        let (h, _): (TaskHandle, _) = start_ready(&driver, spec).await;
        println!(
            "{}",
            serde_json::to_string(h.state()).expect("serialize the state")
        );
        loop {
            tokio::time::sleep(Duration::from_secs(3600)).await;
        }
    })
}

/// Runs the chosen tests side by side and reports as libtest does. Understands
/// libtest's filters, `--exact`, `--skip <name>` and `--list`, and ignores its other
/// flags (and their values).
fn run_tests(args: &[OsString]) -> ExitCode {
    let mut filters = Vec::new();
    let mut skips = Vec::new();
    let mut exact = false;
    let mut list = false;
    let mut rest = args.iter().filter_map(|a| a.to_str());
    while let Some(arg) = rest.next() {
        match arg {
            "--skip" => skips.extend(rest.next()),
            "--exact" => exact = true,
            "--list" => list = true,
            "--test-threads" | "--format" | "--color" | "--logfile" | "-Z" => {
                rest.next();
            }
            flag if flag.starts_with('-') => {}
            filter => filters.push(filter),
        }
    }
    let matches = |name: &str, pattern: &str| {
        if exact {
            name == pattern
        } else {
            name.contains(pattern)
        }
    };
    let chosen: Vec<&(&str, Test)> = TESTS
        .iter()
        .filter(|(name, _)| filters.is_empty() || filters.iter().any(|f| matches(name, f)))
        .filter(|(name, _)| !skips.iter().any(|s| matches(name, s)))
        .collect();
    if list {
        for (name, _) in &chosen {
            println!("{name}: test");
        }
        return ExitCode::SUCCESS;
    }
    println!("\nrunning {} tests", chosen.len());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let local = tokio::task::LocalSet::new();
    let failed = local.block_on(&runtime, async {
        let running: Vec<_> = chosen
            .iter()
            .map(|(name, test)| (*name, tokio::task::spawn_local(test())))
            .collect();
        let mut failed = Vec::new();
        for (name, handle) in running {
            let ok = handle.await.is_ok();
            println!("test {name} ... {}", if ok { "ok" } else { "FAILED" });
            if !ok {
                failed.push(name);
            }
        }
        failed
    });
    println!(
        "\ntest result: {}. {} passed; {} failed\n",
        if failed.is_empty() { "ok" } else { "FAILED" },
        chosen.len() - failed.len(),
        failed.len()
    );
    if failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
