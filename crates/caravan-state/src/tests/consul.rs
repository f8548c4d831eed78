//! What the Consul API writes: agent registrations (owned by a node, outside the
//! allocation rules), their checks and TTL expiry, and the key/value store.

use caravan_model::{CheckStatus, HealthStatus, ServiceProvider, ServiceRegistration};

use super::services::{reg, upsert};
use super::*;

const SECOND: i64 = 1_000_000_000;

/// An agent registration of `id` on node n1 with the given checks.
fn agent_reg(id: &str, name: &str, checks: Vec<CheckStatus>) -> ServiceRegistration {
    ServiceRegistration {
        id: id.to_owned(),
        service_name: name.to_owned(),
        node_id: NodeId::from("n1"),
        provider: ServiceProvider::Consul,
        address: "10.0.0.9".to_owned(),
        port: 6379,
        health: HealthStatus::worst(checks.iter().map(|c| c.status)),
        checks,
        ..ServiceRegistration::default()
    }
}

fn ttl_check(id: &str, ttl_secs: i64) -> CheckStatus {
    CheckStatus {
        check_id: id.to_owned(),
        name: format!("check {id}"),
        check_type: "ttl".to_owned(),
        status: HealthStatus::Critical,
        ttl: ttl_secs * SECOND,
        ..CheckStatus::default()
    }
}

fn register_agent(reg: ServiceRegistration, replace: bool) -> Command {
    Command::RegisterAgentService {
        reg: Box::new(reg),
        replace_existing_checks: replace,
    }
}

fn pass(service: &str, check: &str, now: i64) -> Command {
    Command::UpdateServiceCheck {
        service_id: service.to_owned(),
        check_id: check.to_owned(),
        status: HealthStatus::Passing,
        output: "ok".to_owned(),
        now,
    }
}

fn stored(s: &StateStore, id: &str) -> ServiceRegistration {
    s.snapshot()
        .service_registration(id)
        .cloned()
        .unwrap_or_else(|| panic!("{id} is stored"))
}

#[test]
fn agent_registrations_belong_to_their_node_not_to_an_allocation() {
    let mut s = store_with_allocs();
    let out = s
        .apply(
            4,
            upsert(vec![
                agent_reg("redis-1", "redis", vec![]),
                reg("a1", "redis", &[]),
            ]),
        )
        .expect("upsert");
    assert!(out.skipped_services.is_empty());
    let agent = stored(&s, "redis-1");
    assert_eq!(
        (agent.namespace.as_str(), agent.datacenter.as_str()),
        ("default", "dc1"),
        "filled from the node"
    );
    let snap = s.snapshot();
    let on_node: Vec<&str> = snap
        .services_on_node(&NodeId::from("n1"))
        .map(|r| r.id.as_str())
        .collect();
    assert_eq!(on_node.len(), 2);
    assert_eq!(
        snap.agent_services(&NodeId::from("n1"))
            .map(|r| r.id.as_str())
            .collect::<Vec<_>>(),
        ["redis-1"]
    );
    assert_eq!(
        snap.consul_service("redis")
            .map(|r| r.id.as_str())
            .collect::<Vec<_>>(),
        ["redis-1"],
        "only Consul-provider instances"
    );

    // The allocations' rules leave it alone: the allocations stop, the job goes.
    s.apply(5, client("a1", "complete")).expect("a1 done");
    s.apply(
        6,
        Command::DeregisterJob {
            namespace: String::new(),
            job_id: JobId::from("web"),
            purge: true,
            eval: None,
            now: 1,
        },
    )
    .expect("purge");
    let ids: Vec<String> = s
        .snapshot()
        .service_registrations()
        .map(|r| r.id.clone())
        .collect();
    assert_eq!(ids, ["redis-1"]);
}

#[test]
fn agent_registrations_are_checked() {
    let mut s = store_with_allocs();
    let before = s.snapshot();
    let mut nomad_provider = agent_reg("x", "redis", vec![]);
    nomad_provider.provider = ServiceProvider::Nomad;
    let reserved = agent_reg("_nomad-task-x", "redis", vec![]);
    let mut no_node = agent_reg("x", "redis", vec![]);
    no_node.node_id = NodeId::default();
    let mut with_job = agent_reg("x", "redis", vec![]);
    with_job.job_id = JobId::from("web");
    let mut check_without_id = agent_reg("x", "redis", vec![ttl_check("c", 5)]);
    check_without_id.checks[0].check_id.clear();
    for bad in [
        nomad_provider,
        reserved,
        no_node,
        with_job,
        check_without_id,
    ] {
        let what = format!("{bad:?}");
        let err = s.apply(4, upsert(vec![bad])).expect_err(&what);
        assert!(
            matches!(err, StateError::InvalidServiceRegistration { .. }),
            "{what}: {err}"
        );
        assert_eq!(s.snapshot(), before, "{what}");
    }
    let mut unknown_node = agent_reg("x", "redis", vec![]);
    unknown_node.node_id = NodeId::from("n9");
    assert_eq!(
        s.apply(4, upsert(vec![unknown_node])),
        Err(StateError::UnknownNode(NodeId::from("n9")))
    );
    // An id is one node's: another node cannot take it over.
    s.apply(
        4,
        Command::UpsertNode {
            node: Box::new(node("n2")),
        },
    )
    .expect("n2");
    s.apply(5, upsert(vec![agent_reg("x", "redis", vec![])]))
        .expect("on n1");
    let mut elsewhere = agent_reg("x", "redis", vec![]);
    elsewhere.node_id = NodeId::from("n2");
    assert!(matches!(
        s.apply(6, register_agent(elsewhere, false)),
        Err(StateError::InvalidServiceRegistration { .. })
    ));
}

#[test]
fn re_registration_keeps_check_state_and_by_default_the_other_checks() {
    let mut s = store_with_allocs();
    s.apply(
        4,
        register_agent(
            agent_reg("web-1", "web", vec![ttl_check("a", 10), ttl_check("b", 10)]),
            false,
        ),
    )
    .expect("register");
    assert_eq!(stored(&s, "web-1").health, HealthStatus::Critical);
    s.apply(5, pass("web-1", "a", 100 * SECOND))
        .expect("pass a");
    s.apply(6, pass("web-1", "b", 100 * SECOND))
        .expect("pass b");
    assert_eq!(stored(&s, "web-1").health, HealthStatus::Passing);

    // The same definition again, with only check "a": "a" keeps its passing state
    // (and its TTL clock), "b" stays.
    s.apply(
        7,
        register_agent(agent_reg("web-1", "web", vec![ttl_check("a", 10)]), false),
    )
    .expect("again");
    let again = stored(&s, "web-1");
    assert_eq!(again.checks.len(), 2);
    assert_eq!(again.checks[0].status, HealthStatus::Passing);
    assert_eq!(again.checks[0].ttl_updated, 100 * SECOND);
    assert_eq!(again.health, HealthStatus::Passing);
    assert_eq!(again.create_index, 4);

    // With replace_existing_checks, "b" goes.
    s.apply(
        8,
        register_agent(agent_reg("web-1", "web", vec![ttl_check("a", 10)]), true),
    )
    .expect("replace");
    let replaced = stored(&s, "web-1");
    assert_eq!(
        replaced
            .checks
            .iter()
            .map(|c| c.check_id.as_str())
            .collect::<Vec<_>>(),
        ["a"]
    );
}

#[test]
fn checks_are_added_updated_and_removed_with_health_following() {
    let mut s = store_with_allocs();
    s.apply(4, register_agent(agent_reg("web-1", "web", vec![]), false))
        .expect("register");
    assert_eq!(stored(&s, "web-1").health, HealthStatus::Passing);
    let maintenance = CheckStatus {
        check_id: "_service_maintenance:web-1".to_owned(),
        name: "Service Maintenance Mode".to_owned(),
        check_type: "maintenance".to_owned(),
        status: HealthStatus::Critical,
        ..CheckStatus::default()
    };
    s.apply(
        5,
        Command::UpsertServiceCheck {
            service_id: "web-1".to_owned(),
            check: Box::new(maintenance.clone()),
        },
    )
    .expect("maintenance on");
    assert_eq!(stored(&s, "web-1").health, HealthStatus::Critical);
    // Re-registering, even replacing the checks, keeps maintenance mode.
    s.apply(6, register_agent(agent_reg("web-1", "web", vec![]), true))
        .expect("again");
    assert_eq!(stored(&s, "web-1").health, HealthStatus::Critical);
    s.apply(
        7,
        Command::DeleteServiceCheck {
            service_id: "web-1".to_owned(),
            check_id: maintenance.check_id.clone(),
        },
    )
    .expect("maintenance off");
    assert_eq!(stored(&s, "web-1").health, HealthStatus::Passing);

    // Unknown services and checks are refused, changing nothing.
    let before = s.snapshot();
    assert_eq!(
        s.apply(8, pass("nope", "a", 1)),
        Err(StateError::UnknownService("nope".to_owned()))
    );
    assert!(matches!(
        s.apply(8, pass("web-1", "nope", 1)),
        Err(StateError::UnknownCheck { .. })
    ));
    assert!(matches!(
        s.apply(
            8,
            Command::DeleteServiceCheck {
                service_id: "web-1".to_owned(),
                check_id: "nope".to_owned(),
            }
        ),
        Err(StateError::UnknownCheck { .. })
    ));
    assert_eq!(s.snapshot(), before);
}

#[test]
fn maintenance_survives_a_clients_re_registration() {
    // Why: a client re-sends its allocation's registrations whenever a check changes;
    // an operator's maintenance mode must not vanish with that.
    let mut s = store_with_allocs();
    let mut consul = reg("a1", "redis", &[]);
    consul.provider = ServiceProvider::Consul;
    s.apply(4, upsert(vec![consul.clone()])).expect("upsert");
    let id = consul.id.clone();
    s.apply(
        5,
        Command::UpsertServiceCheck {
            service_id: id.clone(),
            check: Box::new(CheckStatus {
                check_id: format!("_service_maintenance:{id}"),
                status: HealthStatus::Critical,
                ..CheckStatus::default()
            }),
        },
    )
    .expect("maintenance");
    s.apply(6, upsert(vec![consul])).expect("client again");
    let again = stored(&s, &id);
    assert_eq!(again.checks.len(), 1);
    assert_eq!(again.health, HealthStatus::Critical);
}

#[test]
fn ttl_checks_expire_to_critical_with_time_passed_in() {
    let mut s = store_with_allocs();
    s.apply(
        4,
        register_agent(agent_reg("web-1", "web", vec![ttl_check("t", 10)]), false),
    )
    .expect("register");
    // Critical from the start: nothing to expire.
    assert!(expired_ttl_checks(&s.snapshot(), 1_000 * SECOND).is_empty());
    s.apply(5, pass("web-1", "t", 100 * SECOND)).expect("pass");
    let snap = s.snapshot();
    assert!(expired_ttl_checks(&snap, 109 * SECOND).is_empty());
    let expired = expired_ttl_checks(&snap, 110 * SECOND);
    assert_eq!(expired, [("web-1".to_owned(), "t".to_owned())]);

    // A pass that lands between finding and committing wins.
    s.apply(6, pass("web-1", "t", 105 * SECOND))
        .expect("pass again");
    let out = s
        .apply(
            7,
            Command::ExpireTtlChecks {
                checks: expired.clone(),
                now: 110 * SECOND,
            },
        )
        .expect("expire");
    assert_eq!(out.checks_expired, 0);
    assert!(!out.changed.contains(&Table::Services));
    assert_eq!(stored(&s, "web-1").health, HealthStatus::Passing);

    let out = s
        .apply(
            8,
            Command::ExpireTtlChecks {
                checks: expired_ttl_checks(&s.snapshot(), 115 * SECOND),
                now: 115 * SECOND,
            },
        )
        .expect("expire");
    assert_eq!(out.checks_expired, 1);
    let web = stored(&s, "web-1");
    assert_eq!(web.health, HealthStatus::Critical);
    assert_eq!(
        web.checks[0].output,
        "TTL expired (last output before timeout follows): ok"
    );
    assert_eq!(web.checks[0].timestamp, 115 * SECOND);
    assert!(expired_ttl_checks(&s.snapshot(), 1_000 * SECOND).is_empty());
    // Deregistered, it leaves the TTL index too.
    s.apply(
        9,
        Command::DeleteServiceRegistrations {
            ids: vec!["web-1".to_owned()],
        },
    )
    .expect("delete");
    assert!(s.snapshot().tables.services_with_ttl.is_empty());
}

fn kv_set(key: &str, value: &str, cas: Option<u64>) -> Command {
    Command::KvSet {
        key: key.to_owned(),
        value: value.as_bytes().to_vec(),
        flags: 7,
        cas,
    }
}

fn kv_delete(key: &str, recurse: bool, cas: Option<u64>) -> Command {
    Command::KvDelete {
        key: key.to_owned(),
        recurse,
        cas,
    }
}

#[test]
fn kv_set_get_and_cas() {
    let mut s = StateStore::new();
    let out = s.apply(1, kv_set("app/config", "v1", None)).expect("set");
    assert!(out.kv_applied && out.changed.contains(&Table::Kv));
    let snap = s.snapshot();
    let entry = snap.kv_get("app/config").expect("stored");
    assert_eq!(
        (
            entry.value.as_slice(),
            entry.flags,
            entry.create_index,
            entry.modify_index
        ),
        (&b"v1"[..], 7, 1, 1)
    );
    assert_eq!(snap.index(Table::Kv), 1);

    // cas=0: only if absent.
    let out = s
        .apply(2, kv_set("app/config", "v2", Some(0)))
        .expect("cas 0");
    assert!(!out.kv_applied);
    assert!(!out.changed.contains(&Table::Kv));
    assert_eq!(s.snapshot().index(Table::Kv), 1);
    let out = s
        .apply(3, kv_set("app/new", "n", Some(0)))
        .expect("cas 0 new");
    assert!(out.kv_applied);
    // cas=N: only if the modify index is N.
    let out = s
        .apply(4, kv_set("app/config", "v2", Some(3)))
        .expect("stale");
    assert!(!out.kv_applied);
    let out = s
        .apply(5, kv_set("app/config", "v2", Some(1)))
        .expect("cas ok");
    assert!(out.kv_applied);
    let entry = s.snapshot().kv_get("app/config").cloned().expect("stored");
    assert_eq!(
        (entry.value, entry.create_index, entry.modify_index),
        (b"v2".to_vec(), 1, 5)
    );
    let out = s
        .apply(6, kv_set("absent", "x", Some(9)))
        .expect("cas on absent");
    assert!(!out.kv_applied);
    assert_eq!(
        s.apply(7, kv_set("", "x", None)),
        Err(StateError::MissingKvKey)
    );
}

#[test]
fn kv_lists_keys_and_deletes() {
    let mut s = StateStore::new();
    for (i, key) in ["app/a", "app/b/1", "app/b/2", "app/c/x/y", "apple", "zoo"]
        .iter()
        .enumerate()
    {
        s.apply(i as u64 + 1, kv_set(key, "v", None)).expect("set");
    }
    let snap = s.snapshot();
    let listed: Vec<&str> = snap.kv_list("app/").map(|e| e.key.as_str()).collect();
    assert_eq!(listed, ["app/a", "app/b/1", "app/b/2", "app/c/x/y"]);
    assert_eq!(snap.kv_list("app").count(), 5, "a plain string prefix");
    assert_eq!(snap.kv_keys("app/", "/"), ["app/a", "app/b/", "app/c/"]);
    assert_eq!(snap.kv_keys("", "/"), ["app/", "apple", "zoo"]);
    assert_eq!(snap.kv_keys("app/", "").len(), 4);

    // Delete with a wrong cas keeps the key; the right one deletes it.
    let index = snap.kv_get("zoo").expect("zoo").modify_index;
    let out = s
        .apply(10, kv_delete("zoo", false, Some(index + 1)))
        .expect("del");
    assert!(!out.kv_applied);
    assert!(s.snapshot().kv_get("zoo").is_some());
    let out = s
        .apply(11, kv_delete("zoo", false, Some(index)))
        .expect("del");
    assert!(out.kv_applied && out.changed.contains(&Table::Kv));
    // A missing key is deleted already: applied, nothing changed.
    let out = s.apply(12, kv_delete("zoo", false, None)).expect("again");
    assert!(out.kv_applied && !out.changed.contains(&Table::Kv));
    // Recurse deletes a whole prefix.
    s.apply(13, kv_delete("app/", true, None)).expect("tree");
    let left: Vec<String> = s.snapshot().kv_list("").map(|e| e.key.clone()).collect();
    assert_eq!(left, ["apple"]);
}

#[test]
fn the_consul_commands_replay_to_the_same_state_through_serde() {
    // Why: Raft will carry these commands as it carries the others.
    let log = vec![
        Command::UpsertNode {
            node: Box::new(node("n1")),
        },
        register_agent(
            agent_reg("web-1", "web", vec![ttl_check("t", 10), ttl_check("u", 5)]),
            false,
        ),
        pass("web-1", "t", 100 * SECOND),
        Command::UpsertServiceCheck {
            service_id: "web-1".to_owned(),
            check: Box::new(ttl_check("v", 1)),
        },
        Command::DeleteServiceCheck {
            service_id: "web-1".to_owned(),
            check_id: "u".to_owned(),
        },
        Command::ExpireTtlChecks {
            checks: vec![("web-1".to_owned(), "t".to_owned())],
            now: 200 * SECOND,
        },
        kv_set("a", "1", None),
        kv_set("a", "2", Some(2)),
        kv_set("b/c", "3", Some(0)),
        kv_delete("b/", true, None),
        kv_delete("a", false, Some(1)),
    ];
    let mut a = StateStore::new();
    let mut b = StateStore::new();
    for (i, cmd) in log.into_iter().enumerate() {
        let wire = serde_json::to_string(&cmd).expect("serialize");
        let replayed: Command = serde_json::from_str(&wire).expect("deserialize");
        assert_eq!(replayed, cmd);
        let index = i as u64 + 1;
        assert_eq!(a.apply(index, cmd), b.apply(index, replayed));
    }
    assert_eq!(a.snapshot(), b.snapshot());
    let web = stored(&a, "web-1");
    assert_eq!(
        web.checks
            .iter()
            .map(|c| (c.check_id.as_str(), c.status))
            .collect::<Vec<_>>(),
        [("t", HealthStatus::Critical), ("v", HealthStatus::Critical)]
    );
    assert_eq!(
        a.snapshot()
            .kv_list("")
            .map(|e| e.key.as_str())
            .collect::<Vec<_>>(),
        ["a"]
    );
}
