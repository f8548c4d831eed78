//! `caravan job ...`: validate and run.

use std::process::ExitCode;

use caravan_jobspec::parse_and_validate;

use crate::jobfile::JobFileArgs;

#[derive(Debug, clap::Subcommand)]
pub(crate) enum JobCommand {
    /// Check a job file: syntax, schema and semantics. Exit 0 when valid, 1 otherwise.
    Validate(ValidateArgs),
    /// Submit a job; with -output, print it as API JSON instead.
    Run(RunArgs),
}

impl JobCommand {
    pub(crate) fn run(self) -> ExitCode {
        match self {
            JobCommand::Validate(args) => args.run(),
            JobCommand::Run(args) => args.run(),
        }
    }
}

#[derive(Debug, clap::Args)]
pub(crate) struct ValidateArgs {
    #[command(flatten)]
    job: JobFileArgs,
}

impl ValidateArgs {
    fn run(self) -> ExitCode {
        match load_job(&self.job) {
            Ok(_) => {
                println!("Job validation successful");
                ExitCode::SUCCESS
            }
            Err(code) => code,
        }
    }
}

#[derive(Debug, clap::Args)]
pub(crate) struct RunArgs {
    /// Print the job as Nomad-shaped JSON ({"Job": {...}}) and exit without submitting.
    #[arg(long)]
    output: bool,
    #[command(flatten)]
    job: JobFileArgs,
}

impl RunArgs {
    pub(crate) fn run(self) -> ExitCode {
        let job = match load_job(&self.job) {
            Ok(job) => job,
            Err(code) => return code,
        };
        if self.output {
            let body = serde_json::json!({ "Job": job });
            match serde_json::to_string_pretty(&body) {
                Ok(text) => {
                    println!("{text}");
                    return ExitCode::SUCCESS;
                }
                Err(e) => {
                    eprintln!("Error encoding the job: {e}");
                    return ExitCode::FAILURE;
                }
            }
        }
        eprintln!(
            "Error submitting job {:?}: submitting to an agent is not available in this build yet; use -output",
            job.id.as_str()
        );
        ExitCode::FAILURE
    }
}

/// Reads, parses and validates; on failure prints every diagnostic and returns exit code 1.
fn load_job(args: &JobFileArgs) -> Result<caravan_model::Job, ExitCode> {
    let (source, opts) = args.load().map_err(|e| {
        eprintln!("Error: {e:#}");
        ExitCode::FAILURE
    })?;
    parse_and_validate(&source, &opts).map_err(|diags| {
        eprintln!("{diags}");
        let n = diags.0.len();
        eprintln!("Job validation failed: {n} error{}", if n == 1 { "" } else { "s" });
        ExitCode::FAILURE
    })
}
