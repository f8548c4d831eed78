//! Caravan's command line: Nomad's commands and flags (`job run`, `job status`,
//! `alloc logs`, `node status`, `-var`, `-address`, ...), printing readable text for
//! people and JSON for tools.
//!
//! Talks to agents only over HTTP (a small HTTP/1.1 client of its own, [`client`]);
//! never imports server internals. Local commands (validate, `run -output`) use the job
//! file parser directly. Rendering is pure (JSON in, lines out) and tested without a
//! socket; the commands around it only fetch and print.

mod agent_info;
mod alloc;
mod alloc_list;
mod args;
mod base64;
mod client;
mod eval;
mod fields;
mod http1;
mod job;
mod jobfile;
mod logframe;
mod monitor;
mod node;
mod operator;
mod placement;
mod prefix;
mod server;
mod service;
mod table;
mod timefmt;
mod ui;
mod units;

pub use args::normalize as normalize_args;

use std::ffi::OsString;
use std::io::Write;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::ui::{ApiArgs, Ctx, Ui};

/// The version printed by `caravan version`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

#[derive(Debug, Parser)]
#[command(name = "caravan", version = VERSION, about = "Run a cluster of machines as one pool for workloads.")]
struct Cli {
    #[command(flatten)]
    api: ApiArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Work with jobs: run, plan, status, stop, validate, ...
    #[command(subcommand)]
    Job(job::JobCommand),
    /// Alias for `job run`.
    Run(job::RunArgs),
    /// Alias for `job status`.
    Status(job::StatusArgs),
    /// Work with allocations: status, logs, fs, stop, restart, signal.
    #[command(subcommand)]
    Alloc(alloc::AllocCommand),
    /// Work with client nodes: status, drain, eligibility.
    #[command(subcommand)]
    Node(node::NodeCommand),
    /// Work with evaluations.
    #[command(subcommand)]
    Eval(eval::EvalCommand),
    /// Work with servers.
    #[command(subcommand)]
    Server(server::ServerCommand),
    /// Work with the service catalog: list, info, delete.
    #[command(subcommand)]
    Service(service::ServiceCommand),
    /// Cluster operations (Raft).
    #[command(subcommand)]
    Operator(operator::OperatorCommand),
    /// Show the agent's statistics.
    #[command(name = "agent-info")]
    AgentInfo(agent_info::AgentInfoArgs),
    /// Print the version.
    Version,
}

/// Runs the command line and returns the process exit code.
///
/// Nomad's single-dash long flags (`-var`, `-output`) are accepted alongside `--var`.
pub fn main(args: Vec<OsString>) -> ExitCode {
    let stdout = std::io::stdout();
    let stderr = std::io::stderr();
    run(args, &mut stdout.lock(), &mut stderr.lock())
}

/// [`main`] with its output going to `out` and `err` (for tests and embedding).
pub fn run(args: Vec<OsString>, out: &mut dyn Write, err: &mut dyn Write) -> ExitCode {
    let cli = match Cli::try_parse_from(args::normalize(args)) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = if e.use_stderr() {
                write!(err, "{e}")
            } else {
                write!(out, "{e}")
            };
            return ExitCode::from(if e.use_stderr() { 1 } else { 0 });
        }
    };
    let mut ctx = Ctx {
        ui: Ui::new(out, err),
        api: cli.api,
    };
    let result = match cli.command {
        Command::Job(cmd) => cmd.run(&mut ctx),
        Command::Run(args) => args.run(&mut ctx),
        Command::Status(args) => args.run(&mut ctx),
        Command::Alloc(cmd) => cmd.run(&mut ctx),
        Command::Node(cmd) => cmd.run(&mut ctx),
        Command::Eval(cmd) => cmd.run(&mut ctx),
        Command::Server(cmd) => cmd.run(&mut ctx),
        Command::Service(cmd) => cmd.run(&mut ctx),
        Command::Operator(cmd) => cmd.run(&mut ctx),
        Command::AgentInfo(args) => args.run(&mut ctx),
        Command::Version => {
            ctx.ui.out(format!("Caravan v{VERSION}"));
            Ok(ExitCode::SUCCESS)
        }
    };
    let code = result.unwrap_or_else(|e| {
        // Contexts are phrased as what was being done: "Error submitting job: <why>".
        ctx.ui.err(format!("Error {e:#}"));
        ExitCode::FAILURE
    });
    ctx.ui.flush();
    code
}
