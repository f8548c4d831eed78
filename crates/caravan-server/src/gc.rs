//! Garbage collection: evaluations that finished long ago, with their allocations once
//! those have stopped for good, are deleted so that the state (and every client's
//! allocation directory) does not grow without end.

use caravan_model::{AllocId, EvalId};
use caravan_state::Snapshot;

/// What one collection pass deletes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Garbage {
    pub evals: Vec<EvalId>,
    pub allocs: Vec<AllocId>,
}

impl Garbage {
    pub fn is_empty(&self) -> bool {
        self.evals.is_empty() && self.allocs.is_empty()
    }
}

/// Finds evaluations that are terminal (complete, failed or canceled) and older than
/// `threshold_ns`, whose allocations are all terminal and unchanged for as long.
/// A job's most recent evaluation is kept, so `job status` still shows how it ended.
pub(crate) fn find(snap: &Snapshot, now: i64, threshold_ns: i64) -> Garbage {
    let mut garbage = Garbage::default();
    let old = |t: i64| now.saturating_sub(t) >= threshold_ns;
    for eval in snap.evals() {
        if !matches!(eval.status.as_str(), "complete" | "failed" | "canceled")
            || !old(eval.modify_time)
        {
            continue;
        }
        let newest_of_job = snap
            .evals_by_job(&eval.namespace, &eval.job_id)
            .all(|other| {
                (other.create_index, other.create_time) <= (eval.create_index, eval.create_time)
            });
        let job_live = snap
            .job(&eval.namespace, &eval.job_id)
            .is_some_and(|j| j.stop != Some(true));
        if newest_of_job && job_live {
            continue;
        }
        let allocs: Vec<_> = snap.allocs_by_eval(&eval.id).collect();
        if allocs.iter().all(|a| a.is_terminal() && old(a.modify_time)) {
            garbage.evals.push(eval.id.clone());
            garbage.allocs.extend(allocs.iter().map(|a| a.id.clone()));
        }
    }
    garbage
}

#[cfg(test)]
mod tests {
    use caravan_model::{Allocation, Evaluation, Job};
    use caravan_state::{Command, PlanResult, StateStore};

    use super::*;

    const HOUR: i64 = 3_600_000_000_000;

    fn eval(id: &str, status: &str, time: i64) -> Evaluation {
        Evaluation {
            id: id.into(),
            namespace: "default".into(),
            job_id: "web".into(),
            status: status.into(),
            create_time: time,
            modify_time: time,
            ..Default::default()
        }
    }

    fn store_with(evals: Vec<Evaluation>, alloc_status: &str) -> StateStore {
        let mut store = StateStore::new();
        let mut job = Job {
            id: "web".into(),
            ..Default::default()
        };
        job.canonicalize();
        store
            .apply(
                1,
                Command::RegisterJob {
                    job: Box::new(job),
                    eval: None,
                    submit_time: 0,
                },
            )
            .expect("job");
        store
            .apply(
                2,
                Command::UpsertNode {
                    node: Box::new(caravan_model::Node {
                        id: "n1".into(),
                        ..Default::default()
                    }),
                },
            )
            .expect("node");
        store
            .apply(3, Command::UpsertEvals { evals })
            .expect("evals");
        let alloc = Allocation {
            id: "a1".into(),
            eval_id: "old".into(),
            node_id: "n1".into(),
            job_id: "web".into(),
            namespace: "default".into(),
            task_group: "web".into(),
            desired_status: "stop".into(),
            client_status: alloc_status.into(),
            ..Default::default()
        };
        let mut plan = PlanResult {
            eval_id: "old".into(),
            now: 0,
            ..Default::default()
        };
        plan.node_allocation.insert("n1".into(), vec![alloc]);
        store
            .apply(4, Command::ApplyPlanResult(Box::new(plan)))
            .expect("plan");
        store
    }

    #[test]
    fn collects_old_terminal_evals_with_their_stopped_allocs_but_keeps_the_newest() {
        let store = store_with(
            vec![eval("old", "complete", 0), eval("new", "complete", 1)],
            "complete",
        );
        let snap = store.snapshot();
        let garbage = find(&snap, 2 * HOUR, HOUR);
        assert_eq!(garbage.evals, vec![EvalId::from("old")]);
        assert_eq!(garbage.allocs, vec![AllocId::from("a1")]);
    }

    #[test]
    fn keeps_recent_pending_and_live_work() {
        let store = store_with(
            vec![eval("old", "complete", 0), eval("new", "pending", 0)],
            "running",
        );
        assert!(
            find(&store.snapshot(), 2 * HOUR, HOUR).is_empty(),
            "a running alloc keeps its eval"
        );
        let store = store_with(
            vec![eval("old", "complete", 0), eval("new", "complete", 0)],
            "complete",
        );
        assert!(
            find(&store.snapshot(), HOUR / 2, HOUR).is_empty(),
            "too recent"
        );
    }
}
