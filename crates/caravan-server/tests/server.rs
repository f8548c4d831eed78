//! The server end to end in process: registered jobs become allocations through the
//! broker, the workers, the scheduler and the plan applier.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use caravan_model::{
    DriverInfo, HealthStatus, Job, NetworkResource, Node, NodeNetwork, NodeResources, Port,
    Resources, ServiceRegistration, Task, TaskGroup,
};
use caravan_server::{LocalLog, Server, ServerConfig, ServerError, StateHandle, SystemClock};
use caravan_state::{AllocClientUpdate, Snapshot, Table};

fn start_server(config: ServerConfig) -> Arc<Server> {
    let state = StateHandle::default();
    let log = Arc::new(LocalLog::new(state.clone()));
    let server = Server::new(config, state, log, Arc::new(SystemClock));
    server.start();
    server
}

fn node(id: &str) -> Node {
    let mut node = Node {
        id: id.into(),
        name: format!("node-{id}"),
        datacenter: "dc1".into(),
        status: "ready".into(),
        scheduling_eligibility: "eligible".into(),
        node_resources: NodeResources {
            memory: caravan_model::NodeMemoryResources { memory_mb: 4096 },
            networks: vec![NodeNetwork {
                ip: "127.0.0.1".into(),
                ..Default::default()
            }],
            ..Default::default()
        },
        ..Default::default()
    };
    node.node_resources.cpu.cpu_shares = 4000;
    node.node_resources.cpu.total_cpu_cores = 2;
    node.drivers.insert(
        "raw_exec".into(),
        DriverInfo {
            detected: true,
            healthy: true,
            ..Default::default()
        },
    );
    node.attributes = BTreeMap::from([
        ("driver.raw_exec".to_owned(), "1".to_owned()),
        ("kernel.name".to_owned(), "linux".to_owned()),
        (
            "unique.network.ip-address".to_owned(),
            "127.0.0.1".to_owned(),
        ),
    ]);
    node
}

fn job(id: &str, count: i64, port: Port) -> Job {
    Job {
        id: id.into(),
        datacenters: vec!["dc1".into()],
        task_groups: vec![TaskGroup {
            name: "cache".into(),
            count: Some(count),
            networks: vec![NetworkResource {
                dynamic_ports: vec![port],
                ..Default::default()
            }],
            tasks: vec![Task {
                name: "redis".into(),
                driver: "raw_exec".into(),
                config: BTreeMap::from([("command".to_owned(), "/bin/true".into())]),
                resources: Some(Resources {
                    cpu: Some(100),
                    memory_mb: Some(64),
                    ..Default::default()
                }),
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    }
}

fn port(label: &str, value: i64) -> Port {
    Port {
        label: label.into(),
        value,
        ..Default::default()
    }
}

/// Waits until `done` holds on a snapshot, following the state's index.
async fn wait_until(server: &Server, what: &str, done: impl Fn(&Snapshot) -> bool) -> Snapshot {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let mut index = 0;
    loop {
        let snap = server
            .state()
            .wait_table(Table::Evals, index, Duration::from_millis(200))
            .await;
        if done(&snap) {
            return snap;
        }
        index = snap.index(Table::Evals);
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
    }
}

fn live_allocs<'a>(snap: &'a Snapshot, job: &str) -> Vec<&'a caravan_model::Allocation> {
    snap.allocs()
        .filter(|a| a.job_id.as_str() == job && a.desired_status == "run")
        .collect()
}

#[tokio::test]
async fn registered_job_is_placed_with_distinct_dynamic_ports() {
    let server = start_server(ServerConfig::default());
    server
        .register_node(node("n1"))
        .await
        .expect("node registers");

    let reg = server
        .register_job(job("web", 3, port("http", 0)))
        .await
        .expect("job registers");
    let eval_id = reg.eval_id.expect("an evaluation is created");

    let snap = wait_until(&server, "three placements", |s| {
        live_allocs(s, "web").len() == 3
    })
    .await;
    let mut ports: Vec<u16> = live_allocs(&snap, "web")
        .iter()
        .map(|a| a.allocated_resources.shared.ports[0].value)
        .collect();
    ports.sort_unstable();
    ports.dedup();
    assert_eq!(ports.len(), 3, "every allocation gets its own host port");
    assert!(
        ports.iter().all(|p| (20000..=32000).contains(p)),
        "ports in the dynamic range: {ports:?}"
    );

    let snap = wait_until(&server, "the evaluation to complete", |s| {
        s.eval(&eval_id.as_str().into())
            .is_some_and(|e| e.status == "complete")
    })
    .await;
    assert!(snap.job_summary("default", &"web".into()).is_some());
}

#[tokio::test]
async fn a_taken_static_port_blocks_with_the_conflict_named_and_unblocks_when_freed() {
    let server = start_server(ServerConfig::default());
    server
        .register_node(node("n1"))
        .await
        .expect("node registers");
    server
        .register_job(job("first", 1, port("redis", 6379)))
        .await
        .expect("first job");
    let snap = wait_until(&server, "first placed", |s| {
        live_allocs(s, "first").len() == 1
    })
    .await;
    let first_alloc = live_allocs(&snap, "first")[0].id.clone();

    server
        .register_job(job("second", 1, port("redis", 6379)))
        .await
        .expect("second job");
    let snap = wait_until(&server, "a blocked evaluation", |s| {
        s.evals()
            .any(|e| e.job_id.as_str() == "second" && e.status == "blocked")
    })
    .await;
    let failed = snap
        .evals()
        .filter(|e| e.job_id.as_str() == "second")
        .find_map(|e| e.failed_tg_allocs.get("cache"))
        .expect("the failed group is reported");
    assert!(
        failed
            .dimension_exhausted
            .keys()
            .any(|d| d.contains("redis=6379")),
        "reason names the port: {:?}",
        failed.dimension_exhausted
    );
    assert!(live_allocs(&snap, "second").is_empty());

    // Stop the first job and let its allocation finish: the blocked job is placed.
    server
        .deregister_job("default", &"first".into(), false)
        .await
        .expect("stop first");
    server
        .update_allocs(vec![AllocClientUpdate {
            alloc_id: first_alloc,
            client_status: "complete".into(),
            ..Default::default()
        }])
        .await
        .expect("client update");
    wait_until(&server, "second placed", |s| {
        live_allocs(s, "second").len() == 1
    })
    .await;
}

#[tokio::test]
async fn a_reserved_port_freed_by_a_node_update_unblocks_the_waiting_job() {
    // The client found 6379 bound outside Caravan and reported it as reserved.
    let server = start_server(ServerConfig::default());
    let mut n1 = node("n1");
    n1.reserved_resources.networks.reserved_host_ports = "22,6379".into();
    server
        .register_node(n1.clone())
        .await
        .expect("node registers");
    server
        .register_job(job("cache", 1, port("redis", 6379)))
        .await
        .expect("job registers");
    let snap = wait_until(&server, "a blocked evaluation", |s| {
        s.evals()
            .any(|e| e.job_id.as_str() == "cache" && e.status == "blocked")
    })
    .await;
    let failed = snap
        .evals()
        .find_map(|e| e.failed_tg_allocs.get("cache"))
        .expect("the failed group is reported");
    assert!(
        failed
            .dimension_exhausted
            .contains_key("network: reserved port collision redis=6379"),
        "reason names the port: {:?}",
        failed.dimension_exhausted
    );

    // The port is let go: the client registers the node again, still ready, with
    // fewer reserved ports. Nothing else happens on the server: no allocation ends,
    // no node becomes ready; the changed fingerprint alone must retry the job.
    n1.reserved_resources.networks.reserved_host_ports = "22".into();
    server.register_node(n1).await.expect("node updates");
    let snap = wait_until(&server, "the job placed", |s| {
        live_allocs(s, "cache").len() == 1
    })
    .await;
    assert_eq!(
        live_allocs(&snap, "cache")[0]
            .allocated_resources
            .shared
            .ports[0]
            .value,
        6379
    );
}

#[tokio::test]
async fn a_silent_node_is_marked_down_and_its_allocations_replaced() {
    let config = ServerConfig {
        heartbeat_ttl: Duration::from_millis(300),
        heartbeat_grace: Duration::from_millis(200),
        ..ServerConfig::default()
    };
    let server = start_server(config);
    server.register_node(node("n1")).await.expect("n1");
    server
        .register_job(job("web", 1, port("http", 0)))
        .await
        .expect("job");
    let snap = wait_until(&server, "placed", |s| live_allocs(s, "web").len() == 1).await;
    let first = live_allocs(&snap, "web")[0].clone();
    assert_eq!(first.node_id.as_str(), "n1");

    // A second node keeps heartbeating; the first goes silent.
    server.register_node(node("n2")).await.expect("n2");
    let beating = {
        let server = server.clone();
        tokio::spawn(async move {
            loop {
                let _ = server.heartbeat(&"n2".into()).await;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };
    let snap = wait_until(&server, "replacement on n2", |s| {
        s.allocs().any(|a| {
            a.job_id.as_str() == "web" && a.node_id.as_str() == "n2" && a.desired_status == "run"
        })
    })
    .await;
    beating.abort();
    assert_eq!(
        snap.node(&"n1".into()).map(|n| n.status.as_str()),
        Some("down")
    );
    assert_eq!(
        snap.alloc(&first.id).map(|a| a.client_status.as_str()),
        Some("lost")
    );
}

#[tokio::test]
async fn invalid_jobs_are_refused_and_nothing_is_stored() {
    let server = start_server(ServerConfig::default());
    let mut bad = job("bad", 1, port("http", 0));
    bad.task_groups[0].tasks[0].driver.clear();
    let err = server
        .register_job(bad)
        .await
        .expect_err("missing driver is refused");
    assert!(err.to_string().contains("driver"), "{err}");
    assert_eq!(server.state().snapshot().jobs().count(), 0);
}

/// A registration of `alloc`'s "redis" task as the client would send it.
fn redis_instance(alloc: &caravan_model::Allocation) -> ServiceRegistration {
    ServiceRegistration {
        id: ServiceRegistration::task_service_id(&alloc.id, "redis", "redis", "db"),
        service_name: "redis".into(),
        node_id: alloc.node_id.clone(),
        alloc_id: alloc.id.clone(),
        address: "127.0.0.1".into(),
        port: alloc.allocated_resources.shared.ports[0].value,
        tags: vec!["cache".into()],
        ..Default::default()
    }
}

#[tokio::test]
async fn the_catalog_takes_live_allocations_only_and_follows_them() {
    let server = start_server(ServerConfig::default());
    server.register_node(node("n1")).await.expect("n1");
    server
        .register_job(job("cache", 2, port("db", 0)))
        .await
        .expect("job");
    let snap = wait_until(&server, "placed", |s| live_allocs(s, "cache").len() == 2).await;
    let allocs: Vec<_> = live_allocs(&snap, "cache").into_iter().cloned().collect();

    // Phase 1: both instances register; health rides along.
    let mut second = redis_instance(&allocs[1]);
    second.health = HealthStatus::Critical;
    let index = server
        .upsert_services(vec![redis_instance(&allocs[0]), second])
        .await
        .expect("registered");
    let snap = server.state().snapshot();
    assert_eq!(snap.index(Table::Services), index);
    let instances: Vec<_> = snap.service("default", "redis").collect();
    assert_eq!(instances.len(), 2);
    assert!(
        instances.iter().all(|r| r.job_id.as_str() == "cache"
            && r.datacenter == "dc1"
            && r.create_index == index)
    );
    assert_eq!(
        snap.services()
            .iter()
            .map(|s| (s.service_name.as_str(), s.tags.clone()))
            .collect::<Vec<_>>(),
        [("redis", vec!["cache".to_owned()])]
    );

    // Phase 2: what the server can tell is wrong is refused, and nothing is stored.
    let mut unknown = redis_instance(&allocs[0]);
    unknown.alloc_id = "nope".into();
    unknown.id = ServiceRegistration::task_service_id(&unknown.alloc_id, "redis", "redis", "db");
    let err = server
        .upsert_services(vec![unknown])
        .await
        .expect_err("unknown alloc");
    assert!(matches!(err, ServerError::NotFound(_)), "{err}");
    let mut elsewhere = redis_instance(&allocs[0]);
    elsewhere.node_id = "n2".into();
    let err = server
        .upsert_services(vec![elsewhere])
        .await
        .expect_err("other node");
    assert!(
        matches!(&err, ServerError::BadRequest(m) if m.contains("node \"n2\"")),
        "{err}"
    );
    let mut renamed = redis_instance(&allocs[0]);
    renamed.id = "my-own-id".into();
    let err = server
        .upsert_services(vec![renamed])
        .await
        .expect_err("foreign id");
    assert!(matches!(err, ServerError::BadRequest(_)), "{err}");
    assert_eq!(server.state().snapshot().index(Table::Services), index);

    // Phase 3: the first allocation completes: its instance leaves with it, and a
    // late registration for it is refused.
    server
        .update_allocs(vec![AllocClientUpdate {
            alloc_id: allocs[0].id.clone(),
            client_status: "complete".into(),
            ..Default::default()
        }])
        .await
        .expect("client update");
    let snap = server.state().snapshot();
    let left: Vec<_> = snap
        .service("default", "redis")
        .map(|r| r.alloc_id.clone())
        .collect();
    assert_eq!(left, [allocs[1].id.clone()]);
    let err = server
        .upsert_services(vec![redis_instance(&allocs[0])])
        .await
        .expect_err("terminal alloc");
    assert!(matches!(err, ServerError::BadRequest(_)), "{err}");

    // Phase 4: deletes by service and id (the name must match), and by allocation.
    let id = redis_instance(&allocs[1]).id;
    let err = server
        .delete_service("default", "web", &id)
        .await
        .expect_err("wrong service name");
    assert!(matches!(err, ServerError::NotFound(_)), "{err}");
    server
        .delete_service("", "redis", &id)
        .await
        .expect("deleted");
    assert_eq!(server.state().snapshot().service_registrations().count(), 0);
    server
        .upsert_services(vec![redis_instance(&allocs[1])])
        .await
        .expect("again");
    server
        .delete_services_for_alloc(&allocs[1].id)
        .await
        .expect("deleted by alloc");
    assert!(server.state().snapshot().services().is_empty());
}

#[tokio::test]
async fn a_follower_commits_without_scheduling_and_a_new_leader_picks_up_pending_work() {
    // Two servers over one store stand in for a follower and the next leader: only
    // the one that leads schedules.
    let state = StateHandle::default();
    let log = Arc::new(LocalLog::new(state.clone()));
    let follower = Server::new(
        ServerConfig::default(),
        state.clone(),
        log.clone(),
        Arc::new(SystemClock),
    );
    assert!(!follower.is_leader(), "a server starts as a follower");
    follower
        .register_node(node("n1"))
        .await
        .expect("node registers");
    let reg = follower
        .register_job(job("web", 2, port("http", 0)))
        .await
        .expect("a follower commits writes");
    let eval_id = reg.eval_id.expect("an evaluation is created");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let snap = state.snapshot();
    assert!(
        live_allocs(&snap, "web").is_empty(),
        "nothing is scheduled while no server leads"
    );
    assert_eq!(
        snap.eval(&eval_id.clone().into())
            .map(|e| e.status.as_str()),
        Some("pending")
    );

    let leader = Server::new(ServerConfig::default(), state, log, Arc::new(SystemClock));
    leader.set_leader(true);
    let snap = wait_until(&leader, "the pending evaluation placed", |s| {
        live_allocs(s, "web").len() == 2
    })
    .await;
    assert_eq!(
        snap.eval(&eval_id.into()).map(|e| e.status.as_str()),
        Some("complete")
    );

    leader.set_leader(false);
    assert!(!leader.is_leader());
    assert_eq!(
        leader.queue_depths(),
        (0, 0),
        "a former leader forgets its queues"
    );
}
