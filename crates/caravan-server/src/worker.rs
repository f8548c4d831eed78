//! Scheduler workers: take an evaluation, run the pure scheduler on a snapshot, and
//! hand the plan to the plan applier.

use std::sync::Arc;
use std::time::Duration;

use caravan_model::Evaluation;
use caravan_state::Command;

use crate::{Server, ServerError};

/// How often a worker re-plans when the applier refuses part of its plan.
const MAX_PLAN_ATTEMPTS: usize = 3;

pub(crate) async fn run(server: Arc<Server>) {
    loop {
        let eval = server.broker.dequeue().await;
        if let Err(e) = process(&server, &eval).await {
            tracing::warn!(eval = %eval.id, error = %e, "evaluation failed");
            let mut failed = eval.clone();
            failed.status = "failed".into();
            failed.status_description = e.to_string();
            failed.modify_time = server.now();
            if let Err(e) = server
                .commit(Command::UpsertEvals {
                    evals: vec![failed],
                })
                .await
            {
                tracing::warn!(eval = %eval.id, error = %e, "could not record the failed evaluation");
            }
        }
        server.broker.ack(&eval);
    }
}

async fn process(server: &Server, eval: &Evaluation) -> Result<(), ServerError> {
    let mut snap = server
        .state()
        .snapshot_min_index(eval.modify_index, Duration::from_secs(5))
        .await;
    for attempt in 1..=MAX_PLAN_ATTEMPTS {
        let ctx = server.sched_context();
        let outcome = caravan_scheduler::process(&snap, eval, &ctx);
        let mut evals = vec![outcome.eval_update];
        evals.extend(outcome.blocked);
        evals.extend(outcome.follow_ups);
        if outcome.plan.is_no_op() {
            server.commit(Command::UpsertEvals { evals }).await?;
            return Ok(());
        }
        let applied = server.submit_plan(outcome.plan, evals).await?;
        if applied.rejected.is_empty() {
            return Ok(());
        }
        tracing::debug!(eval = %eval.id, attempt, "plan partly refused; planning again");
        snap = server
            .state()
            .snapshot_min_index(applied.index, Duration::from_secs(5))
            .await;
    }
    // Still refused: try again shortly with a fresh evaluation rather than spin.
    let mut retry = server.new_eval_like(eval, "queued-allocs");
    retry.wait_until = Some(server.now() + 1_000_000_000);
    let mut done = eval.clone();
    done.status = "complete".into();
    done.next_eval = Some(retry.id.clone());
    server
        .commit(Command::UpsertEvals {
            evals: vec![done, retry],
        })
        .await?;
    Ok(())
}
