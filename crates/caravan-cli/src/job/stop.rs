//! `caravan job stop [-purge] [-detach] ID`: deregister a job and follow the evaluation
//! that stops its allocations.

use std::process::ExitCode;

use anyhow::Context;

use crate::client::with_param;
use crate::fields::{Fields, enc};
use crate::monitor::monitor;
use crate::prefix::{Kind, resolve};
use crate::ui::Ctx;

#[derive(Debug, clap::Args)]
pub(crate) struct StopArgs {
    /// Also remove the job and its history from the agent, instead of marking it stopped.
    #[arg(long)]
    purge: bool,
    /// Print the evaluation's id and return instead of following it.
    #[arg(long)]
    detach: bool,
    /// Do not ask for confirmation (accepted for Nomad compatibility; never asks).
    #[arg(long)]
    yes: bool,
    /// The job's id, or a unique prefix of it.
    #[arg(value_name = "ID")]
    id: String,
}

impl StopArgs {
    pub(crate) fn run(self, ctx: &mut Ctx<'_>) -> anyhow::Result<ExitCode> {
        let client = ctx.client()?;
        let id = resolve(&client, Kind::Job, &self.id)?;
        let mut path = format!("/v1/job/{}", enc(&id));
        if self.purge {
            path = with_param(&path, "purge", "true");
        }
        let resp = client
            .delete(&path)
            .with_context(|| format!("deregistering job {id:?}"))?;
        let eval_id = resp.str_at("EvalID");
        if eval_id.is_empty() {
            // Nothing left to stop (a purge of a job already stopped, for one).
            return Ok(ExitCode::SUCCESS);
        }
        if self.detach {
            ctx.ui.out(eval_id);
            return Ok(ExitCode::SUCCESS);
        }
        monitor(&client, &mut ctx.ui, eval_id)
    }
}
