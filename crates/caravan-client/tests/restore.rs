//! An agent restarted on the same data dir finds its allocations again: real
//! raw_exec processes keep running under the new agent (same pid, no restart), a
//! process that died while no agent ran goes through its restart policy, an
//! allocation the servers forgot meanwhile is cleaned up, a bridge network is
//! re-attached rather than set up twice, and a docker container (when a Docker
//! Engine answers) is the same container under the new agent. The agent is "restarted" by
//! `shutdown_leave_running` and a new `ClientAgent` in the same test process, with
//! new driver instances, as a new agent process would have.

#![allow(clippy::unwrap_used)]

mod common;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use caravan_client::ContainerRuntime;
use caravan_client::{AllocUpdate, ClientAgent, ClientPlugins};
use caravan_drivers::{
    DockerDriver, DockerOptions, FakeCall, FakeDriver, ProcStat, RawExecDriver, TaskDriver,
};
use caravan_model::{AllocId, Allocation, NetworkResource, Port, Task};
use caravan_net::{FakeNetOps, NetCall, NetOps};
use common::fake_server::*;
use common::*;
use serde_json::json;

/// A service allocation whose one raw_exec task `app` writes its pid to
/// `local/pid` and sleeps; no network. Restarts: two, 10ms apart.
fn sleeper(id: &str) -> Allocation {
    let mut app: Task = task(
        "app",
        "raw_exec",
        json!({"command": "/bin/sh", "args": ["-c", "echo $$ > local/pid; exec sleep 300"]}),
    );
    app.restart_policy = Some(restart(2, 10, "fail"));
    app.kill_timeout = Some(caravan_model::Duration::from_secs(2));
    let mut job = job("service", vec![app]);
    job.task_groups[0].networks.clear();
    let mut alloc = alloc(id, job);
    alloc.allocated_resources.shared.ports.clear();
    alloc
}

fn raw_exec_plugins() -> ClientPlugins {
    ClientPlugins {
        drivers: vec![Arc::new(RawExecDriver::new())],
        ..ClientPlugins::default()
    }
}

async fn start_agent(
    dir: &Path,
    server: &Arc<FakeServer>,
    plugins: ClientPlugins,
) -> Arc<ClientAgent> {
    ClientAgent::start_with(config(dir, ""), server.clone(), plugins)
        .await
        .unwrap()
}

fn state_file(dir: &Path, alloc: &str) -> PathBuf {
    dir.join("client/allocs").join(format!("{alloc}.json"))
}

fn is_alive(pid: u32) -> bool {
    ProcStat::read(pid)
        .ok()
        .flatten()
        .is_some_and(|s| s.is_alive())
}

/// The pid the task wrote, once it is there and is not `old`.
async fn pid_of(dir: &Path, alloc: &str, old: Option<u32>) -> u32 {
    let path = dir.join("alloc").join(alloc).join("app/local/pid");
    let read = || {
        std::fs::read_to_string(&path)
            .ok()
            .and_then(|s| s.trim().parse::<u32>().ok())
            .filter(|pid| Some(*pid) != old)
    };
    tokio::time::timeout(PATIENCE, async {
        loop {
            if let Some(pid) = read() {
                return pid;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no new pid in {}", path.display()))
}

/// The first report after the first `skip` that satisfies `pred`.
async fn report_after(
    server: &FakeServer,
    alloc: &str,
    skip: usize,
    what: &str,
    pred: impl Fn(&AllocUpdate) -> bool,
) -> AllocUpdate {
    eventually(what, || server.updates_after(alloc, skip).iter().any(&pred)).await;
    server
        .updates_after(alloc, skip)
        .into_iter()
        .find(|u| pred(u))
        .unwrap()
}

fn running(u: &AllocUpdate) -> bool {
    u.client_status == "running"
}

#[tokio::test]
async fn a_running_task_survives_the_agent_and_is_stopped_by_the_next_one() {
    let dir = tempfile::tempdir().unwrap();
    let server = FakeServer::new(Duration::from_secs(30));
    server.place(sleeper("r-keep"));
    let agent = start_agent(dir.path(), &server, raw_exec_plugins()).await;
    report_after(&server, "r-keep", 0, "the task to run", running).await;
    let pid = pid_of(dir.path(), "r-keep", None).await;

    // Phase 1: the agent goes away; the task stays, and so does its saved state.
    agent.shutdown_leave_running().await;
    assert!(is_alive(pid), "the task died with the agent");
    assert!(state_file(dir.path(), "r-keep").is_file());

    // Phase 2: the next agent takes it over: same process, no restart, running.
    let before = server.update_count("r-keep");
    let agent = start_agent(dir.path(), &server, raw_exec_plugins()).await;
    let restored = report_after(
        &server,
        "r-keep",
        before,
        "a report from the new agent",
        |_| true,
    )
    .await;
    assert_eq!(restored.client_status, "running", "{restored:#?}");
    let app = state(&restored, "app");
    assert_eq!(app.restarts, 0);
    assert_eq!(
        event_types(app).iter().filter(|e| **e == "Started").count(),
        1,
        "{:?}",
        event_types(app)
    );
    assert!(is_alive(pid));
    assert_eq!(pid_of(dir.path(), "r-keep", None).await, pid);

    // Phase 3: the servers stop it: the new agent kills the recovered process.
    let before = server.update_count("r-keep");
    server.set_desired("r-keep", "stop");
    let done = report_after(&server, "r-keep", before, "the stop", |u| {
        u.client_status == "complete"
    })
    .await;
    assert!(event_types(state(&done, "app")).contains(&"Killed"));
    eventually("the process to be gone", || !is_alive(pid)).await;

    // Phase 4: once the servers forget it, its directory and state go.
    server.forget("r-keep");
    eventually("the state file to be removed", || {
        !state_file(dir.path(), "r-keep").exists() && !dir.path().join("alloc/r-keep").exists()
    })
    .await;
    agent.shutdown().await;
}

#[tokio::test]
async fn a_task_killed_while_no_agent_ran_is_restarted_by_its_policy() {
    let dir = tempfile::tempdir().unwrap();
    let server = FakeServer::new(Duration::from_secs(30));
    server.place(sleeper("r-died"));
    let agent = start_agent(dir.path(), &server, raw_exec_plugins()).await;
    report_after(&server, "r-died", 0, "the task to run", running).await;
    let pid = pid_of(dir.path(), "r-died", None).await;
    agent.shutdown_leave_running().await;

    // Killed while nobody watches.
    let killed = std::process::Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    eventually("the process to die", || !is_alive(pid)).await;

    let before = server.update_count("r-died");
    let agent = start_agent(dir.path(), &server, raw_exec_plugins()).await;
    let again = report_after(&server, "r-died", before, "the restarted task", |u| {
        running(u) && u.task_states["app"].restarts == 1
    })
    .await;
    let app = state(&again, "app");
    assert!(event_types(app).contains(&"Restarting"), "{app:#?}");
    let new_pid = pid_of(dir.path(), "r-died", Some(pid)).await;
    assert!(is_alive(new_pid));
    agent.shutdown().await;
    assert!(!is_alive(new_pid));
    assert!(!state_file(dir.path(), "r-died").exists());
}

#[tokio::test]
async fn an_allocation_the_servers_forgot_meanwhile_is_stopped_and_cleaned_up() {
    let dir = tempfile::tempdir().unwrap();
    let server = FakeServer::new(Duration::from_secs(30));
    server.place(sleeper("r-gone"));
    let agent = start_agent(dir.path(), &server, raw_exec_plugins()).await;
    report_after(&server, "r-gone", 0, "the task to run", running).await;
    let pid = pid_of(dir.path(), "r-gone", None).await;
    agent.shutdown_leave_running().await;

    server.forget("r-gone");
    let agent = start_agent(dir.path(), &server, raw_exec_plugins()).await;
    eventually("the process to be stopped", || !is_alive(pid)).await;
    eventually("the allocation to be cleaned up", || {
        !state_file(dir.path(), "r-gone").exists() && !dir.path().join("alloc/r-gone").exists()
    })
    .await;
    agent.shutdown().await;
}

/// An allocation of a group in bridge mode with port `http` (to 8080), its task on
/// the fake raw_exec driver.
fn bridged(id: &str) -> Allocation {
    let mut job = job(
        "service",
        vec![task("app", "raw_exec", json!({"command": "/bin/true"}))],
    );
    job.task_groups[0].networks = vec![NetworkResource {
        mode: "bridge".into(),
        dynamic_ports: vec![Port {
            label: "http".into(),
            to: 8080,
            ..Port::default()
        }],
        ..NetworkResource::default()
    }];
    let mut alloc = alloc(id, job);
    let mut http = alloc.allocated_resources.shared.ports[0].clone();
    http.host_ip = "127.0.0.1".into();
    http.value = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    alloc.allocated_resources.shared.ports = vec![http];
    alloc
}

fn setups(net: &FakeNetOps) -> usize {
    net.calls()
        .iter()
        .filter(|c| matches!(c, NetCall::Setup(_)))
        .count()
}

#[tokio::test]
async fn a_bridge_network_is_reattached_not_set_up_again_and_torn_down_at_stop() {
    let dir = tempfile::tempdir().unwrap();
    let server = FakeServer::new(Duration::from_secs(30));
    server.place(bridged("r-bridge"));
    // Both agents share the fakes: they stand for the host's network and processes.
    let net = Arc::new(FakeNetOps::default());
    let fake = Arc::new(FakeDriver::new("raw_exec"));
    let plugins = || ClientPlugins {
        drivers: vec![fake.clone() as Arc<dyn TaskDriver>],
        net: Some(net.clone() as Arc<dyn NetOps>),
        containers: None,
    };
    let agent = start_agent(dir.path(), &server, plugins()).await;
    let first = report_after(&server, "r-bridge", 0, "the task to run", running).await;
    assert_eq!(setups(&net), 1);
    agent.shutdown_leave_running().await;
    let id = AllocId::new("r-bridge");
    assert!(net.networks().contains_key(&id));

    // Phase 1: restored with the same network, without a second setup.
    let before = server.update_count("r-bridge");
    let agent = start_agent(dir.path(), &server, plugins()).await;
    let restored = report_after(&server, "r-bridge", before, "the restored report", running).await;
    assert_eq!(restored.network_status, first.network_status);
    assert!(restored.network_status.is_some());
    assert_eq!(setups(&net), 1, "{:?}", net.calls());
    assert!(net.networks().contains_key(&id), "the reconcile kept it");
    assert!(
        fake.calls()
            .iter()
            .any(|c| matches!(c, FakeCall::Recover { task } if task == "app"))
    );
    let starts = fake
        .calls()
        .iter()
        .filter(|c| matches!(c, FakeCall::Start { .. }))
        .count();
    assert_eq!(starts, 1, "the task was recovered, not started again");

    // Phase 2: stopped by the servers: the network is torn down.
    server.set_desired("r-bridge", "stop");
    eventually("the teardown", || {
        net.calls()
            .iter()
            .any(|c| matches!(c, NetCall::Teardown(a) if *a == id))
    })
    .await;
    assert!(!net.networks().contains_key(&id));
    agent.shutdown().await;
}

#[tokio::test]
async fn a_docker_container_survives_the_agent_restart() {
    let probe = DockerDriver::default();
    let fingerprint = probe.fingerprint().await;
    if !fingerprint.healthy {
        eprintln!(
            "skipped: no Docker Engine answers here ({})",
            fingerprint.description
        );
        return;
    }
    // Blocks this test's thread only, once per test process.
    if let Err(e) = docker_image::sleeper_image() {
        panic!("cannot build {}: {e}", docker_image::SLEEPER_IMAGE);
    }
    let dir = tempfile::tempdir().unwrap();
    let node_id = ClientAgent::load_or_create_node_id(dir.path()).unwrap();
    // Unique per test process: containers of other runs are never touched.
    let alloc_id = format!("r-docker-{}", std::process::id());
    let mut job = job(
        "service",
        vec![task(
            "app",
            "docker",
            json!({"image": docker_image::SLEEPER_IMAGE, "command": "/sleeper", "init": true}),
        )],
    );
    job.task_groups[0].networks.clear();
    let mut alloc = alloc(&alloc_id, job);
    alloc.allocated_resources.shared.ports.clear();
    let server = FakeServer::new(Duration::from_secs(30));
    server.place(alloc);
    // A new driver per agent, as a new agent process would have.
    let plugins = || {
        let docker = Arc::new(DockerDriver::new(DockerOptions {
            node_id: Some(node_id.clone()),
            ..DockerOptions::default()
        }));
        ClientPlugins {
            drivers: vec![docker.clone() as Arc<dyn TaskDriver>],
            net: None,
            containers: Some(docker as Arc<dyn ContainerRuntime>),
        }
    };
    let agent = start_agent(dir.path(), &server, plugins()).await;
    report_after(&server, &alloc_id, 0, "the container to run", running).await;
    let before_restart = docker_image::containers_of(&alloc_id);
    assert_eq!(before_restart.len(), 1, "{before_restart:?}");
    let container = before_restart[0].clone();
    agent.shutdown_leave_running().await;
    assert!(docker_image::container_runs(&container));

    // Phase 1: the next agent keeps the container (its start-time cleanup too).
    let before = server.update_count(&alloc_id);
    let agent = start_agent(dir.path(), &server, plugins()).await;
    let restored = report_after(&server, &alloc_id, before, "the restored report", |_| true).await;
    assert_eq!(restored.client_status, "running", "{restored:#?}");
    assert_eq!(state(&restored, "app").restarts, 0);
    assert_eq!(
        docker_image::containers_of(&alloc_id),
        vec![container.clone()]
    );
    assert!(docker_image::container_runs(&container));

    // Phase 2: stopped and forgotten by the servers: the container goes.
    server.set_desired(&alloc_id, "stop");
    report_after(&server, &alloc_id, before, "the stop", |u| {
        u.client_status == "complete"
    })
    .await;
    server.forget(&alloc_id);
    eventually("the container to be removed", || {
        docker_image::containers_of(&alloc_id).is_empty()
    })
    .await;
    agent.shutdown().await;
}

#[tokio::test]
async fn templates_are_rendered_again_and_only_a_difference_restarts_the_task() {
    let dir = tempfile::tempdir().unwrap();
    let server = FakeServer::new(Duration::from_secs(30));
    let mut alloc = app_alloc(
        "r-tmpl",
        vec![template(
            "port={{ env \"NOMAD_ALLOC_ID\" }}",
            "local/app.conf",
        )],
    );
    alloc.job.as_mut().unwrap().task_groups[0].networks.clear();
    alloc.allocated_resources.shared.ports.clear();
    server.place(alloc);
    let fake = Arc::new(FakeDriver::new("fake"));
    let plugins = || ClientPlugins {
        drivers: vec![fake.clone() as Arc<dyn TaskDriver>],
        ..ClientPlugins::default()
    };
    let conf = dir.path().join("alloc/r-tmpl/app/local/app.conf");
    let agent = start_agent(dir.path(), &server, plugins()).await;
    report_after(&server, "r-tmpl", 0, "the task to run", running).await;
    assert_eq!(std::fs::read_to_string(&conf).unwrap(), "port=r-tmpl");
    agent.shutdown_leave_running().await;

    // Phase 1: the same output: the task is left alone.
    let before = server.update_count("r-tmpl");
    let agent = start_agent(dir.path(), &server, plugins()).await;
    report_after(&server, "r-tmpl", before, "the restored report", running).await;
    // The watch renders at once; give it the time of a few renders to act.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(starts(&fake), 1, "{:?}", fake.calls());
    agent.shutdown_leave_running().await;

    // Phase 2: the file changed while no agent ran: rendered again, it differs,
    // and its change_mode (restart) is carried out on the recovered task.
    std::fs::write(&conf, "port=stale").unwrap();
    let before = server.update_count("r-tmpl");
    let agent = start_agent(dir.path(), &server, plugins()).await;
    let restarted = report_after(&server, "r-tmpl", before, "the template restart", |u| {
        running(u) && u.task_states["app"].restarts == 1
    })
    .await;
    assert!(event_types(state(&restarted, "app")).contains(&"Restart Signaled"));
    assert_eq!(std::fs::read_to_string(&conf).unwrap(), "port=r-tmpl");
    assert_eq!(starts(&fake), 2);
    agent.shutdown().await;
}
