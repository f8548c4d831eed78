//! Runs one task through its driver: builds its spec (environment, interpolated
//! config, directories, logs), starts it, waits for it, applies the restart policy,
//! stops it with its `kill_signal` and `kill_timeout`, and records its state and
//! events, sending each change to the allocation runner. Before the first start it
//! renders the task's templates (waiting until their data has arrived); while the
//! task runs, it carries out signals, user-requested restarts, `check_restart`s and
//! what re-rendered templates ask for (restart, signal, `change_script`).
//!
//! After an agent restart, a runner is spawned from the task's saved state and
//! driver handle ([`TaskRunner::spawn_restored`]): the driver `recover`s the task,
//! which is then watched, signalled, restarted and stopped like one started here; a
//! task that died meanwhile goes through the restart policy as a failure. The
//! handle of the running task is saved in the allocation's state file.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use caravan_drivers::{
    DriverError, ExitResult, LogSpec, TaskDriver, TaskHandle, TaskHandleState, TaskResources,
    TaskSpec,
};
use caravan_model::{AllocNetworkStatus, Allocation, Job, Task, TaskEvent, TaskGroup, TaskState};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use crate::checks::{HostScriptExecutor, ScriptExecutor};
use crate::clock::rfc3339_nanos;
use crate::context::{driver_inherits_host_env, driver_isolates_fs};
use crate::taskenv::group_ports;
use crate::templates::{
    TaskTemplates, TemplateAction, TemplateChanges, TemplateInputs, TemplateWatch,
};
use crate::{
    AllocDir, AllocState, ClientContext, RestartDecision, RestartTracker, TaskEnv, TaskEnvInputs,
    TaskOutcome,
};

/// Nomad's default `kill_timeout`.
const DEFAULT_KILL_TIMEOUT: Duration = Duration::from_secs(5);
/// Nomad's default `change_script.timeout`.
const DEFAULT_SCRIPT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a task waits for its templates' data before an event says what is
/// missing.
const MISSING_NOTICE: Duration = Duration::from_secs(5);

/// Why a request to a running task could not be carried out.
#[derive(Debug, thiserror::Error)]
pub enum TaskRunnerError {
    /// The task is not running now (not started yet, between restarts, or dead).
    #[error("task {task:?} is not running")]
    NotRunning { task: String },
    #[error("task {task:?}: {source}")]
    Driver {
        task: String,
        #[source]
        source: DriverError,
    },
}

/// What a running task is asked to do besides stopping.
#[derive(Debug)]
enum TaskCmd {
    Signal {
        signal: String,
        reply: oneshot::Sender<Result<(), TaskRunnerError>>,
    },
    Restart {
        /// The `restart_reason`, as the events give it.
        reason: String,
        reply: oneshot::Sender<Result<(), TaskRunnerError>>,
    },
}

/// A task's new state, sent after every event.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskUpdate {
    pub task: String,
    pub state: TaskState,
}

/// Why a task is being killed, recorded as an event before `Killing`
/// (e.g. `Sibling Task Failed`); `None` for a plain stop.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KillRequest {
    pub event: Option<(String, String)>,
}

/// Everything one task runner needs.
#[derive(Debug, Clone)]
pub struct TaskRunnerConfig {
    pub alloc: Arc<Allocation>,
    pub job: Arc<Job>,
    pub group: Arc<TaskGroup>,
    pub task: Task,
    pub driver: Arc<dyn TaskDriver>,
    pub client: Arc<ClientContext>,
    pub alloc_dir: AllocDir,
    /// Set in bridge mode by the network hook.
    pub network_status: Option<AllocNetworkStatus>,
    /// The allocation's network namespace (bridge mode): raw_exec runs inside it.
    pub netns_path: Option<PathBuf>,
    /// The container holding that namespace: docker tasks join it, unless their
    /// own `network_mode` says otherwise.
    pub network_container: Option<String>,
    /// The output of `template { env = true }`, over everything else.
    pub template_env: BTreeMap<String, String>,
    /// Where the running task's driver handle is saved, so a restarted agent can
    /// recover it; `None`: not saved.
    pub state_file: Option<Arc<AllocState>>,
}

/// What an earlier run of the agent left of a task: its state, and the driver
/// handle of the task if it was running.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RestoredTask {
    pub state: TaskState,
    pub handle: Option<TaskHandleState>,
}

/// Runs one task until it is dead for good.
#[derive(Debug)]
pub struct TaskRunner {
    cfg: TaskRunnerConfig,
    state: TaskState,
    tracker: RestartTracker,
    jitter: Jitter,
    updates: mpsc::UnboundedSender<TaskUpdate>,
    kill: watch::Receiver<Option<KillRequest>>,
    cmds: mpsc::UnboundedReceiver<TaskCmd>,
    /// The output of the `env = true` templates, kept current by their watch.
    rendered_env: Arc<Mutex<BTreeMap<String, String>>>,
    /// What the templates' watch asks for, and the sender it is given.
    template_actions: mpsc::UnboundedReceiver<TemplateAction>,
    template_actions_tx: mpsc::UnboundedSender<TemplateAction>,
    /// Re-renders the templates while the runner lives.
    template_watch: Option<TemplateWatch>,
    /// Set for a runner spawned after an agent restart.
    restored: Option<RestoredTask>,
}

/// The allocation runner's grip on a spawned task runner.
#[derive(Debug)]
pub struct TaskRunnerHandle {
    task: String,
    kill: watch::Sender<Option<KillRequest>>,
    cmds: mpsc::UnboundedSender<TaskCmd>,
    join: JoinHandle<TaskState>,
}

impl TaskRunnerHandle {
    pub fn task(&self) -> &str {
        &self.task
    }

    /// Asks the task to stop; it is killed once, however often this is called.
    pub fn kill(&self, request: KillRequest) {
        self.kill.send_if_modified(|current| {
            if current.is_some() {
                return false;
            }
            *current = Some(request);
            true
        });
    }

    /// Sends `signal` (e.g. `"SIGHUP"`) to the running task through its driver. The
    /// returned future resolves once the driver has sent it; it does not borrow the
    /// handle, so the caller need not hold the allocation runner meanwhile.
    pub fn signal(
        &self,
        signal: String,
    ) -> impl Future<Output = Result<(), TaskRunnerError>> + Send + 'static {
        self.request(|reply| TaskCmd::Signal { signal, reply })
    }

    /// Stops the running task (with its `kill_signal` and `kill_timeout`) and starts
    /// it again at once, outside the restart policy: a user's restart is no failure.
    /// Resolves once the task has been stopped.
    pub fn restart(&self) -> impl Future<Output = Result<(), TaskRunnerError>> + Send + 'static {
        self.restart_because(USER_RESTART_REASON.to_owned())
    }

    /// [`TaskRunnerHandle::restart`] for another reason than a user's (a check's
    /// `check_restart`), recorded in the task's events.
    pub fn restart_because(
        &self,
        reason: String,
    ) -> impl Future<Output = Result<(), TaskRunnerError>> + Send + 'static {
        self.request(|reply| TaskCmd::Restart { reason, reply })
    }

    fn request(
        &self,
        cmd: impl FnOnce(oneshot::Sender<Result<(), TaskRunnerError>>) -> TaskCmd,
    ) -> impl Future<Output = Result<(), TaskRunnerError>> + Send + 'static {
        let (reply, answer) = oneshot::channel();
        // A runner that is gone drops the command, and with it the reply: both read
        // as "not running".
        let _queued = self.cmds.send(cmd(reply));
        let task = self.task.clone();
        async move {
            answer
                .await
                .unwrap_or(Err(TaskRunnerError::NotRunning { task }))
        }
    }

    /// The task's final state, once it is dead for good.
    pub async fn wait(self) -> Option<TaskState> {
        self.join.await.ok()
    }

    /// Ends the runner at once and leaves the task as it is (running or not): the
    /// agent is going away, and the next one recovers the task from its saved
    /// handle. Returns once the runner has ended.
    pub async fn detach(self) {
        self.join.abort();
        let _ended = self.join.await;
    }
}

impl TaskRunner {
    /// Spawns the runner on the current tokio runtime; every state change is sent to
    /// `updates`.
    pub fn spawn(
        cfg: TaskRunnerConfig,
        updates: mpsc::UnboundedSender<TaskUpdate>,
    ) -> TaskRunnerHandle {
        Self::spawn_inner(cfg, updates, None)
    }

    /// Spawns the runner of a task an earlier run of the agent ran: it goes on from
    /// `restored` (its state, and its handle if it was running) instead of starting
    /// the task anew.
    pub fn spawn_restored(
        cfg: TaskRunnerConfig,
        updates: mpsc::UnboundedSender<TaskUpdate>,
        restored: RestoredTask,
    ) -> TaskRunnerHandle {
        Self::spawn_inner(cfg, updates, Some(restored))
    }

    fn spawn_inner(
        cfg: TaskRunnerConfig,
        updates: mpsc::UnboundedSender<TaskUpdate>,
        restored: Option<RestoredTask>,
    ) -> TaskRunnerHandle {
        let (kill_tx, kill_rx) = watch::channel(None);
        let (cmds_tx, cmds_rx) = mpsc::unbounded_channel();
        let task = cfg.task.name.clone();
        let mut runner = TaskRunner::new(cfg, updates, kill_rx, cmds_rx);
        runner.restored = restored;
        TaskRunnerHandle {
            task,
            kill: kill_tx,
            cmds: cmds_tx,
            join: tokio::spawn(runner.run()),
        }
    }

    fn new(
        cfg: TaskRunnerConfig,
        updates: mpsc::UnboundedSender<TaskUpdate>,
        kill: watch::Receiver<Option<KillRequest>>,
        cmds: mpsc::UnboundedReceiver<TaskCmd>,
    ) -> Self {
        let policy = cfg
            .task
            .restart_policy
            .as_ref()
            .or(cfg.group.restart_policy.as_ref());
        let tracker = RestartTracker::for_task(policy, cfg.job.kind(), cfg.task.lifecycle.as_ref());
        let jitter = Jitter::seeded(&format!("{}/{}", cfg.alloc.id, cfg.task.name));
        let state = TaskState {
            state: "pending".to_owned(),
            ..TaskState::default()
        };
        let (template_actions_tx, template_actions) = mpsc::unbounded_channel();
        Self {
            cfg,
            state,
            tracker,
            jitter,
            updates,
            kill,
            cmds,
            rendered_env: Arc::default(),
            template_actions,
            template_actions_tx,
            template_watch: None,
            restored: None,
        }
    }

    /// The pending state a task has before its runner reports anything.
    pub fn initial_state() -> TaskState {
        TaskState {
            state: "pending".to_owned(),
            ..TaskState::default()
        }
    }

    async fn run(mut self) -> TaskState {
        let mut next = Next::Start;
        match self.restored.take() {
            None => {
                self.event("Received", "Task received by client", |_| {});
                self.event("Task Setup", "Building Task Directory", |_| {});
            }
            Some(restored) => {
                self.state = restored.state;
                if let Some(saved) = restored.handle {
                    next = self.recover(&saved).await;
                }
            }
        }
        let has_templates = !self.cfg.task.templates.is_empty();
        if has_templates && matches!(next, Next::Recovered(_)) {
            // The task runs with the files an earlier agent wrote: they are
            // rendered again and only a difference is acted on.
            self.resume_templates();
        } else if has_templates && !self.prestart_templates().await {
            return self.state;
        }
        loop {
            let started = match std::mem::replace(&mut next, Next::Start) {
                // A recovered task is running: a kill reaches it through `watch`.
                Next::Recovered(handle) => Ok(handle),
                // It died while no agent watched it: an exit, code unknown.
                Next::Lost => Err(None),
                Next::Start => {
                    if let Some(request) = self.kill_requested() {
                        self.record_kill_reason(&request);
                        self.finish("Killed", "Task successfully killed", false);
                        break;
                    }
                    self.start().await.map_err(Some)
                }
            };
            let outcome = match started {
                Err(None) => outcome_of(&ExitResult::unknown()),
                Err(Some(err)) => {
                    let recoverable = is_recoverable(&err);
                    let message = err.to_string();
                    self.event("Driver Failure", &message, |e| {
                        e.details.insert("driver_error".to_owned(), message.clone());
                    });
                    TaskOutcome::StartFailed { recoverable }
                }
                Ok(handle) => match self.watch_saved(&handle).await {
                    Watched::Exited(exit) => {
                        self.destroy(&handle).await;
                        self.record_exit(&exit);
                        outcome_of(&exit)
                    }
                    Watched::Killed => {
                        self.destroy(&handle).await;
                        self.finish("Killed", "Task successfully killed", false);
                        break;
                    }
                    Watched::Restarted(reason, reply) => {
                        self.destroy(&handle).await;
                        self.restarting(Duration::ZERO, &reason);
                        let _told = reply.send(Ok(()));
                        continue;
                    }
                    Watched::TemplateRestart => {
                        self.destroy(&handle).await;
                        self.restarting(Duration::ZERO, TEMPLATE_RESTART_REASON);
                        continue;
                    }
                    Watched::TemplateFailed(message) => {
                        self.destroy(&handle).await;
                        self.template_failed(&message);
                        break;
                    }
                },
            };
            let now = self.cfg.client.clock.now_unix_ns();
            let decision = self
                .tracker
                .on_exit(outcome, now, self.jitter.next_fraction());
            let reason = self.tracker.describe(&decision);
            match decision {
                RestartDecision::Done => {
                    self.finish_state(false);
                    break;
                }
                RestartDecision::Fail { .. } => {
                    self.event("Not Restarting", &reason, |e| {
                        e.details.insert("fails_task".to_owned(), "true".to_owned());
                        e.details
                            .insert("restart_reason".to_owned(), reason.clone());
                    });
                    self.finish_state(true);
                    break;
                }
                RestartDecision::Restart { after } | RestartDecision::WaitForInterval { after } => {
                    self.restarting(after, &reason);
                    if !self.sleep_unless_killed(after).await {
                        break;
                    }
                }
            }
        }
        self.state
    }

    /// Records a coming restart: the count, the time, and a `Restarting` event.
    fn restarting(&mut self, after: Duration, reason: &str) {
        let message = format!(
            "Task restarting in {}",
            caravan_model::Duration::from(after)
        );
        let now = self.cfg.client.clock.now_unix_ns();
        self.state.restarts += 1;
        self.state.last_restart = Some(rfc3339_nanos(now));
        self.state.state = "pending".to_owned();
        self.event("Restarting", &message, |e| {
            e.details
                .insert("restart_reason".to_owned(), reason.to_owned());
            e.details
                .insert("start_delay".to_owned(), after.as_nanos().to_string());
        });
    }

    /// Waits out a restart delay; false if a kill came meanwhile (the task is then
    /// finished). Requests for the running task are refused: there is none.
    async fn sleep_unless_killed(&mut self, after: Duration) -> bool {
        let sleep = tokio::time::sleep(after);
        tokio::pin!(sleep);
        loop {
            tokio::select! {
                () = &mut sleep => return true,
                request = wait_for_kill(&mut self.kill) => {
                    self.record_kill_reason(&request);
                    self.finish("Killed", "Task successfully killed", false);
                    return false;
                }
                Some(cmd) = self.cmds.recv() => self.refuse(cmd),
                // Not running: the next start reads the new files anyway.
                Some(action) = self.template_actions.recv() => {
                    if let TemplateAction::Fail(message) = action {
                        self.template_failed(&message);
                        return false;
                    }
                }
            }
        }
    }

    /// Renders the task's templates before its first start, waiting until every one
    /// has its data; then keeps them current. False when the task is finished
    /// instead: a template failed (the task fails), or a kill came meanwhile.
    async fn prestart_templates(&mut self) -> bool {
        let inputs = self.template_inputs();
        let mut templates = match TaskTemplates::new(&self.cfg.task.templates, inputs) {
            Ok(t) => t,
            Err(e) => {
                self.template_failed(&e.to_string());
                return false;
            }
        };
        let mut changes = templates.subscribe();
        let notice = tokio::time::sleep(MISSING_NOTICE);
        tokio::pin!(notice);
        let mut noticed = false;
        loop {
            let report = match templates.render() {
                Ok(report) => report,
                Err(e) => {
                    self.template_failed(&e.to_string());
                    return false;
                }
            };
            if report.missing.is_empty() {
                break;
            }
            tokio::select! {
                changed = wait_changed(changes.as_mut()) => {
                    if !changed {
                        changes = None;
                    }
                }
                request = wait_for_kill(&mut self.kill) => {
                    self.record_kill_reason(&request);
                    self.finish("Killed", "Task successfully killed", false);
                    return false;
                }
                Some(cmd) = self.cmds.recv() => self.refuse(cmd),
                () = &mut notice, if !noticed => {
                    noticed = true;
                    let missing: Vec<String> =
                        report.missing.iter().map(ToString::to_string).collect();
                    let message = format!("Missing: {}", missing.join(", "));
                    self.event("Template", &message, |_| {});
                }
            }
        }
        match templates.env() {
            Ok(vars) => *self.lock_rendered_env() = vars,
            Err(e) => {
                self.template_failed(&e.to_string());
                return false;
            }
        }
        let seed = format!("{}/{}/templates", self.cfg.alloc.id, self.cfg.task.name);
        self.template_watch = TemplateWatch::spawn(
            templates,
            self.rendered_env.clone(),
            &seed,
            self.template_actions_tx.clone(),
        );
        true
    }

    /// What the task's templates are rendered with: its environment without the
    /// agent's own variables (Nomad masks them), and the catalog and KV caches.
    fn template_inputs(&self) -> TemplateInputs {
        let cfg = &self.cfg;
        let env = {
            let mut inputs = TaskEnvInputs::new(
                &cfg.alloc,
                &cfg.job,
                &cfg.group,
                &cfg.task,
                &cfg.client.node,
                cfg.alloc_dir.path(),
            );
            inputs.region = &cfg.client.region;
            inputs.isolated = driver_isolates_fs(&cfg.task.driver);
            inputs.network_status = cfg.network_status.as_ref();
            TaskEnv::build(&inputs)
        };
        let namespace = if cfg.alloc.namespace.is_empty() {
            "default".to_owned()
        } else {
            cfg.alloc.namespace.clone()
        };
        TemplateInputs {
            task_dir: cfg.alloc_dir.task_dir(&cfg.task.name).dir,
            env,
            namespace,
            region: cfg.client.region.clone(),
            datacenter: cfg.client.node.datacenter.clone(),
            catalog: cfg.client.services.clone(),
            kv: cfg.client.kv.clone(),
        }
    }

    /// Fails the task for a template: Nomad's `Template failed: ...` event.
    fn template_failed(&mut self, message: &str) {
        let message = format!("Template failed: {message}");
        self.event("Task hook failed", &message, |e| {
            e.details.insert("fails_task".to_owned(), "true".to_owned());
        });
        self.finish_state(true);
    }

    fn lock_rendered_env(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, String>> {
        self.rendered_env
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn refuse(&self, cmd: TaskCmd) {
        let not_running = Err(TaskRunnerError::NotRunning {
            task: self.cfg.task.name.clone(),
        });
        let _told = match cmd {
            TaskCmd::Signal { reply, .. } | TaskCmd::Restart { reply, .. } => {
                reply.send(not_running)
            }
        };
    }

    /// Builds the spec and asks the driver to start the task.
    async fn start(&mut self) -> Result<TaskHandle, DriverError> {
        let spec = self.spec();
        let handle = self.cfg.driver.start(spec).await?;
        let now = self.cfg.client.clock.now_unix_ns();
        self.state.state = "running".to_owned();
        self.state.started_at = Some(rfc3339_nanos(now));
        self.state.finished_at = None;
        self.event("Started", "Task started by client", |_| {});
        Ok(handle)
    }

    /// Re-attaches to the task an earlier agent ran, from its saved handle.
    async fn recover(&mut self, saved: &TaskHandleState) -> Next {
        match self.cfg.driver.recover(saved).await {
            Ok(handle) => {
                self.save_handle(Some(handle.state()));
                Next::Recovered(handle)
            }
            Err(err) => {
                let message = format!("failed to restore the task: {err}");
                self.event("Failed Restoring Task", &message, |e| {
                    e.details.insert("driver_error".to_owned(), err.to_string());
                });
                self.save_handle(None);
                Next::Lost
            }
        }
    }

    /// [`TaskRunner::watch`], with the handle saved while the task runs.
    async fn watch_saved(&mut self, handle: &TaskHandle) -> Watched {
        self.save_handle(Some(handle.state()));
        let watched = self.watch(handle).await;
        self.save_handle(None);
        watched
    }

    /// Records the running task's driver handle (or that none runs) in the
    /// allocation's state file.
    fn save_handle(&self, handle: Option<&TaskHandleState>) {
        let Some(file) = &self.cfg.state_file else {
            return;
        };
        let name = &self.cfg.task.name;
        file.record(|saved| match handle {
            Some(handle) => {
                saved.handles.insert(name.clone(), handle.clone());
            }
            None => {
                saved.handles.remove(name);
            }
        });
    }

    /// Keeps the templates of a recovered task current without a first blocking
    /// render: the files in place count as written, so only a template whose
    /// output now differs triggers its `change_mode`.
    fn resume_templates(&mut self) {
        let inputs = self.template_inputs();
        let mut templates = match TaskTemplates::new(&self.cfg.task.templates, inputs) {
            Ok(t) => t,
            Err(e) => {
                let _queued = self
                    .template_actions_tx
                    .send(TemplateAction::Fail(e.to_string()));
                return;
            }
        };
        templates.adopt_written();
        match templates.env() {
            Ok(vars) => *self.lock_rendered_env() = vars,
            Err(e) => {
                let _queued = self
                    .template_actions_tx
                    .send(TemplateAction::Fail(e.to_string()));
                return;
            }
        }
        let seed = format!("{}/{}/templates", self.cfg.alloc.id, self.cfg.task.name);
        self.template_watch = TemplateWatch::spawn(
            templates,
            self.rendered_env.clone(),
            &seed,
            self.template_actions_tx.clone(),
        );
    }

    /// Waits for the task to exit, or for a kill request, whichever comes first;
    /// carries out signals meanwhile, and stops the task for a restart.
    async fn watch(&mut self, handle: &TaskHandle) -> Watched {
        let driver = self.cfg.driver.clone();
        loop {
            let cmd = tokio::select! {
                exit = driver.wait(handle) => return Watched::Exited(exit),
                request = wait_for_kill(&mut self.kill) => {
                    self.record_kill_reason(&request);
                    self.wait_shutdown_delay().await;
                    self.kill_running(handle).await;
                    return Watched::Killed;
                }
                Some(cmd) = self.cmds.recv() => cmd,
                Some(action) = self.template_actions.recv() => {
                    match self.template_action(handle, action).await {
                        Some(watched) => return watched,
                        None => continue,
                    }
                }
            };
            match cmd {
                TaskCmd::Signal { signal, reply } => {
                    let message = format!("Task being sent signal {signal}");
                    self.event("Signaling", &message, |e| {
                        e.details.insert("signal".to_owned(), signal.clone());
                    });
                    let sent = driver.signal(handle, &signal).await.map_err(|source| {
                        TaskRunnerError::Driver {
                            task: self.cfg.task.name.clone(),
                            source,
                        }
                    });
                    let _told = reply.send(sent);
                }
                TaskCmd::Restart { reason, reply } => {
                    self.event("Restart Signaled", &reason, |e| {
                        e.details
                            .insert("restart_reason".to_owned(), reason.clone());
                    });
                    self.kill_running(handle).await;
                    return Watched::Restarted(reason, reply);
                }
            }
        }
    }

    /// Carries out what a re-rendered template asks of the running task; returns how
    /// the task ended if it did.
    async fn template_action(
        &mut self,
        handle: &TaskHandle,
        action: TemplateAction,
    ) -> Option<Watched> {
        match action {
            TemplateAction::Restart => {
                self.event("Restart Signaled", TEMPLATE_RESTART_REASON, |e| {
                    e.details.insert(
                        "restart_reason".to_owned(),
                        TEMPLATE_RESTART_REASON.to_owned(),
                    );
                });
                self.kill_running(handle).await;
                Some(Watched::TemplateRestart)
            }
            TemplateAction::Signal(signal) => {
                self.event("Signaling", "Template re-rendered", |e| {
                    e.details.insert("signal".to_owned(), signal.clone());
                });
                if let Err(err) = self.cfg.driver.signal(handle, &signal).await {
                    let message = format!("Template failed to send signal {signal}: {err}");
                    self.event("Signaling", &message, |_| {});
                }
                None
            }
            TemplateAction::Script(script) => {
                if !self.run_change_script(&script).await {
                    return None;
                }
                self.kill_running(handle).await;
                Some(Watched::TemplateFailed(format!(
                    "change_script {:?} failed",
                    script.command.unwrap_or_default()
                )))
            }
            TemplateAction::Fail(message) => {
                self.kill_running(handle).await;
                Some(Watched::TemplateFailed(message))
            }
        }
    }

    /// Runs a template's `change_script` in the task (raw_exec: on the host, in the
    /// task directory with the task's environment); true when it failed and
    /// `fail_on_error` asks for the task to fail. Other drivers cannot run commands
    /// in their tasks yet, which counts as a failure.
    async fn run_change_script(&mut self, script: &caravan_model::ChangeScript) -> bool {
        let command = script.command.clone().unwrap_or_default();
        let args = &script.args;
        let timeout = script
            .timeout
            .map_or(DEFAULT_SCRIPT_TIMEOUT, |d| d.to_std());
        let ran = if self.cfg.task.driver == "raw_exec" {
            let dir = self.cfg.alloc_dir.task_dir(&self.cfg.task.name).dir;
            let executor = HostScriptExecutor::new(dir, self.env().into_env());
            executor
                .exec(&command, args, timeout)
                .await
                .map_err(|e| e.to_string())
        } else {
            Err(format!(
                "the {} driver cannot run commands in its tasks",
                self.cfg.task.driver
            ))
        };
        let (message, failed) = match ran {
            Ok(done) if done.exit_code == 0 => (
                format!(
                    "Template successfully ran script from {command} with arguments: {args:?}. The script exited with code: 0"
                ),
                false,
            ),
            Ok(done) => (
                format!(
                    "Template ran script {command} with arguments {args:?} on change but it exited with code code: {}",
                    done.exit_code
                ),
                true,
            ),
            Err(e) => (
                format!(
                    "Template failed to run script {command} with arguments {args:?} on change: {e}"
                ),
                true,
            ),
        };
        self.event("Template", &message, |_| {});
        failed && script.fail_on_error == Some(true)
    }

    /// Waits the task's `shutdown_delay` (e.g. for its service to be deregistered).
    async fn wait_shutdown_delay(&mut self) {
        let delay = self.cfg.task.shutdown_delay.to_std();
        if !delay.is_zero() {
            let message = format!(
                "Waiting for shutdown_delay of {} before killing the task.",
                self.cfg.task.shutdown_delay
            );
            self.event("Waiting for shutdown delay", &message, |_| {});
            tokio::time::sleep(delay).await;
        }
    }

    /// Stops the task with its `kill_signal`, force-kills it after `kill_timeout`,
    /// and records how it exited.
    async fn kill_running(&mut self, handle: &TaskHandle) {
        let driver = self.cfg.driver.clone();
        let timeout = self.kill_timeout();
        let signal = self.kill_signal();
        let message = format!(
            "Sent interrupt. Waiting {} before force killing",
            caravan_model::Duration::from(timeout)
        );
        self.event("Killing", &message, |e| {
            e.details
                .insert("kill_timeout".to_owned(), timeout.as_nanos().to_string());
        });
        if let Err(err) = driver.stop(handle, &signal, timeout).await {
            let message = err.to_string();
            self.event(
                "Killing",
                &format!("Failed to stop the task: {message}"),
                |e| {
                    e.details.insert("kill_error".to_owned(), message.clone());
                },
            );
        }
        let exit = driver.wait(handle).await;
        self.record_exit(&exit);
    }

    async fn destroy(&self, handle: &TaskHandle) {
        // The task has exited; destroying releases what the driver holds. A failure
        // here cannot change the task's outcome, so it is not an event.
        let _released = self.cfg.driver.destroy(handle).await;
    }

    fn kill_requested(&self) -> Option<KillRequest> {
        self.kill.borrow().clone()
    }

    fn record_kill_reason(&mut self, request: &KillRequest) {
        if let Some((kind, message)) = &request.event {
            self.event(kind, message, |_| {});
        }
    }

    fn record_exit(&mut self, exit: &ExitResult) {
        let mut message = match exit.exit_code {
            Some(code) => format!("Exit Code: {code}"),
            None => "Exit Code: unknown".to_owned(),
        };
        if let Some(signal) = exit.signal {
            message.push_str(&format!(", Signal: {signal}"));
        }
        if exit.oom_killed {
            message.push_str(", OOM Killed");
        }
        if let Some(err) = &exit.err {
            message.push_str(&format!(", Exit Message: {err:?}"));
        }
        self.event("Terminated", &message, |e| {
            e.exit_code = exit.exit_code.map(i64::from);
            e.signal = exit.signal.map(i64::from);
            e.details.insert(
                "exit_code".to_owned(),
                exit.exit_code.map_or_else(String::new, |c| c.to_string()),
            );
            e.details.insert(
                "signal".to_owned(),
                exit.signal.map_or_else(String::new, |s| s.to_string()),
            );
            e.details
                .insert("oom_killed".to_owned(), exit.oom_killed.to_string());
        });
    }

    fn finish(&mut self, kind: &str, message: &str, failed: bool) {
        let now = self.cfg.client.clock.now_unix_ns();
        self.state.state = "dead".to_owned();
        self.state.failed = failed;
        self.state.finished_at = Some(rfc3339_nanos(now));
        self.event(kind, message, |_| {});
    }

    /// Dead, with no event of its own (the last one says why).
    fn finish_state(&mut self, failed: bool) {
        let now = self.cfg.client.clock.now_unix_ns();
        self.state.state = "dead".to_owned();
        self.state.failed = failed;
        self.state.finished_at = Some(rfc3339_nanos(now));
        self.send();
    }

    /// Records an event and sends the new state.
    fn event(&mut self, kind: &str, message: &str, fill: impl FnOnce(&mut TaskEvent)) {
        let mut event = TaskEvent {
            event_type: kind.to_owned(),
            time: self.cfg.client.clock.now_unix_ns(),
            display_message: message.to_owned(),
            ..TaskEvent::default()
        };
        fill(&mut event);
        self.state.events.push(event);
        self.send();
    }

    fn send(&self) {
        // The allocation runner outlives its task runners; if it is gone, nobody is
        // left to tell.
        let _sent = self.updates.send(TaskUpdate {
            task: self.cfg.task.name.clone(),
            state: self.state.clone(),
        });
    }

    fn kill_timeout(&self) -> Duration {
        let asked = self
            .cfg
            .task
            .kill_timeout
            .map_or(DEFAULT_KILL_TIMEOUT, |d| d.to_std());
        asked.min(self.cfg.client.max_kill_timeout)
    }

    /// The task's `kill_signal`, interpolated; empty means the driver's default.
    fn kill_signal(&self) -> String {
        self.env().interpolate(&self.cfg.task.kill_signal)
    }

    fn env(&self) -> TaskEnv {
        let cfg = &self.cfg;
        let mut inputs = TaskEnvInputs::new(
            &cfg.alloc,
            &cfg.job,
            &cfg.group,
            &cfg.task,
            &cfg.client.node,
            cfg.alloc_dir.path(),
        );
        inputs.region = &cfg.client.region;
        inputs.isolated = driver_isolates_fs(&cfg.task.driver);
        inputs.network_status = cfg.network_status.as_ref();
        if driver_inherits_host_env(&cfg.task.driver) {
            inputs.host_env = cfg.client.host_env.clone();
        }
        inputs.template_env = cfg.template_env.clone();
        inputs.template_env.extend(
            self.lock_rendered_env()
                .iter()
                .map(|(k, v)| (k.clone(), v.clone())),
        );
        TaskEnv::build(&inputs)
    }

    /// The fully resolved spec the driver starts.
    fn spec(&self) -> TaskSpec {
        let cfg = &self.cfg;
        let env = self.env();
        let mut spec = TaskSpec::new(cfg.alloc.id.clone(), &cfg.task.name, cfg.alloc_dir.path());
        spec.driver_config = env.interpolate_config(&cfg.task.config);
        let user = env.interpolate(&cfg.task.user);
        spec.user = (!user.is_empty()).then_some(user);
        spec.logs = LogSpec::new(
            &spec.dirs.log_dir,
            &cfg.task.name,
            cfg.task.log_config.as_ref(),
        );
        spec.resources = self.resources();
        spec.netns_path = cfg.netns_path.clone();
        spec.network_container = cfg.network_container.clone();
        spec.no_network = cfg.group.network().is_some_and(|n| n.mode() == "none");
        spec.ports = group_ports(&cfg.alloc, &cfg.client.node);
        spec.env = env.into_env();
        spec
    }

    fn resources(&self) -> TaskResources {
        let cfg = &self.cfg;
        match cfg.alloc.allocated_resources.tasks.get(&cfg.task.name) {
            Some(r) => {
                let v = |x: i64| u64::try_from(x).unwrap_or(0);
                TaskResources {
                    cpu_mhz: v(r.cpu.cpu_shares),
                    memory_mb: v(r.memory.memory_mb),
                    memory_max_mb: v(r.memory.memory_max_mb),
                }
            }
            None => cfg
                .task
                .resources
                .as_ref()
                .map(TaskResources::from_model)
                .unwrap_or_default(),
        }
    }
}

/// What the runner's loop does first.
enum Next {
    Start,
    /// Go on watching a task recovered after an agent restart.
    Recovered(TaskHandle),
    /// The task could not be recovered: it died while no agent ran.
    Lost,
}

enum Watched {
    Exited(ExitResult),
    Killed,
    /// Stopped for a restart (a user's, a check's), for this reason; the reply is
    /// sent once it is recorded.
    Restarted(String, oneshot::Sender<Result<(), TaskRunnerError>>),
    /// Stopped to start again with re-rendered templates.
    TemplateRestart,
    /// Stopped because a template failed.
    TemplateFailed(String),
}

/// Nomad's reason for a restart asked through the API.
const USER_RESTART_REASON: &str = "User requested task to restart";
/// Nomad's reason for a restart by a template's `change_mode`.
const TEMPLATE_RESTART_REASON: &str = "Template with change_mode restart re-rendered";

/// Resolves with the kill request; a dropped handle counts as a plain stop, so a
/// task is never left running without anyone to stop it.
async fn wait_for_kill(kill: &mut watch::Receiver<Option<KillRequest>>) -> KillRequest {
    match kill.wait_for(Option::is_some).await {
        Ok(request) => request.clone().unwrap_or_default(),
        Err(_) => KillRequest::default(),
    }
}

/// Resolves when the catalog or KV cache changed (true), or when both are gone
/// (false); never without one.
async fn wait_changed(changes: Option<&mut TemplateChanges>) -> bool {
    match changes {
        Some(changes) => changes.changed().await,
        None => std::future::pending().await,
    }
}

fn outcome_of(exit: &ExitResult) -> TaskOutcome {
    if exit.successful() {
        return TaskOutcome::exited(0);
    }
    // Not a success (a driver error, an OOM kill, an unknown code): never read as 0.
    TaskOutcome::Exited {
        exit_code: exit.exit_code.filter(|c| *c != 0).map_or(-1, i64::from),
        signal: exit.signal.map(i64::from),
    }
}

/// Errors in the task's own definition will not go away with a retry.
fn is_recoverable(err: &DriverError) -> bool {
    !matches!(
        err,
        DriverError::MissingConfig { .. }
            | DriverError::InvalidConfig { .. }
            | DriverError::UnknownSignal(_)
            | DriverError::UnknownUser { .. }
            | DriverError::ForeignHandle { .. }
            | DriverError::BadState { .. }
    )
}

/// A small deterministic generator for restart jitter (splitmix64), seeded per task
/// so that runs are reproducible.
#[derive(Debug, Clone)]
pub(crate) struct Jitter(u64);

impl Jitter {
    pub(crate) fn seeded(key: &str) -> Self {
        // FNV-1a over the key.
        let seed = key.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        });
        Self(seed)
    }

    pub(crate) fn next_fraction(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_is_a_reproducible_fraction() {
        let mut a = Jitter::seeded("a1/web");
        let mut b = Jitter::seeded("a1/web");
        for _ in 0..1000 {
            let x = a.next_fraction();
            assert!((0.0..1.0).contains(&x));
            assert_eq!(x.to_bits(), b.next_fraction().to_bits());
        }
        assert_ne!(
            Jitter::seeded("a1/web").next_fraction(),
            Jitter::seeded("a1/db").next_fraction()
        );
    }

    #[test]
    fn only_a_clean_exit_is_a_success() {
        assert!(outcome_of(&ExitResult::code(0)).is_success());
        assert!(!outcome_of(&ExitResult::code(2)).is_success());
        assert!(!outcome_of(&ExitResult::signaled(9)).is_success());
        assert!(!outcome_of(&ExitResult::unknown()).is_success());
        let mut oom = ExitResult::code(0);
        oom.oom_killed = true;
        assert!(!outcome_of(&oom).is_success());
        assert!(!outcome_of(&ExitResult::failed("lost")).is_success());
    }

    #[test]
    fn definition_errors_are_not_recoverable() {
        let missing = DriverError::MissingConfig {
            task: "t".into(),
            key: "command",
        };
        assert!(!is_recoverable(&missing));
        let spawn = DriverError::Spawn {
            task: "t".into(),
            command: "x".into(),
            source: std::io::Error::other("busy"),
        };
        assert!(is_recoverable(&spawn));
    }
}
