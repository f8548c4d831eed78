//! Unit tests of the store: each command's effect, versions, indexes, snapshots and
//! determinism.

use std::collections::BTreeMap;

use caravan_model::{
    AllocId, AllocUpdate, Allocation, EvalId, Evaluation, Job, JobId, Node, NodeId, Task, TaskGroup,
};

use crate::*;

mod codec;
mod consul;
mod services;

fn job(id: &str, count: i64) -> Job {
    Job {
        id: JobId::from(id),
        name: id.to_owned(),
        job_type: Some("service".to_owned()),
        datacenters: vec!["dc1".to_owned()],
        task_groups: vec![TaskGroup {
            name: "web".to_owned(),
            count: Some(count),
            tasks: vec![Task {
                name: "app".to_owned(),
                driver: "raw_exec".to_owned(),
                ..Task::default()
            }],
            ..TaskGroup::default()
        }],
        ..Job::default()
    }
}

fn node(id: &str) -> Node {
    Node {
        id: NodeId::from(id),
        name: format!("node-{id}"),
        datacenter: "dc1".to_owned(),
        status: "ready".to_owned(),
        ..Node::default()
    }
}

fn eval(id: &str, job_id: &str) -> Evaluation {
    Evaluation {
        id: EvalId::from(id),
        job_id: JobId::from(job_id),
        status: "pending".to_owned(),
        triggered_by: "job-register".to_owned(),
        ..Evaluation::default()
    }
}

fn alloc(id: &str, job_id: &str, node_id: &str, eval_id: &str) -> Allocation {
    Allocation {
        id: AllocId::from(id),
        job_id: JobId::from(job_id),
        node_id: NodeId::from(node_id),
        eval_id: EvalId::from(eval_id),
        task_group: "web".to_owned(),
        name: format!("{job_id}.web[0]"),
        ..Allocation::default()
    }
}

fn register(job: Job, eval: Option<Evaluation>) -> Command {
    Command::RegisterJob {
        job: Box::new(job),
        eval,
        submit_time: 1_000,
    }
}

fn place(eval_id: &str, allocs: Vec<Allocation>) -> Command {
    let mut node_allocation: BTreeMap<NodeId, Vec<Allocation>> = BTreeMap::new();
    for a in allocs {
        node_allocation
            .entry(a.node_id.clone())
            .or_default()
            .push(a);
    }
    Command::ApplyPlanResult(Box::new(PlanResult {
        eval_id: EvalId::from(eval_id),
        node_allocation,
        now: 5_000,
        ..PlanResult::default()
    }))
}

fn stop(ids: &[(&str, &str)]) -> Command {
    let mut node_update: BTreeMap<NodeId, Vec<AllocUpdate>> = BTreeMap::new();
    for (node, id) in ids {
        node_update
            .entry(NodeId::from(*node))
            .or_default()
            .push(AllocUpdate {
                alloc_id: AllocId::from(*id),
                desired_status: "stop".to_owned(),
                desired_description: "alloc not needed".to_owned(),
            });
    }
    Command::ApplyPlanResult(Box::new(PlanResult {
        node_update,
        now: 6_000,
        ..PlanResult::default()
    }))
}

fn client(id: &str, status: &str) -> Command {
    Command::UpdateAllocsFromClient {
        updates: vec![AllocClientUpdate {
            alloc_id: AllocId::from(id),
            client_status: status.to_owned(),
            ..AllocClientUpdate::default()
        }],
        evals: vec![],
        now: 7_000,
    }
}

/// A store with node n1, job "web" (count 2) and two allocations placed on n1.
fn store_with_allocs() -> StateStore {
    let mut s = StateStore::new();
    s.apply(
        1,
        Command::UpsertNode {
            node: Box::new(node("n1")),
        },
    )
    .expect("node");
    s.apply(2, register(job("web", 2), Some(eval("e1", "web"))))
        .expect("job");
    s.apply(
        3,
        place(
            "e1",
            vec![
                alloc("a1", "web", "n1", "e1"),
                alloc("a2", "web", "n1", "e1"),
            ],
        ),
    )
    .expect("plan");
    s
}

fn ns() -> &'static str {
    DEFAULT_NAMESPACE
}

#[test]
fn register_sets_indexes_and_version_zero() {
    let mut s = StateStore::new();
    let out = s
        .apply(10, register(job("web", 1), Some(eval("e1", "web"))))
        .expect("register");
    assert_eq!(out.job_version, Some(0));
    assert!(out.changed.contains(&Table::Jobs) && out.changed.contains(&Table::Evals));
    let snap = s.snapshot();
    let j = snap.job(ns(), &JobId::from("web")).expect("stored");
    assert_eq!(j.namespace.as_deref(), Some("default"));
    assert_eq!(
        (j.version, j.create_index, j.job_modify_index),
        (Some(0), Some(10), Some(10))
    );
    assert_eq!(j.submit_time, Some(1_000));
    assert_eq!(
        j.status.as_deref(),
        Some("pending"),
        "an outstanding eval makes it pending"
    );
    let e = snap.eval(&EvalId::from("e1")).expect("eval stored");
    assert_eq!(
        (e.create_index, e.modify_index, e.job_modify_index),
        (10, 10, 10)
    );
    assert_eq!(e.namespace, "default");
    assert_eq!(snap.index(Table::Jobs), 10);
    assert_eq!(snap.index(Table::Nodes), 0);
    assert_eq!(snap.latest_index(), 10);
}

#[test]
fn unchanged_register_keeps_version_changed_bumps_it() {
    let mut s = StateStore::new();
    s.apply(1, register(job("web", 1), None)).expect("v0");
    // Same spec, server fields differ: no new version.
    let mut same = job("web", 1);
    same.version = Some(42);
    same.status = Some("running".to_owned());
    let out = s
        .apply(2, register(same, Some(eval("e2", "web"))))
        .expect("same");
    assert_eq!(out.job_version, Some(0));
    let snap = s.snapshot();
    assert_eq!(snap.job_versions(ns(), &JobId::from("web")).len(), 1);
    assert_eq!(
        snap.eval(&EvalId::from("e2")).map(|e| e.job_modify_index),
        Some(1)
    );
    // A changed count is a new version.
    let out = s.apply(3, register(job("web", 3), None)).expect("v1");
    assert_eq!(out.job_version, Some(1));
    let snap = s.snapshot();
    let j = snap.job(ns(), &JobId::from("web")).expect("job");
    assert_eq!(
        (j.version, j.create_index, j.job_modify_index),
        (Some(1), Some(1), Some(3))
    );
    let versions: Vec<_> = snap
        .job_versions(ns(), &JobId::from("web"))
        .iter()
        .map(|j| j.version)
        .collect();
    assert_eq!(versions, vec![Some(1), Some(0)]);
    assert_eq!(
        snap.job_version(ns(), &JobId::from("web"), 0)
            .and_then(|j| j.task_groups[0].count),
        Some(1)
    );
}

#[test]
fn keeps_the_last_six_versions() {
    let mut s = StateStore::new();
    for (i, count) in (1..=9).enumerate() {
        s.apply(i as u64 + 1, register(job("web", count), None))
            .expect("register");
    }
    let snap = s.snapshot();
    let versions: Vec<_> = snap
        .job_versions(ns(), &JobId::from("web"))
        .iter()
        .map(|j| j.version.unwrap_or(99))
        .collect();
    assert_eq!(versions, vec![8, 7, 6, 5, 4, 3]);
    assert_eq!(JOB_VERSIONS_KEPT, 6);
    assert!(snap.job_version(ns(), &JobId::from("web"), 2).is_none());
}

#[test]
fn deregister_stops_as_a_new_version_and_purge_deletes() {
    let mut s = store_with_allocs();
    let out = s
        .apply(
            4,
            Command::DeregisterJob {
                namespace: String::new(),
                job_id: JobId::from("web"),
                purge: false,
                eval: Some(eval("e2", "web")),
                now: 9,
            },
        )
        .expect("stop");
    assert_eq!(out.job_version, Some(1));
    let snap = s.snapshot();
    let j = snap.job(ns(), &JobId::from("web")).expect("kept");
    assert_eq!(
        (j.stop, j.version, j.submit_time),
        (Some(true), Some(1), Some(9))
    );
    assert_eq!(
        snap.eval(&EvalId::from("e2")).map(|e| e.job_modify_index),
        Some(4)
    );
    // Stopping again is not another version.
    let out = s
        .apply(
            5,
            Command::DeregisterJob {
                namespace: "default".to_owned(),
                job_id: JobId::from("web"),
                purge: false,
                eval: None,
                now: 10,
            },
        )
        .expect("stop again");
    assert_eq!(out.job_version, Some(1));
    s.apply(
        6,
        Command::DeregisterJob {
            namespace: "default".to_owned(),
            job_id: JobId::from("web"),
            purge: true,
            eval: None,
            now: 11,
        },
    )
    .expect("purge");
    let snap = s.snapshot();
    assert!(snap.job(ns(), &JobId::from("web")).is_none());
    assert!(snap.job_versions(ns(), &JobId::from("web")).is_empty());
    assert_eq!(
        snap.allocs_by_job(ns(), &JobId::from("web")).count(),
        2,
        "allocs wait for GC"
    );
}

#[test]
fn deregister_unknown_job_changes_nothing() {
    let mut s = store_with_allocs();
    let before = s.snapshot();
    let err = s
        .apply(
            4,
            Command::DeregisterJob {
                namespace: "default".to_owned(),
                job_id: JobId::from("nope"),
                purge: true,
                eval: Some(eval("e9", "nope")),
                now: 1,
            },
        )
        .expect_err("unknown job");
    assert!(matches!(err, StateError::UnknownJob { .. }));
    assert_eq!(s.snapshot(), before);
    assert_eq!(
        err.to_string(),
        "job \"nope\" not found in namespace \"default\""
    );
}

#[test]
fn stale_index_is_refused() {
    let mut s = store_with_allocs();
    let err = s.apply(
        3,
        Command::UpsertEvals {
            evals: vec![eval("e5", "web")],
        },
    );
    assert_eq!(
        err,
        Err(StateError::StaleIndex {
            index: 3,
            latest: 3
        })
    );
}

#[test]
fn upsert_node_keeps_operator_fields() {
    let mut s = StateStore::new();
    s.apply(
        1,
        Command::UpsertNode {
            node: Box::new(node("n1")),
        },
    )
    .expect("node");
    let snap = s.snapshot();
    let n = snap.node(&NodeId::from("n1")).expect("node");
    assert_eq!(
        (n.scheduling_eligibility.as_str(), n.create_index),
        ("eligible", 1)
    );
    s.apply(
        2,
        Command::UpdateNodeDrain {
            node_id: NodeId::from("n1"),
            drain: true,
            evals: vec![],
        },
    )
    .expect("drain");
    let mut again = node("n1");
    again.scheduling_eligibility = "eligible".to_owned();
    s.apply(
        3,
        Command::UpsertNode {
            node: Box::new(again),
        },
    )
    .expect("re-register");
    let snap = s.snapshot();
    let n = snap.node(&NodeId::from("n1")).expect("node");
    assert!(n.drain);
    assert_eq!(n.scheduling_eligibility, "ineligible");
    assert_eq!((n.create_index, n.modify_index), (1, 3));
    assert_eq!(snap.index(Table::Nodes), 3);
}

#[test]
fn eligibility_cannot_be_set_while_draining() {
    let mut s = StateStore::new();
    s.apply(
        1,
        Command::UpsertNode {
            node: Box::new(node("n1")),
        },
    )
    .expect("node");
    s.apply(
        2,
        Command::UpdateNodeEligibility {
            node_id: NodeId::from("n1"),
            eligible: false,
            evals: vec![],
        },
    )
    .expect("ineligible");
    assert_eq!(
        s.snapshot()
            .node(&NodeId::from("n1"))
            .map(|n| n.scheduling_eligibility.clone()),
        Some("ineligible".to_owned())
    );
    s.apply(
        3,
        Command::UpdateNodeDrain {
            node_id: NodeId::from("n1"),
            drain: true,
            evals: vec![],
        },
    )
    .expect("drain");
    let err = s.apply(
        4,
        Command::UpdateNodeEligibility {
            node_id: NodeId::from("n1"),
            eligible: true,
            evals: vec![],
        },
    );
    assert_eq!(err, Err(StateError::NodeDraining(NodeId::from("n1"))));
    s.apply(
        4,
        Command::UpdateNodeDrain {
            node_id: NodeId::from("n1"),
            drain: false,
            evals: vec![],
        },
    )
    .expect("undrain");
    let snap = s.snapshot();
    let n = snap.node(&NodeId::from("n1")).expect("node");
    assert_eq!(
        (n.drain, n.scheduling_eligibility.as_str()),
        (false, "eligible")
    );
}

#[test]
fn node_down_marks_live_allocs_lost() {
    let mut s = store_with_allocs();
    s.apply(4, client("a2", "complete")).expect("a2 done");
    let err = s.apply(
        5,
        Command::UpdateNodeStatus {
            node_id: NodeId::from("nx"),
            status: "down".to_owned(),
            now: 1,
            evals: vec![],
        },
    );
    assert_eq!(err, Err(StateError::UnknownNode(NodeId::from("nx"))));
    s.apply(
        5,
        Command::UpdateNodeStatus {
            node_id: NodeId::from("n1"),
            status: "down".to_owned(),
            now: 77,
            evals: vec![eval("e2", "web")],
        },
    )
    .expect("down");
    let snap = s.snapshot();
    let a1 = snap.alloc(&AllocId::from("a1")).expect("a1");
    assert_eq!(
        (a1.client_status.as_str(), a1.modify_time, a1.modify_index),
        ("lost", 77, 5)
    );
    assert_eq!(
        snap.alloc(&AllocId::from("a2"))
            .map(|a| a.client_status.as_str()),
        Some("complete")
    );
    assert_eq!(
        snap.node(&NodeId::from("n1")).map(|n| n.status.as_str()),
        Some("down")
    );
    assert!(snap.eval(&EvalId::from("e2")).is_some());
}

#[test]
fn upsert_evals_keeps_create_index() {
    let mut s = StateStore::new();
    s.apply(
        1,
        Command::UpsertEvals {
            evals: vec![eval("e1", "web"), eval("e2", "web")],
        },
    )
    .expect("evals");
    let mut done = eval("e1", "web");
    done.status = "complete".to_owned();
    s.apply(2, Command::UpsertEvals { evals: vec![done] })
        .expect("update");
    let snap = s.snapshot();
    let e1 = snap.eval(&EvalId::from("e1")).expect("e1");
    assert_eq!(
        (e1.create_index, e1.modify_index, e1.status.as_str()),
        (1, 2, "complete")
    );
    assert_eq!(snap.evals_by_job(ns(), &JobId::from("web")).count(), 2);
    assert_eq!(snap.evals().count(), 2);
    assert_eq!(
        s.apply(
            3,
            Command::UpsertEvals {
                evals: vec![eval("", "web")]
            }
        ),
        Err(StateError::MissingEvalId)
    );
}

#[test]
fn plan_places_allocs_with_indexes_and_job() {
    let s = store_with_allocs();
    let snap = s.snapshot();
    let a1 = snap.alloc(&AllocId::from("a1")).expect("a1");
    assert_eq!(
        (a1.create_index, a1.modify_index, a1.alloc_modify_index),
        (3, 3, 3)
    );
    assert_eq!(
        (a1.client_status.as_str(), a1.desired_status.as_str()),
        ("pending", "run")
    );
    assert_eq!((a1.create_time, a1.namespace.as_str()), (5_000, "default"));
    assert_eq!(
        a1.job.as_ref().and_then(|j| j.version),
        Some(0),
        "job attached from the table"
    );
    assert_eq!(snap.allocs_by_node(&NodeId::from("n1")).count(), 2);
    assert_eq!(snap.allocs_by_eval(&EvalId::from("e1")).count(), 2);
    assert_eq!(snap.allocs_by_job(ns(), &JobId::from("web")).count(), 2);
    assert_eq!(snap.index(Table::Allocs), 3);
    assert_eq!(
        snap.job(ns(), &JobId::from("web"))
            .and_then(|j| j.status.clone()),
        Some("running".into())
    );
}

#[test]
fn plan_on_unknown_node_changes_nothing() {
    let mut s = store_with_allocs();
    let before = s.snapshot();
    let mut cmd_allocs = vec![
        alloc("a3", "web", "n1", "e2"),
        alloc("a4", "web", "ghost", "e2"),
    ];
    cmd_allocs[0].name = "web.web[2]".to_owned();
    let err = s
        .apply(4, place("e2", cmd_allocs))
        .expect_err("unknown node");
    assert_eq!(err, StateError::UnknownNode(NodeId::from("ghost")));
    assert_eq!(s.snapshot(), before);
    assert_eq!(s.latest_index(), 3);
}

#[test]
fn plan_stops_and_in_place_updates_keep_client_fields() {
    let mut s = store_with_allocs();
    s.apply(4, client("a1", "running")).expect("running");
    // The scheduler's copy still says pending: the client's word wins.
    let mut updated = alloc("a1", "web", "n1", "e2");
    updated.client_status = "pending".to_owned();
    let mut cmd = place("e2", vec![updated]);
    if let Command::ApplyPlanResult(result) = &mut cmd {
        let mut v1 = job("web", 2);
        v1.version = Some(1);
        v1.meta.insert("k".into(), "v".into());
        result.job = Some(v1);
        result.node_update = match stop(&[("n1", "a2")]) {
            Command::ApplyPlanResult(r) => r.node_update,
            _ => unreachable!(),
        };
    }
    s.apply(5, cmd).expect("plan");
    let snap = s.snapshot();
    let a1 = snap.alloc(&AllocId::from("a1")).expect("a1");
    assert_eq!(
        (a1.client_status.as_str(), a1.create_index, a1.modify_index),
        ("running", 3, 5)
    );
    assert_eq!(a1.job.as_ref().and_then(|j| j.version), Some(1));
    assert_eq!(snap.allocs_by_eval(&EvalId::from("e2")).count(), 1);
    assert_eq!(
        snap.allocs_by_eval(&EvalId::from("e1")).count(),
        1,
        "a1 moved to e2's index"
    );
    let a2 = snap.alloc(&AllocId::from("a2")).expect("a2");
    assert_eq!(
        (a2.desired_status.as_str(), a2.alloc_modify_index),
        ("stop", 5)
    );
    assert_eq!(a2.desired_description, "alloc not needed");
}

#[test]
fn replacement_links_the_previous_allocation() {
    let mut s = store_with_allocs();
    s.apply(4, client("a1", "failed")).expect("failed");
    let mut next = alloc("a3", "web", "n1", "e2");
    next.previous_allocation = Some(AllocId::from("a1"));
    s.apply(5, place("e2", vec![next])).expect("reschedule");
    let snap = s.snapshot();
    assert_eq!(
        snap.alloc(&AllocId::from("a1"))
            .and_then(|a| a.next_allocation.clone()),
        Some(AllocId::from("a3"))
    );
}

#[test]
fn client_updates_skip_unknown_allocs() {
    let mut s = store_with_allocs();
    let out = s
        .apply(
            4,
            Command::UpdateAllocsFromClient {
                updates: vec![
                    AllocClientUpdate {
                        alloc_id: AllocId::from("a1"),
                        client_status: "running".to_owned(),
                        client_description: "Tasks are running".to_owned(),
                        ..AllocClientUpdate::default()
                    },
                    AllocClientUpdate {
                        alloc_id: AllocId::from("gone"),
                        client_status: "running".to_owned(),
                        ..AllocClientUpdate::default()
                    },
                ],
                evals: vec![],
                now: 42,
            },
        )
        .expect("update");
    assert_eq!(out.skipped_allocs, vec![AllocId::from("gone")]);
    let snap = s.snapshot();
    let a1 = snap.alloc(&AllocId::from("a1")).expect("a1");
    assert_eq!(
        (
            a1.client_status.as_str(),
            a1.modify_index,
            a1.alloc_modify_index
        ),
        ("running", 4, 3)
    );
    assert_eq!(a1.modify_time, 42);
}

#[test]
fn stop_alloc_sets_desired_status() {
    let mut s = store_with_allocs();
    s.apply(
        4,
        Command::StopAlloc {
            alloc_id: AllocId::from("a1"),
            description: "alloc was stopped by user".to_owned(),
            eval: Some(eval("e2", "web")),
            now: 3,
        },
    )
    .expect("stop");
    let snap = s.snapshot();
    let a1 = snap.alloc(&AllocId::from("a1")).expect("a1");
    assert_eq!(
        (a1.desired_status.as_str(), a1.alloc_modify_index),
        ("stop", 4)
    );
    assert!(snap.eval(&EvalId::from("e2")).is_some());
    let err = s.apply(
        5,
        Command::StopAlloc {
            alloc_id: AllocId::from("zz"),
            description: String::new(),
            eval: None,
            now: 3,
        },
    );
    assert_eq!(err, Err(StateError::UnknownAlloc(AllocId::from("zz"))));
}

#[test]
fn gc_deletes_only_terminal_allocs_and_evals() {
    let mut s = store_with_allocs();
    s.apply(4, client("a1", "complete")).expect("done");
    let mut done = eval("e1", "web");
    done.status = "complete".to_owned();
    s.apply(
        5,
        Command::UpsertEvals {
            evals: vec![done, eval("e2", "web")],
        },
    )
    .expect("evals");
    let out = s
        .apply(
            6,
            Command::DeleteEvalsAndAllocs {
                evals: vec![EvalId::from("e1"), EvalId::from("e2")],
                allocs: vec![
                    AllocId::from("a1"),
                    AllocId::from("a2"),
                    AllocId::from("zz"),
                ],
            },
        )
        .expect("gc");
    assert_eq!(
        out.skipped_allocs,
        vec![AllocId::from("a2"), AllocId::from("zz")]
    );
    assert_eq!(out.skipped_evals, vec![EvalId::from("e2")]);
    let snap = s.snapshot();
    assert!(snap.alloc(&AllocId::from("a1")).is_none());
    assert!(snap.eval(&EvalId::from("e1")).is_none());
    assert_eq!(snap.allocs_by_node(&NodeId::from("n1")).count(), 1);
    assert_eq!(snap.allocs_by_eval(&EvalId::from("e1")).count(), 1);
    assert_eq!(snap.evals_by_job(ns(), &JobId::from("web")).count(), 1);
}

#[test]
fn job_summary_counts_per_group_and_queued() {
    let mut s = store_with_allocs();
    s.apply(4, client("a1", "running")).expect("running");
    let mut done = eval("e1", "web");
    done.status = "complete".to_owned();
    done.queued_allocations.insert("web".to_owned(), 3);
    s.apply(5, Command::UpsertEvals { evals: vec![done] })
        .expect("eval");
    let snap = s.snapshot();
    let summary = snap
        .job_summary(ns(), &JobId::from("web"))
        .expect("summary");
    let web = summary.summary["web"];
    assert_eq!(
        (web.running, web.starting, web.queued, web.failed),
        (1, 1, 3, 0)
    );
    assert_eq!((summary.create_index, summary.modify_index), (2, 5));
    assert!(snap.job_summary(ns(), &JobId::from("nope")).is_none());
    assert_eq!(snap.index(Table::JobSummaries), 5);
}

#[test]
fn job_status_follows_allocs_and_evals() {
    let mut s = StateStore::new();
    s.apply(
        1,
        Command::UpsertNode {
            node: Box::new(node("n1")),
        },
    )
    .expect("node");
    s.apply(2, register(job("web", 1), None)).expect("job");
    let status = |s: &StateStore| {
        s.snapshot()
            .job(ns(), &JobId::from("web"))
            .and_then(|j| j.status.clone())
            .unwrap_or_default()
    };
    assert_eq!(status(&s), "pending");
    s.apply(3, place("e1", vec![alloc("a1", "web", "n1", "e1")]))
        .expect("plan");
    assert_eq!(status(&s), "running");
    s.apply(4, client("a1", "complete")).expect("done");
    assert_eq!(status(&s), "dead");
    assert_eq!(
        s.snapshot()
            .job(ns(), &JobId::from("web"))
            .and_then(|j| j.modify_index),
        Some(4)
    );
}

#[test]
fn prefix_lookups() {
    let mut s = StateStore::new();
    for (i, id) in ["abc1", "abd2", "b33"].iter().enumerate() {
        s.apply(
            i as u64 + 1,
            Command::UpsertNode {
                node: Box::new(node(id)),
            },
        )
        .expect("node");
    }
    s.apply(10, register(job("web", 1), None)).expect("job");
    s.apply(11, register(job("webcache", 1), None))
        .expect("job");
    s.apply(12, register(job("worker", 1), None)).expect("job");
    s.apply(
        13,
        Command::UpsertEvals {
            evals: vec![eval("ee1", "web"), eval("ef2", "web")],
        },
    )
    .expect("evals");
    s.apply(
        14,
        place(
            "ee1",
            vec![
                alloc("a1", "web", "abc1", "ee1"),
                alloc("b1", "web", "abc1", "ee1"),
            ],
        ),
    )
    .expect("plan");
    let snap = s.snapshot();
    let ids = |it: Vec<String>| it;
    assert_eq!(
        ids(snap
            .nodes_by_prefix("ab")
            .map(|n| n.id.to_string())
            .collect()),
        vec!["abc1", "abd2"]
    );
    assert_eq!(
        ids(snap
            .jobs_by_prefix("default", "web")
            .map(|j| j.id.to_string())
            .collect()),
        vec!["web", "webcache"]
    );
    assert_eq!(snap.jobs_by_prefix("other", "web").count(), 0);
    assert_eq!(snap.evals_by_prefix("ee").count(), 1);
    assert_eq!(snap.allocs_by_prefix("a").count(), 1);
    assert_eq!(snap.allocs_by_prefix("").count(), 2);
    assert_eq!(snap.jobs_in("default").count(), 3);
    let all: Vec<_> = snap.jobs().map(|j| j.id.to_string()).collect();
    assert_eq!(all, vec!["web", "webcache", "worker"], "sorted");
}

#[test]
fn snapshot_does_not_see_later_writes() {
    let mut s = store_with_allocs();
    let before = s.snapshot();
    s.apply(4, client("a1", "running")).expect("running");
    s.apply(5, register(job("web", 5), None)).expect("v1");
    s.apply(
        6,
        Command::UpsertNode {
            node: Box::new(node("n2")),
        },
    )
    .expect("node");
    assert_eq!(
        before
            .alloc(&AllocId::from("a1"))
            .map(|a| a.client_status.as_str()),
        Some("pending")
    );
    assert_eq!(
        before
            .job(ns(), &JobId::from("web"))
            .and_then(|j| j.version),
        Some(0)
    );
    assert!(before.node(&NodeId::from("n2")).is_none());
    assert_eq!(before.latest_index(), 3);
    let after = s.snapshot();
    assert_eq!(
        after
            .alloc(&AllocId::from("a1"))
            .map(|a| a.client_status.as_str()),
        Some("running")
    );
    assert_eq!(after.latest_index(), 6);
}

/// A log touching every command kind.
fn command_log() -> Vec<Command> {
    let mut down_eval = eval("e4", "web");
    down_eval.triggered_by = "node-update".to_owned();
    vec![
        Command::UpsertNode {
            node: Box::new(node("n1")),
        },
        Command::UpsertNode {
            node: Box::new(node("n2")),
        },
        register(job("web", 2), Some(eval("e1", "web"))),
        place(
            "e1",
            vec![
                alloc("a1", "web", "n1", "e1"),
                alloc("a2", "web", "n2", "e1"),
            ],
        ),
        client("a1", "running"),
        services::upsert(vec![
            services::reg("a1", "redis", &["db"]),
            services::reg("a2", "redis", &["cache"]),
            services::reg("a2", "web", &[]),
        ]),
        Command::DeleteServiceRegistrations {
            ids: vec![services::reg_id("a2", "web"), "unknown".to_owned()],
        },
        Command::DeleteServicesByAlloc {
            alloc_ids: vec![AllocId::from("a9")],
        },
        Command::UpdateNodeEligibility {
            node_id: NodeId::from("n2"),
            eligible: false,
            evals: vec![],
        },
        Command::UpdateNodeDrain {
            node_id: NodeId::from("n2"),
            drain: true,
            evals: vec![],
        },
        Command::UpdateNodeStatus {
            node_id: NodeId::from("n2"),
            status: "down".to_owned(),
            now: 50,
            evals: vec![down_eval],
        },
        register(job("web", 3), Some(eval("e2", "web"))),
        stop(&[("n1", "a1")]),
        Command::StopAlloc {
            alloc_id: AllocId::from("a2"),
            description: "x".to_owned(),
            eval: None,
            now: 60,
        },
        Command::UpsertEvals {
            evals: vec![eval("e3", "web")],
        },
        Command::DeregisterJob {
            namespace: String::new(),
            job_id: JobId::from("web"),
            purge: false,
            eval: None,
            now: 70,
        },
        Command::DeleteEvalsAndAllocs {
            evals: vec![EvalId::from("e3")],
            allocs: vec![AllocId::from("a2")],
        },
    ]
}

#[test]
fn same_log_same_state() {
    let mut a = StateStore::new();
    let mut b = StateStore::new();
    for (i, cmd) in command_log().into_iter().enumerate() {
        // Through serde, as Raft would carry it.
        let wire = serde_json::to_string(&cmd).expect("serialize");
        let replayed: Command = serde_json::from_str(&wire).expect("deserialize");
        assert_eq!(replayed, cmd);
        let ra = a.apply(i as u64 + 1, cmd);
        let rb = b.apply(i as u64 + 1, replayed);
        assert_eq!(ra, rb);
    }
    assert_eq!(a.snapshot(), b.snapshot());
    let snap = a.snapshot();
    // Serialized rows are equal too (what an API client would see).
    let rows = |s: &Snapshot| {
        serde_json::to_string(&(
            s.jobs().collect::<Vec<_>>(),
            s.allocs().collect::<Vec<_>>(),
            s.evals().collect::<Vec<_>>(),
            s.nodes().collect::<Vec<_>>(),
            s.service_registrations().collect::<Vec<_>>(),
            s.services(),
        ))
        .expect("json")
    };
    assert_eq!(rows(&snap), rows(&b.snapshot()));
    assert!(
        snap.alloc(&AllocId::from("a2")).is_none(),
        "lost, then collected"
    );
    // a2's instances went when its node went down; a1's stays: its allocation was told
    // to stop, but the client still reports it running.
    assert_eq!(
        snap.service_registrations()
            .map(|r| r.alloc_id.as_str())
            .collect::<Vec<_>>(),
        ["a1"]
    );
    assert_eq!(
        snap.alloc(&AllocId::from("a1"))
            .map(|a| a.desired_status.as_str()),
        Some("stop")
    );
}

#[test]
fn restored_store_continues_from_snapshot() {
    let mut s = store_with_allocs();
    let mut copy = StateStore::from_snapshot(s.snapshot());
    s.apply(4, client("a1", "running")).expect("a");
    copy.apply(4, client("a1", "running")).expect("b");
    assert_eq!(s.snapshot(), copy.snapshot());
}

#[test]
fn iterators_outlive_their_key_arguments() {
    // Why: callers build ids inline; the iterators must borrow only the snapshot.
    let s = store_with_allocs();
    let snap = s.snapshot();
    let by_job = snap.allocs_by_job(&String::from("default"), &JobId::from("web"));
    let by_node = snap.allocs_by_node(&NodeId::from("n1"));
    let by_eval = snap.allocs_by_eval(&EvalId::from("e1"));
    let evals = snap.evals_by_job("default", &JobId::from("web"));
    let jobs = snap.jobs_in(&String::from("default"));
    assert_eq!(
        (by_job.count(), by_node.count(), by_eval.count()),
        (2, 2, 2)
    );
    assert_eq!((evals.count(), jobs.count()), (1, 1));
}

#[test]
fn snapshots_cross_threads() {
    fn send_sync<T: Send + Sync + 'static>() {}
    send_sync::<Snapshot>();
    send_sync::<StateStore>();
    send_sync::<Command>();
}
