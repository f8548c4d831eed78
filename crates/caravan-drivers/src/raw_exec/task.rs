//! raw_exec's live bookkeeping for one process: who it is, and how it ended.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use nix::errno::Errno;
use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::{Pid, User};
use tokio::process::Command;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::RawExecConfig;
use super::collector::{self, Collectors};
use crate::{
    DriverError, ExitResult, LogSpec, LogmonArgs, ProcStat, RotatingLog, TaskHandleState, TaskSpec,
    pump_log,
};

/// How long a finished task's log pumps may take to drain their pipes before the exit
/// is reported anyway (a grandchild that left the process group can hold a pipe open).
/// Collectors have their own ([`collector::DRAIN_GRACE`]).
const LOG_DRAIN_GRACE: Duration = Duration::from_secs(2);
/// The first and the longest pause between two looks at a recovered process.
const POLL_MIN: Duration = Duration::from_millis(10);
const POLL_MAX: Duration = Duration::from_millis(250);

/// One raw_exec process, started here or recovered after an agent restart. It leads
/// its own process group (pgid = pid), so the group can be signalled as a whole.
#[derive(Debug)]
pub(crate) struct RawExecTask {
    task_name: String,
    pid: u32,
    start_ticks: Option<u64>,
    exit: watch::Receiver<Option<ExitResult>>,
}

impl RawExecTask {
    /// Starts the process of `spec` and the tokio task that reaps it. Its output goes
    /// to log collector processes started with `collector` (an argv prefix) when
    /// given, else to tokio tasks of this process.
    pub(crate) fn spawn(
        spec: &TaskSpec,
        config: &RawExecConfig,
        collector: Option<&[OsString]>,
    ) -> Result<(Self, TaskHandleState), DriverError> {
        let task = spec.task_name.as_str();
        if !spec.dirs.task_dir.is_dir() {
            return Err(DriverError::MissingDir {
                task: task.to_owned(),
                path: spec.dirs.task_dir.clone(),
            });
        }
        let (program, args) = command_line(spec, config)?;

        let mut cmd = Command::new(&program);
        cmd.args(&args)
            .env_clear()
            .envs(&spec.env)
            .current_dir(&spec.dirs.task_dir)
            .stdin(Stdio::null())
            // Its own process group: a stop reaches everything the task started, and
            // a Ctrl-C at the agent's terminal does not reach the task.
            .process_group(0)
            // The task outlives the agent (and this handle) until it is stopped.
            .kill_on_drop(false);
        if let Some(name) = spec.user.as_deref().filter(|u| !u.is_empty()) {
            let user =
                User::from_name(name)
                    .ok()
                    .flatten()
                    .ok_or_else(|| DriverError::UnknownUser {
                        task: task.to_owned(),
                        user: name.to_owned(),
                    })?;
            cmd.uid(user.uid.as_raw()).gid(user.gid.as_raw());
        }
        let output = if spec.logs.disabled {
            cmd.stdout(Stdio::null()).stderr(Stdio::null());
            Output::Discarded
        } else {
            // Opened here even for a collector, so that a log that cannot be written
            // fails the start with a reason rather than a silent collector.
            let out_log = open_log(task, &spec.logs, &spec.logs.stdout_base)?;
            let err_log = open_log(task, &spec.logs, &spec.logs.stderr_base)?;
            match collector {
                None => {
                    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
                    Output::Pumped(out_log, err_log)
                }
                Some(argv_prefix) => {
                    drop((out_log, err_log));
                    let stream = |base: &Path| LogmonArgs {
                        base: base.to_path_buf(),
                        max_files: spec.logs.max_files,
                        max_file_bytes: spec.logs.max_file_bytes(),
                    };
                    let mut collectors = Collectors::default();
                    let out =
                        collectors.spawn(argv_prefix, task, &stream(&spec.logs.stdout_base))?;
                    let err =
                        collectors.spawn(argv_prefix, task, &stream(&spec.logs.stderr_base))?;
                    cmd.stdout(out).stderr(err);
                    Output::Collected(collectors)
                }
            }
        };

        // On failure the collectors see their pipes close with `cmd` and exit; tokio
        // reaps dropped children.
        let mut child = cmd.spawn().map_err(|source| DriverError::Spawn {
            task: task.to_owned(),
            command: config.command.clone(),
            source,
        })?;
        // The task holds the collectors' write ends now; ours must be closed, or
        // they would never see the end of the output.
        drop(cmd);
        let Some(pid) = child.id() else {
            // Only a child that was already reaped has no id, and nothing reaped it.
            return Err(DriverError::Spawn {
                task: task.to_owned(),
                command: config.command.clone(),
                source: std::io::Error::other("the process vanished at start"),
            });
        };
        // Until it is reaped below, the process (or its zombie) keeps its stat file.
        let start_ticks = ProcStat::read(pid).ok().flatten().map(|s| s.start_ticks);

        let mut driver_state = BTreeMap::new();
        let drain = match output {
            Output::Discarded => Drain::Nothing,
            Output::Pumped(out_log, err_log) => {
                let mut pumps: Vec<JoinHandle<()>> = Vec::new();
                if let Some(out) = child.stdout.take() {
                    pumps.push(tokio::spawn(pump_log(out, out_log)));
                }
                if let Some(err) = child.stderr.take() {
                    pumps.push(tokio::spawn(pump_log(err, err_log)));
                }
                Drain::Pumps(pumps)
            }
            Output::Collected(collectors) => {
                collectors.record(&mut driver_state);
                Drain::Collectors(collectors)
            }
        };

        let (tx, rx) = watch::channel(None);
        tokio::spawn(async move {
            let result = match child.wait().await {
                Ok(status) => ExitResult::from_status(status),
                Err(e) => ExitResult::failed(format!("waiting for the process failed: {e}")),
            };
            // Nothing the task started may outlive it. The group id stays reserved
            // while any member is left, so this cannot reach a stranger.
            let _ = killpg(as_pid(pid), Signal::SIGKILL);
            drain.finish().await;
            tx.send_replace(Some(result));
        });

        let state = TaskHandleState {
            driver: super::NAME.to_owned(),
            alloc_id: spec.alloc_id.clone(),
            task_name: task.to_owned(),
            pid: Some(pid),
            start_ticks,
            started_at_unix_ms: unix_ms_now(),
            netns_path: spec.netns_path.clone(),
            driver_state,
        };
        let live = Self {
            task_name: task.to_owned(),
            pid,
            start_ticks,
            exit: rx,
        };
        Ok((live, state))
    }

    /// Re-attaches to the process of `state`. It is not our child any more, so its
    /// exit is noticed by polling and its exit code is unknown. Its log collectors,
    /// if it had any, are made sure to be gone before the exit is reported.
    pub(crate) fn adopt(state: &TaskHandleState) -> Result<Self, DriverError> {
        // Pid 0 and -1 mean "my group" and "everyone" to kill(2), and 1 is init:
        // a corrupt state must never turn into one of those.
        let pid = state
            .pid
            .filter(|pid| *pid > 1 && i32::try_from(*pid).is_ok())
            .ok_or_else(|| DriverError::BadState {
                task: state.task_name.clone(),
                reason: format!("pid {:?} is not a task's", state.pid),
            })?;
        let collectors = collector::recorded(state);
        let (tx, rx) = watch::channel(None);
        match state.start_ticks {
            Some(ticks) if ProcStat::is_same_live(pid, ticks) => {
                tokio::spawn(async move {
                    let mut pause = POLL_MIN;
                    loop {
                        tokio::select! {
                            () = tokio::time::sleep(pause) => {}
                            // Every handle is gone: nobody will ask any more.
                            () = tx.closed() => return,
                        }
                        if !ProcStat::is_same_live(pid, ticks) {
                            break;
                        }
                        pause = (pause * 2).min(POLL_MAX);
                    }
                    let _ = killpg(as_pid(pid), Signal::SIGKILL);
                    collector::finish_recorded(&collectors, collector::DRAIN_GRACE).await;
                    tx.send_replace(Some(ExitResult::unknown()));
                });
            }
            // Gone, or a stranger now holds the pid: never signal it.
            _ if collectors.is_empty() => {
                tx.send_replace(Some(ExitResult::unknown()));
            }
            // The collectors are checked by their own start times.
            _ => {
                tokio::spawn(async move {
                    collector::finish_recorded(&collectors, collector::DRAIN_GRACE).await;
                    tx.send_replace(Some(ExitResult::unknown()));
                });
            }
        }
        Ok(Self {
            task_name: state.task_name.clone(),
            pid,
            start_ticks: state.start_ticks,
            exit: rx,
        })
    }

    /// The exit, if the process has exited.
    pub(crate) fn exit_now(&self) -> Option<ExitResult> {
        self.exit.borrow().clone()
    }

    /// Resolves with the exit once the process has exited.
    pub(crate) async fn exited(&self) -> ExitResult {
        let mut rx = self.exit.clone();
        match rx.wait_for(Option::is_some).await {
            Ok(exit) => exit.clone().unwrap_or_default(),
            Err(_) => ExitResult::failed("the driver stopped watching the process"),
        }
    }

    /// Sends `signal` to the main process only.
    pub(crate) fn signal_leader(&self, signal: Signal) -> Result<(), DriverError> {
        if !self.still_ours() {
            return Err(self.not_running());
        }
        match kill(as_pid(self.pid), signal) {
            Ok(()) => Ok(()),
            Err(Errno::ESRCH) => Err(self.not_running()),
            Err(e) => Err(self.signal_error(signal, e)),
        }
    }

    /// Sends `signal` to the whole process group; a group already gone is fine.
    pub(crate) fn signal_group(&self, signal: Signal) -> Result<(), DriverError> {
        if !self.still_ours() {
            return Ok(());
        }
        match killpg(as_pid(self.pid), signal) {
            Ok(()) | Err(Errno::ESRCH) => Ok(()),
            Err(e) => Err(self.signal_error(signal, e)),
        }
    }

    pub(crate) fn task_name(&self) -> &str {
        &self.task_name
    }

    /// The pid still names our process: it has not been reported exited, and the
    /// process holding the pid started when ours did.
    fn still_ours(&self) -> bool {
        if self.exit.borrow().is_some() {
            return false;
        }
        match self.start_ticks {
            Some(ticks) => {
                matches!(ProcStat::read(self.pid), Ok(Some(s)) if s.start_ticks == ticks)
            }
            None => true,
        }
    }

    fn not_running(&self) -> DriverError {
        DriverError::NotRunning {
            task: self.task_name.clone(),
        }
    }

    fn signal_error(&self, signal: Signal, e: Errno) -> DriverError {
        DriverError::Signal {
            task: self.task_name.clone(),
            signal: signal.as_str().to_owned(),
            source: e.into(),
        }
    }
}

/// Where `ip netns` keeps named namespaces (`/var/run` is a link to `/run`).
const NAMED_NETNS_DIRS: [&str; 2] = ["/var/run/netns", "/run/netns"];

/// The program and arguments to execute: the command, resolved against the task
/// directory when it is a relative path, behind `ip netns exec` or `nsenter` when
/// the task runs in a network namespace.
fn command_line(
    spec: &TaskSpec,
    config: &RawExecConfig,
) -> Result<(PathBuf, Vec<String>), DriverError> {
    let command = Path::new(&config.command);
    let program = if command.is_relative() && config.command.contains('/') {
        spec.dirs.task_dir.join(command)
    } else {
        command.to_path_buf()
    };
    let Some(netns) = &spec.netns_path else {
        return Ok((program, config.args.clone()));
    };
    if !netns.exists() {
        return Err(DriverError::MissingNetns {
            task: spec.task_name.clone(),
            path: netns.clone(),
        });
    }
    let missing = |tool: &str, why: &str| DriverError::Spawn {
        task: spec.task_name.clone(),
        command: config.command.clone(),
        source: std::io::Error::new(std::io::ErrorKind::NotFound, format!("{tool} {why}")),
    };
    // Both join the namespace and then exec the command, so the pid, the process
    // group and the exit status are the command's own.
    let (wrapper, mut args) = match netns_name(netns) {
        // A named namespace: `ip netns exec` also gives the task a mount namespace
        // of its own with /etc/netns/<name>/resolv.conf (the allocation's, written
        // by caravan-net) over /etc/resolv.conf, and a /sys of the namespace.
        Some(name) => {
            let ip = find_on_agent_path("ip").ok_or_else(|| {
                missing(
                    "ip",
                    "(iproute2) is needed to run a task in a network namespace",
                )
            })?;
            (
                ip,
                vec!["netns".to_owned(), "exec".to_owned(), name.to_owned()],
            )
        }
        // Any other path (`/proc/<pid>/ns/net`): only the network namespace is
        // joined, and the task sees the host's /etc/resolv.conf.
        None => {
            let nsenter = find_on_agent_path("nsenter").ok_or_else(|| {
                missing(
                    "nsenter",
                    "(util-linux) is needed to run a task in a network namespace",
                )
            })?;
            (
                nsenter,
                vec![format!("--net={}", netns.display()), "--".to_owned()],
            )
        }
    };
    args.push(program.to_string_lossy().into_owned());
    args.extend(config.args.iter().cloned());
    Ok((wrapper, args))
}

/// The name `ip netns` knows the namespace at `path` by, when it is one of its
/// named namespaces.
fn netns_name(path: &Path) -> Option<&str> {
    let dir = path.parent()?;
    let name = path.file_name()?.to_str()?;
    let named = NAMED_NETNS_DIRS.iter().any(|d| dir == Path::new(d));
    let plain = !name.is_empty() && !name.starts_with('.') && !name.starts_with('-');
    (named && plain).then_some(name)
}

/// A program on the agent's own `PATH` (not the task's), or in the usual places.
fn find_on_agent_path(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/bin", "/bin", "/usr/sbin", "/sbin"].map(PathBuf::from))
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
}

fn open_log(task: &str, logs: &LogSpec, base: &Path) -> Result<RotatingLog, DriverError> {
    let log_error = |source| DriverError::Log {
        task: task.to_owned(),
        path: base.to_path_buf(),
        source,
    };
    if let Some(dir) = base.parent() {
        std::fs::create_dir_all(dir).map_err(log_error)?;
    }
    RotatingLog::open(base, logs.max_files, logs.max_file_bytes()).map_err(log_error)
}

/// Where the output of a task being started goes.
enum Output {
    /// `logs { disabled = true }`.
    Discarded,
    /// Through pipes to tokio tasks of the agent.
    Pumped(RotatingLog, RotatingLog),
    /// Through pipes to collector processes.
    Collected(Collectors),
}

/// What must finish after the task before its exit is reported.
enum Drain {
    Nothing,
    Pumps(Vec<JoinHandle<()>>),
    Collectors(Collectors),
}

impl Drain {
    async fn finish(self) {
        match self {
            Drain::Nothing => {}
            Drain::Pumps(mut pumps) => {
                let _ = tokio::time::timeout(LOG_DRAIN_GRACE, async {
                    for pump in &mut pumps {
                        let _ = pump.await;
                    }
                })
                .await;
            }
            Drain::Collectors(collectors) => collectors.finish(collector::DRAIN_GRACE).await,
        }
    }
}

pub(super) fn as_pid(pid: u32) -> Pid {
    Pid::from_raw(i32::try_from(pid).unwrap_or(i32::MAX))
}

fn unix_ms_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_namespaces_named_by_ip_netns_have_a_name() {
        let name = |p: &str| netns_name(Path::new(p)).map(str::to_owned);
        assert_eq!(
            name("/var/run/netns/caravan-1a2b"),
            Some("caravan-1a2b".into())
        );
        assert_eq!(name("/run/netns/caravan-1a2b"), Some("caravan-1a2b".into()));
        assert_eq!(name("/proc/4242/ns/net"), None);
        assert_eq!(name("/tmp/netns/caravan-1a2b"), None);
        assert_eq!(name("/var/run/netns/-n"), None);
        assert_eq!(name("/var/run/netns"), None);
    }
}
