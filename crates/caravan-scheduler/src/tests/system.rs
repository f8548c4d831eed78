//! System and sysbatch jobs: one allocation per suitable node, new nodes included.

use caravan_model::{Constraint, NodeId};
use caravan_state::Command;

use super::harness::*;

fn system_job(id: &str) -> caravan_model::Job {
    with_ports(with_type(job(id, 1), "system"), &[], &[("http", 80)])
}

#[test]
fn one_per_eligible_node_and_on_nodes_that_join_later() {
    let mut h = Harness::new();
    h.add_nodes(["n1", "n2", "n3"].map(node));
    let mut ineligible = node("n4");
    ineligible.scheduling_eligibility = "ineligible".into();
    h.add_node(ineligible);
    h.apply(Command::UpdateNodeEligibility {
        node_id: NodeId::from("n4"),
        eligible: false,
        evals: vec![],
    });
    let out = h.run_job(system_job("ingress"));
    let mut on: Vec<_> = placed(&out).iter().map(|a| a.node_id.to_string()).collect();
    on.sort();
    assert_eq!(on, vec!["n1", "n2", "n3"]);
    assert!(placed(&out).iter().all(|a| a.name == "ingress.web[0]"));
    assert!(
        placed(&out)
            .iter()
            .all(|a| a.allocated_resources.shared.ports[0].value == 80)
    );
    h.all_running("ingress");

    // A node joins: its node-update evaluation places only there.
    h.add_node(node("n5"));
    let out = h.trigger("ingress", "node-update");
    let on: Vec<_> = placed(&out).iter().map(|a| a.node_id.to_string()).collect();
    assert_eq!(on, vec!["n5"]);
    assert!(stopped(&out).is_empty());
    // Nothing to do afterwards.
    let eval = h.eval("ingress", "node-update");
    assert!(h.process(&eval).plan.is_no_op());
}

#[test]
fn system_job_leaves_nodes_that_stop_suiting_it() {
    let mut h = Harness::new();
    h.add_nodes(["n1", "n2"].map(node));
    h.run_job(system_job("agent"));
    h.all_running("agent");
    h.node_status("n2", "down");
    let out = h.trigger("agent", "node-update");
    assert!(
        placed(&out).is_empty(),
        "no replacement elsewhere for a system job"
    );
    let mut j = system_job("agent");
    j.constraints = vec![Constraint {
        l_target: "${node.unique.name}".into(),
        r_target: "n9".into(),
        operand: "=".into(),
    }];
    let out = h.run_job(j);
    assert_eq!(stopped(&out).len(), 1, "n1 no longer matches");
    assert!(placed(&out).is_empty());
}

#[test]
fn system_job_blocked_on_a_full_node_names_the_dimension() {
    let mut h = Harness::new();
    h.add_nodes([sized_node("big", 4000, 8192), sized_node("tiny", 4000, 128)]);
    let out = h.run_job(system_job("agent"));
    assert_eq!(placed(&out).len(), 1);
    let metric = &out.eval_update.failed_tg_allocs["web"];
    assert_eq!(metric.dimension_exhausted.get("memory"), Some(&1));
    assert_eq!(out.eval_update.queued_allocations["web"], 1);
    assert!(out.blocked.is_some());
}

#[test]
fn sysbatch_runs_once_per_node() {
    let mut h = Harness::new();
    h.add_nodes(["n1", "n2"].map(node));
    h.run_job(with_type(job("scan", 1), "sysbatch"));
    for a in h.live("scan") {
        h.client(&a.id, "complete");
    }
    let out = h.trigger("scan", "node-update");
    assert!(out.plan.is_no_op(), "completed work is not redone");
    h.add_node(node("n3"));
    let out = h.trigger("scan", "node-update");
    assert_eq!(placed(&out).len(), 1);
    assert_eq!(placed(&out)[0].node_id.as_str(), "n3");
}

#[test]
fn system_update_is_destructive_per_node() {
    let mut h = Harness::new();
    h.add_nodes(["n1", "n2"].map(node));
    h.run_job(system_job("agent"));
    h.all_running("agent");
    let mut v1 = system_job("agent");
    v1.task_groups[0].tasks[0]
        .env
        .insert("V".into(), "1".into());
    let out = h.run_job(v1);
    assert_eq!(stopped(&out).len(), 2);
    // The plan frees what it stops, so the replacements (port 80 included) are placed
    // at once on the same nodes; each client hands the port over when the old task ends.
    let mut on: Vec<_> = placed(&out).iter().map(|a| a.node_id.to_string()).collect();
    on.sort();
    assert_eq!(on, vec!["n1", "n2"], "replaced on the same nodes");
    assert!(out.blocked.is_none());
    assert!(out.eval_update.failed_tg_allocs.is_empty());
}
