//! `caravan job eval ID`: ask the scheduler to evaluate a job again.

use std::process::ExitCode;

use anyhow::Context;
use serde_json::json;

use crate::fields::{Fields, enc};
use crate::monitor::monitor;
use crate::prefix::{Kind, resolve};
use crate::ui::Ctx;

#[derive(Debug, clap::Args)]
pub(crate) struct EvalArgs {
    /// Reschedule failed allocations even if their reschedule policy would not.
    #[arg(long = "force-reschedule")]
    force_reschedule: bool,
    /// Print the evaluation's id and return instead of following it.
    #[arg(long)]
    detach: bool,
    /// The job's id, or a unique prefix of it.
    #[arg(value_name = "ID")]
    id: String,
}

impl EvalArgs {
    pub(crate) fn run(self, ctx: &mut Ctx<'_>) -> anyhow::Result<ExitCode> {
        let client = ctx.client()?;
        let id = resolve(&client, Kind::Job, &self.id)?;
        let body = json!({
            "JobID": id,
            "EvalOptions": { "ForceReschedule": self.force_reschedule },
        });
        let resp = client
            .put(&format!("/v1/job/{}/evaluate", enc(&id)), &body)
            .with_context(|| format!("evaluating job {id:?}"))?;
        let eval_id = resp.str_at("EvalID");
        if self.detach || eval_id.is_empty() {
            ctx.ui.out(format!("Created eval ID: {eval_id:?}"));
            return Ok(ExitCode::SUCCESS);
        }
        monitor(&client, &mut ctx.ui, eval_id)
    }
}
