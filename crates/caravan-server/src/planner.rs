//! The plan applier: the one place plans are committed. It re-checks every plan on the
//! newest state, so two workers that planned from the same snapshot can never
//! oversubscribe a node or hand out one host port twice.

use std::sync::Arc;

use caravan_model::{Evaluation, NodeId, Plan};
use caravan_state::{Command, PlanResult};
use tokio::sync::{mpsc, oneshot};

use crate::{Server, ServerError};

/// A plan submitted by a worker, with the evaluations to commit if it applies whole.
#[derive(Debug)]
pub(crate) struct PlanRequest {
    pub plan: Plan,
    pub evals: Vec<Evaluation>,
    pub reply: oneshot::Sender<Result<PlanApplied, ServerError>>,
}

/// What was committed.
#[derive(Debug)]
pub(crate) struct PlanApplied {
    pub index: u64,
    /// Nodes whose placements were refused; the worker re-plans on newer state.
    pub rejected: Vec<(NodeId, String)>,
}

pub(crate) async fn run(server: Arc<Server>, mut rx: mpsc::Receiver<PlanRequest>) {
    while let Some(req) = rx.recv().await {
        let result = apply(&server, req.plan, req.evals).await;
        let _ = req.reply.send(result);
    }
}

async fn apply(
    server: &Server,
    mut plan: Plan,
    evals: Vec<Evaluation>,
) -> Result<PlanApplied, ServerError> {
    let snap = server.state().snapshot();
    let check = caravan_scheduler::check_plan(&snap, &plan);
    let rejected: Vec<(NodeId, String)> = check.rejected.into_iter().collect();
    for (node, reason) in &rejected {
        tracing::info!(node = %node, reason = %reason, "plan applier refused placements");
        plan.node_allocation.remove(node);
    }
    let frees_capacity = !plan.node_update.is_empty();
    // A partial plan commits what fits; the evaluations wait for the worker's re-plan.
    let evals = if rejected.is_empty() {
        evals
    } else {
        Vec::new()
    };
    let outcome = server
        .commit(Command::ApplyPlanResult(Box::new(PlanResult::from_plan(
            plan,
            evals,
            server.now(),
        ))))
        .await?;
    if frees_capacity {
        server.unblock().await?;
    }
    Ok(PlanApplied {
        index: outcome.index,
        rejected,
    })
}
