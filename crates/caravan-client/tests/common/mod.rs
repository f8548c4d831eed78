//! Builders shared by the runner tests: a job, an allocation with the digest's
//! worked-example ports, a client context over a temp dir, and waiting helpers.

#![allow(dead_code, clippy::unwrap_used)]

pub mod catalog;
pub mod docker_image;
pub mod fake_server;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use caravan_client::{AllocRunner, AllocUpdate, ClientContext, FakeClock};
use caravan_drivers::{FakeCall, FakeDriver, TaskDriver};
use caravan_model::{
    AllocId, AllocatedPortMapping, Allocation, Job, Lifecycle, NetworkResource, Node, NodeId, Port,
    RestartPolicy, Task, TaskEvent, TaskGroup, TaskState, Template,
};
use tokio::sync::watch;

/// Long enough never to fail a slow machine, short enough to end a hung test.
pub const PATIENCE: Duration = Duration::from_secs(60);

pub fn task(name: &str, driver: &str, config: serde_json::Value) -> Task {
    Task {
        name: name.into(),
        driver: driver.into(),
        config: serde_json::from_value(config).unwrap(),
        ..Task::default()
    }
}

pub fn with_hook(mut task: Task, hook: &str, sidecar: bool) -> Task {
    task.lifecycle = Some(Lifecycle {
        hook: hook.into(),
        sidecar,
    });
    task
}

pub fn restart(attempts: i64, delay_ms: i64, mode: &str) -> RestartPolicy {
    RestartPolicy {
        attempts: Some(attempts),
        interval: Some(caravan_model::Duration::from_mins(30)),
        delay: Some(caravan_model::Duration::from_millis(delay_ms)),
        mode: Some(mode.into()),
        render_templates: None,
    }
}

/// A job `demo` with one group `web` holding `tasks`, a host-mode network with
/// ports `http` (to 8080) and `redis`.
pub fn job(job_type: &str, tasks: Vec<Task>) -> Job {
    let group = TaskGroup {
        name: "web".into(),
        count: Some(1),
        tasks,
        networks: vec![NetworkResource {
            mode: "host".into(),
            dynamic_ports: vec![
                Port {
                    label: "http".into(),
                    to: 8080,
                    ..Port::default()
                },
                Port {
                    label: "redis".into(),
                    ..Port::default()
                },
            ],
            ..NetworkResource::default()
        }],
        restart_policy: Some(restart(0, 10, "fail")),
        ..TaskGroup::default()
    };
    Job {
        id: "demo".into(),
        name: "demo".into(),
        job_type: Some(job_type.into()),
        task_groups: vec![group],
        ..Job::default()
    }
}

/// An allocation of `job` with host ports 23456 (http) and 24000 (redis) on 10.0.0.5.
pub fn alloc(id: &str, job: Job) -> Allocation {
    let mut alloc = Allocation {
        id: AllocId::new(id),
        namespace: "default".into(),
        name: "demo.web[0]".into(),
        job_id: job.id.clone(),
        task_group: "web".into(),
        job: Some(Box::new(job)),
        desired_status: "run".into(),
        client_status: "pending".into(),
        ..Allocation::default()
    };
    alloc.allocated_resources.shared.ports = vec![
        AllocatedPortMapping {
            label: "http".into(),
            value: 23456,
            to: 8080,
            host_ip: "10.0.0.5".into(),
        },
        AllocatedPortMapping {
            label: "redis".into(),
            value: 24000,
            to: 0,
            host_ip: "10.0.0.5".into(),
        },
    ];
    alloc
}

pub fn node() -> Node {
    Node {
        id: NodeId::new("node-1"),
        name: "worker-1".into(),
        datacenter: "dc1".into(),
        attributes: BTreeMap::from([("kernel.name".into(), "linux".into())]),
        ..Node::default()
    }
}

pub fn client(data_dir: &Path, drivers: Vec<Arc<dyn TaskDriver>>) -> Arc<ClientContext> {
    Arc::new(client_context(data_dir, drivers))
}

/// [`client`] registering services with, and watching the catalog of, `server`.
pub fn client_with_server(
    data_dir: &Path,
    drivers: Vec<Arc<dyn TaskDriver>>,
    server: Arc<dyn caravan_client::ServerApi>,
) -> Arc<ClientContext> {
    Arc::new(client_context(data_dir, drivers).with_server(server))
}

/// [`client_with_server`] running every check with `prober`.
pub fn client_with_prober(
    data_dir: &Path,
    drivers: Vec<Arc<dyn TaskDriver>>,
    server: Arc<dyn caravan_client::ServerApi>,
    prober: Arc<dyn caravan_client::checks::Prober>,
) -> Arc<ClientContext> {
    Arc::new(
        client_context(data_dir, drivers)
            .with_server(server)
            .with_prober(prober),
    )
}

fn client_context(data_dir: &Path, drivers: Vec<Arc<dyn TaskDriver>>) -> ClientContext {
    let mut ctx = ClientContext::new(node(), data_dir);
    ctx.clock = Arc::new(FakeClock::new(1_700_000_000_000_000_000));
    ctx.host_env = BTreeMap::from([("PATH".to_owned(), "/usr/local/bin:/usr/bin:/bin".to_owned())]);
    for d in drivers {
        ctx = ctx.with_driver(d);
    }
    ctx
}

/// Waits until an update satisfies `pred`; panics after [`PATIENCE`].
pub async fn wait_for(
    rx: &mut watch::Receiver<AllocUpdate>,
    what: &str,
    pred: impl FnMut(&AllocUpdate) -> bool,
) -> AllocUpdate {
    let result = tokio::time::timeout(PATIENCE, async {
        rx.wait_for(pred).await.map(|u| u.clone())
    })
    .await;
    match result {
        Ok(Ok(update)) => update,
        Ok(Err(_)) => panic!("runner gone while waiting for {what}"),
        Err(_) => panic!("timed out waiting for {what}: {:?}", rx.borrow().clone()),
    }
}

pub fn state<'a>(update: &'a AllocUpdate, task: &str) -> &'a TaskState {
    update.task_states.get(task).unwrap()
}

pub fn event_types(state: &TaskState) -> Vec<&str> {
    state.events.iter().map(|e| e.event_type.as_str()).collect()
}

/// Waits for the allocation to finish on its own; panics after [`PATIENCE`].
pub async fn finish(runner: &mut AllocRunner) -> AllocUpdate {
    match tokio::time::timeout(PATIENCE, runner.wait()).await {
        Ok(result) => result.unwrap(),
        Err(_) => panic!("allocation did not finish: {:?}", runner.current()),
    }
}

/// Stops the allocation; panics after [`PATIENCE`].
pub async fn stop(runner: &mut AllocRunner) -> AllocUpdate {
    match tokio::time::timeout(PATIENCE, runner.stop()).await {
        Ok(result) => result.unwrap(),
        Err(_) => panic!("allocation did not stop: {:?}", runner.current()),
    }
}

/// A template rendering `data` to `destination`, the other fields left to defaults.
pub fn template(data: &str, destination: &str) -> Template {
    Template {
        embedded_tmpl: Some(data.into()),
        dest_path: Some(destination.into()),
        ..Template::default()
    }
}

/// An allocation of a service job whose one task `app` (fake driver) has `templates`.
pub fn app_alloc(id: &str, templates: Vec<Template>) -> Allocation {
    let mut app: Task = task("app", "fake", serde_json::json!({}));
    app.templates = templates;
    alloc(id, job("service", vec![app]))
}

/// How many tasks the fake driver was asked to start.
pub fn starts(fake: &FakeDriver) -> usize {
    fake.calls()
        .iter()
        .filter(|c| matches!(c, FakeCall::Start { .. }))
        .count()
}

pub fn find_event<'a>(events: &'a [TaskEvent], kind: &str) -> Option<&'a TaskEvent> {
    events.iter().find(|e| e.event_type == kind)
}
