//! Feasibility: constraints, datacenters, drivers, distinct hosts and properties.

use caravan_model::{Constraint, DriverInfo};

use super::harness::*;

fn constraint(l: &str, op: &str, r: &str) -> Constraint {
    Constraint {
        l_target: l.into(),
        operand: op.into(),
        r_target: r.into(),
    }
}

#[test]
fn constraint_filters_and_names_itself_in_the_failure() {
    let mut h = Harness::new();
    let mut win = node("win");
    win.attributes
        .insert("kernel.name".into(), "windows".into());
    h.add_nodes([node("lin1"), node("lin2"), win]);
    let mut j = job("iis", 1);
    j.constraints = vec![constraint("${attr.kernel.name}", "=", "windows")];
    let out = h.run_job(j);
    assert_eq!(placed(&out)[0].node_id.as_str(), "win");

    let mut j = job("mac", 2);
    j.task_groups[0].tasks[0].constraints = vec![constraint("${attr.kernel.name}", "=", "darwin")];
    let out = h.run_job(j);
    assert!(placed(&out).is_empty());
    let metric = &out.eval_update.failed_tg_allocs["web"];
    assert_eq!(metric.nodes_evaluated, 3);
    assert_eq!(metric.nodes_filtered, 3);
    assert_eq!(
        metric
            .constraint_filtered
            .get("${attr.kernel.name} = darwin"),
        Some(&3)
    );
    assert_eq!(
        metric.coalesced_failures, 1,
        "the second placement was not tried"
    );
    assert_eq!(metric.nodes_in_pool, 3);
    assert_eq!(metric.nodes_available.get("dc1"), Some(&3));
    assert_eq!(out.eval_update.queued_allocations["web"], 2);
    let blocked = out.blocked.as_ref().expect("blocked eval");
    assert_eq!(blocked.status, "blocked");
    assert_eq!(blocked.previous_eval, Some(out.eval_update.id.clone()));
    assert_eq!(out.eval_update.blocked_eval, Some(blocked.id.clone()));
    assert_eq!(out.eval_update.status, "complete");
    assert_eq!(out.plan.failed_tg_allocs, out.eval_update.failed_tg_allocs);
}

#[test]
fn blocked_eval_places_once_capacity_appears() {
    let mut h = Harness::new();
    h.add_node(sized_node("small", 4000, 512));
    let out = h.run_job(job("web", 3));
    assert_eq!(placed(&out).len(), 2);
    let blocked = out.blocked.clone().expect("blocked");
    h.add_node(node("more"));
    let out = h.run(&blocked);
    assert_eq!(placed(&out).len(), 1);
    assert_eq!(placed(&out)[0].name, "web.web[2]");
    assert!(out.blocked.is_none());
}

#[test]
fn datacenter_globs_and_node_pools() {
    let mut h = Harness::new();
    let mut nodes = [node("a"), node("b"), node("c")];
    nodes[0].datacenter = "us-east-1".into();
    nodes[1].datacenter = "us-west-2".into();
    nodes[2].datacenter = "eu-west-1".into();
    nodes[2].node_pool = "gpu".into();
    h.add_nodes(nodes);
    let mut j = job("web", 2);
    j.datacenters = vec!["us-*".into()];
    let out = h.run_job(j);
    let mut on: Vec<_> = placed(&out).iter().map(|a| a.node_id.to_string()).collect();
    on.sort();
    assert_eq!(on, vec!["a", "b"]);
    let mut j = job("train", 1);
    j.datacenters = vec!["*".into()];
    j.node_pool = Some("gpu".into());
    let out = h.run_job(j);
    assert_eq!(placed(&out)[0].node_id.as_str(), "c");
    let mut j = job("none", 1);
    j.datacenters = vec!["ap-*".into()];
    let out = h.run_job(j);
    assert_eq!(out.eval_update.failed_tg_allocs["web"].nodes_evaluated, 0);
}

#[test]
fn missing_or_unhealthy_driver_is_filtered() {
    let mut h = Harness::new();
    let mut sick = node("sick");
    sick.drivers.insert(
        "docker".into(),
        DriverInfo {
            detected: true,
            healthy: false,
            ..DriverInfo::default()
        },
    );
    let mut good = node("good");
    good.drivers.insert(
        "docker".into(),
        DriverInfo {
            detected: true,
            healthy: true,
            ..DriverInfo::default()
        },
    );
    h.add_nodes([node("plain"), sick, good]);
    let mut j = job("redis", 2);
    j.task_groups[0].tasks[0].driver = "docker".into();
    j.constraints = vec![constraint("", "distinct_hosts", "")];
    let out = h.run_job(j);
    assert_eq!(placed(&out).len(), 1);
    assert_eq!(placed(&out)[0].node_id.as_str(), "good");
    let metric = &out.eval_update.failed_tg_allocs["web"];
    assert_eq!(metric.constraint_filtered.get("missing drivers"), Some(&2));
    assert_eq!(metric.constraint_filtered.get("distinct_hosts"), Some(&1));
}

#[test]
fn distinct_hosts_one_per_node() {
    let mut h = Harness::new();
    h.add_nodes(["n1", "n2"].map(node));
    let mut j = job("zk", 3);
    j.constraints = vec![constraint("", "distinct_hosts", "true")];
    let out = h.run_job(j);
    assert_eq!(placed(&out).len(), 2);
    let metric = &out.eval_update.failed_tg_allocs["web"];
    assert_eq!(metric.constraint_filtered.get("distinct_hosts"), Some(&2));
    // Across evaluations too.
    h.add_node(node("n3"));
    let out = h.run(&out.blocked.clone().expect("blocked"));
    assert_eq!(placed(&out).len(), 1);
    assert_eq!(placed(&out)[0].node_id.as_str(), "n3");
}

#[test]
fn distinct_property_limits_per_value() {
    let mut h = Harness::new();
    let mut nodes: Vec<_> = (0..4).map(|i| node(&format!("n{i}"))).collect();
    for (i, n) in nodes.iter_mut().enumerate() {
        n.meta.insert("rack".into(), format!("r{}", i / 2));
    }
    h.add_nodes(nodes);
    let mut j = job("db", 3);
    j.task_groups[0].constraints = vec![constraint("${meta.rack}", "distinct_property", "1")];
    let out = h.run_job(j);
    assert_eq!(placed(&out).len(), 2, "two racks, one each");
    let racks: std::collections::BTreeSet<_> = placed(&out)
        .iter()
        .map(|a| h.snap().node(&a.node_id).map(|n| n.meta["rack"].clone()))
        .collect();
    assert_eq!(racks.len(), 2);
    assert!(
        out.eval_update.failed_tg_allocs["web"]
            .constraint_filtered
            .contains_key("${meta.rack} distinct_property 1")
    );
}

#[test]
fn version_regexp_and_set_constraints() {
    let mut h = Harness::new();
    let mut old = node("old");
    old.attributes.insert("os.version".into(), "20.04".into());
    let mut new = node("new");
    new.attributes.insert("os.version".into(), "24.04".into());
    new.meta.insert("features".into(), "avx,sse4".into());
    h.add_nodes([old, new]);
    for (c, want) in [
        (
            constraint("${attr.os.version}", "version", ">= 22.04"),
            "new",
        ),
        (constraint("${attr.os.version}", "regexp", r"^20\."), "old"),
        (constraint("${meta.features}", "set_contains", "avx"), "new"),
        (constraint("${meta.features}", "is_not_set", ""), "old"),
        (constraint("${node.unique.name}", "!=", "new"), "old"),
    ] {
        let mut j = job(&format!("j-{want}-{}", c.operand), 1);
        j.constraints = vec![c.clone()];
        let out = h.run_job(j);
        assert_eq!(placed(&out)[0].node_id.as_str(), want, "{c:?}");
    }
}

#[test]
fn unknown_job_type_fails_the_eval() {
    let mut h = Harness::new();
    h.add_node(node("n1"));
    let eval = h.register(with_type(job("odd", 1), "cron"));
    let out = h.process(&eval);
    assert_eq!(out.eval_update.status, "failed");
    assert_eq!(
        out.eval_update.status_description,
        "job odd has unknown type \"cron\""
    );
    assert!(out.plan.is_no_op());
}
