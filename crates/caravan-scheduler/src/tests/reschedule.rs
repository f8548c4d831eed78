//! Failed allocations rescheduled per policy; lost and draining nodes; batch completion.

use caravan_model::{Duration, ReschedulePolicy};

use super::harness::*;

fn policy(attempts: i64, delay_secs: i64) -> ReschedulePolicy {
    ReschedulePolicy {
        attempts: Some(attempts),
        interval: Some(Duration::from_hours(1)),
        delay: Some(Duration::from_secs(delay_secs)),
        delay_function: Some("constant".into()),
        max_delay: Some(Duration::ZERO),
        unlimited: Some(false),
    }
}

#[test]
fn failed_alloc_is_rescheduled_after_its_delay_then_attempts_run_out() {
    let mut h = Harness::new();
    h.add_nodes(["n1", "n2"].map(node));
    let mut j = job("web", 1);
    j.task_groups[0].reschedule_policy = Some(policy(1, 10));
    h.run_job(j);
    let first = h.live("web")[0].clone();
    h.client(&first.id, "failed");

    // Too early: a follow-up evaluation waits for the delay.
    h.now += SEC;
    let eval = h.eval("web", "alloc-failure");
    let out = h.run(&eval);
    assert!(placed(&out).is_empty());
    assert_eq!(out.follow_ups.len(), 1);
    let follow = out.follow_ups[0].clone();
    assert_eq!(
        (follow.triggered_by.as_str(), follow.wait_until),
        ("alloc-failure", Some(T0 + 10 * SEC))
    );
    assert_eq!(follow.status, "pending");
    // Another trigger before then does not add a second follow-up for the same time.
    let again = h.eval("web", "alloc-failure");
    assert!(h.run(&again).follow_ups.is_empty());

    // Due: replaced under the same name, away from the node it failed on, linked.
    h.now = T0 + 10 * SEC;
    let out = h.run(&follow);
    let next = placed(&out)[0].clone();
    assert_eq!(next.name, "web.web[0]");
    assert_eq!(next.previous_allocation, Some(first.id.clone()));
    assert_ne!(next.node_id, first.node_id, "the failed node is penalised");
    let tracker = next.reschedule_tracker.clone().expect("tracker");
    assert_eq!(tracker.events.len(), 1);
    assert_eq!(tracker.events[0].prev_alloc_id, first.id);
    assert_eq!(tracker.events[0].delay, Duration::from_secs(10));
    let snap = h.snap();
    assert_eq!(
        snap.alloc(&first.id)
            .and_then(|a| a.next_allocation.clone()),
        Some(next.id.clone())
    );

    // It fails too: one attempt per hour was allowed, so it stays failed.
    h.client(&next.id, "failed");
    h.now += 60 * SEC;
    let eval = h.eval("web", "alloc-failure");
    let out = h.run(&eval);
    assert!(placed(&out).is_empty() && out.follow_ups.is_empty() && out.blocked.is_none());
    assert!(h.live("web").is_empty());
}

#[test]
fn unlimited_exponential_delays_grow() {
    let mut h = Harness::new();
    h.add_node(node("n1"));
    let mut j = job("web", 1);
    j.task_groups[0].reschedule_policy = Some(ReschedulePolicy {
        delay_function: Some("exponential".into()),
        unlimited: Some(true),
        max_delay: Some(Duration::from_secs(100)),
        ..policy(0, 5)
    });
    h.run_job(j);
    let mut waits = Vec::new();
    for _ in 0..3 {
        let a = h.live("web")[0].clone();
        h.client(&a.id, "failed");
        let failed_at = h.now;
        let out = h.trigger("web", "alloc-failure");
        let at = out.follow_ups[0].wait_until.expect("delayed");
        waits.push((at - failed_at) / SEC);
        h.now = at;
        h.run(&out.follow_ups[0].clone());
    }
    assert_eq!(waits, vec![5, 10, 20]);
}

#[test]
fn batch_completion_is_not_replaced_but_failure_is() {
    let mut h = Harness::new();
    h.add_nodes(["n1", "n2"].map(node));
    let mut j = with_type(job("etl", 2), "batch");
    j.task_groups[0].reschedule_policy = Some(policy(1, 0));
    h.run_job(j);
    let allocs = h.live("etl");
    h.client(&allocs[0].id, "complete");
    h.client(&allocs[1].id, "failed");
    let out = h.trigger("etl", "alloc-failure");
    let new = placed(&out);
    assert_eq!(new.len(), 1);
    assert_eq!(new[0].previous_allocation, Some(allocs[1].id.clone()));
    assert_eq!(new[0].name, allocs[1].name);
    // Everything done: nothing more.
    h.client(&new[0].id.clone(), "complete");
    let out = h.trigger("etl", "alloc-failure");
    assert!(out.plan.is_no_op());
}

#[test]
fn service_completion_is_replaced() {
    let mut h = Harness::new();
    h.add_node(node("n1"));
    h.run_job(job("web", 1));
    let a = h.live("web")[0].clone();
    h.client(&a.id, "complete");
    let out = h.trigger("web", "alloc-failure");
    assert_eq!(placed(&out).len(), 1);
    assert_eq!(placed(&out)[0].name, "web.web[0]");
}

#[test]
fn lost_allocations_are_replaced_elsewhere() {
    let mut h = Harness::new();
    h.add_nodes(["n1", "n2", "n3"].map(node));
    h.run_job(job("web", 3));
    h.all_running("web");
    let on_n1: Vec<_> = h
        .live("web")
        .into_iter()
        .filter(|a| a.node_id.as_str() == "n1")
        .collect();
    assert_eq!(on_n1.len(), 1);
    h.node_status("n1", "down");
    assert_eq!(
        h.snap()
            .alloc(&on_n1[0].id)
            .map(|a| a.client_status.clone()),
        Some("lost".into())
    );
    let out = h.trigger("web", "node-update");
    let new = placed(&out)
        .into_iter()
        .filter(|a| a.create_time == h.now && a.previous_allocation.is_some())
        .collect::<Vec<_>>();
    assert_eq!(new.len(), 1);
    assert_ne!(new[0].node_id.as_str(), "n1");
    assert_eq!(new[0].previous_allocation, Some(on_n1[0].id.clone()));
    assert!(
        new[0].reschedule_tracker.is_none(),
        "a lost allocation is not a failed reschedule"
    );
    assert_eq!(h.live("web").len(), 3);
    assert_eq!(
        h.snap()
            .alloc(&on_n1[0].id)
            .map(|a| a.desired_status.clone()),
        Some("stop".into()),
        "a node that comes back stops what was replaced"
    );
}

#[test]
fn allocations_on_a_down_node_not_yet_marked_lost_are_stopped_and_replaced() {
    // Why: the scheduler may see the node down before the allocations are marked.
    let mut h = Harness::new();
    h.add_nodes(["n1", "n2"].map(node));
    let mut j = job("web", 2);
    j.task_groups[0].constraints = vec![];
    h.run_job(j);
    h.all_running("web");
    let mut n1 = node("n1");
    n1.status = "down".into();
    h.add_node(n1); // re-registration with a down status does not mark allocations
    let out = h.trigger("web", "node-update");
    let lost = out
        .plan
        .node_update
        .get(&caravan_model::NodeId::from("n1"))
        .cloned()
        .unwrap_or_default();
    assert_eq!(lost.len(), 1);
    assert_eq!(
        lost[0].desired_description,
        "alloc is lost since its node is down"
    );
    assert!(
        placed(&out)
            .iter()
            .any(|a| a.node_id.as_str() == "n2" && a.previous_allocation.is_some())
    );
}

#[test]
fn draining_node_allocations_migrate() {
    let mut h = Harness::new();
    h.add_nodes(["n1", "n2"].map(node));
    h.run_job(job("web", 2));
    h.all_running("web");
    h.apply(caravan_state::Command::UpdateNodeDrain {
        node_id: caravan_model::NodeId::from("n1"),
        drain: true,
        evals: vec![],
    });
    let out = h.trigger("web", "node-drain");
    let stops: Vec<_> = out.plan.node_update.values().flatten().collect();
    assert_eq!(stops.len(), 1);
    assert_eq!(stops[0].desired_description, "alloc is being migrated");
    let new: Vec<_> = placed(&out)
        .into_iter()
        .filter(|a| a.previous_allocation.is_some())
        .collect();
    assert_eq!(new.len(), 1);
    assert_eq!(new[0].node_id.as_str(), "n2");
}

#[test]
fn stopped_by_user_is_replaced() {
    let mut h = Harness::new();
    h.add_nodes(["n1", "n2"].map(node));
    h.run_job(job("web", 2));
    let victim = h.live("web")[0].clone();
    h.apply(caravan_state::Command::StopAlloc {
        alloc_id: victim.id.clone(),
        description: "alloc was stopped by user".into(),
        eval: None,
        now: h.now,
    });
    let out = h.trigger("web", "alloc-stop");
    let new: Vec<_> = placed(&out)
        .into_iter()
        .filter(|a| a.id != victim.id)
        .collect();
    assert!(new.iter().any(|a| a.name == victim.name));
}

#[test]
fn a_job_registered_again_after_a_purge_ignores_the_old_jobs_allocations() {
    let mut h = Harness::new();
    h.add_nodes(["n1", "n2"].map(node));
    h.run_job(job("web", 1));
    let old = h.live("web")[0].id.clone();
    h.client(&old, "failed");
    let stop = h.stop_job("web", true);
    h.run(&stop);
    // The same id again: a new job (another create index), placed at once rather
    // than waiting on the old job's failed allocation's reschedule delay.
    let out = h.run_job(job("web", 1));
    let new = placed(&out);
    assert_eq!(new.len(), 1, "the new job gets its own allocation");
    assert_ne!(new[0].id, old);
    assert!(
        new[0].previous_allocation.is_none(),
        "nothing of the old job is replaced"
    );
}
