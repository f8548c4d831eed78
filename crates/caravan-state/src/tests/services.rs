//! The catalog: registrations in and out, its reads, and the rule that keeps it derived
//! from the allocations (a terminal allocation has no registrations).

use caravan_model::{CheckStatus, HealthStatus, ServiceProvider, ServiceRegistration};

use super::*;

pub(super) fn reg_id(alloc: &str, service: &str) -> String {
    ServiceRegistration::task_service_id(&AllocId::from(alloc), "app", service, "http")
}

/// A registration of `alloc`'s task "app" with namespace, job and node left for the
/// store to fill in.
pub(super) fn reg(alloc: &str, service: &str, tags: &[&str]) -> ServiceRegistration {
    ServiceRegistration {
        id: reg_id(alloc, service),
        service_name: service.to_owned(),
        alloc_id: AllocId::from(alloc),
        tags: tags.iter().map(|t| (*t).to_owned()).collect(),
        address: "127.0.0.1".to_owned(),
        port: 20000,
        ..ServiceRegistration::default()
    }
}

pub(super) fn upsert(regs: Vec<ServiceRegistration>) -> Command {
    Command::UpsertServiceRegistrations { regs }
}

fn ids<'a>(regs: impl Iterator<Item = &'a ServiceRegistration>) -> Vec<String> {
    regs.map(|r| r.id.clone()).collect()
}

fn count(s: &StateStore) -> usize {
    s.snapshot().service_registrations().count()
}

#[test]
fn upsert_fills_from_the_alloc_and_keeps_create_index() {
    let mut s = store_with_allocs();
    let out = s
        .apply(4, upsert(vec![reg("a1", "redis", &["db"])]))
        .expect("upsert");
    assert!(out.changed.contains(&Table::Services));
    let snap = s.snapshot();
    assert_eq!(snap.index(Table::Services), 4);
    let stored = snap
        .service_registration(&reg_id("a1", "redis"))
        .expect("stored");
    assert_eq!(
        (
            stored.namespace.as_str(),
            stored.job_id.as_str(),
            stored.node_id.as_str(),
            stored.datacenter.as_str()
        ),
        ("default", "web", "n1", "dc1")
    );
    assert_eq!((stored.create_index, stored.modify_index), (4, 4));
    assert_eq!(stored.provider, ServiceProvider::Nomad);

    // A check result changes health: same create index, new modify index.
    let mut critical = reg("a1", "redis", &["db"]);
    critical.health = HealthStatus::Critical;
    critical.checks = vec![CheckStatus {
        name: "alive".to_owned(),
        check_type: "tcp".to_owned(),
        status: HealthStatus::Critical,
        output: "connection refused".to_owned(),
        timestamp: 9,
        ..CheckStatus::default()
    }];
    s.apply(5, upsert(vec![critical])).expect("update");
    let snap = s.snapshot();
    let stored = snap
        .service_registration(&reg_id("a1", "redis"))
        .expect("stored");
    assert_eq!((stored.create_index, stored.modify_index), (4, 5));
    assert_eq!(stored.health, HealthStatus::Critical);
    assert_eq!(stored.checks[0].output, "connection refused");
    assert_eq!(snap.index(Table::Services), 5);
}

#[test]
fn an_unchanged_upsert_does_not_wake_the_catalog() {
    // Why: clients re-send their registrations (after a restart, say); watchers of
    // the catalog must not wake for nothing.
    let mut s = store_with_allocs();
    s.apply(4, upsert(vec![reg("a1", "redis", &["db"])]))
        .expect("first");
    let out = s
        .apply(5, upsert(vec![reg("a1", "redis", &["db"])]))
        .expect("again");
    assert!(!out.changed.contains(&Table::Services));
    let snap = s.snapshot();
    assert_eq!(snap.index(Table::Services), 4);
    let stored = snap
        .service_registration(&reg_id("a1", "redis"))
        .expect("stored");
    assert_eq!(stored.modify_index, 4);
}

#[test]
fn upsert_skips_gone_and_terminal_allocs() {
    let mut s = store_with_allocs();
    s.apply(4, client("a2", "complete")).expect("a2 done");
    let out = s
        .apply(
            5,
            upsert(vec![
                reg("a1", "redis", &[]),
                reg("a2", "redis", &[]),
                reg("gone", "redis", &[]),
            ]),
        )
        .expect("upsert");
    assert_eq!(
        out.skipped_services,
        [reg_id("a2", "redis"), reg_id("gone", "redis")]
    );
    assert_eq!(
        ids(s.snapshot().service(ns(), "redis")),
        [reg_id("a1", "redis")]
    );
}

#[test]
fn invalid_registrations_are_refused_whole() {
    let mut s = store_with_allocs();
    let before = s.snapshot();
    let mut no_name = reg("a1", "redis", &[]);
    no_name.service_name.clear();
    let mut foreign_id = reg("a1", "redis", &[]);
    foreign_id.id = reg_id("a2", "redis");
    let mut other_node = reg("a1", "redis", &[]);
    other_node.node_id = NodeId::from("n9");
    let mut other_job = reg("a1", "redis", &[]);
    other_job.job_id = JobId::from("api");
    let mut no_id = reg("a1", "redis", &[]);
    no_id.id.clear();
    for bad in [no_name, foreign_id, other_node, other_job, no_id] {
        let what = format!("{bad:?}");
        // A valid registration first: a refused command keeps none of it.
        let err = s
            .apply(4, upsert(vec![reg("a1", "ok", &[]), bad]))
            .expect_err(&what);
        assert!(
            matches!(
                err,
                StateError::InvalidServiceRegistration { .. }
                    | StateError::ServiceAllocMismatch { .. }
            ),
            "{what}: {err}"
        );
        assert_eq!(s.snapshot(), before, "{what}");
    }
    let mut other_node = reg("a1", "redis", &[]);
    other_node.node_id = NodeId::from("n9");
    assert_eq!(
        s.apply(4, upsert(vec![other_node]))
            .expect_err("mismatch")
            .to_string(),
        format!(
            "service registration {:?} names node \"n9\" but its allocation has \"n1\"",
            reg_id("a1", "redis")
        )
    );
}

#[test]
fn renaming_a_registration_moves_it_between_services() {
    let mut s = store_with_allocs();
    s.apply(4, upsert(vec![reg("a1", "redis", &[])]))
        .expect("first");
    let mut renamed = reg("a1", "redis", &[]);
    renamed.service_name = "cache".to_owned();
    s.apply(5, upsert(vec![renamed])).expect("renamed");
    let snap = s.snapshot();
    assert_eq!(snap.service(ns(), "redis").count(), 0);
    assert_eq!(ids(snap.service(ns(), "cache")), [reg_id("a1", "redis")]);
    assert_eq!(
        snap.services()
            .iter()
            .map(|s| s.service_name.as_str())
            .collect::<Vec<_>>(),
        ["cache"]
    );
}

#[test]
fn each_service_has_an_index_that_moves_only_with_its_instances() {
    // Why: a blocking query on a few services of a large catalog wakes on these
    // indexes, not on every write to the catalog.
    let mut s = store_with_allocs();
    let index = |s: &StateStore, ns: &str, name: &str| s.snapshot().service_index(ns, name);
    assert_eq!(index(&s, "default", "redis"), 0, "nothing yet");
    assert_eq!(index(&s, "default", ""), 0);
    s.apply(
        4,
        upsert(vec![reg("a1", "redis", &[]), reg("a1", "web", &[])]),
    )
    .expect("upsert");
    assert_eq!(index(&s, "default", "redis"), 4);
    assert_eq!(index(&s, "", "web"), 4, "empty namespace reads as default");
    assert_eq!(index(&s, "default", ""), 4, "the namespace");

    // An unchanged upsert moves nothing; a change moves its service and namespace.
    s.apply(5, upsert(vec![reg("a1", "redis", &[])]))
        .expect("same");
    assert_eq!(index(&s, "default", "redis"), 4);
    s.apply(6, upsert(vec![reg("a1", "redis", &["db"])]))
        .expect("tagged");
    assert_eq!(index(&s, "default", "redis"), 6);
    assert_eq!(index(&s, "default", "web"), 4);
    assert_eq!(index(&s, "default", ""), 6);

    // A rename moves both services; the one left empty reads the extinct index,
    // which never goes down, as does any other service without instances.
    let mut renamed = reg("a1", "web", &[]);
    renamed.service_name = "cache".to_owned();
    s.apply(7, upsert(vec![renamed])).expect("renamed");
    assert_eq!(index(&s, "default", "web"), 7);
    assert_eq!(index(&s, "default", "cache"), 7);
    assert_eq!(index(&s, "default", "redis"), 6);
    assert_eq!(index(&s, "default", "nope"), 7);
    assert_eq!(index(&s, "prod", ""), 7);

    // Deleting instances moves their services; the namespace too.
    s.apply(
        8,
        Command::DeleteServiceRegistrations {
            ids: vec![reg_id("a1", "redis")],
        },
    )
    .expect("delete");
    assert_eq!(index(&s, "default", "redis"), 8);
    assert_eq!(index(&s, "default", "cache"), 7);
    assert_eq!(index(&s, "default", ""), 8);
    let snap = s.snapshot();
    assert_eq!(ids(snap.services_in_namespace("")), [reg_id("a1", "web")]);
    assert_eq!(snap.services_in_namespace("prod").count(), 0);
    assert!(index(&s, "default", "redis") <= snap.index(Table::Services));

    // The last instance of the namespace goes with its allocation.
    s.apply(9, client("a1", "complete")).expect("a1 done");
    assert_eq!(index(&s, "default", "cache"), 9);
    assert_eq!(index(&s, "default", ""), 9);
    assert_eq!(index(&s, "default", "redis"), 9);
}

#[test]
fn reads_by_name_alloc_job_node_and_the_service_list() {
    let mut s = store_with_allocs();
    s.apply(
        4,
        upsert(vec![
            reg("a2", "redis", &["db", "cache"]),
            reg("a1", "redis", &["db"]),
            reg("a1", "web", &["http"]),
        ]),
    )
    .expect("upsert");
    let snap = s.snapshot();
    assert_eq!(
        ids(snap.service(ns(), "redis")),
        [reg_id("a1", "redis"), reg_id("a2", "redis")]
    );
    assert_eq!(
        ids(snap.service("", "redis")),
        ids(snap.service("default", "redis")),
        "empty namespace reads as default"
    );
    assert_eq!(snap.service("prod", "redis").count(), 0);
    assert_eq!(snap.service(ns(), "nope").count(), 0);
    assert_eq!(
        ids(snap.services_by_alloc(&AllocId::from("a1"))),
        [reg_id("a1", "redis"), reg_id("a1", "web")]
    );
    assert_eq!(
        ids(snap.services_by_job(ns(), &JobId::from("web"))),
        [
            reg_id("a1", "redis"),
            reg_id("a1", "web"),
            reg_id("a2", "redis")
        ]
    );
    assert_eq!(
        ids(snap.services_by_node(&NodeId::from("n1"))).len(),
        3,
        "both allocs are on n1"
    );
    assert!(snap.service_registration("nope").is_none());

    let list = snap.services();
    let rows: Vec<(&str, &str, Vec<&str>, usize)> = list
        .iter()
        .map(|s| {
            (
                s.namespace.as_str(),
                s.service_name.as_str(),
                s.tags.iter().map(String::as_str).collect(),
                s.instances,
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            ("default", "redis", vec!["cache", "db"], 2),
            ("default", "web", vec!["http"], 1),
        ]
    );
    // A filtered list covers only the instances kept.
    let a1_only = snap.services_where(|r| r.alloc_id.as_str() == "a1");
    assert_eq!(a1_only[0].tags, ["db"]);
    assert!(snap.services_where(|_| false).is_empty());
}

#[test]
fn delete_by_id_and_by_alloc() {
    let mut s = store_with_allocs();
    s.apply(
        4,
        upsert(vec![
            reg("a1", "redis", &[]),
            reg("a1", "web", &[]),
            reg("a2", "redis", &[]),
        ]),
    )
    .expect("upsert");
    let out = s
        .apply(
            5,
            Command::DeleteServiceRegistrations {
                ids: vec![reg_id("a1", "web"), "unknown".to_owned()],
            },
        )
        .expect("delete");
    assert_eq!(out.skipped_services, ["unknown"]);
    assert_eq!(s.snapshot().index(Table::Services), 5);
    assert_eq!(count(&s), 2);
    s.apply(
        6,
        Command::DeleteServicesByAlloc {
            alloc_ids: vec![AllocId::from("a1")],
        },
    )
    .expect("by alloc");
    let snap = s.snapshot();
    assert_eq!(ids(snap.service_registrations()), [reg_id("a2", "redis")]);
    assert_eq!(snap.services_by_alloc(&AllocId::from("a1")).count(), 0);
    assert_eq!(snap.index(Table::Services), 6);
    // Deleting what is not there changes nothing, and says so by the index.
    let out = s
        .apply(
            7,
            Command::DeleteServicesByAlloc {
                alloc_ids: vec![AllocId::from("a1")],
            },
        )
        .expect("again");
    assert!(!out.changed.contains(&Table::Services));
}

/// Both allocations running, each with one "redis" instance.
fn store_with_services() -> StateStore {
    let mut s = store_with_allocs();
    s.apply(4, client("a1", "running")).expect("a1 running");
    s.apply(5, client("a2", "running")).expect("a2 running");
    s.apply(
        6,
        upsert(vec![reg("a1", "redis", &[]), reg("a2", "redis", &[])]),
    )
    .expect("upsert");
    s
}

fn allocs_in_catalog(s: &StateStore) -> Vec<String> {
    s.snapshot()
        .service_registrations()
        .map(|r| r.alloc_id.to_string())
        .collect()
}

#[test]
fn a_terminal_client_status_drops_the_allocs_registrations() {
    for status in ["complete", "failed", "lost"] {
        let mut s = store_with_services();
        let out = s.apply(7, client("a1", status)).expect("update");
        assert!(out.changed.contains(&Table::Services), "{status}");
        assert_eq!(allocs_in_catalog(&s), ["a2"], "{status}");
        assert_eq!(s.snapshot().index(Table::Services), 7, "{status}");
    }
    // A non-terminal update keeps them.
    let mut s = store_with_services();
    let out = s.apply(7, client("a1", "running")).expect("update");
    assert!(!out.changed.contains(&Table::Services));
    assert_eq!(allocs_in_catalog(&s), ["a1", "a2"]);
}

#[test]
fn a_node_going_down_drops_its_allocs_registrations() {
    let mut s = store_with_services();
    s.apply(
        7,
        Command::UpdateNodeStatus {
            node_id: NodeId::from("n1"),
            status: "down".to_owned(),
            now: 1,
            evals: vec![],
        },
    )
    .expect("down");
    assert!(allocs_in_catalog(&s).is_empty());
    assert_eq!(s.snapshot().index(Table::Services), 7);
}

#[test]
fn a_plan_stop_drops_registrations_once_the_alloc_is_terminal() {
    // Running allocations told to stop keep advertising until the client says they
    // stopped; a pending one told to stop is terminal at once.
    let mut s = store_with_allocs();
    s.apply(4, client("a1", "running")).expect("a1 running");
    s.apply(
        5,
        upsert(vec![reg("a1", "redis", &[]), reg("a2", "redis", &[])]),
    )
    .expect("upsert");
    s.apply(6, stop(&[("n1", "a1"), ("n1", "a2")]))
        .expect("stop");
    assert_eq!(allocs_in_catalog(&s), ["a1"]);
    s.apply(7, client("a1", "complete")).expect("stopped");
    assert!(allocs_in_catalog(&s).is_empty());
}

#[test]
fn purging_the_job_drops_its_registrations() {
    let mut s = store_with_services();
    // A plain stop leaves them: the allocations still run.
    s.apply(
        7,
        Command::DeregisterJob {
            namespace: String::new(),
            job_id: JobId::from("web"),
            purge: false,
            eval: None,
            now: 1,
        },
    )
    .expect("stop");
    assert_eq!(allocs_in_catalog(&s), ["a1", "a2"]);
    s.apply(
        8,
        Command::DeregisterJob {
            namespace: String::new(),
            job_id: JobId::from("web"),
            purge: true,
            eval: None,
            now: 2,
        },
    )
    .expect("purge");
    assert!(allocs_in_catalog(&s).is_empty());
    let snap = s.snapshot();
    assert_eq!(snap.index(Table::Services), 8);
    assert!(snap.services().is_empty());
    // The allocations still run until their client stops them; what they send now is
    // not taken.
    let out = s
        .apply(9, upsert(vec![reg("a1", "redis", &[])]))
        .expect("skipped, not refused");
    assert_eq!(out.skipped_services, [reg_id("a1", "redis")]);
    assert!(allocs_in_catalog(&s).is_empty());
}

#[test]
fn garbage_collection_leaves_no_registration_behind() {
    let mut s = store_with_services();
    s.apply(7, client("a1", "complete")).expect("done");
    s.apply(
        8,
        Command::DeleteEvalsAndAllocs {
            evals: vec![],
            allocs: vec![AllocId::from("a1"), AllocId::from("a2")],
        },
    )
    .expect("gc");
    let snap = s.snapshot();
    assert!(snap.alloc(&AllocId::from("a1")).is_none());
    assert_eq!(
        allocs_in_catalog(&s),
        ["a2"],
        "a2 is live: neither collected nor dropped"
    );
    // Every registration names an allocation that exists and is not terminal.
    for r in snap.service_registrations() {
        assert!(snap.alloc(&r.alloc_id).is_some_and(|a| !a.is_terminal()));
    }
}

#[test]
fn the_catalog_is_deterministic() {
    let log = || {
        vec![
            client("a1", "running"),
            upsert(vec![
                reg("a2", "redis", &["b", "a"]),
                reg("a1", "redis", &["c"]),
            ]),
            client("a2", "failed"),
            upsert(vec![reg("a2", "web", &[])]),
            Command::DeleteServiceRegistrations {
                ids: vec![reg_id("a1", "nope")],
            },
        ]
    };
    let mut a = store_with_allocs();
    let mut b = store_with_allocs();
    for (i, cmd) in log().into_iter().enumerate() {
        let wire = serde_json::to_string(&cmd).expect("serialize");
        let replayed: Command = serde_json::from_str(&wire).expect("deserialize");
        let index = i as u64 + 4;
        assert_eq!(a.apply(index, cmd), b.apply(index, replayed));
    }
    assert_eq!(a.snapshot(), b.snapshot());
    assert_eq!(a.snapshot().services(), b.snapshot().services());
    assert_eq!(allocs_in_catalog(&a), ["a1"]);
}
