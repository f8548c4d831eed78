//! Bridge-mode allocations against recording fakes: the network hook's calls to
//! caravan-net (`FakeNetOps`) and to the container engine (`FakeContainerRuntime`),
//! what the tasks are started with (`FakeDriver`), what the server is told, and what
//! is removed when the allocation stops or cannot be set up.

#![allow(clippy::unwrap_used)]

mod common;

use std::path::PathBuf;
use std::sync::Arc;

use caravan_client::{
    AllocRunner, ClientContext, ContainerCall, ContainerRuntime, FakeContainerRuntime,
};
use caravan_drivers::{FakeDriver, TaskDriver, TaskSpec};
use caravan_model::{AllocId, DnsConfig, Job};
use caravan_net::{AllocNetSpec, FakeNetOps, NetCall, NetOps, NetnsTarget, PortMapping};
use common::*;
use serde_json::json;

/// The fakes one test looks at.
struct Fakes {
    net: Arc<FakeNetOps>,
    containers: Arc<FakeContainerRuntime>,
    docker: Arc<FakeDriver>,
    raw_exec: Arc<FakeDriver>,
}

impl Fakes {
    fn new() -> Self {
        Self {
            net: Arc::new(FakeNetOps::default()),
            containers: Arc::new(FakeContainerRuntime::default()),
            docker: Arc::new(FakeDriver::new("docker")),
            raw_exec: Arc::new(FakeDriver::new("raw_exec")),
        }
    }

    /// A client with both drivers, and bridge networking unless `net` is false.
    fn client(&self, dir: &std::path::Path, net: bool) -> Arc<ClientContext> {
        let drivers: Vec<Arc<dyn TaskDriver>> = vec![self.docker.clone(), self.raw_exec.clone()];
        let mut ctx = (*client(dir, drivers)).clone();
        if net {
            ctx = ctx.with_net(self.net.clone() as Arc<dyn NetOps>);
        }
        ctx = ctx.with_containers(self.containers.clone() as Arc<dyn ContainerRuntime>);
        Arc::new(ctx)
    }
}

/// The common job with its network in bridge mode and these tasks.
fn bridge_job(tasks: Vec<caravan_model::Task>) -> Job {
    let mut job = job("service", tasks);
    job.task_groups[0].networks[0].mode = "bridge".into();
    job
}

fn started(driver: &FakeDriver, task: &str) -> TaskSpec {
    driver
        .started()
        .into_iter()
        .find(|s| s.task_name == task)
        .unwrap_or_else(|| panic!("{task} was not started"))
}

/// The worked example's ports: http 23456 -> 8080, redis 24000 -> itself.
fn example_mappings() -> Vec<PortMapping> {
    vec![
        PortMapping::new("http", 23456, 8080),
        PortMapping::new("redis", 24000, 24000),
    ]
}

#[tokio::test]
async fn docker_and_raw_exec_tasks_share_the_pause_containers_namespace() {
    let dir = tempfile::tempdir().unwrap();
    let fakes = Fakes::new();
    let mut job = bridge_job(vec![
        task("redis", "docker", json!({"image": "redis:7"})),
        task("app", "raw_exec", json!({"command": "/bin/app"})),
    ]);
    let dns = DnsConfig {
        servers: vec!["10.0.0.53".into()],
        searches: vec!["svc.example".into()],
        options: vec![],
    };
    job.task_groups[0].networks[0].dns = Some(dns.clone());
    let mut runner =
        AllocRunner::start(alloc("a-br", job), fakes.client(dir.path(), true)).unwrap();
    let mut rx = runner.subscribe();
    let up = wait_for(&mut rx, "both tasks to run", |u| {
        u.client_status == "running"
    })
    .await;

    // Phase 1: a pause container first, then the network in its namespace.
    let alloc_id = AllocId::new("a-br");
    let pause_netns = PathBuf::from("/proc/4242/ns/net");
    assert_eq!(
        fakes.containers.calls(),
        vec![ContainerCall::StartPause(alloc_id.clone())]
    );
    // The pause container's resolv.conf is the group's, for the docker tasks.
    assert_eq!(
        fakes.containers.pause_dns(&alloc_id),
        Some(Some(dns.clone()))
    );
    assert_eq!(
        fakes.net.calls(),
        vec![NetCall::Setup(AllocNetSpec {
            alloc_id: alloc_id.clone(),
            netns: NetnsTarget::Existing(pause_netns.clone()),
            ports: example_mappings(),
            dns: Some(dns.clone()),
        })]
    );
    // The held namespace is named, with the same resolv.conf for raw_exec.
    let named = PathBuf::from("/var/run/netns/caravan-a-br");
    let resolv = fakes.net.resolv_confs();
    let text = resolv.get("caravan-a-br").expect("a resolv.conf");
    assert!(text.contains("nameserver 10.0.0.53\n"), "{text}");
    assert!(text.contains("search svc.example\n"), "{text}");

    // Phase 2: the docker task joins the pause container, raw_exec enters its
    // namespace by name; both see the allocation's address and their ports.
    let redis = started(&fakes.docker, "redis");
    assert_eq!(redis.network_container.as_deref(), Some("pause-a-br"));
    assert_eq!(redis.netns_path.as_ref(), Some(&named));
    let app = started(&fakes.raw_exec, "app");
    assert_eq!(app.netns_path.as_ref(), Some(&named));
    for spec in [&redis, &app] {
        let env = &spec.env;
        assert_eq!(
            env["NOMAD_ALLOC_IP_http"], "172.26.64.2",
            "{}",
            spec.task_name
        );
        assert_eq!(env["NOMAD_ALLOC_ADDR_http"], "172.26.64.2:8080");
        assert_eq!(env["NOMAD_ALLOC_INTERFACE_http"], "eth0");
        assert_eq!(env["NOMAD_ALLOC_PORT_redis"], "24000");
        assert_eq!(env["NOMAD_HOST_PORT_http"], "23456");
        let labels: Vec<(&str, u16)> = spec
            .ports
            .iter()
            .map(|p| (p.label.as_str(), p.value))
            .collect();
        assert_eq!(labels, [("http", 23456), ("redis", 24000)]);
    }

    // Phase 3: the server is told the allocation's network.
    let status = up.network_status.expect("a network status");
    assert_eq!(status.interface_name, "eth0");
    assert_eq!(status.address, "172.26.64.2");

    // Phase 4: stopping removes the network, then the pause container.
    let done = stop(&mut runner).await;
    assert_eq!(done.client_status, "complete", "{done:?}");
    assert_eq!(
        fakes.net.calls().last(),
        Some(&NetCall::Teardown(alloc_id.clone()))
    );
    assert_eq!(
        fakes.containers.calls().last(),
        Some(&ContainerCall::RemovePause(alloc_id))
    );
    assert!(fakes.net.networks().is_empty());
    assert!(fakes.net.resolv_confs().is_empty());
    assert!(fakes.containers.running().is_empty());
}

#[tokio::test]
async fn without_docker_tasks_the_namespace_is_made_and_no_pause_runs() {
    let dir = tempfile::tempdir().unwrap();
    let fakes = Fakes::new();
    let mut job = bridge_job(vec![task(
        "app",
        "raw_exec",
        json!({"command": "/bin/app"}),
    )]);
    job.task_groups[0].networks[0].dns = Some(DnsConfig {
        servers: vec!["10.0.0.53".into()],
        ..DnsConfig::default()
    });
    let mut runner =
        AllocRunner::start(alloc("a-raw", job), fakes.client(dir.path(), true)).unwrap();
    let mut rx = runner.subscribe();
    let up = wait_for(&mut rx, "the task to run", |u| u.client_status == "running").await;

    let calls = fakes.net.calls();
    let [NetCall::Setup(spec)] = calls.as_slice() else {
        panic!("one setup expected: {calls:?}");
    };
    assert_eq!(spec.netns, NetnsTarget::Create);
    assert_eq!(spec.ports, example_mappings());
    assert_eq!(
        spec.dns.as_ref().map(|d| d.servers.clone()),
        Some(vec!["10.0.0.53".to_owned()])
    );
    let app = started(&fakes.raw_exec, "app");
    assert_eq!(
        app.netns_path,
        Some(PathBuf::from("/var/run/netns/caravan-a-raw"))
    );
    assert_eq!(app.network_container, None);
    let status = up.network_status.expect("a network status");
    assert_eq!(
        status.dns.map(|d| d.servers),
        Some(vec!["10.0.0.53".to_owned()])
    );
    assert!(
        fakes.containers.calls().is_empty(),
        "no docker task, no pause"
    );
    // The namespace's resolv.conf (for `ip netns exec`) lives as long as it does.
    let resolv = fakes.net.resolv_confs();
    assert_eq!(resolv.keys().collect::<Vec<_>>(), vec!["caravan-a-raw"]);
    assert!(resolv["caravan-a-raw"].contains("nameserver 10.0.0.53\n"));

    stop(&mut runner).await;
    assert_eq!(
        fakes.net.calls().last(),
        Some(&NetCall::Teardown(AllocId::new("a-raw")))
    );
    assert!(fakes.net.resolv_confs().is_empty());
    assert!(fakes.containers.calls().is_empty());
}

#[tokio::test]
async fn host_mode_touches_no_bridge_and_docker_tasks_publish_their_ports() {
    let dir = tempfile::tempdir().unwrap();
    let fakes = Fakes::new();
    let job = job(
        "service",
        vec![task("redis", "docker", json!({"image": "redis:7"}))],
    );
    let mut runner =
        AllocRunner::start(alloc("a-host", job), fakes.client(dir.path(), true)).unwrap();
    let mut rx = runner.subscribe();
    let up = wait_for(&mut rx, "the task to run", |u| u.client_status == "running").await;
    assert!(up.network_status.is_none());
    let redis = started(&fakes.docker, "redis");
    assert_eq!(redis.network_container, None);
    assert_eq!(redis.netns_path, None);
    // What docker publishes for `ports = ["http"]`: the granted mapping.
    let http = redis.ports.iter().find(|p| p.label == "http").unwrap();
    assert_eq!(
        (http.value, http.to, http.host_ip.as_str()),
        (23456, 8080, "10.0.0.5")
    );
    stop(&mut runner).await;
    assert!(fakes.net.calls().is_empty());
    assert!(fakes.containers.calls().is_empty());
}

#[tokio::test]
async fn without_bridge_networking_the_setup_fails_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let fakes = Fakes::new();
    let job = bridge_job(vec![task("redis", "docker", json!({"image": "redis:7"}))]);
    let mut runner =
        AllocRunner::start(alloc("a-noroot", job), fakes.client(dir.path(), false)).unwrap();
    let done = finish(&mut runner).await;
    assert_eq!(done.client_status, "failed");
    let event = state(&done, "redis").events.last().unwrap();
    assert_eq!(event.event_type, "Setup Failure");
    assert!(
        event
            .display_message
            .contains("bridge networking needs root"),
        "{event:?}"
    );
    assert!(
        fakes.docker.started().is_empty(),
        "nothing runs in the host's network"
    );
    assert!(
        !fakes
            .containers
            .calls()
            .contains(&ContainerCall::StartPause(AllocId::new("a-noroot"))),
        "no pause container without a network for it"
    );
}

#[tokio::test]
async fn a_failed_setup_removes_what_it_made_and_fails_the_tasks() {
    let dir = tempfile::tempdir().unwrap();
    let fakes = Fakes::new();
    fakes
        .net
        .fail_setup(AllocId::new("a-fail"), "no bridge today");
    let job = bridge_job(vec![task("redis", "docker", json!({"image": "redis:7"}))]);
    let mut runner =
        AllocRunner::start(alloc("a-fail", job), fakes.client(dir.path(), true)).unwrap();
    let done = finish(&mut runner).await;
    assert_eq!(done.client_status, "failed");
    let event = state(&done, "redis").events.last().unwrap();
    assert_eq!(
        event.display_message,
        "network hook failed: bridge network setup failed: injected failure: no bridge today"
    );
    assert!(fakes.docker.started().is_empty());
    // The pause container went, and the network's pieces were torn down.
    assert!(fakes.containers.running().is_empty());
    assert!(
        fakes
            .net
            .calls()
            .contains(&NetCall::Teardown(AllocId::new("a-fail")))
    );
}

#[tokio::test]
async fn a_pause_container_that_cannot_start_fails_the_setup() {
    let dir = tempfile::tempdir().unwrap();
    let fakes = Fakes::new();
    fakes
        .containers
        .fail_start("image caravan/pause:latest is missing");
    let job = bridge_job(vec![task("redis", "docker", json!({"image": "redis:7"}))]);
    let mut runner =
        AllocRunner::start(alloc("a-nopause", job), fakes.client(dir.path(), true)).unwrap();
    let done = finish(&mut runner).await;
    assert_eq!(done.client_status, "failed");
    let message = &state(&done, "redis").events.last().unwrap().display_message;
    assert!(
        message.starts_with("network hook failed: cannot start the pause container: ")
            && message.contains("caravan/pause:latest is missing"),
        "{message}"
    );
    assert!(
        !fakes
            .net
            .calls()
            .iter()
            .any(|c| matches!(c, NetCall::Setup(_))),
        "no network without its namespace"
    );
}
