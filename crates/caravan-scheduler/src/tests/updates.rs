//! Job updates: in place, destructive, rolling by `max_parallel`.

use caravan_model::{Duration, UpdateStrategy};

use super::harness::*;

fn rolling(mut j: caravan_model::Job, max_parallel: i64) -> caravan_model::Job {
    j.update = Some(UpdateStrategy {
        max_parallel: Some(max_parallel),
        min_healthy_time: Some(Duration::from_secs(10)),
        ..UpdateStrategy::default()
    });
    j
}

#[test]
fn meta_change_updates_in_place() {
    let mut h = Harness::new();
    h.add_nodes(["n1", "n2"].map(node));
    h.run_job(job("web", 3));
    h.all_running("web");
    let before: Vec<_> = h.live("web").into_iter().map(|a| a.id).collect();
    let mut v1 = job("web", 3);
    v1.task_groups[0].meta.insert("owner".into(), "ops".into());
    v1.task_groups[0].tasks[0]
        .meta
        .insert("x".into(), "y".into());
    let out = h.run_job(v1);
    assert!(stopped(&out).is_empty());
    assert_eq!(placed(&out).len(), 3);
    let after = h.live("web");
    assert_eq!(
        after.iter().map(|a| a.id.clone()).collect::<Vec<_>>(),
        before,
        "same allocations"
    );
    assert!(
        after
            .iter()
            .all(|a| a.job.as_ref().and_then(|j| j.version) == Some(1))
    );
    assert!(
        after.iter().all(|a| a.client_status == "running"),
        "client state kept"
    );
    assert!(after.iter().all(|a| a.eval_id == out.eval_update.id));
}

#[test]
fn env_change_replaces_all_without_max_parallel() {
    let mut h = Harness::new();
    h.add_nodes(["n1", "n2"].map(node));
    h.run_job(job("web", 3));
    h.all_running("web");
    let mut v1 = job("web", 3);
    v1.task_groups[0].tasks[0]
        .env
        .insert("MODE".into(), "fast".into());
    let out = h.run_job(v1);
    assert_eq!(stopped(&out).len(), 3);
    assert_eq!(placed(&out).len(), 3);
    assert!(out.follow_ups.is_empty());
    assert!(
        out.plan
            .node_update
            .values()
            .flatten()
            .all(|u| u.desired_description == "alloc is being updated due to job update")
    );
    let mut names = h.live_names("web");
    names.sort();
    assert_eq!(
        names,
        vec!["web.web[0]", "web.web[1]", "web.web[2]"],
        "names are reused"
    );
}

#[test]
fn destructive_updates_roll_per_max_parallel() {
    let mut h = Harness::new();
    h.add_nodes(["n1", "n2", "n3"].map(node));
    h.run_job(rolling(job("web", 3), 1));
    h.all_running("web");
    let mut v1 = rolling(job("web", 3), 1);
    v1.task_groups[0].tasks[0]
        .config
        .insert("command".into(), "/bin/v1".into());
    let out = h.run_job(v1.clone());
    assert_eq!(
        (stopped(&out).len(), placed(&out).len()),
        (1, 1),
        "one at a time"
    );
    assert_eq!(out.follow_ups.len(), 1);
    let follow = &out.follow_ups[0];
    assert_eq!(follow.triggered_by, "rolling-update");
    assert_eq!(
        follow.wait_until,
        Some(T0 + 10 * SEC),
        "after min_healthy_time"
    );
    assert_eq!(out.eval_update.next_eval, Some(follow.id.clone()));

    // The follow-up while the new allocation still starts: nothing more yet.
    h.now += 10 * SEC;
    let follow = h.snap().eval(&follow.id).cloned().expect("stored");
    let out = h.run(&follow);
    assert!(stopped(&out).is_empty() && placed(&out).is_empty());
    assert_eq!(out.follow_ups.len(), 1, "keeps polling");

    // Once it runs, the next one goes.
    h.all_running("web");
    let next = out.follow_ups[0].clone();
    let out = h.run(&next);
    assert_eq!((stopped(&out).len(), placed(&out).len()), (1, 1));
    h.all_running("web");
    let out = h.run(&out.follow_ups[0].clone());
    assert_eq!((stopped(&out).len(), placed(&out).len()), (1, 1));
    assert!(out.follow_ups.is_empty(), "done");
    assert!(
        h.live("web")
            .iter()
            .all(|a| a.job.as_ref().and_then(|j| j.version) == Some(1))
    );
}

#[test]
fn a_pending_rolling_eval_is_not_duplicated() {
    let mut h = Harness::new();
    h.add_nodes(["n1", "n2"].map(node));
    h.run_job(rolling(job("web", 2), 1));
    h.all_running("web");
    let mut v1 = rolling(job("web", 2), 1);
    v1.task_groups[0].tasks[0]
        .env
        .insert("A".into(), "1".into());
    let out = h.run_job(v1);
    assert_eq!(out.follow_ups.len(), 1);
    let other = h.eval("web", "node-update");
    let out = h.run(&other);
    assert!(
        out.follow_ups.is_empty(),
        "one rolling-update eval is already pending"
    );
}
