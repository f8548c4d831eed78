//! The client agent against a recording fake of the servers: the host ports it
//! reports as reserved (real sockets, read back from /proc), the network hook's
//! refusal of a port taken outside Caravan, signals and restarts reaching tasks
//! of the FakeDriver, and the removal of a previous run's leftovers at start.

#![allow(clippy::unwrap_used)]

mod common;

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use caravan_client::{
    ClientAgent, ClientAgentError, ClientPlugins, ContainerCall, FakeContainerRuntime,
};
use caravan_drivers::{FakeCall, FakeDriver, TaskDriver};
use caravan_model::{AllocId, Allocation};
use caravan_net::{FakeNetOps, NetCall};
use common::fake_server::*;
use common::*;
use serde_json::json;

fn ports_of(list: &str) -> Vec<u16> {
    let mut ports = Vec::new();
    for entry in list.split(',').filter(|e| !e.is_empty()) {
        let (lo, hi) = entry.split_once('-').unwrap_or((entry, entry));
        let (lo, hi): (u16, u16) = (lo.trim().parse().unwrap(), hi.trim().parse().unwrap());
        ports.extend(lo..=hi);
    }
    ports
}

/// An allocation of the common job with one task on `driver`, its ports on
/// 127.0.0.1 (the first one at `redis_port`).
fn alloc_on(id: &str, driver: &str, redis_port: u16) -> Allocation {
    let tasks = vec![task("app", driver, json!({"handled_signals": ["SIGHUP"]}))];
    let mut alloc = alloc(id, job("service", tasks));
    for (i, port) in alloc
        .allocated_resources
        .shared
        .ports
        .iter_mut()
        .enumerate()
    {
        port.host_ip = "127.0.0.1".into();
        if i == 1 {
            port.value = redis_port;
        } else {
            // Ask the OS for a free port: a fixed one may be taken on a busy host.
            port.value = TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
        }
    }
    alloc
}

#[tokio::test]
async fn ports_bound_outside_caravan_are_reported_as_reserved_and_freed_ones_dropped() {
    let dir = tempfile::tempdir().unwrap();
    // Something outside Caravan listens before the agent starts.
    let squatter = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = squatter.local_addr().unwrap().port();
    let server = FakeServer::new(Duration::from_millis(200));
    let drivers: Vec<Arc<dyn TaskDriver>> = vec![Arc::new(FakeDriver::new("fake"))];
    let agent = ClientAgent::start(config(dir.path(), "22"), server.clone(), drivers)
        .await
        .unwrap();

    // Phase 1: the first registration already carries it, after the configured ports.
    let first = server.registrations()[0].clone();
    assert!(first.starts_with("22"), "configured ports first: {first}");
    assert!(ports_of(&first).contains(&port), "{port} in {first}");

    // Phase 2: once it is let go, a heartbeat tick registers the node without it.
    drop(squatter);
    eventually("a registration without the freed port", || {
        server
            .registrations()
            .last()
            .is_some_and(|r| !ports_of(r).contains(&port) && r.starts_with("22"))
    })
    .await;
    agent.shutdown().await;
}

#[tokio::test]
async fn a_port_taken_outside_caravan_fails_the_allocation_and_is_reported_first() {
    let dir = tempfile::tempdir().unwrap();
    // Heartbeat ticks far apart: only the failure makes the agent look again.
    let server = FakeServer::new(Duration::from_secs(600));
    let fake = Arc::new(FakeDriver::new("fake"));
    let drivers: Vec<Arc<dyn TaskDriver>> = vec![fake.clone()];
    let agent = ClientAgent::start(config(dir.path(), ""), server.clone(), drivers)
        .await
        .unwrap();

    // Bound after the node registered: the scheduler could not know.
    let squatter = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = squatter.local_addr().unwrap().port();
    server.place(alloc_on("a-taken", "fake", port));

    eventually("the allocation to fail", || {
        server
            .last_update("a-taken")
            .is_some_and(|u| u.client_status == "failed")
    })
    .await;
    let failed = server.last_update("a-taken").unwrap();
    let app = &failed.task_states["app"];
    let setup = app
        .events
        .iter()
        .find(|e| e.event_type == "Setup Failure")
        .expect("a Setup Failure event");
    assert_eq!(
        setup.display_message,
        format!(
            "network hook failed: port {port} (\"redis\") is already in use on 127.0.0.1 by another process"
        )
    );
    assert!(fake.calls().is_empty(), "no task was started");

    // The servers learnt of the port before they heard of the failure.
    let seen = server.seen();
    let registered = seen
        .iter()
        .position(|s| matches!(s, Seen::Register(r) if ports_of(r).contains(&port)))
        .expect("a registration with the port");
    let reported = seen
        .iter()
        .position(|s| *s == Seen::Update("a-taken".into(), "failed".into()))
        .unwrap();
    assert!(registered < reported, "{seen:?}");
    drop(squatter);
    agent.shutdown().await;
}

#[tokio::test]
async fn signals_and_restarts_reach_the_tasks_and_own_ports_are_not_foreign() {
    let dir = tempfile::tempdir().unwrap();
    let server = FakeServer::new(Duration::from_millis(200));
    let fake = Arc::new(FakeDriver::new("fake"));
    let drivers: Vec<Arc<dyn TaskDriver>> = vec![fake.clone()];
    let agent = ClientAgent::start(config(dir.path(), ""), server.clone(), drivers)
        .await
        .unwrap();
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    server.place(alloc_on("a-run", "fake", port));
    eventually("the allocation to run", || {
        server
            .last_update("a-run")
            .is_some_and(|u| u.client_status == "running")
    })
    .await;

    // Phase 1: the task's own port (the fake binds none, so stand in for it) is
    // Caravan's, so it never shows up as reserved.
    let task_socket = TcpListener::bind(("127.0.0.1", port)).unwrap();
    let before = server.registrations().len();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        server.registrations()[before..]
            .iter()
            .all(|r| !ports_of(r).contains(&port)),
        "{:?}",
        server.registrations()
    );
    drop(task_socket);

    // Phase 2: a signal, to one task and to all.
    let id = AllocId::new("a-run");
    agent
        .signal_alloc(&id, Some("app".into()), "SIGHUP".into())
        .await
        .unwrap();
    agent
        .signal_alloc(&id, None, "SIGHUP".into())
        .await
        .unwrap();
    let signals = fake
        .calls()
        .into_iter()
        .filter(|c| matches!(c, FakeCall::Signal { task, signal } if task == "app" && signal == "SIGHUP"))
        .count();
    assert_eq!(signals, 2);

    // Phase 3: a task restarted in place.
    agent.restart_task(&id, "app".into()).await.unwrap();
    eventually("the task restarted", || {
        server
            .last_update("a-run")
            .is_some_and(|u| u.task_states["app"].restarts == 1 && u.client_status == "running")
    })
    .await;

    // Phase 4: what cannot be done says why.
    let unknown = agent
        .signal_alloc(&"nope".into(), None, "SIGHUP".into())
        .await
        .unwrap_err();
    assert!(
        matches!(unknown, ClientAgentError::UnknownAlloc(_)),
        "{unknown:?}"
    );
    let no_task = agent.restart_task(&id, "ghost".into()).await.unwrap_err();
    assert_eq!(
        no_task.to_string(),
        "task \"ghost\" not found in allocation a-run"
    );
    agent.shutdown().await;
}

#[tokio::test]
async fn leftovers_of_allocations_that_should_not_run_are_removed_before_any_runs() {
    let dir = tempfile::tempdir().unwrap();
    let server = FakeServer::new(Duration::from_secs(30));
    // One allocation to run, one the servers stopped while the agent was away.
    server.place(alloc_on("a-live", "fake", 0));
    let mut stopped = alloc_on("a-stopped", "fake", 0);
    stopped.desired_status = "stop".into();
    server.place(stopped);
    let net = Arc::new(FakeNetOps::default());
    let containers = Arc::new(FakeContainerRuntime::default());
    let fake = Arc::new(FakeDriver::new("fake"));
    let plugins = ClientPlugins {
        drivers: vec![fake.clone()],
        net: Some(net.clone()),
        containers: Some(containers.clone()),
    };
    let agent = ClientAgent::start_with(config(dir.path(), ""), server.clone(), plugins)
        .await
        .unwrap();

    // Done by the time start returns, before the allocation watch ran anything.
    let live = vec![AllocId::new("a-live")];
    assert_eq!(
        containers.calls(),
        vec![ContainerCall::Reconcile(live.clone())]
    );
    assert_eq!(
        net.calls(),
        vec![NetCall::EnsureBridge, NetCall::Reconcile(live)]
    );
    eventually("a-live to run", || {
        server
            .last_update("a-live")
            .is_some_and(|u| u.client_status == "running")
    })
    .await;
    agent.shutdown().await;
}
