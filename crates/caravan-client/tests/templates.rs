//! Templates in the task runner, against the FakeDriver and a fake catalog: rendered
//! before the task starts, `env = true` in the task's environment, rendered again
//! when the catalog changes with the change mode carried out, and the failures that
//! fail the task (a destination outside the task directory, a syntax error).

#![allow(clippy::unwrap_used)]

mod common;

use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;
use std::time::Duration;

use caravan_client::AllocRunner;
use caravan_drivers::{FakeCall, FakeDriver};
use caravan_model::{AllocId, ServiceProvider, ServiceRegistration};
use common::catalog::FakeCatalog;
use common::*;
use serde_json::json;

const REDIS_ENV: &str =
    "{{ range nomadService \"redis\" }}DEMO_REDIS_ADDR={{ .Address }}:{{ .Port }}\n{{ end }}";

fn redis(alloc: &str, port: u16) -> ServiceRegistration {
    let alloc_id = AllocId::new(alloc);
    ServiceRegistration {
        id: ServiceRegistration::task_service_id(&alloc_id, "redis", "redis", "db"),
        service_name: "redis".into(),
        namespace: "default".into(),
        alloc_id,
        job_id: "redis".into(),
        address: "10.0.0.7".into(),
        port,
        provider: ServiceProvider::Nomad,
        ..ServiceRegistration::default()
    }
}

#[tokio::test]
async fn templates_render_before_the_start_and_env_true_reaches_the_task() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Arc::new(FakeDriver::new("fake"));
    let catalog = Arc::new(FakeCatalog::new());
    catalog.put(redis("r1", 6379));
    let client = client_with_server(dir.path(), vec![fake.clone()], catalog.clone());
    let mut env_tmpl = template(REDIS_ENV, "secrets/config.env");
    env_tmpl.envvars = Some(true);
    let mut plain = template(
        "node {{ env \"node.unique.id\" }} task {{ env \"NOMAD_TASK_NAME\" }} path {{ env \"PATH\" }}",
        "local/info.txt",
    );
    plain.perms = Some("0600".into());
    let mut runner =
        AllocRunner::start(app_alloc("a-tmpl", vec![env_tmpl, plain]), client).unwrap();
    let mut rx = runner.subscribe();
    wait_for(&mut rx, "the task running", |u| {
        u.client_status == "running"
    })
    .await;

    let task_dir = dir.path().join("alloc/a-tmpl/app");
    let config = std::fs::read_to_string(task_dir.join("secrets/config.env")).unwrap();
    assert_eq!(config, "DEMO_REDIS_ADDR=10.0.0.7:6379\n");
    let spec = &fake.started()[0];
    assert_eq!(spec.env["DEMO_REDIS_ADDR"], "10.0.0.7:6379");
    // The agent's own variables (PATH here) are masked in templates.
    let info = task_dir.join("local/info.txt");
    assert_eq!(
        std::fs::read_to_string(&info).unwrap(),
        "node node-1 task app path "
    );
    let mode = std::fs::metadata(&info).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    stop(&mut runner).await;
}

#[tokio::test]
async fn a_catalog_change_rewrites_the_file_and_restarts_the_task_with_the_new_env() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Arc::new(FakeDriver::new("fake"));
    let catalog = Arc::new(FakeCatalog::new());
    catalog.put(redis("r1", 6379));
    let client = client_with_server(dir.path(), vec![fake.clone()], catalog.clone());
    let mut env_tmpl = template(REDIS_ENV, "secrets/config.env");
    env_tmpl.envvars = Some(true);
    let list = template(
        "{{ range nomadService \"redis\" }}{{ .Address }}:{{ .Port }}\n{{ end }}",
        "local/redis.txt",
    );
    let mut runner =
        AllocRunner::start(app_alloc("a-change", vec![env_tmpl, list]), client).unwrap();
    let mut rx = runner.subscribe();
    wait_for(&mut rx, "the task running", |u| {
        u.client_status == "running"
    })
    .await;
    let file = dir.path().join("alloc/a-change/app/local/redis.txt");

    // Phase 1: a second instance: both listed, and the task restarted once.
    catalog.put(redis("r2", 6380));
    let restarted = wait_for(&mut rx, "the task restarted", |u| {
        state(u, "app").restarts == 1 && state(u, "app").state == "running"
    })
    .await;
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        "10.0.0.7:6379\n10.0.0.7:6380\n"
    );
    let signaled = find_event(&state(&restarted, "app").events, "Restart Signaled").unwrap();
    assert_eq!(
        signaled.display_message,
        "Template with change_mode restart re-rendered"
    );
    // The env file ends with the last instance: the new start sees it.
    assert_eq!(fake.started()[1].env["DEMO_REDIS_ADDR"], "10.0.0.7:6380");

    // Phase 2: one goes: rendered again, restarted again.
    catalog.remove(&redis("r1", 0).id);
    wait_for(&mut rx, "the second restart", |u| {
        state(u, "app").restarts == 2 && state(u, "app").state == "running"
    })
    .await;
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "10.0.0.7:6380\n");

    // Phase 3: a change elsewhere in the catalog changes no file: no restart.
    let mut other = redis("o1", 1);
    other.service_name = "other".into();
    other.id = "_nomad-task-o1-x-other-p".into();
    catalog.put(other);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(starts(&fake), 3);
    stop(&mut runner).await;
}

#[tokio::test]
async fn change_mode_signal_sends_the_signal_and_noop_does_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Arc::new(FakeDriver::new("fake"));
    let catalog = Arc::new(FakeCatalog::new());
    let client = client_with_server(dir.path(), vec![fake.clone()], catalog.clone());
    let mut hup = template(REDIS_ENV, "local/a.env");
    hup.change_mode = Some("signal".into());
    hup.change_signal = Some("SIGUSR1".into());
    let mut noop = template(REDIS_ENV, "local/b.env");
    noop.change_mode = Some("noop".into());
    let mut app = task("app", "fake", json!({"handled_signals": ["SIGUSR1"]}));
    app.templates = vec![hup, noop];
    let mut runner =
        AllocRunner::start(alloc("a-signal", job("service", vec![app])), client).unwrap();
    let mut rx = runner.subscribe();
    wait_for(&mut rx, "the task running", |u| {
        u.client_status == "running"
    })
    .await;

    catalog.put(redis("r1", 6379));
    let signaled = wait_for(&mut rx, "the signal", |u| {
        find_event(&state(u, "app").events, "Signaling").is_some()
    })
    .await;
    assert_eq!(state(&signaled, "app").restarts, 0);
    let sent: Vec<String> = fake
        .calls()
        .into_iter()
        .filter_map(|c| match c {
            FakeCall::Signal { signal, .. } => Some(signal),
            _ => None,
        })
        .collect();
    assert_eq!(sent, ["SIGUSR1"]);
    stop(&mut runner).await;
}

#[tokio::test]
async fn a_destination_outside_the_task_directory_fails_the_task() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Arc::new(FakeDriver::new("fake"));
    let client = client(dir.path(), vec![fake.clone()]);
    let escape = template("x", "../../etc/x");
    let mut runner = AllocRunner::start(app_alloc("a-escape", vec![escape]), client).unwrap();
    let done = finish(&mut runner).await;
    assert_eq!(done.client_status, "failed");
    let app = state(&done, "app");
    assert!(app.failed);
    let failed = find_event(&app.events, "Task hook failed").unwrap();
    assert_eq!(
        failed.display_message,
        "Template failed: destination escapes the task directory (\"../../etc/x\")"
    );
    assert_eq!(starts(&fake), 0);
    assert!(!dir.path().join("etc/x").exists());
}

#[tokio::test]
async fn a_syntax_error_fails_the_task_naming_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Arc::new(FakeDriver::new("fake"));
    let client = client(dir.path(), vec![fake.clone()]);
    let broken = template("fine\n{{ range nomadService \"redis\" }\n", "local/x.conf");
    let mut runner = AllocRunner::start(app_alloc("a-syntax", vec![broken]), client).unwrap();
    let done = finish(&mut runner).await;
    let app = state(&done, "app");
    assert!(app.failed);
    let failed = find_event(&app.events, "Task hook failed").unwrap();
    assert!(
        failed
            .display_message
            .starts_with("Template failed: template: local/x.conf:2:"),
        "{}",
        failed.display_message
    );
    assert_eq!(starts(&fake), 0);
}

#[tokio::test(start_paused = true)]
async fn a_task_waits_for_data_that_never_comes_and_says_what_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Arc::new(FakeDriver::new("fake"));
    let catalog = Arc::new(FakeCatalog::new());
    let client = client_with_server(dir.path(), vec![fake.clone()], catalog.clone());
    let kv = template("{{ key \"app/config\" }}", "local/config");
    let mut runner = AllocRunner::start(app_alloc("a-wait", vec![kv]), client).unwrap();
    let mut rx = runner.subscribe();
    let waiting = wait_for(&mut rx, "the missing notice", |u| {
        find_event(&state(u, "app").events, "Template").is_some()
    })
    .await;
    let notice = find_event(&state(&waiting, "app").events, "Template").unwrap();
    assert_eq!(notice.display_message, "Missing: kv.get(app/config)");
    assert_eq!(starts(&fake), 0);
    // A stop while waiting ends it without a start.
    let done = stop(&mut runner).await;
    assert_eq!(state(&done, "app").state, "dead");
    assert_eq!(starts(&fake), 0);
}
