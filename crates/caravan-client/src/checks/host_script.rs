//! A [`ScriptExecutor`] that runs commands as host processes: what raw_exec needs
//! (the task directory as working directory, the task's environment).
//!
//! The command gets its own process group, so a timeout kills what it started too.
//! Its standard output and error share one pipe, so the output keeps their order.

use std::collections::BTreeMap;
use std::os::fd::OwnedFd;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio::net::unix::pipe;
use tokio::process::Command;

use super::error::CheckError;
use super::probe_result::MAX_OUTPUT_BYTES;
use super::script::{ScriptExecutor, ScriptOutput};
use crate::BoxFuture;

/// Runs script checks on the host.
#[derive(Debug, Clone)]
pub struct HostScriptExecutor {
    dir: PathBuf,
    env: BTreeMap<String, String>,
}

impl HostScriptExecutor {
    /// Commands run in `dir` with exactly `env` (nothing inherited from the agent).
    pub fn new(dir: impl Into<PathBuf>, env: BTreeMap<String, String>) -> Self {
        Self {
            dir: dir.into(),
            env,
        }
    }

    async fn run(
        &self,
        command: &str,
        args: &[String],
        timeout: Duration,
    ) -> Result<ScriptOutput, CheckError> {
        let exec_error = |reason: String| CheckError::Exec {
            command: command.to_owned(),
            reason,
        };
        let (reader, writer) = std::io::pipe()?;
        let writer_for_stderr = writer.try_clone()?;
        let mut cmd = Command::new(command);
        cmd.args(args)
            .current_dir(&self.dir)
            .env_clear()
            .envs(&self.env)
            .stdin(Stdio::null())
            .stdout(writer)
            .stderr(writer_for_stderr)
            .process_group(0)
            .kill_on_drop(true);
        let mut child = cmd.spawn().map_err(|e| exec_error(e.to_string()))?;
        // The command holds our copies of the pipe's write end: without dropping it,
        // the read below would never see the end of the output.
        drop(cmd);
        let mut group = GroupKill { pgid: child.id() };
        let mut reader = pipe::Receiver::from_owned_fd(OwnedFd::from(reader))?;
        let finished = tokio::time::timeout(timeout, async {
            let (output, status) = tokio::join!(read_capped(&mut reader), child.wait());
            Ok::<_, CheckError>((output?, status?))
        })
        .await;
        match finished {
            Ok(result) => {
                // Reaped: the pid may be reused now, so the group must not be killed.
                group.pgid = None;
                let (output, status) = result?;
                Ok(ScriptOutput {
                    exit_code: exit_code(status),
                    output,
                })
            }
            Err(_) => {
                group.kill().await;
                // Best effort: the group kill already took it.
                let _ = child.kill().await;
                Err(CheckError::TimedOut)
            }
        }
    }
}

impl ScriptExecutor for HostScriptExecutor {
    fn exec<'a>(
        &'a self,
        command: &'a str,
        args: &'a [String],
        timeout: Duration,
    ) -> BoxFuture<'a, Result<ScriptOutput, CheckError>> {
        Box::pin(self.run(command, args, timeout))
    }
}

/// Reads everything, keeping the first [`MAX_OUTPUT_BYTES`] (the rest is drained so
/// that the command never blocks on a full pipe).
async fn read_capped(reader: &mut pipe::Receiver) -> Result<Vec<u8>, CheckError> {
    let mut kept = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = reader.read(&mut chunk).await?;
        if n == 0 {
            return Ok(kept);
        }
        let room = MAX_OUTPUT_BYTES.saturating_sub(kept.len());
        kept.extend_from_slice(&chunk[..n.min(room)]);
    }
}

fn exit_code(status: ExitStatus) -> i64 {
    match (status.code(), status.signal()) {
        (Some(code), _) => i64::from(code),
        (None, Some(signal)) => 128 + i64::from(signal),
        (None, None) => -1,
    }
}

/// Kills a command's process group, at a timeout or when the run is abandoned.
#[derive(Debug)]
struct GroupKill {
    /// The group (the command's pid, as it leads its own group) while it must be
    /// killed; `None` once the command was reaped.
    pgid: Option<u32>,
}

impl GroupKill {
    fn command(pgid: u32) -> Command {
        let mut kill = Command::new("kill");
        kill.args(["-KILL", "--", &format!("-{pgid}")])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        kill
    }

    async fn kill(&mut self) {
        if let Some(pgid) = self.pgid.take() {
            // Best effort: the group may be gone already.
            let _ = Self::command(pgid).status().await;
        }
    }
}

impl Drop for GroupKill {
    fn drop(&mut self) {
        // The run was dropped mid-way (the runner stopped): the child is not reaped
        // yet (its own kill_on_drop comes after this), so the group id is still ours.
        // tokio reaps the `kill` process in the background.
        if let Some(pgid) = self.pgid.take()
            && tokio::runtime::Handle::try_current().is_ok()
        {
            let _ = Self::command(pgid).spawn();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;

    fn sh(script: &str) -> Vec<String> {
        vec!["-c".to_owned(), script.to_owned()]
    }

    fn executor(dir: &std::path::Path) -> HostScriptExecutor {
        let env = BTreeMap::from([
            ("PATH".to_owned(), "/usr/bin:/bin".to_owned()),
            ("GREETING".to_owned(), "hi".to_owned()),
        ]);
        HostScriptExecutor::new(dir, env)
    }

    #[tokio::test]
    async fn runs_in_the_dir_with_the_env_and_interleaves_output() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("marker"), "").expect("write");
        let out = executor(dir.path())
            .exec(
                "/bin/sh",
                &sh("echo $GREETING; ls; echo oops >&2; exit 3"),
                Duration::from_secs(10),
            )
            .await
            .expect("run");
        assert_eq!(out.exit_code, 3);
        assert_eq!(String::from_utf8_lossy(&out.output), "hi\nmarker\noops\n");
    }

    #[tokio::test]
    async fn output_is_capped_and_drained() {
        let dir = tempfile::tempdir().expect("tempdir");
        // 1 MiB is far more than a pipe buffer: the command must not block on it.
        let out = executor(dir.path())
            .exec(
                "/bin/sh",
                &sh("head -c 1048576 /dev/zero; exit 0"),
                Duration::from_secs(10),
            )
            .await
            .expect("run");
        assert_eq!(out.exit_code, 0);
        assert_eq!(out.output.len(), MAX_OUTPUT_BYTES);
    }

    #[tokio::test]
    async fn timeout_kills_the_whole_group() {
        let dir = tempfile::tempdir().expect("tempdir");
        let started = Instant::now();
        // The background sleep holds the pipe open: only a group kill ends the read.
        let result = executor(dir.path())
            .exec(
                "/bin/sh",
                &sh("sleep 30 & echo $! > bg.pid; sleep 30; echo never"),
                Duration::from_millis(500),
            )
            .await;
        assert!(matches!(result, Err(CheckError::TimedOut)), "{result:?}");
        assert!(started.elapsed() < Duration::from_secs(5));
        let pid = std::fs::read_to_string(dir.path().join("bg.pid")).expect("pid file");
        // Gone, or a zombie waiting for whoever inherited it: not running. SIGKILL
        // lands when the process is next scheduled, so give it a moment.
        let stat_path = format!("/proc/{}/stat", pid.trim());
        let mut last = String::new();
        for _ in 0..100 {
            let Ok(stat) = std::fs::read_to_string(&stat_path) else {
                return;
            };
            let state = stat
                .rsplit(") ")
                .next()
                .and_then(|rest| rest.chars().next());
            if state == Some('Z') {
                return;
            }
            last = stat;
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("background sleep still alive: {last}");
    }

    #[tokio::test]
    async fn a_missing_command_is_an_exec_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let result = executor(dir.path())
            .exec("/no/such/command", &[], Duration::from_secs(1))
            .await;
        assert!(
            matches!(&result, Err(CheckError::Exec { command, .. }) if command == "/no/such/command"),
            "{result:?}"
        );
    }

    #[tokio::test]
    async fn a_signal_is_128_plus_its_number() {
        let dir = tempfile::tempdir().expect("tempdir");
        let out = executor(dir.path())
            .exec("/bin/sh", &sh("kill -TERM $$"), Duration::from_secs(10))
            .await
            .expect("run");
        assert_eq!(out.exit_code, 128 + 15);
    }
}
