//! Exhaustion of cpu, memory and cores, with the dimension reported.

use super::harness::*;

#[test]
fn memory_exhaustion() {
    let mut h = Harness::new();
    h.add_node(sized_node("n1", 4000, 1000));
    let out = h.run_job(resources(job("web", 2), 100, 600, None));
    assert_eq!(placed(&out).len(), 1);
    let metric = &out.eval_update.failed_tg_allocs["web"];
    assert_eq!(metric.nodes_exhausted, 1);
    assert_eq!(metric.dimension_exhausted.get("memory"), Some(&1));
    assert_eq!(out.eval_update.queued_allocations["web"], 1);
    let blocked = out.blocked.as_ref().expect("blocked");
    assert_eq!(blocked.queued_allocations["web"], 1);
    assert_eq!(blocked.triggered_by, "queued-allocs");
}

#[test]
fn cpu_exhaustion_counts_reserved_resources() {
    let mut h = Harness::new();
    let mut n = sized_node("n1", 2000, 8192);
    n.reserved_resources.cpu.cpu_shares = 500;
    h.add_node(n);
    let out = h.run_job(resources(job("web", 2), 1000, 100, None));
    assert_eq!(
        placed(&out).len(),
        1,
        "1500 MHz left: one 1000 MHz allocation"
    );
    assert_eq!(
        out.eval_update.failed_tg_allocs["web"]
            .dimension_exhausted
            .get("cpu"),
        Some(&1)
    );
}

#[test]
fn cores_are_reserved_exclusively() {
    let mut h = Harness::new();
    let mut n = sized_node("n1", 4000, 8192);
    n.reserved_resources.cpu.reservable_cpu_cores = vec![0];
    h.add_node(n);
    let out = h.run_job(resources(job("web", 2), 0, 100, Some(2)));
    let allocs = placed(&out);
    assert_eq!(
        allocs.len(),
        1,
        "cores 1-3 are reservable: one allocation of two"
    );
    let task = &allocs[0].allocated_resources.tasks["app"];
    assert_eq!(task.cpu.reserved_cores, vec![1, 2]);
    assert_eq!(
        task.cpu.cpu_shares, 2000,
        "two cores of a 4-core 4000 MHz node"
    );
    assert_eq!(
        out.eval_update.failed_tg_allocs["web"]
            .dimension_exhausted
            .get("cores"),
        Some(&1)
    );
    let out = h.run_job(resources(job("one", 1), 0, 100, Some(1)));
    assert_eq!(
        placed(&out)[0].allocated_resources.tasks["app"]
            .cpu
            .reserved_cores,
        vec![3]
    );
}

#[test]
fn stopped_allocations_free_their_resources_once_stopped() {
    let mut h = Harness::new();
    h.add_node(sized_node("n1", 4000, 1000));
    h.run_job(resources(job("a", 1), 100, 800, None));
    h.all_running("a");
    // The stop is decided, but the allocation still runs: its memory is still taken.
    let eval = h.stop_job("a", false);
    h.run(&eval);
    let out = h.run_job(resources(job("b", 1), 100, 800, None));
    assert!(placed(&out).is_empty());
    assert_eq!(
        out.eval_update.failed_tg_allocs["web"]
            .dimension_exhausted
            .get("memory"),
        Some(&1)
    );
    // The client reports it stopped: the blocked evaluation now places.
    let a = h
        .snap()
        .allocs_by_job("default", &"a".into())
        .next()
        .cloned()
        .expect("alloc");
    h.client(&a.id, "complete");
    let out = h.run(&out.blocked.clone().expect("blocked"));
    assert_eq!(placed(&out).len(), 1);
}
