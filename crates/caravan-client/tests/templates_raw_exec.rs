//! Templates with the real raw_exec driver: `change_mode = "script"` runs its command
//! in the task (its directory and environment), and a script that fails with
//! `fail_on_error` fails the task.

#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;

use caravan_client::AllocRunner;
use caravan_drivers::RawExecDriver;
use caravan_model::{AllocId, ChangeScript, ServiceProvider, ServiceRegistration, Task, Template};
use common::catalog::FakeCatalog;
use common::*;
use serde_json::json;

fn redis(alloc: &str, port: u16) -> ServiceRegistration {
    let alloc_id = AllocId::new(alloc);
    ServiceRegistration {
        id: ServiceRegistration::task_service_id(&alloc_id, "redis", "redis", "db"),
        service_name: "redis".into(),
        namespace: "default".into(),
        alloc_id,
        address: "10.0.0.7".into(),
        port,
        provider: ServiceProvider::Nomad,
        ..ServiceRegistration::default()
    }
}

/// A sleeping shell task whose template lists redis, with `change_mode = "script"`.
fn scripted(command: &str, args: &[&str], fail_on_error: bool) -> Task {
    let mut app = task(
        "app",
        "raw_exec",
        json!({"command": "/bin/sh", "args": ["-c", "sleep 600"]}),
    );
    app.templates = vec![Template {
        embedded_tmpl: Some("{{ range nomadService \"redis\" }}{{ .Port }}\n{{ end }}".into()),
        dest_path: Some("local/redis.txt".into()),
        change_mode: Some("script".into()),
        change_script: Some(ChangeScript {
            command: Some(command.into()),
            args: args.iter().map(|a| (*a).to_owned()).collect(),
            timeout: Some(caravan_model::Duration::from_secs(5)),
            fail_on_error: Some(fail_on_error),
        }),
        ..Template::default()
    }];
    app
}

#[tokio::test]
async fn change_script_runs_in_the_task_directory_with_its_environment() {
    let dir = tempfile::tempdir().unwrap();
    let catalog = Arc::new(FakeCatalog::new());
    let client = client_with_server(
        dir.path(),
        vec![Arc::new(RawExecDriver::new())],
        catalog.clone(),
    );
    let app = scripted(
        "/bin/sh",
        &[
            "-c",
            "cp local/redis.txt local/seen.txt; echo $NOMAD_TASK_NAME > local/who.txt",
        ],
        true,
    );
    let mut runner =
        AllocRunner::start(alloc("r-script", job("service", vec![app])), client).unwrap();
    let mut rx = runner.subscribe();
    wait_for(&mut rx, "running", |u| u.client_status == "running").await;

    catalog.put(redis("r1", 6379));
    let ran = wait_for(&mut rx, "the script's event", |u| {
        state(u, "app").events.iter().any(|e| {
            e.display_message
                .starts_with("Template successfully ran script")
        })
    })
    .await;
    let task_dir = dir.path().join("alloc/r-script/app/local");
    assert_eq!(
        std::fs::read_to_string(task_dir.join("seen.txt")).unwrap(),
        "6379\n"
    );
    assert_eq!(
        std::fs::read_to_string(task_dir.join("who.txt")).unwrap(),
        "app\n"
    );
    assert_eq!(state(&ran, "app").restarts, 0, "a script is no restart");
    assert_eq!(state(&ran, "app").state, "running");
    stop(&mut runner).await;
}

#[tokio::test]
async fn a_failing_change_script_with_fail_on_error_fails_the_task() {
    let dir = tempfile::tempdir().unwrap();
    let catalog = Arc::new(FakeCatalog::new());
    let client = client_with_server(
        dir.path(),
        vec![Arc::new(RawExecDriver::new())],
        catalog.clone(),
    );
    let app = scripted("/bin/sh", &["-c", "exit 3"], true);
    let mut runner =
        AllocRunner::start(alloc("r-fail", job("service", vec![app])), client).unwrap();
    let mut rx = runner.subscribe();
    wait_for(&mut rx, "running", |u| u.client_status == "running").await;

    catalog.put(redis("r1", 6379));
    let done = finish(&mut runner).await;
    let app = state(&done, "app");
    assert!(app.failed, "{app:#?}");
    let messages: Vec<&str> = app
        .events
        .iter()
        .map(|e| e.display_message.as_str())
        .collect();
    assert!(
        messages
            .iter()
            .any(|m| m.ends_with("on change but it exited with code code: 3")),
        "{messages:#?}"
    );
    assert!(
        messages.contains(&"Template failed: change_script \"/bin/sh\" failed"),
        "{messages:#?}"
    );
}
