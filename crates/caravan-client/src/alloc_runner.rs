//! Runs one allocation: its hooks in order (allocation directory, network), then its
//! tasks through the lifecycle ([`Lifecycle`]), reporting an [`AllocUpdate`] after
//! every change. Its services are registered while their tasks run, with their
//! checks' health ([`ServiceRegistrar`]), and taken out of the catalog before the
//! tasks are stopped; `stop` brings the tasks down in reverse lifecycle order and runs
//! the poststop tasks; `destroy` also removes what the hooks made. `signal` and
//! `restart_task` reach running tasks through their runners.
//!
//! Dropping an `AllocRunner` without stopping it stops the allocation: a task is
//! never left running with nobody to stop it.

use std::collections::BTreeMap;
use std::sync::Arc;

use caravan_model::{AllocId, Allocation, Job, TaskEvent, TaskGroup, TaskState};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use crate::checks::{HostScriptExecutor, LiveProber, Prober, RestartRequest};
use crate::context::driver_isolates_fs;
use crate::hooks::{AllocHook, AllocHookContext, AllocHookError, default_hooks};
use crate::lifecycle::{Lifecycle, LifecycleAction, ShutdownReason};
use crate::services::{PlanInputs, RegistrarDeps, ServiceRegistrar, plan_services};
use crate::task_runner::{
    KillRequest, TaskRunner, TaskRunnerConfig, TaskRunnerError, TaskRunnerHandle, TaskUpdate,
};
use crate::{AllocDir, AllocDirError, AllocUpdate, BoxFuture, ClientContext};
use crate::{TaskEnv, TaskEnvInputs};

/// Why an allocation could not be run or cleaned up.
#[derive(Debug, thiserror::Error)]
pub enum AllocRunnerError {
    #[error("allocation {alloc_id} carries no job")]
    MissingJob { alloc_id: AllocId },
    #[error("allocation {alloc_id}: job has no group {group:?}")]
    MissingGroup { alloc_id: AllocId, group: String },
    #[error(transparent)]
    AllocDir(#[from] AllocDirError),
    #[error("{hook} hook: {source}")]
    Hook {
        hook: &'static str,
        #[source]
        source: AllocHookError,
    },
    #[error("the runner of allocation {alloc_id} ended abnormally")]
    Aborted { alloc_id: AllocId },
    #[error("task {task:?} not found in allocation {alloc_id}")]
    UnknownTask { alloc_id: AllocId, task: String },
    /// A request for every running task, when none runs.
    #[error("allocation {alloc_id} has no running task")]
    NothingRunning { alloc_id: AllocId },
    /// The tasks have finished, or are still being set up.
    #[error("allocation {alloc_id} is not running its tasks")]
    NotRunning { alloc_id: AllocId },
    #[error(transparent)]
    Task(#[from] TaskRunnerError),
}

/// What the allocation runner is asked to do to its running tasks.
#[derive(Debug)]
enum EngineCmd {
    /// Signal one task, or every running task with `None`.
    Signal {
        task: Option<String>,
        signal: String,
        reply: oneshot::Sender<Result<(), AllocRunnerError>>,
    },
    RestartTask {
        task: String,
        reply: oneshot::Sender<Result<(), AllocRunnerError>>,
    },
}

/// What is left once the lifecycle has finished: what `destroy` needs.
#[derive(Debug)]
struct Finished {
    hooks: Vec<Box<dyn AllocHook>>,
    ctx: AllocHookContext,
}

/// The client's runner for one allocation.
#[derive(Debug)]
pub struct AllocRunner {
    alloc_id: AllocId,
    alloc: Arc<Allocation>,
    stop: watch::Sender<bool>,
    cmds: mpsc::UnboundedSender<EngineCmd>,
    updates: watch::Receiver<AllocUpdate>,
    lifecycle: Option<JoinHandle<Finished>>,
    finished: Option<Finished>,
}

impl AllocRunner {
    /// Starts running `alloc` with the default hooks, on the current tokio runtime.
    pub fn start(alloc: Allocation, client: Arc<ClientContext>) -> Result<Self, AllocRunnerError> {
        let hooks = default_hooks(&client);
        Self::start_with_hooks(alloc, client, hooks)
    }

    /// Starts running `alloc` with these hooks, in this order.
    pub fn start_with_hooks(
        alloc: Allocation,
        client: Arc<ClientContext>,
        hooks: Vec<Box<dyn AllocHook>>,
    ) -> Result<Self, AllocRunnerError> {
        let job: Arc<Job> = match &alloc.job {
            Some(job) => Arc::new((**job).clone()),
            None => {
                return Err(AllocRunnerError::MissingJob {
                    alloc_id: alloc.id.clone(),
                });
            }
        };
        let group = job.group(&alloc.task_group).cloned().ok_or_else(|| {
            AllocRunnerError::MissingGroup {
                alloc_id: alloc.id.clone(),
                group: alloc.task_group.clone(),
            }
        })?;
        let group = Arc::new(group);
        let alloc_dir = AllocDir::new(&client.data_dir, &alloc.id)?;
        let alloc = Arc::new(alloc);

        let states: BTreeMap<String, TaskState> = group
            .tasks
            .iter()
            .map(|t| (t.name.clone(), TaskRunner::initial_state()))
            .collect();
        let (publish, updates) =
            watch::channel(AllocUpdate::from_states(alloc.id.clone(), states.clone()));
        let (stop, stop_rx) = watch::channel(false);
        let (task_tx, task_rx) = mpsc::unbounded_channel();
        let (cmds, cmd_rx) = mpsc::unbounded_channel();
        let (check_restarts_tx, check_restarts) = mpsc::unbounded_channel();
        let ctx = AllocHookContext {
            alloc: alloc.clone(),
            group: group.clone(),
            alloc_dir,
            ports: Vec::new(),
            network_status: None,
            netns_path: None,
            network_container: None,
            port_claims: client.port_claims.clone(),
        };
        let engine = Engine {
            alloc: alloc.clone(),
            job,
            group,
            client,
            hooks,
            ctx,
            states,
            runners: BTreeMap::new(),
            publish,
            stop: stop_rx,
            task_tx,
            task_rx,
            cmd_rx,
            services: None,
            check_restarts_tx,
            check_restarts,
        };
        Ok(Self {
            alloc_id: alloc.id.clone(),
            alloc: alloc.clone(),
            stop,
            cmds,
            updates,
            lifecycle: Some(tokio::spawn(engine.run())),
            finished: None,
        })
    }

    pub fn alloc_id(&self) -> &AllocId {
        &self.alloc_id
    }

    /// The allocation as the runner was started with it.
    pub fn alloc(&self) -> &Allocation {
        &self.alloc
    }

    /// A receiver that sees every status change (the latest one, if several came
    /// between two reads).
    pub fn subscribe(&self) -> watch::Receiver<AllocUpdate> {
        self.updates.clone()
    }

    /// The latest status.
    pub fn current(&self) -> AllocUpdate {
        self.updates.borrow().clone()
    }

    /// Sends `signal` (e.g. `"SIGHUP"`) to one task through its driver, or to every
    /// running task with `None`. The returned future does not borrow the runner.
    pub fn signal(
        &self,
        task: Option<String>,
        signal: String,
    ) -> impl Future<Output = Result<(), AllocRunnerError>> + Send + 'static {
        self.request(|reply| EngineCmd::Signal {
            task,
            signal,
            reply,
        })
    }

    /// Restarts one running task in place (stop, then start at once), outside its
    /// restart policy. Resolves once the task has been stopped.
    pub fn restart_task(
        &self,
        task: String,
    ) -> impl Future<Output = Result<(), AllocRunnerError>> + Send + 'static {
        self.request(|reply| EngineCmd::RestartTask { task, reply })
    }

    fn request(
        &self,
        cmd: impl FnOnce(oneshot::Sender<Result<(), AllocRunnerError>>) -> EngineCmd,
    ) -> impl Future<Output = Result<(), AllocRunnerError>> + Send + 'static {
        let (reply, answer) = oneshot::channel();
        // An engine that has finished drops the command and its reply.
        let _queued = self.cmds.send(cmd(reply));
        let alloc_id = self.alloc_id.clone();
        async move {
            answer
                .await
                .unwrap_or(Err(AllocRunnerError::NotRunning { alloc_id }))
        }
    }

    /// Waits until every task is dead for good (poststop included) and the postrun
    /// hooks have run; returns the final status.
    pub async fn wait(&mut self) -> Result<AllocUpdate, AllocRunnerError> {
        if let Some(join) = self.lifecycle.take() {
            let finished = join.await.map_err(|_| AllocRunnerError::Aborted {
                alloc_id: self.alloc_id.clone(),
            })?;
            self.finished = Some(finished);
        }
        Ok(self.current())
    }

    /// Stops every task (in reverse lifecycle order), runs poststop tasks and the
    /// postrun hooks, and returns the final status.
    pub async fn stop(&mut self) -> Result<AllocUpdate, AllocRunnerError> {
        self.stop.send_replace(true);
        self.wait().await
    }

    /// Stops the allocation, then undoes what the hooks made (the allocation
    /// directory goes), last hook first.
    pub async fn destroy(mut self) -> Result<(), AllocRunnerError> {
        self.stop().await?;
        let Some(mut finished) = self.finished.take() else {
            return Ok(());
        };
        let mut first_error = None;
        for hook in finished.hooks.iter().rev() {
            if let Err(source) = hook.destroy(&mut finished.ctx).await {
                first_error.get_or_insert(AllocRunnerError::Hook {
                    hook: hook.name(),
                    source,
                });
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

/// The allocation's lifecycle, run as one tokio task.
struct Engine {
    alloc: Arc<Allocation>,
    job: Arc<Job>,
    group: Arc<TaskGroup>,
    client: Arc<ClientContext>,
    hooks: Vec<Box<dyn AllocHook>>,
    ctx: AllocHookContext,
    states: BTreeMap<String, TaskState>,
    runners: BTreeMap<String, TaskRunnerHandle>,
    publish: watch::Sender<AllocUpdate>,
    stop: watch::Receiver<bool>,
    task_tx: mpsc::UnboundedSender<TaskUpdate>,
    task_rx: mpsc::UnboundedReceiver<TaskUpdate>,
    cmd_rx: mpsc::UnboundedReceiver<EngineCmd>,
    /// Registers the allocation's services while its tasks run.
    services: Option<ServiceRegistrar>,
    /// The tasks `check_restart` wants restarted, and the sender the registrar gets.
    check_restarts_tx: mpsc::UnboundedSender<RestartRequest>,
    check_restarts: mpsc::UnboundedReceiver<RestartRequest>,
}

impl Engine {
    async fn run(mut self) -> Finished {
        if self.prerun().await {
            self.start_services();
            self.run_tasks().await;
        }
        self.stop_services().await;
        self.postrun().await;
        self.publish();
        Finished {
            hooks: self.hooks,
            ctx: self.ctx,
        }
    }

    /// Runs the prerun hooks in order; on a failure every task is failed with a
    /// `Setup Failure` event naming the hook.
    async fn prerun(&mut self) -> bool {
        for hook in &self.hooks {
            if let Err(err) = hook.prerun(&mut self.ctx).await {
                let message = format!("{} hook failed: {err}", hook.name());
                let now = self.client.clock.now_unix_ns();
                for state in self.states.values_mut() {
                    state.state = "dead".to_owned();
                    state.failed = true;
                    state.events.push(event(now, "Setup Failure", &message));
                }
                self.publish();
                return false;
            }
        }
        true
    }

    /// Starts registering the group's and tasks' services, once the network hooks
    /// have said where they answer. Without servers to register with (tests of the
    /// runner alone), nothing is registered.
    fn start_services(&mut self) {
        let Some(server) = self.client.server.clone() else {
            return;
        };
        let any = !self.group.services.is_empty()
            || self.group.tasks.iter().any(|t| !t.services.is_empty());
        if !any {
            return;
        }
        let inputs = PlanInputs {
            alloc: &self.alloc,
            job: &self.job,
            group: &self.group,
            node: &self.client.node,
            region: &self.client.region,
            alloc_dir: self.ctx.alloc_dir.path(),
            network_status: self.ctx.network_status.as_ref(),
        };
        let (planned, refused) = plan_services(&inputs);
        for reason in refused {
            tracing::warn!(alloc = %self.alloc.id, "not registered: {reason}");
        }
        let deps = RegistrarDeps {
            server,
            prober: self.prober(),
            clock: self.client.clock.clone(),
            restarts: self.check_restarts_tx.clone(),
        };
        self.services = Some(ServiceRegistrar::spawn(
            self.alloc.id.clone(),
            planned,
            deps,
            self.publish.subscribe(),
        ));
    }

    /// What runs the checks: the client's, or the real probes, with script checks
    /// run on the host in the directory and environment of raw_exec tasks (other
    /// drivers cannot run commands in their tasks yet: their script checks fail,
    /// saying so).
    fn prober(&self) -> Arc<dyn Prober> {
        if let Some(prober) = &self.client.prober {
            return prober.clone();
        }
        let mut prober = LiveProber::new();
        for task in self.group.tasks.iter().filter(|t| t.driver == "raw_exec") {
            let mut inputs = TaskEnvInputs::new(
                &self.alloc,
                &self.job,
                &self.group,
                task,
                &self.client.node,
                self.ctx.alloc_dir.path(),
            );
            inputs.region = &self.client.region;
            inputs.isolated = driver_isolates_fs(&task.driver);
            inputs.network_status = self.ctx.network_status.as_ref();
            inputs.host_env = self.client.host_env.clone();
            let env = TaskEnv::build(&inputs).into_env();
            let dir = self.ctx.alloc_dir.task_dir(&task.name).dir;
            prober = prober.with_script_executor(
                task.name.clone(),
                Arc::new(HostScriptExecutor::new(dir, env)),
            );
        }
        Arc::new(prober)
    }

    /// Restarts a task whose check stayed unhealthy (`check_restart`), as Nomad
    /// words it; a task that is not running any more is left alone.
    fn check_restart(&self, request: RestartRequest) {
        if let Some(runner) = self.runners.get(&request.task) {
            let restarted = runner.restart_because(request.reason);
            tokio::spawn(async move {
                let _ = restarted.await;
            });
        }
    }

    /// Takes the allocation's services out of the catalog: before its tasks are
    /// killed, so nobody is sent to a task that is going away.
    async fn stop_services(&mut self) {
        if let Some(services) = self.services.take() {
            services.stop().await;
        }
    }

    async fn postrun(&mut self) {
        for hook in &self.hooks {
            // The tasks are gone whatever happens here; a failed cleanup must not
            // keep the others from running.
            let _ = hook.postrun(&mut self.ctx).await;
        }
    }

    async fn run_tasks(&mut self) {
        let mut lifecycle = Lifecycle::new(&self.group.tasks);
        let mut stop_seen = false;
        loop {
            if !stop_seen && *self.stop.borrow_and_update() {
                self.stop_services().await;
                lifecycle.request_stop();
                stop_seen = true;
            }
            // Step until nothing more follows: a skipped task or a task without a
            // driver changes the states here, with no runner to report it.
            loop {
                let actions = lifecycle.step(&self.states);
                if actions.is_empty() {
                    break;
                }
                for action in actions {
                    self.apply(action);
                }
            }
            self.publish();
            if lifecycle.is_done() {
                break;
            }
            tokio::select! {
                Some(update) = self.task_rx.recv() => {
                    self.states.insert(update.task, update.state);
                }
                changed = self.stop.changed(), if !stop_seen => {
                    if changed.is_err() {
                        // The AllocRunner was dropped: stop rather than run unowned.
                        self.stop_services().await;
                        lifecycle.request_stop();
                        stop_seen = true;
                    }
                }
                Some(cmd) = self.cmd_rx.recv() => self.command(cmd),
                Some(request) = self.check_restarts.recv() => self.check_restart(request),
                else => break,
            }
        }
        for (_, runner) in std::mem::take(&mut self.runners) {
            let _final = runner.wait().await;
        }
        // Updates sent after the last step (none change a dead state) are applied so
        // the final report holds every event.
        while let Ok(update) = self.task_rx.try_recv() {
            self.states.insert(update.task, update.state);
        }
    }

    /// Hands a request to the task runners it is for. Their answers are awaited on
    /// a task of their own, so a slow driver never holds up the lifecycle.
    fn command(&self, cmd: EngineCmd) {
        type Answer = BoxFuture<'static, Result<(), TaskRunnerError>>;
        let (answers, reply) = match cmd {
            EngineCmd::Signal {
                task,
                signal,
                reply,
            } => {
                let answers = self.targets(task.as_deref()).map(|runners| {
                    let each =
                        |r: &&TaskRunnerHandle| -> Answer { Box::pin(r.signal(signal.clone())) };
                    runners.iter().map(each).collect::<Vec<_>>()
                });
                (answers, reply)
            }
            EngineCmd::RestartTask { task, reply } => {
                let answers = self.targets(Some(&task)).map(|runners| {
                    let each = |r: &&TaskRunnerHandle| -> Answer { Box::pin(r.restart()) };
                    runners.iter().map(each).collect::<Vec<_>>()
                });
                (answers, reply)
            }
        };
        match answers {
            Ok(answers) => {
                tokio::spawn(async move {
                    let mut result = Ok(());
                    for answer in answers {
                        if let Err(e) = answer.await {
                            result = result.and(Err(AllocRunnerError::from(e)));
                        }
                    }
                    let _told = reply.send(result);
                });
            }
            Err(e) => {
                let _told = reply.send(Err(e));
            }
        }
    }

    /// The runners of `task`, or of every running task with `None`.
    fn targets(&self, task: Option<&str>) -> Result<Vec<&TaskRunnerHandle>, AllocRunnerError> {
        let alloc_id = || self.alloc.id.clone();
        match task {
            Some(name) => {
                if self.group.task(name).is_none() {
                    return Err(AllocRunnerError::UnknownTask {
                        alloc_id: alloc_id(),
                        task: name.to_owned(),
                    });
                }
                let runner = self
                    .runners
                    .get(name)
                    .ok_or_else(|| TaskRunnerError::NotRunning {
                        task: name.to_owned(),
                    })?;
                Ok(vec![runner])
            }
            None => {
                let running: Vec<&TaskRunnerHandle> = self
                    .runners
                    .iter()
                    .filter(|(name, _)| {
                        self.states
                            .get(name.as_str())
                            .is_some_and(|s| s.state == "running")
                    })
                    .map(|(_, runner)| runner)
                    .collect();
                if running.is_empty() {
                    return Err(AllocRunnerError::NothingRunning {
                        alloc_id: alloc_id(),
                    });
                }
                Ok(running)
            }
        }
    }

    fn apply(&mut self, action: LifecycleAction) {
        match action {
            LifecycleAction::Start { task } => self.start_task(&task),
            LifecycleAction::Kill { task, reason } => {
                if let Some(runner) = self.runners.get(&task) {
                    runner.kill(KillRequest {
                        event: reason.event(),
                    });
                }
            }
            LifecycleAction::Skip { task, reason } => self.skip_task(&task, &reason),
            LifecycleAction::Done => {}
        }
    }

    fn start_task(&mut self, name: &str) {
        let Some(task) = self.group.task(name).cloned() else {
            return;
        };
        let Some(driver) = self.client.driver(&task.driver) else {
            let now = self.client.clock.now_unix_ns();
            let state = self.states.entry(name.to_owned()).or_default();
            state.state = "dead".to_owned();
            state.failed = true;
            let message = format!("driver {:?} is not available on this node", task.driver);
            state.events.push(event(now, "Driver Failure", &message));
            return;
        };
        let cfg = TaskRunnerConfig {
            alloc: self.alloc.clone(),
            job: self.job.clone(),
            group: self.group.clone(),
            task,
            driver,
            client: self.client.clone(),
            alloc_dir: self.ctx.alloc_dir.clone(),
            network_status: self.ctx.network_status.clone(),
            netns_path: self.ctx.netns_path.clone(),
            network_container: self.ctx.network_container.clone(),
            template_env: BTreeMap::new(),
        };
        self.runners.insert(
            name.to_owned(),
            TaskRunner::spawn(cfg, self.task_tx.clone()),
        );
    }

    fn skip_task(&mut self, name: &str, reason: &ShutdownReason) {
        let now = self.client.clock.now_unix_ns();
        let state = self.states.entry(name.to_owned()).or_default();
        if let Some((kind, message)) = reason.event() {
            state.events.push(event(now, &kind, &message));
        }
        state
            .events
            .push(event(now, "Killed", "Task was not started"));
        state.state = "dead".to_owned();
    }

    fn publish(&self) {
        let mut update = AllocUpdate::from_states(self.alloc.id.clone(), self.states.clone());
        update.network_status = self.ctx.network_status.clone();
        self.publish.send_if_modified(|current| {
            if *current == update {
                return false;
            }
            *current = update;
            true
        });
    }
}

fn event(time: i64, kind: &str, message: &str) -> TaskEvent {
    TaskEvent {
        event_type: kind.to_owned(),
        time,
        display_message: message.to_owned(),
        ..TaskEvent::default()
    }
}
