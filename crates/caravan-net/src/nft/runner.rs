//! Runs the `nft` binary. Blocking: called on the crate's worker threads only.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use crate::NetError;
use crate::nft::TableListing;

/// How often a transaction or a listing is run when a concurrent ruleset change
/// interrupted it (another table, another agent's test, Docker).
const ATTEMPTS: usize = 5;

/// The `nft` command line tool.
#[derive(Debug, Clone)]
pub(crate) struct Nft {
    binary: PathBuf,
}

impl Default for Nft {
    fn default() -> Self {
        let sbin = Path::new("/usr/sbin/nft");
        let binary = if sbin.exists() {
            sbin.to_path_buf()
        } else {
            PathBuf::from("nft")
        };
        Self { binary }
    }
}

impl Nft {
    /// Applies `script` as one transaction (`nft -f -`): all of it or nothing.
    pub fn apply(&self, script: &str) -> Result<(), NetError> {
        self.start_apply(script)?.wait().map(drop)
    }

    /// Starts applying `script` and returns at once, so that the caller can do
    /// other work while nft runs; [`Pending::wait`] gives the outcome.
    pub fn start_apply(&self, script: &str) -> Result<Pending, NetError> {
        self.start(vec!["-f".into(), "-".into()], Some(script.to_owned()))
    }

    /// `nft -j list table ip <name>`; `None` when there is no such table.
    pub fn list_table(&self, table: &str) -> Result<Option<TableListing>, NetError> {
        self.start_list_table(table)?.listing()
    }

    /// Starts `nft -j list table ip <name>`; [`Pending::listing`] reads it.
    pub fn start_list_table(&self, table: &str) -> Result<Pending, NetError> {
        let args = ["-j", "list", "table", "ip", table].map(str::to_owned);
        self.start(args.to_vec(), None)
    }

    fn start(&self, args: Vec<String>, stdin: Option<String>) -> Result<Pending, NetError> {
        let child = self.spawn(&args, stdin.as_deref())?;
        Ok(Pending {
            nft: self.clone(),
            args,
            stdin,
            child,
        })
    }

    /// Starts nft with `stdin` written to it (and closed).
    fn spawn(&self, args: &[String], stdin: Option<&str>) -> Result<Child, NetError> {
        let mut child = Command::new(&self.binary)
            .args(args)
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| self.spawn_error(e))?;
        if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
            // Scripts are a few hundred bytes: within the pipe's buffer, so this
            // does not wait for nft to read.
            pipe.write_all(text.as_bytes())
                .map_err(|e| self.spawn_error(e))?;
        }
        Ok(child)
    }

    fn spawn_error(&self, source: std::io::Error) -> NetError {
        NetError::NftSpawn {
            binary: self.binary.display().to_string(),
            source,
        }
    }
}

/// An nft command that was started and not yet waited for.
#[derive(Debug)]
pub(crate) struct Pending {
    nft: Nft,
    args: Vec<String>,
    stdin: Option<String>,
    child: Child,
}

impl Pending {
    /// Waits for nft; a run interrupted by a concurrent ruleset change is repeated.
    pub fn wait(self) -> Result<Output, NetError> {
        let Self {
            nft,
            args,
            stdin,
            mut child,
        } = self;
        let mut attempt = 1;
        loop {
            let output = child.wait_with_output().map_err(|e| nft.spawn_error(e))?;
            if output.status.success() {
                return Ok(output);
            }
            let stderr = String::from_utf8_lossy(&output.stderr).trim().to_owned();
            if attempt >= ATTEMPTS || !stderr.contains("Interrupted system call") {
                let what = match &stdin {
                    Some(script) => format!("script\n{script}"),
                    None => args.join(" "),
                };
                return Err(NetError::Nft { what, stderr });
            }
            attempt += 1;
            child = nft.spawn(&args, stdin.as_deref())?;
        }
    }

    /// Waits for a `list table` and parses it; `None` when there is no such table.
    pub fn listing(self) -> Result<Option<TableListing>, NetError> {
        match self.wait() {
            Ok(output) => TableListing::parse(&String::from_utf8_lossy(&output.stdout)).map(Some),
            Err(NetError::Nft { stderr, .. }) if stderr.contains("No such file or directory") => {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }
}
