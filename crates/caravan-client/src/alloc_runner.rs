//! Runs one allocation: its hooks in order (allocation directory, network), then its
//! tasks through the lifecycle ([`Lifecycle`]), reporting an [`AllocUpdate`] after
//! every change; `stop` brings the tasks down in reverse lifecycle order and runs
//! the poststop tasks; `destroy` also removes what the hooks made.
//!
//! Dropping an `AllocRunner` without stopping it stops the allocation: a task is
//! never left running with nobody to stop it.

use std::collections::BTreeMap;
use std::sync::Arc;

use caravan_model::{AllocId, Allocation, Job, TaskEvent, TaskGroup, TaskState};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::hooks::{AllocHook, AllocHookContext, AllocHookError, default_hooks};
use crate::lifecycle::{Lifecycle, LifecycleAction, ShutdownReason};
use crate::task_runner::{KillRequest, TaskRunner, TaskRunnerConfig, TaskRunnerHandle, TaskUpdate};
use crate::{AllocDir, AllocDirError, AllocUpdate, ClientContext};

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
    updates: watch::Receiver<AllocUpdate>,
    lifecycle: Option<JoinHandle<Finished>>,
    finished: Option<Finished>,
}

impl AllocRunner {
    /// Starts running `alloc` with the default hooks, on the current tokio runtime.
    pub fn start(alloc: Allocation, client: Arc<ClientContext>) -> Result<Self, AllocRunnerError> {
        Self::start_with_hooks(alloc, client, default_hooks())
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
        let ctx = AllocHookContext {
            alloc: alloc.clone(),
            group: group.clone(),
            alloc_dir,
            ports: Vec::new(),
            network_status: None,
            netns_path: None,
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
        };
        Ok(Self {
            alloc_id: alloc.id.clone(),
            alloc: alloc.clone(),
            stop,
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
}

impl Engine {
    async fn run(mut self) -> Finished {
        if self.prerun().await {
            self.run_tasks().await;
        }
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
                        lifecycle.request_stop();
                        stop_seen = true;
                    }
                }
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
        let update = AllocUpdate::from_states(self.alloc.id.clone(), self.states.clone());
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
