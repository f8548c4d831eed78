//! A scripted [`Prober`] that records its calls, for tests of whatever runs checks.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

use super::probe_result::ProbeResult;
use super::prober::Prober;
use super::spec::CheckSpec;
use crate::BoxFuture;

/// One scripted run: what it returns, after how long.
#[derive(Debug, Clone)]
struct Step {
    result: ProbeResult,
    delay: Duration,
}

/// One call the fake received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeCall {
    pub check_id: String,
    /// When the run began (tokio time, so paused tests can assert it).
    pub at: Instant,
}

#[derive(Debug, Default)]
struct State {
    steps: BTreeMap<String, VecDeque<Step>>,
    /// The step returned last per check, repeated while nothing new is queued.
    last: BTreeMap<String, Step>,
    calls: Vec<ProbeCall>,
}

/// Returns scripted results per check id, in order; the last one repeats. A check
/// with nothing scripted fails with an output saying so.
#[derive(Debug, Default)]
pub struct FakeProber {
    state: Mutex<State>,
}

impl FakeProber {
    pub fn new() -> Self {
        Self::default()
    }

    /// Queues `result` for the next run of `check_id`.
    pub fn push(&self, check_id: &str, result: ProbeResult) {
        self.push_delayed(check_id, result, Duration::ZERO);
    }

    /// Queues `result`, returned after `delay` (to test timeouts).
    pub fn push_delayed(&self, check_id: &str, result: ProbeResult, delay: Duration) {
        self.lock()
            .steps
            .entry(check_id.to_owned())
            .or_default()
            .push_back(Step { result, delay });
    }

    /// Every call so far, in order.
    pub fn calls(&self) -> Vec<ProbeCall> {
        self.lock().calls.clone()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panicking test thread cannot leave the script half-written: each
        // mutation is a single push.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn next(&self, check_id: &str) -> Step {
        let mut state = self.lock();
        state.calls.push(ProbeCall {
            check_id: check_id.to_owned(),
            at: Instant::now(),
        });
        let next = state.steps.get_mut(check_id).and_then(VecDeque::pop_front);
        if let Some(step) = next {
            state.last.insert(check_id.to_owned(), step);
        }
        let step = state.last.get(check_id).cloned();
        step.unwrap_or_else(|| Step {
            result: ProbeResult::failure(format!(
                "fake prober: nothing scripted for check {check_id:?}"
            )),
            delay: Duration::ZERO,
        })
    }
}

impl Prober for FakeProber {
    fn probe<'a>(&'a self, check: &'a CheckSpec) -> BoxFuture<'a, ProbeResult> {
        let step = self.next(&check.id);
        Box::pin(async move {
            if !step.delay.is_zero() {
                tokio::time::sleep(step.delay).await;
            }
            step.result
        })
    }
}

#[cfg(test)]
mod tests {
    use caravan_model::ServiceCheck;

    use super::*;
    use crate::checks::Provider;

    fn spec(id: &str) -> CheckSpec {
        CheckSpec {
            id: id.into(),
            name: id.into(),
            service: "web".into(),
            task: String::new(),
            provider: Provider::Consul,
            check: ServiceCheck::default(),
            address: None,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn scripted_in_order_then_the_last_repeats() {
        let fake = FakeProber::new();
        fake.push("a", ProbeResult::ok("1"));
        fake.push_delayed("a", ProbeResult::failure("2"), Duration::from_secs(3));
        let a = spec("a");
        assert_eq!(fake.probe(&a).await, ProbeResult::ok("1"));
        let start = Instant::now();
        assert_eq!(fake.probe(&a).await, ProbeResult::failure("2"));
        assert_eq!(start.elapsed(), Duration::from_secs(3));
        assert_eq!(fake.probe(&a).await, ProbeResult::failure("2"));
        // A result queued after the last one was repeated comes next.
        fake.push("a", ProbeResult::ok("3"));
        assert_eq!(fake.probe(&a).await, ProbeResult::ok("3"));
        let other = fake.probe(&spec("b")).await;
        assert!(other.output.contains("nothing scripted"), "{other:?}");
        let ids: Vec<String> = fake.calls().into_iter().map(|c| c.check_id).collect();
        assert_eq!(ids, ["a", "a", "a", "a", "b"]);
    }
}
