//! The allocation and task runners against the recording FakeDriver: lifecycle
//! order, restart policy, leader, kill signal and timeout, environment. Time is
//! paused, so restart delays and scripted exits take no wall time.

#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use caravan_client::AllocRunner;
use caravan_drivers::{FakeCall, FakeDriver, FakeScript};
use common::*;
use serde_json::json;

/// The calls that matter for ordering: starts and stops (destroys follow exits).
fn starts_and_stops(fake: &FakeDriver) -> Vec<String> {
    fake.calls()
        .into_iter()
        .filter_map(|c| match c {
            FakeCall::Start { task, .. } => Some(format!("start {task}")),
            FakeCall::Stop { task, .. } => Some(format!("stop {task}")),
            _ => None,
        })
        .collect()
}

fn start_count(fake: &FakeDriver, task: &str) -> usize {
    starts_and_stops(fake)
        .iter()
        .filter(|c| *c == &format!("start {task}"))
        .count()
}

#[tokio::test(start_paused = true)]
async fn lifecycle_runs_prestart_main_poststart_then_stops_in_reverse_and_runs_poststop() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Arc::new(FakeDriver::new("fake"));
    let tasks = vec![
        with_hook(
            task("init", "fake", json!({"run_for_ms": 50})),
            "prestart",
            false,
        ),
        with_hook(task("proxy", "fake", json!({})), "prestart", true),
        task("app", "fake", json!({})),
        with_hook(
            task("announce", "fake", json!({"run_for_ms": 5})),
            "poststart",
            false,
        ),
        with_hook(
            task("cleanup", "fake", json!({"run_for_ms": 5})),
            "poststop",
            false,
        ),
    ];
    let client = client(dir.path(), vec![fake.clone()]);
    let mut runner =
        AllocRunner::start(alloc("a-lifecycle", job("service", tasks)), client).unwrap();
    let mut rx = runner.subscribe();

    // Phase 1: everything up, the ephemeral poststart done.
    let up = wait_for(&mut rx, "announce to complete", |u| {
        u.client_status == "running" && state(u, "announce").state == "dead"
    })
    .await;
    assert_eq!(state(&up, "init").state, "dead");
    assert!(!state(&up, "init").failed);
    assert_eq!(
        state(&up, "cleanup").state,
        "pending",
        "poststop waits for the stop"
    );

    // Phase 2: stop, and check the whole order from the driver's record.
    let done = stop(&mut runner).await;
    assert_eq!(done.client_status, "complete", "{done:?}");
    assert_eq!(
        starts_and_stops(&fake),
        [
            "start init",
            "start proxy",
            "start app",
            "start announce",
            "stop app",
            "stop proxy",
            "start cleanup"
        ]
    );
    assert_eq!(
        event_types(state(&done, "app")),
        [
            "Received",
            "Task Setup",
            "Started",
            "Killing",
            "Terminated",
            "Killed"
        ]
    );
    assert_eq!(state(&done, "cleanup").state, "dead");
}

#[tokio::test(start_paused = true)]
async fn restart_policy_restarts_then_fails_the_allocation() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Arc::new(FakeDriver::new("fake"));
    let mut app = task("app", "fake", json!({"run_for_ms": 10, "exit_code": 1}));
    app.restart_policy = Some(restart(2, 1000, "fail"));
    let client = client(dir.path(), vec![fake.clone()]);
    let mut runner =
        AllocRunner::start(alloc("a-restart", job("service", vec![app])), client).unwrap();

    let done = finish(&mut runner).await;
    assert_eq!(done.client_status, "failed");
    let app = state(&done, "app");
    assert!(app.failed);
    assert_eq!(app.restarts, 2);
    assert!(app.last_restart.is_some());
    assert_eq!(start_count(&fake, "app"), 3);
    assert_eq!(
        event_types(app),
        [
            "Received",
            "Task Setup",
            "Started",
            "Terminated",
            "Restarting",
            "Started",
            "Terminated",
            "Restarting",
            "Started",
            "Terminated",
            "Not Restarting"
        ]
    );
    let terminated = app
        .events
        .iter()
        .find(|e| e.event_type == "Terminated")
        .unwrap();
    assert_eq!(
        (terminated.exit_code, terminated.display_message.as_str()),
        (Some(1), "Exit Code: 1")
    );
    let restarting = app
        .events
        .iter()
        .find(|e| e.event_type == "Restarting")
        .unwrap();
    assert!(
        restarting
            .display_message
            .starts_with("Task restarting in 1"),
        "{restarting:?}"
    );
    let not_restarting = app.events.last().unwrap();
    assert_eq!(
        not_restarting.display_message,
        "Exceeded allowed attempts 2 in interval 30m0s and mode is \"fail\""
    );
}

#[tokio::test(start_paused = true)]
async fn batch_success_completes_without_restart() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Arc::new(FakeDriver::new("fake"));
    let mut app = task("app", "fake", json!({"run_for_ms": 5}));
    app.restart_policy = Some(restart(3, 10, "fail"));
    let client = client(dir.path(), vec![fake.clone()]);
    let mut runner = AllocRunner::start(alloc("a-batch", job("batch", vec![app])), client).unwrap();
    let done = finish(&mut runner).await;
    assert_eq!(done.client_status, "complete");
    assert_eq!(start_count(&fake, "app"), 1);
    assert!(!state(&done, "app").failed);
}

#[tokio::test(start_paused = true)]
async fn a_dead_leader_stops_its_siblings() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Arc::new(FakeDriver::new("fake"));
    let mut leader = task("main", "fake", json!({"run_for_ms": 20}));
    leader.leader = true;
    let helper = task("helper", "fake", json!({}));
    let client = client(dir.path(), vec![fake.clone()]);
    let mut runner = AllocRunner::start(
        alloc("a-leader", job("batch", vec![leader, helper])),
        client,
    )
    .unwrap();
    let done = finish(&mut runner).await;
    assert_eq!(done.client_status, "complete");
    assert_eq!(
        starts_and_stops(&fake),
        ["start helper", "start main", "stop helper"]
    );
    let helper = state(&done, "helper");
    assert_eq!(
        event_types(helper),
        [
            "Received",
            "Task Setup",
            "Started",
            "Leader Task Dead",
            "Killing",
            "Terminated",
            "Killed"
        ]
    );
    assert!(!helper.failed);
}

#[tokio::test(start_paused = true)]
async fn a_failed_task_kills_its_siblings_and_fails_the_allocation() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Arc::new(FakeDriver::new("fake"));
    let bad = task("bad", "fake", json!({"run_for_ms": 5, "exit_code": 2}));
    let good = task("good", "fake", json!({}));
    let client = client(dir.path(), vec![fake.clone()]);
    let mut runner =
        AllocRunner::start(alloc("a-sibling", job("service", vec![bad, good])), client).unwrap();
    let done = finish(&mut runner).await;
    assert_eq!(done.client_status, "failed");
    assert!(state(&done, "bad").failed);
    let good = state(&done, "good");
    assert!(!good.failed);
    assert!(
        event_types(good).contains(&"Sibling Task Failed"),
        "{:?}",
        event_types(good)
    );
    let sibling = good
        .events
        .iter()
        .find(|e| e.event_type == "Sibling Task Failed")
        .unwrap();
    assert_eq!(sibling.display_message, "Task's sibling \"bad\" failed");
}

#[tokio::test(start_paused = true)]
async fn stop_uses_kill_signal_and_capped_kill_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Arc::new(FakeDriver::new("fake"));
    let mut a = task("a", "fake", json!({}));
    a.kill_signal = "SIGTERM".into();
    a.kill_timeout = Some(caravan_model::Duration::from_secs(3));
    let mut b = task("b", "fake", json!({}));
    b.kill_timeout = Some(caravan_model::Duration::from_secs(90));
    let c = task("c", "fake", json!({}));
    let client = client(dir.path(), vec![fake.clone()]);
    let mut runner =
        AllocRunner::start(alloc("a-kill", job("service", vec![a, b, c])), client).unwrap();
    let mut rx = runner.subscribe();
    wait_for(&mut rx, "running", |u| {
        u.task_states.values().all(|s| s.state == "running")
    })
    .await;
    stop(&mut runner).await;
    let stops: Vec<FakeCall> = fake
        .calls()
        .into_iter()
        .filter(|c| matches!(c, FakeCall::Stop { .. }))
        .collect();
    assert_eq!(
        stops,
        [
            FakeCall::Stop {
                task: "a".into(),
                signal: "SIGTERM".into(),
                timeout: Duration::from_secs(3)
            },
            FakeCall::Stop {
                task: "b".into(),
                signal: String::new(),
                timeout: Duration::from_secs(30)
            },
            FakeCall::Stop {
                task: "c".into(),
                signal: String::new(),
                timeout: Duration::from_secs(5)
            },
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn spec_carries_env_interpolated_config_dirs_and_logs() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Arc::new(FakeDriver::new("fake"));
    let mut app = task(
        "app",
        "fake",
        json!({"args": ["--port", "${NOMAD_PORT_redis}", "${attr.kernel.name}"]}),
    );
    app.env
        .insert("DEMO_REDIS_ADDR".into(), "${NOMAD_ADDR_redis}".into());
    app.log_config = Some(caravan_model::LogConfig {
        max_files: Some(3),
        max_file_size_mb: Some(2),
        disabled: None,
    });
    let client = client(dir.path(), vec![fake.clone()]);
    let mut runner = AllocRunner::start(alloc("a-env", job("service", vec![app])), client).unwrap();
    let mut rx = runner.subscribe();
    wait_for(&mut rx, "running", |u| u.client_status == "running").await;

    let spec = fake.started().remove(0);
    let alloc_dir = dir.path().join("alloc/a-env");
    assert_eq!(
        spec.env.get("NOMAD_ADDR_redis").map(String::as_str),
        Some("10.0.0.5:24000")
    );
    assert_eq!(
        spec.env.get("DEMO_REDIS_ADDR").map(String::as_str),
        Some("10.0.0.5:24000")
    );
    assert_eq!(
        spec.env.get("NOMAD_PORT_http").map(String::as_str),
        Some("8080")
    );
    let task_dir = alloc_dir.join("app/local").display().to_string();
    assert_eq!(spec.env.get("NOMAD_TASK_DIR"), Some(&task_dir));
    assert_eq!(
        spec.env.get("PATH"),
        None,
        "only raw_exec, exec and java inherit the agent's env"
    );
    assert_eq!(
        spec.driver_config["args"],
        json!(["--port", "24000", "linux"])
    );
    assert_eq!(spec.dirs.task_dir, alloc_dir.join("app"));
    assert_eq!(
        spec.logs.stdout_base,
        alloc_dir.join("alloc/logs/app.stdout")
    );
    assert_eq!((spec.logs.max_files, spec.logs.max_file_size_mb), (3, 2));
    assert!(alloc_dir.join("app/secrets").is_dir());
    stop(&mut runner).await;
}

#[tokio::test(start_paused = true)]
async fn recoverable_start_errors_are_retried_per_policy() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Arc::new(FakeDriver::new("fake"));
    fake.script(
        "app",
        FakeScript {
            start_error: Some("busy".into()),
            ..FakeScript::default()
        },
    );
    let mut app = task("app", "fake", json!({}));
    app.restart_policy = Some(restart(1, 10, "fail"));
    let client = client(dir.path(), vec![fake.clone()]);
    let mut runner =
        AllocRunner::start(alloc("a-start-err", job("service", vec![app])), client).unwrap();
    let done = finish(&mut runner).await;
    assert_eq!(done.client_status, "failed");
    assert_eq!(
        event_types(state(&done, "app")),
        [
            "Received",
            "Task Setup",
            "Driver Failure",
            "Restarting",
            "Driver Failure",
            "Not Restarting"
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn invalid_config_fails_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Arc::new(FakeDriver::new("fake"));
    let mut app = task("app", "fake", json!({"exit_code": "not a number"}));
    app.restart_policy = Some(restart(5, 10, "fail"));
    let client = client(dir.path(), vec![fake.clone()]);
    let mut runner =
        AllocRunner::start(alloc("a-bad-config", job("service", vec![app])), client).unwrap();
    let done = finish(&mut runner).await;
    assert_eq!(done.client_status, "failed");
    assert_eq!(start_count(&fake, "app"), 1);
    assert_eq!(
        state(&done, "app").events.last().unwrap().display_message,
        "Error was unrecoverable"
    );
}

#[tokio::test(start_paused = true)]
async fn stop_during_a_restart_delay_kills_without_restarting() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Arc::new(FakeDriver::new("fake"));
    let mut app = task("app", "fake", json!({"run_for_ms": 5, "exit_code": 1}));
    app.restart_policy = Some(restart(3, 60_000, "fail"));
    let client = client(dir.path(), vec![fake.clone()]);
    let mut runner =
        AllocRunner::start(alloc("a-stop-delay", job("service", vec![app])), client).unwrap();
    let mut rx = runner.subscribe();
    wait_for(&mut rx, "restarting", |u| {
        event_types(state(u, "app")).contains(&"Restarting")
    })
    .await;
    let done = stop(&mut runner).await;
    assert_eq!(done.client_status, "complete");
    assert_eq!(start_count(&fake, "app"), 1);
    assert_eq!(event_types(state(&done, "app")).last(), Some(&"Killed"));
}

#[tokio::test(start_paused = true)]
async fn unknown_driver_fails_the_task() {
    let dir = tempfile::tempdir().unwrap();
    let client = client(dir.path(), vec![]);
    let app = task("app", "nope", json!({}));
    let mut runner =
        AllocRunner::start(alloc("a-no-driver", job("service", vec![app])), client).unwrap();
    let done = finish(&mut runner).await;
    assert_eq!(done.client_status, "failed");
    let last = state(&done, "app").events.last().unwrap();
    assert_eq!(
        (last.event_type.as_str(), last.display_message.as_str()),
        (
            "Driver Failure",
            "driver \"nope\" is not available on this node"
        )
    );
}

#[tokio::test(start_paused = true)]
async fn a_failing_hook_fails_every_task_before_any_starts() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Arc::new(FakeDriver::new("fake"));
    let mut job = job("service", vec![task("app", "fake", json!({}))]);
    job.task_groups[0].networks[0].mode = "cni/mynet".into();
    let client = client(dir.path(), vec![fake.clone()]);
    let mut runner = AllocRunner::start(alloc("a-hook-fail", job), client).unwrap();
    let done = finish(&mut runner).await;
    assert_eq!(done.client_status, "failed");
    let app = state(&done, "app");
    assert_eq!(event_types(app), ["Setup Failure"]);
    assert_eq!(
        app.events[0].display_message,
        "network hook failed: network: network mode \"cni/mynet\" is not supported by this client"
    );
    assert!(fake.calls().is_empty());
}

#[tokio::test(start_paused = true)]
async fn destroy_removes_the_allocation_directory() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Arc::new(FakeDriver::new("fake"));
    let client = client(dir.path(), vec![fake.clone()]);
    let runner = AllocRunner::start(
        alloc(
            "a-destroy",
            job("service", vec![task("app", "fake", json!({}))]),
        ),
        client,
    )
    .unwrap();
    let mut rx = runner.subscribe();
    wait_for(&mut rx, "running", |u| u.client_status == "running").await;
    assert!(dir.path().join("alloc/a-destroy/alloc/logs").is_dir());
    runner.destroy().await.unwrap();
    assert!(!dir.path().join("alloc/a-destroy").exists());
    assert!(fake.running().is_empty());
}

#[tokio::test(start_paused = true)]
async fn dropping_the_runner_stops_its_tasks() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Arc::new(FakeDriver::new("fake"));
    let client = client(dir.path(), vec![fake.clone()]);
    let runner = AllocRunner::start(
        alloc(
            "a-drop",
            job("service", vec![task("app", "fake", json!({}))]),
        ),
        client,
    )
    .unwrap();
    let mut rx = runner.subscribe();
    wait_for(&mut rx, "running", |u| u.client_status == "running").await;
    drop(runner);
    wait_for(&mut rx, "complete", |u| u.client_status == "complete").await;
    assert!(fake.running().is_empty());
}

#[tokio::test(start_paused = true)]
async fn every_change_is_reported_in_order_pending_running_complete() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Arc::new(FakeDriver::new("fake"));
    let client = client(dir.path(), vec![fake.clone()]);
    let runner = AllocRunner::start(
        alloc(
            "a-report",
            job("batch", vec![task("app", "fake", json!({"run_for_ms": 5}))]),
        ),
        client,
    )
    .unwrap();
    let mut rx = runner.subscribe();
    let mut seen = vec![rx.borrow_and_update().client_status.clone()];
    while rx.changed().await.is_ok() {
        let status = rx.borrow_and_update().client_status.clone();
        if seen.last() != Some(&status) {
            seen.push(status.clone());
        }
        if status == "complete" {
            break;
        }
    }
    assert_eq!(seen, ["pending", "running", "complete"]);
    assert_eq!(rx.borrow().alloc_id.as_str(), "a-report");
}

#[tokio::test(start_paused = true)]
async fn a_signal_reaches_the_running_task_through_its_driver() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Arc::new(FakeDriver::new("fake"));
    let tasks = vec![
        task("app", "fake", json!({"handled_signals": ["SIGHUP"]})),
        task("sidecar", "fake", json!({"handled_signals": ["SIGHUP"]})),
    ];
    let client = client(dir.path(), vec![fake.clone()]);
    let mut runner = AllocRunner::start(alloc("a-signal", job("service", tasks)), client).unwrap();
    let mut rx = runner.subscribe();
    wait_for(&mut rx, "both running", |u| {
        state(u, "app").state == "running" && state(u, "sidecar").state == "running"
    })
    .await;

    // Phase 1: one task, by name.
    runner
        .signal(Some("app".into()), "SIGHUP".into())
        .await
        .expect("signal app");
    let signals = |fake: &FakeDriver| -> Vec<(String, String)> {
        fake.calls()
            .into_iter()
            .filter_map(|c| match c {
                FakeCall::Signal { task, signal } => Some((task, signal)),
                _ => None,
            })
            .collect()
    };
    assert_eq!(signals(&fake), [("app".to_owned(), "SIGHUP".to_owned())]);
    let now = wait_for(&mut rx, "the Signaling event", |u| {
        event_types(state(u, "app")).contains(&"Signaling")
    })
    .await;
    let signaling = state(&now, "app")
        .events
        .iter()
        .find(|e| e.event_type == "Signaling")
        .unwrap();
    assert_eq!(signaling.display_message, "Task being sent signal SIGHUP");
    assert_eq!(state(&now, "app").state, "running", "a handled signal");

    // Phase 2: every running task.
    runner
        .signal(None, "SIGHUP".into())
        .await
        .expect("signal every task");
    let after_all: Vec<String> = signals(&fake)
        .into_iter()
        .skip(1)
        .map(|(task, _)| task)
        .collect();
    assert_eq!(after_all, ["app", "sidecar"]);

    // Phase 3: what cannot be done says why.
    let unknown = runner
        .signal(Some("nope".into()), "SIGHUP".into())
        .await
        .unwrap_err();
    assert_eq!(
        unknown.to_string(),
        "task \"nope\" not found in allocation a-signal"
    );
    let bad = runner
        .signal(Some("sidecar".into()), "SIGNOPE".into())
        .await
        .unwrap_err();
    assert!(
        matches!(
            bad,
            caravan_client::AllocRunnerError::Task(caravan_client::TaskRunnerError::Driver {
                source: caravan_drivers::DriverError::UnknownSignal(_),
                ..
            })
        ),
        "{bad:?}"
    );

    // Phase 4: once stopped, nothing is running.
    let _done = stop(&mut runner).await;
    let late = runner.signal(None, "SIGHUP".into()).await.unwrap_err();
    assert_eq!(
        late.to_string(),
        "allocation a-signal is not running its tasks"
    );
}

#[tokio::test(start_paused = true)]
async fn restarting_one_task_stops_and_starts_it_outside_the_restart_policy() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Arc::new(FakeDriver::new("fake"));
    let mut app = task("app", "fake", json!({}));
    // No restarts allowed: a user's restart must not count against the policy.
    app.restart_policy = Some(restart(0, 1000, "fail"));
    let tasks = vec![app, task("sidecar", "fake", json!({}))];
    let client = client(dir.path(), vec![fake.clone()]);
    let mut runner =
        AllocRunner::start(alloc("a-restart-one", job("service", tasks)), client).unwrap();
    let mut rx = runner.subscribe();
    wait_for(&mut rx, "both running", |u| {
        state(u, "app").state == "running" && state(u, "sidecar").state == "running"
    })
    .await;

    runner
        .restart_task("app".into())
        .await
        .expect("restart app");
    let again = wait_for(&mut rx, "app running again", |u| {
        let app = state(u, "app");
        app.state == "running" && app.restarts == 1
    })
    .await;
    assert_eq!(start_count(&fake, "app"), 2);
    assert_eq!(start_count(&fake, "sidecar"), 1, "the sibling is untouched");
    assert_eq!(
        event_types(state(&again, "app")),
        [
            "Received",
            "Task Setup",
            "Started",
            "Restart Signaled",
            "Killing",
            "Terminated",
            "Restarting",
            "Started"
        ]
    );
    assert_eq!(again.client_status, "running");

    let done = stop(&mut runner).await;
    assert_eq!(done.client_status, "complete", "{done:?}");
}
