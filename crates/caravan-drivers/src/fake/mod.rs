//! A driver that runs nothing: it records its calls and plays scripted exits, so the
//! client's task runner can be tested fast and exactly.

mod call;
mod script;
mod task;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use caravan_model::AllocId;
use nix::sys::signal::Signal;

pub use call::FakeCall;
pub use script::FakeScript;
use task::FakeTask;

use crate::{
    BoxFuture, DriverError, DriverFingerprint, ExitResult, RotatingLog, TaskDriver, TaskHandle,
    TaskHandleState, TaskSpec, parse_signal, terminates_by_default,
};

/// The first fake pid; far from any real pid a test might print.
const FIRST_FAKE_PID: u32 = 100_000;

/// A recording, scriptable [`TaskDriver`]. Clones share everything, so a clone plays
/// the same driver after a simulated agent restart (its `recover` finds the tasks).
#[derive(Debug, Clone)]
pub struct FakeDriver {
    name: String,
    shared: Arc<Mutex<Shared>>,
}

#[derive(Debug)]
struct Shared {
    calls: Vec<FakeCall>,
    started: Vec<TaskSpec>,
    scripts: HashMap<String, FakeScript>,
    fingerprint: DriverFingerprint,
    tasks: BTreeMap<u32, Arc<FakeTask>>,
    next_pid: u32,
}

impl Default for FakeDriver {
    fn default() -> Self {
        Self::new("fake")
    }
}

impl FakeDriver {
    /// A fake named `name` (e.g. `"raw_exec"`, to stand in for it), detected and healthy.
    pub fn new(name: &str) -> Self {
        let fingerprint = DriverFingerprint {
            detected: true,
            healthy: true,
            description: "fake driver".to_owned(),
            attributes: BTreeMap::from([(format!("driver.{name}"), "1".to_owned())]),
        };
        Self {
            name: name.to_owned(),
            shared: Arc::new(Mutex::new(Shared {
                calls: Vec::new(),
                started: Vec::new(),
                scripts: HashMap::new(),
                fingerprint,
                tasks: BTreeMap::new(),
                next_pid: FIRST_FAKE_PID,
            })),
        }
    }

    /// Tasks named `task` behave as `script` from now on, whatever their config says.
    pub fn script(&self, task: &str, script: FakeScript) {
        self.lock().scripts.insert(task.to_owned(), script);
    }

    /// What `fingerprint` returns from now on.
    pub fn set_fingerprint(&self, fingerprint: DriverFingerprint) {
        self.lock().fingerprint = fingerprint;
    }

    /// Every recorded call, oldest first.
    pub fn calls(&self) -> Vec<FakeCall> {
        self.lock().calls.clone()
    }

    /// The specs of every `start`, oldest first (to check env, config and paths).
    pub fn started(&self) -> Vec<TaskSpec> {
        self.lock().started.clone()
    }

    /// The (alloc, task) of every task that runs now.
    pub fn running(&self) -> Vec<(AllocId, String)> {
        self.lock()
            .tasks
            .values()
            .filter(|t| t.exit_now().is_none())
            .map(|t| (t.alloc_id.clone(), t.task_name.clone()))
            .collect()
    }

    /// Ends the running task `task` of `alloc_id` with `result`, as if the process
    /// had exited. Returns whether such a task was running.
    pub fn exit_task(&self, alloc_id: &AllocId, task: &str, result: ExitResult) -> bool {
        let tasks: Vec<Arc<FakeTask>> = self.lock().tasks.values().cloned().collect();
        let mut ended = false;
        for t in tasks
            .iter()
            .filter(|t| &t.alloc_id == alloc_id && t.task_name == task)
        {
            ended |= t.finish(result.clone());
        }
        ended
    }

    fn lock(&self) -> MutexGuard<'_, Shared> {
        // A test that panicked while holding the lock has failed already; the data
        // is still good for the others.
        self.shared.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn record(&self, call: FakeCall) {
        self.lock().calls.push(call);
    }

    fn live<'h>(&self, handle: &'h TaskHandle) -> Result<&'h FakeTask, DriverError> {
        handle
            .live::<FakeTask>()
            .ok_or_else(|| DriverError::ForeignHandle {
                driver: self.name.clone(),
                other: handle.state().driver.clone(),
            })
    }

    fn start_task(&self, spec: TaskSpec) -> Result<TaskHandle, DriverError> {
        let script = {
            let mut shared = self.lock();
            shared.calls.push(FakeCall::Start {
                alloc_id: spec.alloc_id.clone(),
                task: spec.task_name.clone(),
            });
            shared.started.push(spec.clone());
            shared.scripts.get(&spec.task_name).cloned()
        };
        let script = match script {
            Some(script) => script,
            None => FakeScript::from_config(&spec.task_name, &spec.driver_config)?,
        };
        if let Some(message) = &script.start_error {
            return Err(DriverError::Spawn {
                task: spec.task_name.clone(),
                command: "fake".to_owned(),
                source: std::io::Error::other(message.clone()),
            });
        }
        if !spec.logs.disabled {
            write_log(&spec, &spec.logs.stdout_base, &script.stdout)?;
            write_log(&spec, &spec.logs.stderr_base, &script.stderr)?;
        }

        let task = {
            let mut shared = self.lock();
            let pid = shared.next_pid;
            shared.next_pid += 1;
            let task = Arc::new(FakeTask::new(
                spec.alloc_id.clone(),
                spec.task_name.clone(),
                pid,
                &script.handled_signals,
            ));
            shared.tasks.insert(pid, task.clone());
            task
        };
        if let Some(after) = script.run_for {
            let ending = task.clone();
            let code = script.exit_code;
            tokio::spawn(async move {
                tokio::time::sleep(after).await;
                ending.finish(ExitResult::code(code));
            });
        }
        let state = TaskHandleState {
            driver: self.name.clone(),
            alloc_id: spec.alloc_id.clone(),
            task_name: spec.task_name.clone(),
            pid: Some(task.pid),
            start_ticks: Some(u64::from(task.pid)),
            started_at_unix_ms: 0,
            netns_path: spec.netns_path.clone(),
            driver_state: BTreeMap::new(),
        };
        Ok(TaskHandle::new(state, task))
    }

    async fn stop_task(
        &self,
        handle: &TaskHandle,
        signal: &str,
        timeout: Duration,
    ) -> Result<(), DriverError> {
        let task = self.live(handle)?;
        self.record(FakeCall::Stop {
            task: task.task_name.clone(),
            signal: signal.to_owned(),
            timeout,
        });
        let signal = if signal.trim().is_empty() {
            Signal::SIGINT
        } else {
            parse_signal(signal)?
        };
        if task.exit_now().is_some() {
            return Ok(());
        }
        if !task.handles(signal) {
            task.finish(ExitResult::signaled(signal as i32));
            return Ok(());
        }
        if tokio::time::timeout(timeout, task.exited()).await.is_err() {
            task.finish(ExitResult::signaled(Signal::SIGKILL as i32));
        }
        Ok(())
    }
}

/// Appends a script's output to a stream's log, through the real rotating writer.
fn write_log(spec: &TaskSpec, base: &std::path::Path, text: &str) -> Result<(), DriverError> {
    if text.is_empty() {
        return Ok(());
    }
    let log_error = |source| DriverError::Log {
        task: spec.task_name.clone(),
        path: base.to_path_buf(),
        source,
    };
    if let Some(dir) = base.parent() {
        std::fs::create_dir_all(dir).map_err(log_error)?;
    }
    RotatingLog::open(base, spec.logs.max_files, spec.logs.max_file_bytes())
        .and_then(|mut log| log.write(text.as_bytes()))
        .map_err(log_error)
}

impl TaskDriver for FakeDriver {
    fn name(&self) -> &str {
        &self.name
    }

    fn fingerprint(&self) -> BoxFuture<'_, DriverFingerprint> {
        Box::pin(async move { self.lock().fingerprint.clone() })
    }

    fn start(&self, spec: TaskSpec) -> BoxFuture<'_, Result<TaskHandle, DriverError>> {
        Box::pin(async move { self.start_task(spec) })
    }

    fn wait<'a>(&'a self, handle: &'a TaskHandle) -> BoxFuture<'a, ExitResult> {
        Box::pin(async move {
            match self.live(handle) {
                Ok(task) => task.exited().await,
                Err(e) => ExitResult::failed(e.to_string()),
            }
        })
    }

    fn stop<'a>(
        &'a self,
        handle: &'a TaskHandle,
        signal: &'a str,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<(), DriverError>> {
        Box::pin(self.stop_task(handle, signal, timeout))
    }

    fn signal<'a>(
        &'a self,
        handle: &'a TaskHandle,
        signal: &'a str,
    ) -> BoxFuture<'a, Result<(), DriverError>> {
        Box::pin(async move {
            let task = self.live(handle)?;
            self.record(FakeCall::Signal {
                task: task.task_name.clone(),
                signal: signal.to_owned(),
            });
            let parsed = parse_signal(signal)?;
            if task.exit_now().is_some() {
                return Err(DriverError::NotRunning {
                    task: task.task_name.clone(),
                });
            }
            if !task.handles(parsed) && terminates_by_default(parsed) {
                task.finish(ExitResult::signaled(parsed as i32));
            }
            Ok(())
        })
    }

    fn recover<'a>(
        &'a self,
        state: &'a TaskHandleState,
    ) -> BoxFuture<'a, Result<TaskHandle, DriverError>> {
        Box::pin(async move {
            self.record(FakeCall::Recover {
                task: state.task_name.clone(),
            });
            if state.driver != self.name {
                return Err(DriverError::ForeignHandle {
                    driver: self.name.clone(),
                    other: state.driver.clone(),
                });
            }
            let found = state
                .pid
                .and_then(|pid| self.lock().tasks.get(&pid).cloned());
            let task = match found {
                Some(task) if task.task_name == state.task_name && task.exit_now().is_none() => {
                    task
                }
                // Gone while the agent was down: how it ended is not known.
                _ => {
                    let gone = FakeTask::new(
                        state.alloc_id.clone(),
                        state.task_name.clone(),
                        state.pid.unwrap_or_default(),
                        &[],
                    );
                    gone.finish(ExitResult::unknown());
                    Arc::new(gone)
                }
            };
            Ok(TaskHandle::new(state.clone(), task))
        })
    }

    fn destroy<'a>(&'a self, handle: &'a TaskHandle) -> BoxFuture<'a, Result<(), DriverError>> {
        Box::pin(async move {
            let task = self.live(handle)?;
            self.record(FakeCall::Destroy {
                task: task.task_name.clone(),
            });
            task.finish(ExitResult::signaled(Signal::SIGKILL as i32));
            self.lock().tasks.remove(&task.pid);
            Ok(())
        })
    }
}
