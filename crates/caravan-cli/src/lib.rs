//! Caravan's command line: Nomad's commands and flags (`job validate`, `job run`,
//! `-var`, `-output`, ...), printing readable text for people and JSON for tools.
//!
//! Talks to agents only over HTTP; never imports server internals. Local commands
//! (validate, `run -output`) use the job file parser directly.

mod args;
mod job;
mod jobfile;

use std::ffi::OsString;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// The version printed by `caravan version`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

#[derive(Debug, Parser)]
#[command(name = "caravan", version = VERSION, about = "Run a cluster of machines as one pool for workloads.")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Work with jobs: validate, run.
    #[command(subcommand)]
    Job(job::JobCommand),
    /// Alias for `job run`.
    Run(job::RunArgs),
    /// Print the version.
    Version,
}

/// Runs the command line and returns the process exit code.
///
/// Nomad's single-dash long flags (`-var`, `-output`) are accepted alongside `--var`.
pub fn main(args: Vec<OsString>) -> ExitCode {
    let cli = match Cli::try_parse_from(args::normalize(args)) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 1 } else { 0 });
        }
    };
    match cli.command {
        Command::Job(cmd) => cmd.run(),
        Command::Run(args) => args.run(),
        Command::Version => {
            println!("Caravan v{VERSION}");
            ExitCode::SUCCESS
        }
    }
}
