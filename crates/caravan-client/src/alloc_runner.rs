//! Runs one allocation: its hooks in order (allocation directory, network), then its
//! tasks through the lifecycle ([`Lifecycle`]), reporting an [`AllocUpdate`] after
//! every change. Its services are registered while their tasks run, with their
//! checks' health ([`ServiceRegistrar`]), and taken out of the catalog before the
//! tasks are stopped; `stop` brings the tasks down in reverse lifecycle order and runs
//! the poststop tasks; `destroy` also removes what the hooks made. `signal` and
//! `restart_task` reach running tasks through their runners.
//!
//! Dropping an `AllocRunner` without stopping it stops the allocation: a task is
//! never left running with nobody to stop it. The one way to leave tasks running is
//! [`AllocRunner::detach`], for an agent that goes away and saved its allocations'
//! state (task states, driver handles, network, completed hooks) in the client's
//! state directory: [`AllocRunner::restore`] then takes the allocation over from
//! that state in the next agent, hooks re-attaching instead of redoing their work
//! and tasks recovered through their drivers.

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
use crate::{
    AllocDir, AllocDirError, AllocState, AllocUpdate, BoxFuture, ClientContext, PersistedAlloc,
    PersistedNetwork, RestoredTask,
};
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

/// What the runner's owner wants of the lifecycle besides running it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Halt {
    Run,
    /// Stop every task (the allocation ends).
    Stop,
    /// End the runner and leave the tasks as they are (the agent goes away).
    Detach,
}

/// How the lifecycle loop ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ended {
    Done,
    Detached,
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
    stop: watch::Sender<Halt>,
    cmds: mpsc::UnboundedSender<EngineCmd>,
    /// The allocation's saved state, removed on destroy.
    state_file: Option<Arc<AllocState>>,
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
        Self::launch(alloc, client, hooks, None)
    }

    /// Takes over an allocation an earlier run of the agent ran, from its saved
    /// state, with the default hooks: hooks that had completed re-attach to what they
    /// made, tasks that were running are recovered through their drivers (a task
    /// that died meanwhile goes through its restart policy), and tasks that had not
    /// started start in lifecycle order.
    pub fn restore(
        saved: PersistedAlloc,
        client: Arc<ClientContext>,
    ) -> Result<Self, AllocRunnerError> {
        let hooks = default_hooks(&client);
        Self::restore_with_hooks(saved, client, hooks)
    }

    /// [`AllocRunner::restore`] with these hooks, in this order.
    pub fn restore_with_hooks(
        saved: PersistedAlloc,
        client: Arc<ClientContext>,
        hooks: Vec<Box<dyn AllocHook>>,
    ) -> Result<Self, AllocRunnerError> {
        let alloc = saved.alloc.clone();
        Self::launch(alloc, client, hooks, Some(saved))
    }

    fn launch(
        alloc: Allocation,
        client: Arc<ClientContext>,
        hooks: Vec<Box<dyn AllocHook>>,
        restored: Option<PersistedAlloc>,
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
        let state_file = client.state.as_ref().and_then(|db| {
            let opened = match &restored {
                Some(saved) => db.open(saved.clone()),
                None => db.create(&alloc),
            };
            opened
                .inspect_err(|e| {
                    tracing::warn!(
                        alloc = %alloc.id,
                        error = %e,
                        "the allocation's state cannot be saved; an agent restart will not restore it"
                    );
                })
                .ok()
        });
        let alloc = Arc::new(alloc);

        let states: BTreeMap<String, TaskState> = group
            .tasks
            .iter()
            .map(|t| {
                let saved = restored
                    .as_ref()
                    .and_then(|r| r.task_states.get(&t.name).cloned());
                (
                    t.name.clone(),
                    saved.unwrap_or_else(TaskRunner::initial_state),
                )
            })
            .collect();
        let network = restored
            .as_ref()
            .map(|r| r.network.clone())
            .unwrap_or_default();
        let mut first = AllocUpdate::from_states(alloc.id.clone(), states.clone());
        first.network_status = network.network_status.clone();
        let (publish, updates) = watch::channel(first);
        let (stop, stop_rx) = watch::channel(Halt::Run);
        let (task_tx, task_rx) = mpsc::unbounded_channel();
        let (cmds, cmd_rx) = mpsc::unbounded_channel();
        let (check_restarts_tx, check_restarts) = mpsc::unbounded_channel();
        let ctx = AllocHookContext {
            alloc: alloc.clone(),
            group: group.clone(),
            alloc_dir,
            ports: network.ports,
            network_status: network.network_status,
            netns_path: network.netns_path,
            network_container: network.network_container,
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
            state_file: state_file.clone(),
            restored,
        };
        Ok(Self {
            alloc_id: alloc.id.clone(),
            alloc: alloc.clone(),
            stop,
            cmds,
            state_file,
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
        self.stop.send_if_modified(|halt| {
            if *halt == Halt::Run {
                *halt = Halt::Stop;
                return true;
            }
            false
        });
        self.wait().await
    }

    /// Ends the runner and leaves the tasks as they are, running or not, with the
    /// allocation's state saved: the agent is going away, and the next one takes
    /// the allocation over ([`AllocRunner::restore`]). Services stay registered.
    /// An allocation already stopping finishes its stop first.
    pub async fn detach(mut self) {
        self.stop.send_replace(Halt::Detach);
        let _ended = self.wait().await;
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
        // Forgotten last: an agent that dies before this restores the allocation
        // and destroys it again.
        if let Some(file) = &self.state_file
            && let Err(e) = file.remove()
        {
            tracing::warn!(alloc = %self.alloc_id, error = %e, "could not remove the allocation's state");
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
    stop: watch::Receiver<Halt>,
    task_tx: mpsc::UnboundedSender<TaskUpdate>,
    task_rx: mpsc::UnboundedReceiver<TaskUpdate>,
    cmd_rx: mpsc::UnboundedReceiver<EngineCmd>,
    /// Registers the allocation's services while its tasks run.
    services: Option<ServiceRegistrar>,
    /// The tasks `check_restart` wants restarted, and the sender the registrar gets.
    check_restarts_tx: mpsc::UnboundedSender<RestartRequest>,
    check_restarts: mpsc::UnboundedReceiver<RestartRequest>,
    /// Where the allocation's state is saved.
    state_file: Option<Arc<AllocState>>,
    /// What an earlier run of the agent saved, for a restored allocation.
    restored: Option<PersistedAlloc>,
}

impl Engine {
    async fn run(mut self) -> Finished {
        let restored = self.restored.take();
        if restored.as_ref().is_some_and(|r| self.had_finished(r)) {
            // Nothing runs and nothing is set up: only a destroy is left to do.
            self.publish();
            return self.finished();
        }
        if self.prerun(restored.as_ref()).await {
            self.start_services();
            if self.run_tasks(restored.as_ref()).await == Ended::Detached {
                return self.finished();
            }
        }
        self.stop_services().await;
        self.postrun().await;
        self.publish();
        self.finished()
    }

    fn finished(self) -> Finished {
        Finished {
            hooks: self.hooks,
            ctx: self.ctx,
        }
    }

    /// Whether every task of a restored allocation was dead for good: its
    /// lifecycle had ended, and its postrun hooks had run.
    fn had_finished(&self, saved: &PersistedAlloc) -> bool {
        self.group.tasks.iter().all(|t| {
            saved
                .task_states
                .get(&t.name)
                .is_some_and(|s| s.state == "dead")
        })
    }

    /// Runs the prerun hooks in order (for a restored allocation, a hook that had
    /// completed re-attaches instead); on a failure every task is failed with a
    /// `Setup Failure` event naming the hook. Each completed hook is saved.
    async fn prerun(&mut self, restored: Option<&PersistedAlloc>) -> bool {
        for (i, hook) in self.hooks.iter().enumerate() {
            let done_before = restored
                .is_some_and(|r| r.hooks_done.get(i).map(String::as_str) == Some(hook.name()));
            let result = if done_before {
                hook.restore(&mut self.ctx).await
            } else {
                hook.prerun(&mut self.ctx).await
            };
            if let Some(file) = &self.state_file
                && result.is_ok()
            {
                let network = saved_network(&self.ctx);
                file.record(|saved| {
                    saved.hooks_done.truncate(i);
                    saved.hooks_done.push(hook.name().to_owned());
                    saved.network = network;
                });
            }
            if let Err(err) = result {
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

    /// Runs the tasks through their lifecycle until every one is dead for good, or
    /// until the runner is detached. A restored allocation goes on from its saved
    /// task states: tasks an earlier agent started are not started again, and
    /// those still alive are recovered.
    async fn run_tasks(&mut self, restored: Option<&PersistedAlloc>) -> Ended {
        let mut lifecycle = Lifecycle::new(&self.group.tasks);
        if let Some(saved) = restored {
            self.resume_tasks(saved, &mut lifecycle);
        }
        let mut stop_seen = false;
        let mut halt_closed = false;
        loop {
            let halt = *self.stop.borrow_and_update();
            if halt == Halt::Detach {
                self.detach_all().await;
                return Ended::Detached;
            }
            if !stop_seen && halt == Halt::Stop {
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
                changed = self.stop.changed(), if !halt_closed => {
                    if changed.is_err() {
                        halt_closed = true;
                        if !stop_seen {
                            // The AllocRunner was dropped: stop rather than run
                            // unowned.
                            self.stop_services().await;
                            lifecycle.request_stop();
                            stop_seen = true;
                        }
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
        Ended::Done
    }

    /// Tells the lifecycle which tasks an earlier agent started, and spawns the
    /// runners of those not dead: from their driver handle when they were running,
    /// anew (keeping their state) when they were between two runs.
    fn resume_tasks(&mut self, saved: &PersistedAlloc, lifecycle: &mut Lifecycle) {
        let names: Vec<String> = self.group.tasks.iter().map(|t| t.name.clone()).collect();
        for name in names {
            let Some(state) = saved.task_states.get(&name) else {
                continue;
            };
            // A runner records events from its first moment: none, never started.
            if state.events.is_empty() {
                continue;
            }
            lifecycle.resume(&name);
            if state.state == "dead" {
                continue;
            }
            let restored = RestoredTask {
                state: state.clone(),
                handle: saved.handles.get(&name).cloned(),
            };
            self.spawn_task(&name, Some(restored));
        }
    }

    /// Ends every task runner and the registrar without stopping anything: the
    /// tasks keep running and their services stay registered.
    async fn detach_all(&mut self) {
        if let Some(services) = self.services.take() {
            services.detach().await;
        }
        for (_, runner) in std::mem::take(&mut self.runners) {
            runner.detach().await;
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
            LifecycleAction::Start { task } => self.spawn_task(&task, None),
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

    fn spawn_task(&mut self, name: &str, restored: Option<RestoredTask>) {
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
            state_file: self.state_file.clone(),
        };
        let runner = match restored {
            Some(restored) => TaskRunner::spawn_restored(cfg, self.task_tx.clone(), restored),
            None => TaskRunner::spawn(cfg, self.task_tx.clone()),
        };
        self.runners.insert(name.to_owned(), runner);
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
        let changed = self.publish.send_if_modified(|current| {
            if *current == update {
                return false;
            }
            *current = update;
            true
        });
        if changed && let Some(file) = &self.state_file {
            let states = self.states.clone();
            let network = saved_network(&self.ctx);
            file.record(|saved| {
                saved.task_states = states;
                saved.network = network;
            });
        }
    }
}

/// The network the hooks set up, as saved for a restored runner.
fn saved_network(ctx: &AllocHookContext) -> PersistedNetwork {
    PersistedNetwork {
        ports: ctx.ports.clone(),
        network_status: ctx.network_status.clone(),
        netns_path: ctx.netns_path.clone(),
        network_container: ctx.network_container.clone(),
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
