//! The `caravan` binary: the composition root. It hands the command line to
//! `caravan-cli`; agents are started from here as their crates land.

use std::process::ExitCode;

fn main() -> ExitCode {
    caravan_cli::main(std::env::args_os().collect())
}
