//! The eval broker: pending evaluations, highest priority first, one at a time per job.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BinaryHeap, HashMap, HashSet, VecDeque};
use std::sync::Mutex;

use caravan_model::{EvalId, Evaluation, JobId};
use tokio::sync::Notify;

type JobKey = (String, JobId);

fn job_key(eval: &Evaluation) -> JobKey {
    (eval.namespace.clone(), eval.job_id.clone())
}

/// Queues evaluations for the scheduler workers. An evaluation whose job already has
/// one in flight waits behind it, so a job's plans never race each other. One with a
/// `wait_until` in the future is held until then ([`EvalBroker::promote_due`]).
#[derive(Debug, Default)]
pub(crate) struct EvalBroker {
    state: Mutex<BrokerState>,
    ready_signal: Notify,
}

#[derive(Debug, Default)]
struct BrokerState {
    ready: BinaryHeap<Ready>,
    in_flight: HashSet<JobKey>,
    waiting: HashMap<JobKey, VecDeque<Evaluation>>,
    delayed: BTreeMap<(i64, u64), Evaluation>,
    known: HashSet<EvalId>,
    seq: u64,
}

#[derive(Debug)]
struct Ready {
    priority: i64,
    seq: u64,
    eval: Evaluation,
}

impl PartialEq for Ready {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Ready {}
impl PartialOrd for Ready {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Ready {
    /// Higher priority first, then first come first served.
    fn cmp(&self, other: &Self) -> Ordering {
        self.priority
            .cmp(&other.priority)
            .then_with(|| other.seq.cmp(&self.seq))
    }
}

impl EvalBroker {
    /// Queues `eval` unless it is already queued or in flight.
    pub fn enqueue(&self, eval: Evaluation, now: i64) {
        let mut st = self.lock();
        if !st.known.insert(eval.id.clone()) {
            return;
        }
        st.seq += 1;
        let seq = st.seq;
        match eval.wait_until {
            Some(at) if at > now => {
                st.delayed.insert((at, seq), eval);
            }
            _ => self.push_ready(&mut st, eval),
        }
    }

    /// Moves delayed evaluations whose time has come to the ready queue.
    pub fn promote_due(&self, now: i64) {
        let mut st = self.lock();
        while let Some(entry) = st.delayed.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let eval = entry.remove();
            self.push_ready(&mut st, eval);
        }
    }

    /// Waits for the next evaluation to run; its job is then in flight until [`ack`].
    ///
    /// [`ack`]: EvalBroker::ack
    pub async fn dequeue(&self) -> Evaluation {
        loop {
            let notified = self.ready_signal.notified();
            if let Some(eval) = self.try_dequeue() {
                return eval;
            }
            notified.await;
        }
    }

    pub fn try_dequeue(&self) -> Option<Evaluation> {
        let mut st = self.lock();
        let ready = st.ready.pop()?;
        st.in_flight.insert(job_key(&ready.eval));
        Some(ready.eval)
    }

    /// The evaluation is done: its job's next waiting evaluation becomes ready.
    pub fn ack(&self, eval: &Evaluation) {
        let mut st = self.lock();
        st.known.remove(&eval.id);
        let key = job_key(eval);
        st.in_flight.remove(&key);
        let next = st.waiting.get_mut(&key).and_then(VecDeque::pop_front);
        if st.waiting.get(&key).is_some_and(VecDeque::is_empty) {
            st.waiting.remove(&key);
        }
        if let Some(next) = next {
            self.push_ready(&mut st, next);
        }
    }

    /// Forgets every evaluation: this server is no longer the leader, and the next
    /// leader rebuilds its queue from the replicated state.
    pub fn clear(&self) {
        *self.lock() = BrokerState::default();
    }

    /// How many evaluations are queued, waiting or delayed (not in flight).
    pub fn len(&self) -> usize {
        let st = self.lock();
        st.ready.len() + st.waiting.values().map(VecDeque::len).sum::<usize>() + st.delayed.len()
    }

    fn push_ready(&self, st: &mut BrokerState, eval: Evaluation) {
        let key = job_key(&eval);
        let job_busy =
            st.in_flight.contains(&key) || st.ready.iter().any(|r| job_key(&r.eval) == key);
        if job_busy {
            st.waiting.entry(key).or_default().push_back(eval);
            return;
        }
        st.seq += 1;
        let seq = st.seq;
        st.ready.push(Ready {
            priority: eval.priority,
            seq,
            eval,
        });
        self.ready_signal.notify_one();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BrokerState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eval(id: &str, job: &str, priority: i64) -> Evaluation {
        Evaluation {
            id: id.into(),
            namespace: "default".into(),
            job_id: job.into(),
            priority,
            ..Evaluation::default()
        }
    }

    #[test]
    fn higher_priority_first_then_fifo() {
        let broker = EvalBroker::default();
        broker.enqueue(eval("a", "j1", 50), 0);
        broker.enqueue(eval("b", "j2", 80), 0);
        broker.enqueue(eval("c", "j3", 50), 0);
        let order: Vec<String> = std::iter::from_fn(|| broker.try_dequeue())
            .map(|e| e.id.0)
            .collect();
        assert_eq!(order, ["b", "a", "c"]);
    }

    #[test]
    fn one_eval_per_job_in_flight() {
        let broker = EvalBroker::default();
        broker.enqueue(eval("a", "j1", 50), 0);
        broker.enqueue(eval("b", "j1", 50), 0);
        let first = broker.try_dequeue().expect("first eval");
        assert_eq!(first.id.as_str(), "a");
        assert!(
            broker.try_dequeue().is_none(),
            "second eval of the job must wait"
        );
        broker.ack(&first);
        assert_eq!(broker.try_dequeue().map(|e| e.id.0), Some("b".to_owned()));
    }

    #[test]
    fn duplicates_are_ignored_and_delayed_evals_wait() {
        let broker = EvalBroker::default();
        broker.enqueue(eval("a", "j1", 50), 0);
        broker.enqueue(eval("a", "j1", 50), 0);
        let mut later = eval("d", "j2", 50);
        later.wait_until = Some(100);
        broker.enqueue(later, 0);
        assert_eq!(broker.len(), 2);
        assert_eq!(broker.try_dequeue().map(|e| e.id.0), Some("a".to_owned()));
        assert!(broker.try_dequeue().is_none());
        broker.promote_due(99);
        assert!(broker.try_dequeue().is_none());
        broker.promote_due(100);
        assert_eq!(broker.try_dequeue().map(|e| e.id.0), Some("d".to_owned()));
    }
}
