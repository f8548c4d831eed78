//! The `caravan` binary: the composition root. `caravan agent ...` starts a server,
//! a client and the HTTP API in this process; every other command is the CLI, which
//! talks to an agent over HTTP, except `caravan tls`, which writes certificates.

mod agent;
mod tls_cmd;

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if args.get(1).is_some_and(|a| a == "agent") {
        return agent::main(args);
    }
    if args.get(1).is_some_and(|a| a == "tls") {
        return tls_cmd::main(args);
    }
    if args.get(1).is_some_and(|a| a == "logmon") {
        return caravan_drivers::logmon_main(&args[2..]);
    }
    caravan_cli::main(args)
}
