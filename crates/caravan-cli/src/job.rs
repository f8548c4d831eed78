//! `caravan job ...`: validate, run, plan, status, stop, eval, inspect, history.

mod eval;
mod history;
mod inspect;
mod plan;
mod run;
mod status;
mod stop;

use std::process::ExitCode;

use caravan_jobspec::parse_and_validate;

use crate::jobfile::JobFileArgs;
use crate::ui::{Ctx, Ui};

pub(crate) use run::RunArgs;
pub(crate) use status::StatusArgs;

#[derive(Debug, clap::Subcommand)]
pub(crate) enum JobCommand {
    /// Check a job file: syntax, schema and semantics. Exit 0 when valid, 1 otherwise.
    Validate(ValidateArgs),
    /// Submit a job and follow its evaluation; with -output, print it as API JSON instead.
    Run(RunArgs),
    /// Show what submitting a job would change, without changing anything.
    Plan(plan::PlanArgs),
    /// List jobs, or show one job's groups, placement failures and allocations.
    Status(StatusArgs),
    /// Stop a job (and with -purge, forget it).
    Stop(stop::StopArgs),
    /// Ask the scheduler to evaluate a job again.
    Eval(eval::EvalArgs),
    /// Print a job as the agent stores it, in API JSON.
    Inspect(inspect::InspectArgs),
    /// List a job's versions.
    History(history::HistoryArgs),
}

impl JobCommand {
    pub(crate) fn run(self, ctx: &mut Ctx<'_>) -> anyhow::Result<ExitCode> {
        match self {
            JobCommand::Validate(args) => Ok(args.run(&mut ctx.ui)),
            JobCommand::Run(args) => args.run(ctx),
            JobCommand::Plan(args) => Ok(args.run(ctx)),
            JobCommand::Status(args) => args.run(ctx),
            JobCommand::Stop(args) => args.run(ctx),
            JobCommand::Eval(args) => args.run(ctx),
            JobCommand::Inspect(args) => args.run(ctx),
            JobCommand::History(args) => args.run(ctx),
        }
    }
}

#[derive(Debug, clap::Args)]
pub(crate) struct ValidateArgs {
    #[command(flatten)]
    job: JobFileArgs,
}

impl ValidateArgs {
    fn run(self, ui: &mut Ui<'_>) -> ExitCode {
        match load_job(&self.job, ui) {
            Ok(_) => {
                ui.out("Job validation successful");
                ExitCode::SUCCESS
            }
            Err(()) => ExitCode::FAILURE,
        }
    }
}

/// Reads, parses and validates; on failure prints every diagnostic (the caller picks the
/// exit code).
fn load_job(args: &JobFileArgs, ui: &mut Ui<'_>) -> Result<caravan_model::Job, ()> {
    let (source, opts) = args.load().map_err(|e| ui.err(format!("Error: {e:#}")))?;
    parse_and_validate(&source, &opts).map_err(|diags| {
        ui.err(diags.to_string());
        let n = diags.0.len();
        ui.err(format!(
            "Job validation failed: {n} error{}",
            if n == 1 { "" } else { "s" }
        ));
    })
}

/// The job as API JSON (what `{"Job": ...}` carries).
fn job_json(job: &caravan_model::Job) -> anyhow::Result<serde_json::Value> {
    Ok(serde_json::to_value(job)?)
}
