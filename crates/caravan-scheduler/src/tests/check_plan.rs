//! The plan applier's re-check: plans made from the same snapshot must not both commit
//! when together they oversubscribe a node or collide on a port.

use caravan_model::NodeId;

use super::harness::*;
use crate::check_plan;

#[test]
fn rejects_a_plan_that_oversubscribes_after_another_committed() {
    let mut h = Harness::new();
    h.add_node(sized_node("n1", 4000, 1000));
    let a = h.register(resources(job("a", 1), 100, 600, None));
    let b = h.register(resources(job("b", 1), 100, 600, None));
    let out_a = h.process(&a);
    let out_b = h.process(&b);
    assert_eq!(placed(&out_b).len(), 1, "alone, b fits");
    h.commit(&out_a);
    let check = check_plan(&h.snap(), &out_b.plan);
    assert_eq!(
        check.rejected.get(&NodeId::from("n1")).map(String::as_str),
        Some("memory")
    );
    assert!(!check.is_ok());
    assert!(check.accepted(&out_b.plan).node_allocation.is_empty());
}

#[test]
fn rejects_a_port_collision_between_concurrent_plans() {
    let mut h = Harness::new();
    h.add_node(node("n1"));
    let a = h.register(with_ports(job("a", 1), &[], &[("redis", 6379)]));
    let b = h.register(with_ports(job("b", 1), &[], &[("redis", 6379)]));
    let out_a = h.process(&a);
    let out_b = h.process(&b);
    h.commit(&out_a);
    let check = check_plan(&h.snap(), &out_b.plan);
    assert_eq!(
        check.rejected.get(&NodeId::from("n1")).map(String::as_str),
        Some("network: reserved port collision redis=6379")
    );
}

#[test]
fn rejects_cores_taken_and_unknown_or_down_nodes() {
    let mut h = Harness::new();
    h.add_nodes([node("n1"), node("n2")]);
    let a = h.register(resources(job("a", 1), 0, 100, Some(4)));
    let b = h.register(resources(job("b", 1), 0, 100, Some(1)));
    let out_a = h.process(&a);
    let out_b = h.process(&b);
    h.commit(&out_a);
    let node_b = placed(&out_b)[0].node_id.clone();
    let check = check_plan(&h.snap(), &out_b.plan);
    if node_b == placed(&out_a)[0].node_id {
        assert!(check.rejected[&node_b].starts_with("cores"), "{check:?}");
    } else {
        assert!(check.is_ok());
    }
    h.node_status(node_b.as_str(), "down");
    let check = check_plan(&h.snap(), &out_b.plan);
    assert_eq!(check.rejected[&node_b], "node is not ready");
    let mut plan = out_b.plan.clone();
    let allocs = plan.node_allocation.remove(&node_b).expect("allocs");
    plan.node_allocation.insert(NodeId::from("ghost"), allocs);
    assert_eq!(
        check_plan(&h.snap(), &plan).rejected[&NodeId::from("ghost")],
        "node not found"
    );
}

#[test]
fn accepts_what_the_scheduler_makes_and_stops_free_room() {
    let mut h = Harness::new();
    h.add_node(sized_node("n1", 4000, 1000));
    h.run_job(resources(job("a", 1), 100, 800, None));
    // A pending allocation that the plan stops frees its room within the same plan.
    let eval = h.stop_job("a", false);
    let stop = h.process(&eval);
    let b = h.register(resources(job("b", 1), 100, 800, None));
    let place_b = h.process(&b);
    assert!(
        placed(&place_b).is_empty(),
        "a still holds the memory before its stop commits"
    );
    h.commit(&stop);
    let place_b = h.process(&b);
    assert_eq!(
        placed(&place_b).len(),
        1,
        "a never ran: stopped means freed"
    );
    assert!(check_plan(&h.snap(), &place_b.plan).is_ok());
}

#[test]
fn rejects_the_same_dynamic_port_picked_by_concurrent_plans() {
    // Why: two workers scheduling from one snapshot can pick the same free port; only
    // the first plan to commit may have it.
    let mut h = Harness::new();
    let mut n = node("n1");
    n.node_resources.min_dynamic_port = 25000;
    n.node_resources.max_dynamic_port = 25000;
    h.add_node(n);
    let a = h.register(with_ports(job("a", 1), &["http"], &[]));
    let b = h.register(with_ports(job("b", 1), &["http"], &[]));
    let out_a = h.process(&a);
    let out_b = h.process(&b);
    let port = |out: &crate::Outcome| placed(out)[0].allocated_resources.shared.ports[0].value;
    assert_eq!((port(&out_a), port(&out_b)), (25000, 25000));
    h.commit(&out_a);
    let check = check_plan(&h.snap(), &out_b.plan);
    assert_eq!(
        check.rejected.get(&NodeId::from("n1")).map(String::as_str),
        Some("network: reserved port collision http=25000")
    );
}
