//! The docker driver: a task is a container of the local Docker Engine, reached over
//! its unix socket with `bollard`.
//!
//! The container is created from the task's config (`create_body`, pure), with the
//! allocation directory mounted at `/alloc`, `/local` and `/secrets`, and labelled
//! with its allocation and task so that it can always be found again. A watcher
//! streams its output into the task's log files, waits for its exit, then removes
//! it. Images are used when present and pulled otherwise.

mod api;
mod config;
mod create_body;
mod fields;
mod image_ref;
mod log_sink;
mod mount;
mod options;
mod pause;
mod state;
mod task;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bollard::Docker;
use bollard::models::ContainerCreateBody;
use bollard::query_parameters::{
    CreateContainerOptions, CreateImageOptions, ListContainersOptions,
};
use caravan_model::AllocId;
use futures_util::StreamExt;
use nix::sys::signal::Signal;

pub use config::DockerConfig;
pub use create_body::container_name;
pub use image_ref::ImageRef;
pub use mount::{MountConfig, MountKind};
pub use options::{DEFAULT_PULL_TIMEOUT, DEFAULT_SOCKET, DockerOptions};
pub use pause::{LABEL_PAUSE, PAUSE_IMAGE, PauseContainer, pause_name};

use api::Engine;
use log_sink::LogSink;
use state::DockerState;
use task::DockerTask;

use crate::{
    BoxFuture, DriverError, DriverFingerprint, ExitResult, TaskDriver, TaskHandle, TaskHandleState,
    TaskSpec, parse_signal,
};

/// The name jobs use: `driver = "docker"`.
pub const NAME: &str = "docker";
/// The signal `stop` sends when the task sets no `kill_signal`, as Nomad's docker.
pub const DEFAULT_KILL_SIGNAL: Signal = Signal::SIGTERM;
/// The label naming a container's allocation.
pub const LABEL_ALLOC_ID: &str = "caravan.alloc_id";
/// The label naming a container's task.
pub const LABEL_TASK: &str = "caravan.task";
/// The label naming the node whose agent started the container.
pub const LABEL_NODE_ID: &str = "caravan.node_id";
/// How long `stop` and `destroy` wait for a container after SIGKILL before giving up.
const KILL_GRACE: Duration = Duration::from_secs(10);

/// Runs tasks as Docker containers.
#[derive(Debug, Clone)]
pub struct DockerDriver {
    options: DockerOptions,
    engine: Engine,
}

impl Default for DockerDriver {
    fn default() -> Self {
        Self::new(DockerOptions::default())
    }
}

impl DockerDriver {
    /// A driver for the Engine at `options.socket`; nothing is asked of the Engine
    /// until the first call.
    pub fn new(options: DockerOptions) -> Self {
        Self {
            engine: Engine::new(&options.socket),
            options,
        }
    }

    pub fn options(&self) -> &DockerOptions {
        &self.options
    }

    /// Removes every caravan container (of this node, when the options name it) whose
    /// allocation `alloc_exists` does not know any more: what an agent that died left
    /// behind, task and pause containers alike (both carry the allocation's label).
    /// Returns the ids of the removed containers.
    pub async fn reconcile(
        &self,
        alloc_exists: impl Fn(&AllocId) -> bool,
    ) -> Result<Vec<String>, DriverError> {
        let daemon = |action: &'static str| {
            move |reason: String| DriverError::DockerDaemon { action, reason }
        };
        let docker = self.engine.client().await.map_err(daemon("connect"))?;
        let mut labels = vec![LABEL_ALLOC_ID.to_owned()];
        if let Some(node) = &self.options.node_id {
            labels.push(format!("{LABEL_NODE_ID}={node}"));
        }
        let options = ListContainersOptions {
            all: true,
            filters: Some(HashMap::from([("label".to_owned(), labels)])),
            ..ListContainersOptions::default()
        };
        let containers = docker
            .list_containers(Some(options))
            .await
            .map_err(|e| api::reason(&e))
            .map_err(daemon("list containers"))?;
        let mut removed = Vec::new();
        for c in containers {
            let (Some(id), Some(alloc)) =
                (c.id, c.labels.and_then(|mut l| l.remove(LABEL_ALLOC_ID)))
            else {
                continue;
            };
            if alloc_exists(&AllocId::new(alloc)) {
                continue;
            }
            api::remove_container(&docker, &id)
                .await
                .map_err(|e| api::reason(&e))
                .map_err(daemon("remove a leftover container"))?;
            removed.push(id);
        }
        Ok(removed)
    }

    async fn client(&self, task: &str) -> Result<Docker, DriverError> {
        self.engine
            .client()
            .await
            .map_err(|reason| DriverError::Docker {
                task: task.to_owned(),
                action: "be reached",
                reason,
            })
    }

    fn live<'h>(&self, handle: &'h TaskHandle) -> Result<&'h DockerTask, DriverError> {
        handle
            .live::<DockerTask>()
            .ok_or_else(|| DriverError::ForeignHandle {
                driver: NAME.to_owned(),
                other: handle.state().driver.clone(),
            })
    }

    async fn start_task(&self, spec: TaskSpec) -> Result<TaskHandle, DriverError> {
        let task = spec.task_name.as_str();
        let config = DockerConfig::parse(task, &spec.driver_config)?;
        for dir in [
            &spec.dirs.task_dir,
            &spec.dirs.alloc_dir,
            &spec.dirs.local_dir,
            &spec.dirs.secrets_dir,
        ] {
            if !dir.is_dir() {
                return Err(DriverError::MissingDir {
                    task: task.to_owned(),
                    path: dir.clone(),
                });
            }
        }
        let body = create_body::create_body(&spec, &config, &self.options)?;
        let docker = self.client(task).await?;
        self.ensure_image(&docker, task, &config.image, config.force_pull)
            .await?;
        let logs = if spec.logs.disabled {
            None
        } else {
            Some(LogSink::open(task, &spec.logs, false)?)
        };
        let id = create_container(&docker, &spec, body).await?;
        if let Err(e) = docker.start_container(&id, None).await {
            let _ = api::remove_container(&docker, &id).await;
            return Err(DriverError::Docker {
                task: task.to_owned(),
                action: "start the container",
                reason: api::reason(&e),
            });
        }
        let live = DockerTask::watch(docker, task, &id, logs);
        let state = TaskHandleState {
            driver: NAME.to_owned(),
            alloc_id: spec.alloc_id.clone(),
            task_name: task.to_owned(),
            pid: None,
            start_ticks: None,
            started_at_unix_ms: unix_ms_now(),
            netns_path: spec.netns_path.clone(),
            driver_state: DockerState::new(id, config.image.clone(), &spec.logs).to_driver_state(),
        };
        Ok(TaskHandle::new(state, Arc::new(live)))
    }

    /// Uses the image if present (unless `force_pull`), else pulls it.
    async fn ensure_image(
        &self,
        docker: &Docker,
        task: &str,
        image_name: &str,
        force_pull: bool,
    ) -> Result<(), DriverError> {
        if !force_pull {
            match docker.inspect_image(image_name).await {
                Ok(_) => return Ok(()),
                Err(e) if api::is_not_found(&e) => {}
                Err(e) => {
                    return Err(DriverError::Docker {
                        task: task.to_owned(),
                        action: "inspect the image",
                        reason: api::reason(&e),
                    });
                }
            }
        }
        let image = ImageRef::parse(image_name);
        let options = CreateImageOptions {
            from_image: Some(image.repository),
            tag: image.tag,
            ..CreateImageOptions::default()
        };
        let pull = async {
            let mut progress = docker.create_image(Some(options), None, None);
            while let Some(step) = progress.next().await {
                step.map_err(|e| api::reason(&e))?;
            }
            Ok::<(), String>(())
        };
        let timeout = self.options.pull_timeout;
        let reason = match tokio::time::timeout(timeout, pull).await {
            Ok(Ok(())) => return Ok(()),
            Ok(Err(reason)) => reason,
            Err(_) => format!("the pull did not finish within {}s", timeout.as_secs()),
        };
        Err(DriverError::ImageUnavailable {
            task: task.to_owned(),
            image: image_name.to_owned(),
            reason,
        })
    }

    async fn stop_task(
        &self,
        handle: &TaskHandle,
        signal: &str,
        timeout: Duration,
    ) -> Result<(), DriverError> {
        let task = self.live(handle)?;
        let signal = if signal.trim().is_empty() {
            DEFAULT_KILL_SIGNAL
        } else {
            parse_signal(signal)?
        };
        if task.exit_now().is_some() {
            return Ok(());
        }
        match task.kill(signal).await {
            Ok(()) | Err(DriverError::NotRunning { .. }) => {}
            Err(e) => return Err(e),
        }
        if tokio::time::timeout(timeout, task.exited()).await.is_ok() {
            return Ok(());
        }
        kill_and_wait(task).await
    }

    async fn recover_task(&self, state: &TaskHandleState) -> Result<TaskHandle, DriverError> {
        if state.driver != NAME {
            return Err(DriverError::ForeignHandle {
                driver: NAME.to_owned(),
                other: state.driver.clone(),
            });
        }
        let task = state.task_name.as_str();
        let recorded = DockerState::from_handle_state(state)?;
        let docker = self.client(task).await?;
        let id = recorded.container_id.as_str();
        let live = match docker.inspect_container(id, None).await {
            Err(e) if api::is_not_found(&e) => DockerTask::gone(docker, task, id),
            Err(e) => {
                return Err(DriverError::Docker {
                    task: task.to_owned(),
                    action: "inspect the container",
                    reason: api::reason(&e),
                });
            }
            Ok(c) => {
                let alloc = c
                    .config
                    .and_then(|c| c.labels)
                    .and_then(|mut l| l.remove(LABEL_ALLOC_ID));
                if alloc.as_deref() != Some(state.alloc_id.as_str()) {
                    // Not the container this state names: never touch it.
                    DockerTask::gone(docker, task, id)
                } else {
                    // Output written while the agent was away is copied now; a sink
                    // that cannot be opened must not lose the running task.
                    let logs = recorded
                        .logs
                        .and_then(|l| LogSink::open(task, &l.to_spec(), true).ok());
                    DockerTask::watch(docker, task, id, logs)
                }
            }
        };
        Ok(TaskHandle::new(state.clone(), Arc::new(live)))
    }

    async fn destroy_task(&self, handle: &TaskHandle) -> Result<(), DriverError> {
        let task = self.live(handle)?;
        let killed = if task.exit_now().is_none() {
            kill_and_wait(task).await
        } else {
            Ok(())
        };
        // Whatever happened above, the container must not outlive its task.
        task.remove().await?;
        killed
    }

    async fn fingerprint_engine(&self) -> DriverFingerprint {
        let mut fp = DriverFingerprint::default();
        if !self.engine.socket().exists() {
            fp.description = format!(
                "no Docker Engine socket at {}",
                self.engine.socket().display()
            );
            return fp;
        }
        fp.detected = true;
        let version = match self.engine.client().await {
            Ok(docker) => docker.version().await.map_err(|e| api::reason(&e)),
            Err(reason) => Err(reason),
        };
        match version {
            Ok(v) => {
                let version = v.version.unwrap_or_default();
                fp.healthy = true;
                fp.description = format!("Docker Engine {version}");
                let flag = |b: bool| if b { "true" } else { "false" }.to_owned();
                fp.attributes = BTreeMap::from([
                    (format!("driver.{NAME}"), "1".to_owned()),
                    (format!("driver.{NAME}.version"), version),
                    (
                        format!("driver.{NAME}.api_version"),
                        v.api_version.unwrap_or_default(),
                    ),
                    (format!("driver.{NAME}.os_type"), v.os.unwrap_or_default()),
                    (
                        format!("driver.{NAME}.privileged.enabled"),
                        flag(self.options.allow_privileged),
                    ),
                    (
                        format!("driver.{NAME}.volumes.enabled"),
                        flag(self.options.allow_host_volumes),
                    ),
                ]);
            }
            Err(reason) => {
                fp.description = format!("the Docker Engine does not answer: {reason}");
            }
        }
        fp
    }
}

/// Creates the task's container. A container of the same name is an earlier run of
/// this very task that was never removed (the agent died first): it goes.
async fn create_container(
    docker: &Docker,
    spec: &TaskSpec,
    body: ContainerCreateBody,
) -> Result<String, DriverError> {
    let name = container_name(spec);
    let options = CreateContainerOptions {
        name: Some(name.clone()),
        ..CreateContainerOptions::default()
    };
    let failed = |e: bollard::errors::Error| DriverError::Docker {
        task: spec.task_name.clone(),
        action: "create the container",
        reason: api::reason(&e),
    };
    match docker
        .create_container(Some(options.clone()), body.clone())
        .await
    {
        Ok(created) => Ok(created.id),
        Err(e) if api::is_conflict(&e) => {
            api::remove_container(docker, &name).await.map_err(failed)?;
            docker
                .create_container(Some(options), body)
                .await
                .map(|created| created.id)
                .map_err(failed)
        }
        Err(e) => Err(failed(e)),
    }
}

/// SIGKILLs the container and waits for its exit to be seen.
async fn kill_and_wait(task: &DockerTask) -> Result<(), DriverError> {
    match task.kill(Signal::SIGKILL).await {
        Ok(()) | Err(DriverError::NotRunning { .. }) => {}
        Err(e) => return Err(e),
    }
    tokio::time::timeout(KILL_GRACE, task.exited())
        .await
        .map(drop)
        .map_err(|_| DriverError::StopTimedOut {
            task: task.task_name().to_owned(),
            waited_secs: KILL_GRACE.as_secs(),
        })
}

impl TaskDriver for DockerDriver {
    fn name(&self) -> &str {
        NAME
    }

    fn fingerprint(&self) -> BoxFuture<'_, DriverFingerprint> {
        Box::pin(self.fingerprint_engine())
    }

    fn start(&self, spec: TaskSpec) -> BoxFuture<'_, Result<TaskHandle, DriverError>> {
        Box::pin(self.start_task(spec))
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
            task.kill(parse_signal(signal)?).await
        })
    }

    fn recover<'a>(
        &'a self,
        state: &'a TaskHandleState,
    ) -> BoxFuture<'a, Result<TaskHandle, DriverError>> {
        Box::pin(self.recover_task(state))
    }

    fn destroy<'a>(&'a self, handle: &'a TaskHandle) -> BoxFuture<'a, Result<(), DriverError>> {
        Box::pin(self.destroy_task(handle))
    }
}

fn unix_ms_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}
