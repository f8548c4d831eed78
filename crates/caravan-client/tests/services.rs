//! Service registration by the allocation runner, against the FakeDriver and a fake
//! catalog: ids and addresses as Nomad makes them, a task's services leaving the
//! catalog while it restarts, and everything leaving when the allocation stops.

#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use caravan_client::AllocRunner;
use caravan_client::checks::{FakeProber, ProbeResult};
use caravan_drivers::{ExitResult, FakeDriver};
use caravan_model::{
    CheckRestart, HealthStatus, Service, ServiceCheck, ServiceProvider, ServiceRegistration,
};
use common::catalog::{CatalogCall, FakeCatalog};
use common::*;
use serde_json::json;

fn service(name: &str, port: &str) -> Service {
    Service {
        name: name.into(),
        port_label: port.into(),
        provider: "nomad".into(),
        address_mode: "auto".into(),
        tags: vec!["${NOMAD_TASK_NAME}".into()],
        ..Service::default()
    }
}

/// Waits until `done` holds; panics after [`PATIENCE`].
async fn eventually(what: &str, catalog: &FakeCatalog, mut done: impl FnMut(&FakeCatalog) -> bool) {
    let waited = tokio::time::timeout(PATIENCE, async {
        while !done(catalog) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    assert!(
        waited.is_ok(),
        "timed out waiting for {what}: {:?}",
        catalog.calls()
    );
}

const WEB: &str = "_nomad-task-a-svc-group-web-web-http";
const CACHE: &str = "_nomad-task-a-svc-app-cache-redis";

/// A group service on `http` and a task service on `redis`.
fn alloc_with_services() -> caravan_model::Allocation {
    let mut app = task("app", "fake", json!({}));
    app.services = vec![service("cache", "redis")];
    let mut job = job("service", vec![app]);
    job.task_groups[0].services = vec![service("web", "http")];
    alloc("a-svc", job)
}

#[tokio::test]
async fn services_are_registered_while_tasks_run_and_removed_when_the_allocation_stops() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Arc::new(FakeDriver::new("fake"));
    let catalog = Arc::new(FakeCatalog::new());
    let client = client_with_server(dir.path(), vec![fake.clone()], catalog.clone());
    let mut runner = AllocRunner::start(alloc_with_services(), client).unwrap();

    // Phase 1: both instances, with Nomad's ids and the host addresses.
    eventually("both services", &catalog, |c| c.ids().len() == 2).await;
    let web = catalog.reg(WEB).expect("the group service");
    assert_eq!((web.address.as_str(), web.port), ("10.0.0.5", 23456));
    assert_eq!(web.service_name, "web");
    // A group service reads the first task's environment.
    assert_eq!(web.tags, ["app"]);
    let cache = catalog.reg(CACHE).expect("the task service");
    assert_eq!((cache.address.as_str(), cache.port), ("10.0.0.5", 24000));
    assert_eq!(cache.provider, ServiceProvider::Nomad);
    assert_eq!(cache.health, HealthStatus::Passing);
    assert_eq!(
        (
            cache.job_id.as_str(),
            cache.alloc_id.as_str(),
            cache.node_id.as_str()
        ),
        ("demo", "a-svc", "node-1")
    );
    assert_eq!(cache.namespace, "default");

    // Phase 2: stopping takes everything out, before the task is stopped.
    stop(&mut runner).await;
    assert!(catalog.ids().is_empty(), "{:?}", catalog.regs());
    assert!(
        catalog
            .writes()
            .contains(&CatalogCall::DeleteAlloc("a-svc".into())),
        "{:?}",
        catalog.calls()
    );
}

#[tokio::test]
async fn a_task_waiting_to_restart_leaves_the_catalog_and_comes_back() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Arc::new(FakeDriver::new("fake"));
    let catalog = Arc::new(FakeCatalog::new());
    let client = client_with_server(dir.path(), vec![fake.clone()], catalog.clone());
    let mut alloc = alloc_with_services();
    // One restart, after a delay long enough to be seen; a second task keeps the
    // group (and so its service) running meanwhile.
    let group = &mut alloc.job.as_mut().unwrap().task_groups[0];
    group.restart_policy = Some(restart(1, 300, "fail"));
    group.tasks.push(task("side", "fake", json!({})));
    let mut runner = AllocRunner::start(alloc, client).unwrap();
    eventually("both services", &catalog, |c| c.ids().len() == 2).await;

    // Phase 1: the task dies; while it waits to restart, only the group's is left.
    assert!(fake.exit_task(&"a-svc".into(), "app", ExitResult::code(1)));
    eventually("the task service gone", &catalog, |c| c.ids() == [WEB]).await;

    // Phase 2: it runs again, and is registered again.
    let mut rx = runner.subscribe();
    wait_for(&mut rx, "the task running again", |u| {
        state(u, "app").restarts == 1 && state(u, "app").state == "running"
    })
    .await;
    eventually("both services again", &catalog, |c| c.ids().len() == 2).await;
    let writes = catalog.writes();
    assert!(
        writes.contains(&CatalogCall::Delete(vec![CACHE.into()])),
        "{writes:?}"
    );
    stop(&mut runner).await;
}

#[tokio::test]
async fn without_services_nothing_is_sent() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Arc::new(FakeDriver::new("fake"));
    let catalog = Arc::new(FakeCatalog::new());
    let client = client_with_server(dir.path(), vec![fake.clone()], catalog.clone());
    let tasks = vec![task("app", "fake", json!({}))];
    let mut runner = AllocRunner::start(alloc("a-none", job("service", tasks)), client).unwrap();
    let mut rx = runner.subscribe();
    wait_for(&mut rx, "running", |u| u.client_status == "running").await;
    stop(&mut runner).await;
    assert!(catalog.calls().is_empty(), "{:?}", catalog.calls());
}

/// The cache service of [`alloc_with_services`] with an http check `alive`.
fn alloc_with_a_check(check_restart: Option<CheckRestart>) -> caravan_model::Allocation {
    let mut alloc = alloc_with_services();
    let group = &mut alloc.job.as_mut().unwrap().task_groups[0];
    group.tasks[0].services[0].checks = vec![ServiceCheck {
        name: "alive".into(),
        check_type: "http".into(),
        path: "/health".into(),
        interval: caravan_model::Duration::from_secs(1),
        timeout: caravan_model::Duration::from_secs(1),
        check_restart,
        ..ServiceCheck::default()
    }];
    alloc
}

fn alive_id() -> String {
    let reg = ServiceRegistration {
        id: CACHE.into(),
        ..ServiceRegistration::default()
    };
    reg.check_id("alive")
}

#[tokio::test(start_paused = true)]
async fn check_results_become_the_registrations_health() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Arc::new(FakeDriver::new("fake"));
    let catalog = Arc::new(FakeCatalog::new());
    let prober = Arc::new(FakeProber::new());
    let client = client_with_prober(
        dir.path(),
        vec![fake.clone()],
        catalog.clone(),
        prober.clone(),
    );
    let check = alive_id();
    prober.push(&check, ProbeResult::ok("nomad: http ok"));
    let mut runner = AllocRunner::start(alloc_with_a_check(None), client).unwrap();
    let health = |c: &FakeCatalog| c.reg(CACHE).map(|r| (r.health, r.checks));

    // Phase 1: pending (a Nomad check), then passing once it has run.
    eventually("the first result", &catalog, |c| {
        health(c).is_some_and(|(h, checks)| h == HealthStatus::Passing && checks[0].timestamp > 0)
    })
    .await;
    let reg = catalog.reg(CACHE).unwrap();
    assert_eq!(reg.checks[0].name, "alive");
    assert_eq!(reg.checks[0].output, "nomad: http ok");
    assert_eq!(reg.checks[0].task, "app");
    // The group service has no checks: passing.
    assert_eq!(catalog.reg(WEB).unwrap().health, HealthStatus::Passing);

    // Phase 2: failing turns it critical, with the output.
    prober.push(&check, ProbeResult::failure("connection refused"));
    eventually("critical", &catalog, |c| {
        health(c).is_some_and(|(h, _)| h == HealthStatus::Critical)
    })
    .await;
    assert_eq!(
        catalog.reg(CACHE).unwrap().checks[0].output,
        "connection refused"
    );

    // Phase 3: and passing again brings it back.
    prober.push(&check, ProbeResult::ok("nomad: http ok"));
    eventually("passing again", &catalog, |c| {
        health(c).is_some_and(|(h, _)| h == HealthStatus::Passing)
    })
    .await;
    stop(&mut runner).await;
    assert!(catalog.ids().is_empty());
}

#[tokio::test(start_paused = true)]
async fn check_restart_restarts_the_task_whose_check_stays_unhealthy() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Arc::new(FakeDriver::new("fake"));
    let catalog = Arc::new(FakeCatalog::new());
    let prober = Arc::new(FakeProber::new());
    let client = client_with_prober(
        dir.path(),
        vec![fake.clone()],
        catalog.clone(),
        prober.clone(),
    );
    prober.push(&alive_id(), ProbeResult::failure("connection refused"));
    let policy = CheckRestart {
        limit: 2,
        grace: Some(caravan_model::Duration::from_secs(1)),
        ignore_warnings: false,
    };
    let mut runner = AllocRunner::start(alloc_with_a_check(Some(policy)), client).unwrap();
    let mut rx = runner.subscribe();
    let restarted = wait_for(&mut rx, "the restart", |u| state(u, "app").restarts >= 1).await;
    let signaled = state(&restarted, "app")
        .events
        .iter()
        .find(|e| e.event_type == "Restart Signaled")
        .unwrap();
    assert_eq!(
        signaled.display_message,
        "healthcheck: check \"alive\" unhealthy"
    );
    stop(&mut runner).await;
}
