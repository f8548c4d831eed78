//! What a scheduler run decided.

use caravan_model::{Evaluation, Plan};

/// The result of [`process`](crate::process): a plan for the plan applier and the
/// evaluations to store with it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Outcome {
    pub plan: Plan,
    /// The evaluation processed, now `complete` (with `failed_tg_allocs` and
    /// `queued_allocations`) or `failed`.
    pub eval_update: Evaluation,
    /// A `blocked` evaluation to retry when capacity appears, if something did not fit.
    pub blocked: Option<Evaluation>,
    /// Evaluations to run later: delayed reschedules and the next step of a rolling
    /// update (`wait_until` says when).
    pub follow_ups: Vec<Evaluation>,
}

impl Outcome {
    /// Every evaluation to store: the updated one, then the blocked one, then follow-ups.
    pub fn evals(&self) -> Vec<Evaluation> {
        let mut evals = vec![self.eval_update.clone()];
        evals.extend(self.blocked.iter().cloned());
        evals.extend(self.follow_ups.iter().cloned());
        evals
    }
}
