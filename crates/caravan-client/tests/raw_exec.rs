//! The allocation runner with the real raw_exec driver: `sh -c` scripts in temp
//! dirs, so what a real process sees (environment, directories) and how it is
//! restarted and stopped are checked end to end.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;

use caravan_client::AllocRunner;
use caravan_drivers::RawExecDriver;
use common::*;
use serde_json::json;

fn sh(name: &str, script: &str) -> caravan_model::Task {
    task(
        name,
        "raw_exec",
        json!({"command": "/bin/sh", "args": ["-c", script]}),
    )
}

fn parse_env(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

#[tokio::test]
async fn the_process_sees_the_runtime_variables_and_shares_the_alloc_dir() {
    let dir = tempfile::tempdir().unwrap();
    let raw = Arc::new(RawExecDriver::new());
    // The prestart task leaves a file in the shared dir; the main task dumps its env
    // and copies that file into its own dir.
    let init = with_hook(
        sh("init", "echo hello > \"$NOMAD_ALLOC_DIR/data/greeting\""),
        "prestart",
        false,
    );
    let mut app = sh(
        "app",
        "env > local/env.out && cp \"$NOMAD_ALLOC_DIR/data/greeting\" \"$NOMAD_TASK_DIR/\"",
    );
    app.env
        .insert("DEMO_REDIS_ADDR".into(), "${NOMAD_ADDR_redis}".into());
    let client = client(dir.path(), vec![raw]);
    let mut runner =
        AllocRunner::start(alloc("r-env", job("batch", vec![init, app])), client).unwrap();

    let done = finish(&mut runner).await;
    assert_eq!(done.client_status, "complete", "{done:#?}");
    let alloc_dir = dir.path().join("alloc/r-env");
    let env = parse_env(&std::fs::read_to_string(alloc_dir.join("app/local/env.out")).unwrap());
    let get = |k: &str| env.get(k).map(String::as_str);
    assert_eq!(get("NOMAD_ADDR_redis"), Some("10.0.0.5:24000"));
    assert_eq!(get("DEMO_REDIS_ADDR"), Some("10.0.0.5:24000"));
    assert_eq!(get("NOMAD_PORT_http"), Some("8080"));
    assert_eq!(get("NOMAD_HOST_PORT_http"), Some("23456"));
    assert_eq!(get("NOMAD_ALLOC_ID"), Some("r-env"));
    assert_eq!(get("NOMAD_ALLOC_NAME"), Some("demo.web[0]"));
    assert_eq!(get("NOMAD_TASK_NAME"), Some("app"));
    assert_eq!(get("NOMAD_DC"), Some("dc1"));
    let host = |p: &str| alloc_dir.join(p).display().to_string();
    assert_eq!(get("NOMAD_ALLOC_DIR"), Some(host("alloc").as_str()));
    assert_eq!(get("NOMAD_TASK_DIR"), Some(host("app/local").as_str()));
    assert_eq!(get("NOMAD_SECRETS_DIR"), Some(host("app/secrets").as_str()));
    assert!(get("PATH").is_some(), "raw_exec inherits the agent's env");
    assert_eq!(
        std::fs::read_to_string(alloc_dir.join("app/local/greeting")).unwrap(),
        "hello\n"
    );
}

#[tokio::test]
async fn a_crashing_process_is_restarted_per_policy_then_failed() {
    let dir = tempfile::tempdir().unwrap();
    let raw = Arc::new(RawExecDriver::new());
    let mut app = sh("app", "echo run >> local/runs; echo oops >&2; exit 3");
    app.restart_policy = Some(restart(2, 10, "fail"));
    let client = client(dir.path(), vec![raw]);
    let mut runner =
        AllocRunner::start(alloc("r-crash", job("service", vec![app])), client).unwrap();

    let done = finish(&mut runner).await;
    assert_eq!(done.client_status, "failed");
    let app = state(&done, "app");
    assert_eq!(app.restarts, 2);
    let runs = std::fs::read_to_string(dir.path().join("alloc/r-crash/app/local/runs")).unwrap();
    assert_eq!(runs.lines().count(), 3);
    let codes: Vec<Option<i64>> = app
        .events
        .iter()
        .filter(|e| e.event_type == "Terminated")
        .map(|e| e.exit_code)
        .collect();
    assert_eq!(codes, [Some(3), Some(3), Some(3)]);
    let stderr =
        std::fs::read_to_string(dir.path().join("alloc/r-crash/alloc/logs/app.stderr.0")).unwrap();
    assert!(stderr.contains("oops"), "{stderr:?}");
}

#[tokio::test]
async fn stop_ends_the_process_and_leaves_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let raw = Arc::new(RawExecDriver::new());
    let mut app = sh("app", "echo $$ > local/pid; exec sleep 300");
    app.kill_timeout = Some(caravan_model::Duration::from_secs(2));
    let client = client(dir.path(), vec![raw]);
    let mut runner =
        AllocRunner::start(alloc("r-stop", job("service", vec![app])), client).unwrap();
    let mut rx = runner.subscribe();
    wait_for(&mut rx, "running", |u| u.client_status == "running").await;

    // The pid file appears once the shell has run its first line.
    let pid_file = dir.path().join("alloc/r-stop/app/local/pid");
    let pid = tokio::time::timeout(PATIENCE, async {
        loop {
            if let Some(pid) = std::fs::read_to_string(&pid_file)
                .ok()
                .and_then(|s| s.trim().parse::<u32>().ok())
            {
                return pid;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    })
    .await
    .unwrap();

    let done = stop(&mut runner).await;
    assert_eq!(done.client_status, "complete");
    let app = state(&done, "app");
    assert!(!app.failed);
    assert_eq!(
        event_types(app)[event_types(app).len() - 3..],
        ["Killing", "Terminated", "Killed"]
    );
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "process {pid} is still there"
    );
    runner.destroy().await.unwrap();
    assert!(!dir.path().join("alloc/r-stop").exists());
}

#[tokio::test]
async fn a_signal_reaches_the_process_and_its_trap_runs() {
    let dir = tempfile::tempdir().unwrap();
    let raw = Arc::new(RawExecDriver::new());
    let app = sh(
        "app",
        "trap 'echo got HUP' HUP; echo ready; while true; do sleep 0.1; done",
    );
    let client = client(dir.path(), vec![raw]);
    let mut runner =
        AllocRunner::start(alloc("r-signal", job("service", vec![app])), client).unwrap();
    let mut rx = runner.subscribe();
    wait_for(&mut rx, "running", |u| u.client_status == "running").await;

    // The trap is set once the shell has printed "ready": a HUP before that would
    // end it.
    let stdout = dir.path().join("alloc/r-signal/alloc/logs/app.stdout.0");
    let read = || std::fs::read_to_string(&stdout).unwrap_or_default();
    let wait_for_log = |what: &'static str| async move {
        tokio::time::timeout(PATIENCE, async {
            while !read().contains(what) {
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
        })
        .await
        .unwrap_or_else(|_| panic!("no {what:?} in the log: {:?}", read()));
    };
    wait_for_log("ready").await;

    runner
        .signal(Some("app".into()), "SIGHUP".into())
        .await
        .unwrap();
    wait_for_log("got HUP").await;
    assert_eq!(
        runner.current().client_status,
        "running",
        "the trap kept it"
    );

    let done = stop(&mut runner).await;
    assert_eq!(done.client_status, "complete");
    assert!(event_types(state(&done, "app")).contains(&"Signaling"));
}
