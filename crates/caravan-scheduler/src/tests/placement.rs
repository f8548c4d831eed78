//! Basic placement: spreading over nodes, names, count changes, stopping, determinism.

use std::collections::BTreeSet;

use caravan_model::{Affinity, JobId, Spread, SpreadTarget};

use super::harness::*;
use crate::{SchedContext, process};

#[test]
fn places_one_per_node_when_nodes_are_equal() {
    // Why: the same-node penalty should beat bin-packing's pull toward one node.
    let mut h = Harness::new();
    h.add_nodes(["n1", "n2", "n3"].map(node));
    let out = h.run_job(job("web", 3));
    let allocs = placed(&out);
    assert_eq!(allocs.len(), 3);
    let nodes: BTreeSet<_> = allocs.iter().map(|a| a.node_id.as_str()).collect();
    assert_eq!(nodes.len(), 3, "spread over the three nodes");
    assert_eq!(
        h.live_names("web"),
        vec!["web.web[0]", "web.web[1]", "web.web[2]"]
    );
    assert_eq!(out.eval_update.status, "complete");
    assert_eq!(out.eval_update.queued_allocations.get("web"), Some(&0));
    assert!(out.blocked.is_none() && out.follow_ups.is_empty());
    let a = &h.live("web")[0];
    assert_eq!(
        (a.client_status.as_str(), a.desired_status.as_str()),
        ("pending", "run")
    );
    assert_eq!(a.eval_id, out.eval_update.id);
    assert_eq!(
        a.job.as_ref().and_then(|j| j.version),
        Some(0),
        "the store attached the job"
    );
    let task = &a.allocated_resources.tasks["app"];
    assert_eq!((task.cpu.cpu_shares, task.memory.memory_mb), (100, 256));
    assert_eq!(a.create_time, T0);
    assert!(a.metrics.as_ref().is_some_and(|m| m.nodes_evaluated >= 1));
}

#[test]
fn bin_packs_onto_the_fuller_node() {
    // Why: best fit leaves room for big allocations elsewhere.
    let mut h = Harness::new();
    h.add_nodes([node("a"), node("b")]);
    h.run_job(resources(job("big", 1), 3000, 6000, None));
    let out = h.run_job(job("small", 1));
    let big_node = h.live("big")[0].node_id.clone();
    assert_eq!(placed(&out)[0].node_id, big_node);
}

#[test]
fn count_up_fills_lowest_free_indexes_and_count_down_stops_highest() {
    let mut h = Harness::new();
    h.add_nodes(["n1", "n2"].map(node));
    h.run_job(job("web", 3));
    h.all_running("web");
    let before: BTreeSet<_> = h.live("web").into_iter().map(|a| a.id).collect();
    let out = h.run_job(job("web", 5));
    assert_eq!(placed(&out).len(), 5, "three updated in place, two new");
    let mut names: Vec<_> = placed(&out)
        .iter()
        .filter(|a| !before.contains(&a.id))
        .map(|a| a.name.clone())
        .collect();
    names.sort();
    assert_eq!(names, vec!["web.web[3]", "web.web[4]"]);
    assert!(
        stopped(&out).is_empty(),
        "a count change is not a destructive update"
    );
    h.all_running("web");
    let out = h.run_job(job("web", 2));
    assert_eq!(stopped(&out).len(), 3);
    assert!(
        placed(&out).iter().all(|a| a.job.is_none()),
        "in-place updates carry no job"
    );
    let survivors: Vec<String> = h
        .snap()
        .allocs_by_job("default", &JobId::from("web"))
        .filter(|a| a.desired_status == "run")
        .map(|a| a.name.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    assert_eq!(survivors, vec!["web.web[0]", "web.web[1]"]);
    let update = &out
        .plan
        .node_update
        .values()
        .flatten()
        .next()
        .expect("a stop");
    assert_eq!(
        update.desired_description,
        "alloc not needed due to job update"
    );
}

#[test]
fn stopping_or_purging_a_job_stops_everything() {
    let mut h = Harness::new();
    h.add_nodes(["n1", "n2"].map(node));
    h.run_job(job("web", 3));
    h.run_job(job("api", 2));
    let eval = h.stop_job("web", false);
    let out = h.run(&eval);
    assert_eq!(stopped(&out).len(), 3);
    assert!(placed(&out).is_empty() && out.blocked.is_none());
    assert!(
        out.plan
            .node_update
            .values()
            .flatten()
            .all(|u| u.desired_description == "alloc not needed as job is stopped")
    );
    assert!(h.live("web").is_empty());
    let eval = h.stop_job("api", true);
    let out = h.run(&eval);
    assert_eq!(
        stopped(&out).len(),
        2,
        "a purged job's allocations stop too"
    );
    assert!(out.plan.job.is_none());
    // Nothing left to do: a second run is a no-op.
    let again = h.process(&eval);
    assert!(again.plan.is_no_op());
}

#[test]
fn same_seed_same_outcome() {
    let mut h = Harness::new();
    h.add_nodes((0..20).map(|i| node(&format!("n{i:02}"))));
    let eval = h.register(with_ports(job("web", 15), &["http"], &[]));
    let snap = h.snap();
    let ctx = SchedContext::new(T0, 77);
    let a = process(&snap, &eval, &ctx);
    let b = process(&snap, &eval, &ctx);
    assert_eq!(a, b);
    let c = process(&snap, &eval, &SchedContext::new(T0, 78));
    assert_ne!(a.plan, c.plan, "another seed picks other ids");
}

#[test]
fn spread_balances_over_datacenters() {
    let mut h = Harness::new();
    let mut nodes: Vec<_> = (0..4).map(|i| node(&format!("east{i}"))).collect();
    nodes.push(node("west0"));
    for n in &mut nodes {
        n.datacenter = if n.id.as_str().starts_with("east") {
            "east".into()
        } else {
            "west".into()
        };
    }
    h.add_nodes(nodes);
    let mut j = job("web", 4);
    j.datacenters = vec!["*".into()];
    j.task_groups[0].spreads = vec![Spread {
        attribute: "${node.datacenter}".into(),
        weight: Some(100),
        spread_target: vec![],
    }];
    let out = h.run_job(j);
    let west = placed(&out)
        .iter()
        .filter(|a| a.node_id.as_str() == "west0")
        .count();
    assert_eq!(
        west, 2,
        "half of the allocations in the one-node datacenter"
    );

    let mut j = job("api", 4);
    j.datacenters = vec!["*".into()];
    j.spreads = vec![Spread {
        attribute: "${node.datacenter}".into(),
        weight: Some(100),
        spread_target: vec![SpreadTarget {
            value: "east".into(),
            percent: 75,
        }],
    }];
    let out = h.run_job(j);
    let west = placed(&out)
        .iter()
        .filter(|a| a.node_id.as_str() == "west0")
        .count();
    assert_eq!(west, 1, "25% left for west");
}

#[test]
fn affinity_prefers_matching_nodes() {
    let mut h = Harness::new();
    let mut nodes: Vec<_> = (0..6).map(|i| node(&format!("n{i}"))).collect();
    nodes[4].meta.insert("disk".into(), "ssd".into());
    nodes[5].meta.insert("disk".into(), "ssd".into());
    h.add_nodes(nodes);
    let mut j = job("db", 2);
    j.task_groups[0].affinities = vec![Affinity {
        l_target: "${meta.disk}".into(),
        r_target: "ssd".into(),
        operand: "=".into(),
        weight: Some(100),
    }];
    let out = h.run_job(j);
    let mut on: Vec<_> = placed(&out).iter().map(|a| a.node_id.to_string()).collect();
    on.sort();
    assert_eq!(on, vec!["n4", "n5"]);
}

#[test]
fn many_nodes_sampled_placement_still_places_everything() {
    // Why: with more nodes than the scoring window, placement must still find room.
    let mut h = Harness::new();
    h.add_nodes((0..300).map(|i| sized_node(&format!("n{i:03}"), 1000, 1024)));
    let out = h.run_job(resources(job("web", 1200), 250, 256, None));
    assert_eq!(
        placed(&out).len(),
        1200,
        "{:?}",
        out.eval_update.failed_tg_allocs
    );
    let snap = h.snap();
    for n in snap.nodes() {
        let used: i64 = snap
            .allocs_by_node(&n.id)
            .map(|a| {
                a.allocated_resources
                    .tasks
                    .values()
                    .map(|t| t.memory.memory_mb)
                    .sum::<i64>()
            })
            .sum();
        assert!(used <= 1024, "node {} oversubscribed: {used} MB", n.id);
    }
    // Full now: one more does not fit.
    let out = h.run_job(resources(job("web", 1201), 250, 256, None));
    assert!(out.blocked.is_some());
}
