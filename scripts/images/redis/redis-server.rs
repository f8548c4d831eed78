//! /usr/local/bin/redis-server in Caravan's redis:7 image: runs Debian's
//! /usr/bin/redis-server with `--protected-mode no` added.
//!
//! The official redis image is built with protected mode off, so a redis started with no
//! password answers clients on any interface, whatever its command line
//! (`docker run redis:7 redis-server --port 7000` included). Debian's redis-server has it
//! on, and would refuse every client that is not on loopback: through a published port,
//! from another container or from another host. This wrapper (first on PATH) makes
//! Debian's binary behave like the official one. It adds nothing when the command line
//! sets protected-mode itself, when the config file given as first argument does, or for
//! `--version`, `--help`, `--test-memory` and `--check-system`.
//!
//! It replaces itself with the real redis-server (exec), so redis is the container's
//! PID 1 and gets docker's signals. std only; built statically by scripts/build-images.

use std::env;
use std::ffi::OsString;
use std::fs;
use std::os::unix::process::CommandExt;
use std::process::{Command, ExitCode};

const REAL: &str = "/usr/bin/redis-server";

fn main() -> ExitCode {
    let args: Vec<OsString> = env::args_os().skip(1).collect();
    let mut command = Command::new(REAL);
    // redis picks its mode (server, sentinel, check-rdb) from argv[0].
    command.arg0("redis-server").args(&args);
    if should_disable_protected_mode(&args) {
        command.args(["--protected-mode", "no"]);
    }
    let err = command.exec();
    eprintln!("redis-server: cannot run {REAL}: {err}");
    ExitCode::from(127)
}

fn should_disable_protected_mode(args: &[OsString]) -> bool {
    let first = args.first().and_then(|a| a.to_str());
    if let Some("-v" | "--version" | "-h" | "--help" | "--test-memory" | "--check-system") = first {
        return false;
    }
    if args
        .iter()
        .any(|a| a.eq_ignore_ascii_case("--protected-mode"))
    {
        return false;
    }
    match first {
        Some(file) if !file.starts_with('-') => !config_sets_protected_mode(file),
        _ => true,
    }
}

/// Whether the config file has a `protected-mode` directive (redis lets it win).
fn config_sets_protected_mode(path: &str) -> bool {
    let Ok(text) = fs::read_to_string(path) else {
        return false; // redis reports the unreadable file itself
    };
    text.lines().any(|line| {
        line.split_whitespace()
            .next()
            .is_some_and(|word| word.eq_ignore_ascii_case("protected-mode"))
    })
}
