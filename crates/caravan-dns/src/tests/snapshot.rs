//! The snapshot adapter: registrations of both providers, node addresses, health,
//! node status, case, and the cache that reuses an index until the catalog changes.

use std::collections::BTreeMap;
use std::sync::Arc;

use caravan_model::{
    AllocId, Allocation, EvalId, Evaluation, Job, JobId, Node, NodeId, ServiceProvider,
    ServiceRegistration, Task, TaskGroup,
};
use caravan_state::{Command, PlanResult, StateStore};

use super::*;

fn node(id: &str, name: &str, ip: &str) -> Command {
    Command::UpsertNode {
        node: Box::new(Node {
            id: NodeId::from(id),
            name: name.to_owned(),
            datacenter: "dc1".to_owned(),
            status: "ready".to_owned(),
            attributes: BTreeMap::from([("unique.network.ip-address".to_owned(), ip.to_owned())]),
            meta: BTreeMap::from([("zone".to_owned(), "a".to_owned())]),
            ..Node::default()
        }),
    }
}

fn job() -> Command {
    Command::RegisterJob {
        job: Box::new(Job {
            id: JobId::from("web"),
            name: "web".to_owned(),
            job_type: Some("service".to_owned()),
            datacenters: vec!["dc1".to_owned()],
            task_groups: vec![TaskGroup {
                name: "web".to_owned(),
                count: Some(2),
                tasks: vec![Task {
                    name: "app".to_owned(),
                    driver: "raw_exec".to_owned(),
                    ..Task::default()
                }],
                ..TaskGroup::default()
            }],
            ..Job::default()
        }),
        eval: Some(Evaluation {
            id: EvalId::from("e1"),
            job_id: JobId::from("web"),
            status: "pending".to_owned(),
            triggered_by: "job-register".to_owned(),
            ..Evaluation::default()
        }),
        submit_time: 1_000,
    }
}

fn place() -> Command {
    let mut node_allocation: BTreeMap<NodeId, Vec<Allocation>> = BTreeMap::new();
    for (alloc, node) in [("a1", "n1"), ("a2", "n2")] {
        node_allocation
            .entry(NodeId::from(node))
            .or_default()
            .push(Allocation {
                id: AllocId::from(alloc),
                job_id: JobId::from("web"),
                node_id: NodeId::from(node),
                eval_id: EvalId::from("e1"),
                task_group: "web".to_owned(),
                name: format!("web.web[{alloc}]"),
                ..Allocation::default()
            });
    }
    Command::ApplyPlanResult(Box::new(PlanResult {
        eval_id: EvalId::from("e1"),
        node_allocation,
        now: 5_000,
        ..PlanResult::default()
    }))
}

fn reg(
    alloc: &str,
    service: &str,
    address: &str,
    port: u16,
    provider: ServiceProvider,
) -> ServiceRegistration {
    ServiceRegistration {
        id: ServiceRegistration::task_service_id(&AllocId::from(alloc), "app", service, "http"),
        service_name: service.to_owned(),
        alloc_id: AllocId::from(alloc),
        tags: vec!["v1".to_owned()],
        address: address.to_owned(),
        port,
        provider,
        ..ServiceRegistration::default()
    }
}

/// Two ready nodes; a native redis on n1 (at the node's address), a consul one on n2
/// (at its own), and a consul "Api" on n1.
fn store() -> StateStore {
    let mut s = StateStore::new();
    s.apply(1, node("n1", "node-1", "10.0.0.1"))
        .expect("node 1");
    s.apply(2, node("n2", "node-2", "10.0.0.2"))
        .expect("node 2");
    s.apply(3, job()).expect("job");
    s.apply(4, place()).expect("plan");
    s.apply(
        5,
        Command::UpsertServiceRegistrations {
            regs: vec![
                reg("a1", "redis", "10.0.0.1", 6379, ServiceProvider::Nomad),
                reg("a2", "redis", "10.0.0.50", 6380, ServiceProvider::Consul),
                reg("a1", "Api", "10.0.0.1", 8080, ServiceProvider::Consul),
            ],
        },
    )
    .expect("services");
    s
}

fn ask_snapshot(catalog: &dyn CatalogView, name: &str, qtype: RecordType) -> Message {
    ask_with(
        catalog,
        &DnsConfig::default(),
        name,
        qtype,
        Transport::Tcp,
        None,
        1,
    )
}

#[test]
fn both_providers_are_served_with_node_and_addr_targets() {
    let snap = store().snapshot();
    let catalog = SnapshotCatalog::new(&snap);
    let m = ask_snapshot(&catalog, "redis.service.consul", RecordType::SRV);
    assert_eq!(
        srvs(&m),
        [
            ("0a000032.addr.dc1.consul.".to_owned(), 6380),
            ("node-1.node.dc1.consul.".to_owned(), 6379),
        ],
        "an address equal to the node's targets the node"
    );
    assert_eq!(additionals(&m).len(), 2);
    assert_eq!(
        ips(&ask_snapshot(
            &catalog,
            "v1.redis.service.consul",
            RecordType::A
        )),
        [ip("10.0.0.1"), ip("10.0.0.50")]
    );
    let nope = ask_snapshot(&catalog, "nope.service.consul", RecordType::A);
    let (_, soa) = authority_soa(&nope);
    assert_eq!(soa.serial, 5, "the serial follows the catalog's index");
}

#[test]
fn names_fold_case_against_the_snapshot() {
    let snap = store().snapshot();
    let catalog = SnapshotCatalog::new(&snap);
    assert_eq!(
        ips(&ask_snapshot(&catalog, "api.service.consul", RecordType::A)),
        [ip("10.0.0.1")]
    );
    assert_eq!(
        ips(&ask_snapshot(&catalog, "API.service.consul", RecordType::A)),
        [ip("10.0.0.1")]
    );
    assert_eq!(
        ips(&ask_snapshot(&catalog, "NODE-2.node.consul", RecordType::A)),
        [ip("10.0.0.2")]
    );
    let m = ask_snapshot(&catalog, "node-1.node.consul", RecordType::TXT);
    assert_eq!(m.answers.len(), 1, "node meta as TXT");
}

#[test]
fn critical_instances_and_down_nodes_leave_dns() {
    let mut s = store();
    let mut critical = reg("a2", "redis", "10.0.0.50", 6380, ServiceProvider::Consul);
    critical.health = HealthStatus::Critical;
    s.apply(
        6,
        Command::UpsertServiceRegistrations {
            regs: vec![critical],
        },
    )
    .expect("critical");
    let snap = s.snapshot();
    let m = ask_snapshot(
        &SnapshotCatalog::new(&snap),
        "redis.service.consul",
        RecordType::A,
    );
    assert_eq!(ips(&m), [ip("10.0.0.1")]);

    s.apply(
        7,
        Command::UpdateNodeStatus {
            node_id: NodeId::from("n1"),
            status: "down".to_owned(),
            now: 9_000,
            evals: vec![],
        },
    )
    .expect("down");
    let snap = s.snapshot();
    let m = ask_snapshot(
        &SnapshotCatalog::new(&snap),
        "redis.service.consul",
        RecordType::A,
    );
    assert_nxdomain(&m);
}

#[test]
fn the_cache_reuses_a_catalog_until_the_tables_change() {
    let mut s = store();
    let cache = CatalogCache::default();
    let first = cache.catalog(s.snapshot());
    let again = cache.catalog(s.snapshot());
    assert!(Arc::ptr_eq(&first, &again), "same indexes, same catalog");
    s.apply(
        6,
        Command::DeleteServiceRegistrations {
            ids: vec![ServiceRegistration::task_service_id(
                &AllocId::from("a1"),
                "app",
                "Api",
                "http",
            )],
        },
    )
    .expect("delete");
    let after = cache.catalog(s.snapshot());
    assert!(!Arc::ptr_eq(&first, &after));
    assert_nxdomain(&ask_snapshot(&*after, "api.service.consul", RecordType::A));
    assert_eq!(
        ips(&ask_snapshot(&*first, "api.service.consul", RecordType::A)).len(),
        1,
        "old views stay whole"
    );
}
