//! The client agent: registers the node, keeps it alive, and runs the allocations the
//! servers place on it, reporting their status back.
//!
//! Every allocation's state is saved under `<data_dir>/client/` while it runs
//! ([`ClientState`]). A restarted agent (even after a SIGKILL) first takes over the
//! allocations saved there: their running tasks are recovered and keep running,
//! and the allocation watch then stops and destroys those the servers stopped or
//! forgot. [`ClientAgent::shutdown_leave_running`] ends an agent that way on
//! purpose; [`ClientAgent::shutdown`] stops everything (dev mode).
//!
//! Before it runs anything it removes what a previous run of the agent on this data
//! dir may have left behind (it died, or was killed): containers and bridge networks
//! of allocations that the servers no longer want running here and that it did not
//! restore.
//!
//! It also keeps the servers' port ledger honest about this host: on every heartbeat
//! tick it reads which ports something outside Caravan has bound ([`host_ports`]) and,
//! when that set changes, registers the node again with those ports added to its
//! reserved ones, so the scheduler neither hands them out nor keeps a freed one back.
//!
//! [`host_ports`]: crate::host_ports

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use caravan_drivers::TaskDriver;
use caravan_model::{AllocId, Allocation, Node, NodeId};
use caravan_net::NetOps;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::fingerprint::{HostFacts, fingerprint};
use crate::host_ports::{foreign_ports, merge_reserved, read_bound_ports};
use crate::taskenv::allocated_ports;
use crate::{
    AllocRunner, AllocRunnerError, AllocUpdate, ClientConfig, ClientContext, ClientState,
    ContainerRuntime, PersistedAlloc, ServerApi, ServerApiError, filter_host_env,
};

/// The file in the data dir that keeps the node's id across restarts.
const NODE_ID_FILE: &str = "node-id";

/// What the agent runs allocations with, besides its configuration.
#[derive(Debug, Clone, Default)]
pub struct ClientPlugins {
    /// Task drivers, each under its own name.
    pub drivers: Vec<Arc<dyn TaskDriver>>,
    /// Bridge networking; `None` where the agent cannot manage network namespaces.
    pub net: Option<Arc<dyn NetOps>>,
    /// The container engine holding bridge-mode namespaces for docker tasks.
    pub containers: Option<Arc<dyn ContainerRuntime>>,
}

/// How long one blocking query for the node's allocations waits.
const ALLOC_WATCH_WAIT: Duration = Duration::from_secs(30);
/// How long to wait before retrying a failed call to the servers.
const RETRY_DELAY: Duration = Duration::from_millis(500);

/// Why the agent could not act on an allocation.
#[derive(Debug, thiserror::Error)]
pub enum ClientAgentError {
    #[error("allocation {0} is not running on this node")]
    UnknownAlloc(AllocId),
    #[error("allocation {0} has finished")]
    Finished(AllocId),
    #[error(transparent)]
    Runner(#[from] AllocRunnerError),
}

type Reply = oneshot::Sender<Result<(), AllocRunnerError>>;

/// What the agent tells one allocation's supervisor.
#[derive(Debug)]
enum RunnerCmd {
    Stop,
    Restart,
    Destroy,
    /// End the runner, leaving its tasks running and its state saved.
    Detach,
    Signal {
        task: Option<String>,
        signal: String,
        reply: Reply,
    },
    RestartTask {
        task: String,
        reply: Reply,
    },
}

#[derive(Debug)]
struct RunnerEntry {
    cmds: mpsc::UnboundedSender<RunnerCmd>,
    stopping: bool,
    supervisor: JoinHandle<()>,
}

/// A running client agent.
#[derive(Debug)]
pub struct ClientAgent {
    ctx: Arc<ClientContext>,
    server: Arc<dyn ServerApi>,
    runners: Mutex<HashMap<AllocId, RunnerEntry>>,
    updates: mpsc::UnboundedSender<AllocUpdate>,
    /// The reserved ports of the agent's configuration, as written.
    configured_reserved_ports: String,
    /// The ports found bound outside Caravan, as last registered. The lock is held
    /// across a scan and the registration it leads to, so two never interleave.
    foreign_ports: tokio::sync::Mutex<BTreeSet<u16>>,
    /// The heartbeat, allocation watch and report loops.
    loops: Mutex<Vec<JoinHandle<()>>>,
}

impl ClientAgent {
    /// Fingerprints the node, registers it, and starts the heartbeat, allocation watch
    /// and status report loops. The node id is kept in `<data_dir>/node-id`, so a
    /// restarted agent is the same node.
    pub async fn start(
        config: ClientConfig,
        server: Arc<dyn ServerApi>,
        drivers: Vec<Arc<dyn TaskDriver>>,
    ) -> std::io::Result<Arc<Self>> {
        let plugins = ClientPlugins {
            drivers,
            ..ClientPlugins::default()
        };
        Self::start_with(config, server, plugins).await
    }

    /// [`ClientAgent::start`] with bridge networking and a container engine too.
    /// It first takes over the allocations an earlier run of the agent saved in the
    /// data dir (their running tasks keep running). Once registered, and before any
    /// other allocation runs, it removes the containers and bridge networks of
    /// allocations the servers do not want running here and that it did not take
    /// over.
    pub async fn start_with(
        config: ClientConfig,
        server: Arc<dyn ServerApi>,
        plugins: ClientPlugins,
    ) -> std::io::Result<Arc<Self>> {
        let node_id = Self::load_or_create_node_id(&config.data_dir)?;
        let node = fingerprint(&config, &node_id, &HostFacts::read(), &plugins.drivers).await;
        let mut ctx = ClientContext::new(node.clone(), &config.data_dir);
        ctx.region = config.region.clone();
        ctx.host_env = filter_host_env(std::env::vars());
        for driver in plugins.drivers {
            ctx = ctx.with_driver(driver);
        }
        ctx.net = plugins.net;
        ctx.containers = plugins.containers;
        let ctx = ctx.with_server(server.clone()).with_saved_state();
        let saved = ClientState::new(&config.data_dir).load_all();
        // Until their hooks claim them again, the ports of the tasks that may still
        // run are this node's own, never foreign.
        for alloc in saved.iter().filter(|s| !s.hooks_done.is_empty()) {
            let ports = allocated_ports(&alloc.alloc);
            ctx.port_claims
                .claim(&alloc.alloc.id, ports.iter().map(|p| p.value));
        }
        let (updates, updates_rx) = mpsc::unbounded_channel();
        let agent = Arc::new(Self {
            ctx: Arc::new(ctx),
            server,
            runners: Mutex::new(HashMap::new()),
            updates,
            configured_reserved_ports: config.reserved_ports.clone(),
            foreign_ports: tokio::sync::Mutex::new(BTreeSet::new()),
            loops: Mutex::new(Vec::new()),
        });
        // Restored first: their tasks are managed again even while no server
        // answers. Their status reports wait for the report loop.
        let restored: BTreeSet<AllocId> = saved.iter().map(|s| s.alloc.id.clone()).collect();
        agent.restore(saved);
        *agent.foreign_ports.lock().await = agent.scan_foreign_ports().await;
        let ttl = agent.register().await;
        agent.remove_leftovers(&restored).await;
        let loops = vec![
            tokio::spawn(agent.clone().heartbeat_loop(ttl)),
            tokio::spawn(agent.clone().watch_loop()),
            tokio::spawn(agent.clone().report_loop(updates_rx)),
        ];
        *agent.loops.lock().unwrap_or_else(|e| e.into_inner()) = loops;
        Ok(agent)
    }

    /// Takes over the allocations an earlier run of the agent saved: each gets a
    /// runner in restore mode, before the allocation watch starts, so the watch
    /// finds them running and only stops or destroys what the servers no longer
    /// want. One that cannot be restored (its saved allocation has no job) is
    /// forgotten.
    fn restore(&self, saved: Vec<PersistedAlloc>) {
        let mut runners = self.runners.lock().unwrap_or_else(|e| e.into_inner());
        for alloc in saved {
            let id = alloc.alloc.id.clone();
            match AllocRunner::restore(alloc, self.ctx.clone()) {
                Ok(runner) => {
                    tracing::info!(alloc = %id, "restored the allocation from the saved state");
                    runners.insert(id, self.supervise(runner));
                }
                Err(e) => {
                    tracing::warn!(alloc = %id, error = %e, "the saved allocation cannot be restored; forgetting it");
                    self.ctx.port_claims.release(&id);
                    if let Some(Err(e)) = self.ctx.state.as_ref().map(|s| s.forget(&id)) {
                        tracing::warn!(alloc = %id, error = %e, "could not remove the saved state");
                    }
                }
            }
        }
    }

    /// Spawns the supervisor of a started or restored runner.
    fn supervise(&self, runner: AllocRunner) -> RunnerEntry {
        let (cmds, cmds_rx) = mpsc::unbounded_channel();
        let supervisor = tokio::spawn(supervise(
            runner,
            self.ctx.clone(),
            cmds_rx,
            self.updates.clone(),
        ));
        RunnerEntry {
            cmds,
            stopping: false,
            supervisor,
        }
    }

    /// The node id kept in `<data_dir>/node-id`, made (with the data dir) on first
    /// use: what [`ClientAgent::start`] registers. Agents that label what they make
    /// with the node id (docker containers) read it before the client starts.
    pub fn load_or_create_node_id(data_dir: &Path) -> std::io::Result<String> {
        std::fs::create_dir_all(data_dir)?;
        load_or_create_node_id(&data_dir.join(NODE_ID_FILE))
    }

    /// Removes the containers and bridge networks of every allocation the servers do
    /// not want running on this node and that is not `restored`: what a previous run
    /// of the agent left when it died. A restored allocation keeps its pieces: its
    /// runner takes them over, and destroys them itself if the servers forgot it.
    /// Runs before the allocation watch starts, so no runner of this run can lose
    /// its pieces. Failures are logged: an unreachable docker must not keep the
    /// agent from running raw_exec tasks.
    async fn remove_leftovers(&self, restored: &BTreeSet<AllocId>) {
        let (net, containers) = (self.ctx.net.as_ref(), self.ctx.containers.as_ref());
        if net.is_none() && containers.is_none() {
            return;
        }
        let allocs = loop {
            match self
                .server
                .node_allocs(self.node_id(), 0, Duration::ZERO)
                .await
            {
                Ok((allocs, _)) => break allocs,
                Err(e) => {
                    tracing::warn!(error = %e, "listing the node's allocations failed; retrying");
                    tokio::time::sleep(RETRY_DELAY).await;
                }
            }
        };
        let live: BTreeSet<AllocId> = allocs
            .iter()
            .filter(|a| should_run(a))
            .map(|a| a.id.clone())
            .chain(restored.iter().cloned())
            .collect();
        if let Some(containers) = containers {
            match containers.reconcile(&live).await {
                Ok(removed) if !removed.is_empty() => {
                    tracing::info!(containers = ?removed, "removed containers of allocations that are gone");
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "could not look for leftover containers"),
            }
        }
        if let Some(net) = net {
            if let Err(e) = net.ensure_bridge().await {
                tracing::warn!(error = %e, "could not set up the bridge network");
            }
            let live: Vec<AllocId> = live.into_iter().collect();
            match net.reconcile(&live).await {
                Ok(report) if !report.is_empty() => {
                    tracing::info!(
                        ?report,
                        "removed bridge networks of allocations that are gone"
                    );
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "could not look for leftover bridge networks"),
            }
        }
    }

    pub fn node(&self) -> &Node {
        &self.ctx.node
    }

    pub fn node_id(&self) -> &NodeId {
        &self.ctx.node.id
    }

    /// The allocation's directory on this node, if it has one.
    pub fn alloc_dir(&self, alloc: &AllocId) -> Option<PathBuf> {
        let dir = self.ctx.data_dir.join("alloc").join(alloc.as_str());
        dir.is_dir().then_some(dir)
    }

    /// Restarts every task of a running allocation (its hooks run again too).
    pub fn restart_alloc(&self, alloc: &AllocId) -> Result<(), ClientAgentError> {
        self.send(alloc, RunnerCmd::Restart)
    }

    /// Restarts one running task in place, outside its restart policy; returns once
    /// the task has been stopped.
    pub async fn restart_task(
        &self,
        alloc: &AllocId,
        task: String,
    ) -> Result<(), ClientAgentError> {
        let (reply, answer) = oneshot::channel();
        self.send(alloc, RunnerCmd::RestartTask { task, reply })?;
        answer
            .await
            .map_err(|_| ClientAgentError::Finished(alloc.clone()))??;
        Ok(())
    }

    /// Sends `signal` (e.g. `"SIGHUP"`) to one task of the allocation, or to every
    /// running task with `None`, through the task's driver.
    pub async fn signal_alloc(
        &self,
        alloc: &AllocId,
        task: Option<String>,
        signal: String,
    ) -> Result<(), ClientAgentError> {
        let (reply, answer) = oneshot::channel();
        self.send(
            alloc,
            RunnerCmd::Signal {
                task,
                signal,
                reply,
            },
        )?;
        answer
            .await
            .map_err(|_| ClientAgentError::Finished(alloc.clone()))??;
        Ok(())
    }

    /// The node as registered now: the fingerprint, with the ports found bound
    /// outside Caravan added to the configured reserved ports.
    fn registration(&self, foreign: &BTreeSet<u16>) -> Node {
        let mut node = self.ctx.node.clone();
        node.reserved_resources.networks.reserved_host_ports =
            merge_reserved(&self.configured_reserved_ports, foreign);
        node
    }

    /// The ports bound on this host, on an address that collides with the node's, by
    /// anything but this node's allocations.
    async fn scan_foreign_ports(&self) -> BTreeSet<u16> {
        // The claims are read on both sides of the scan: a task that claimed its port
        // and bound it meanwhile, or one that let it go, is still counted as ours.
        let mut own = self.ctx.port_claims.all();
        // A busy host's socket tables run to megabytes: read them off the runtime.
        let bound = tokio::task::spawn_blocking(read_bound_ports)
            .await
            .unwrap_or_default();
        own.extend(self.ctx.port_claims.all());
        let address = self
            .ctx
            .node
            .node_resources
            .networks
            .first()
            .map_or("", |n| n.ip.as_str());
        foreign_ports(&bound, address, &own)
    }

    /// Scans the host's ports and registers the node again if the foreign ones
    /// changed; returns the new heartbeat TTL if it did.
    async fn sync_host_ports(&self) -> Option<Duration> {
        let mut registered = self.foreign_ports.lock().await;
        let found = self.scan_foreign_ports().await;
        if found == *registered {
            return None;
        }
        tracing::info!(
            reserved = %merge_reserved("", &found),
            "host ports bound outside Caravan changed; updating the node"
        );
        *registered = found;
        Some(self.register_with(&registered).await)
    }

    /// Stops every allocation on this node and removes their directories: the agent
    /// is going away (dev mode). Waits for the tasks to be gone.
    pub async fn shutdown(&self) {
        let entries: Vec<RunnerEntry> = {
            let mut runners = self.runners.lock().unwrap_or_else(|e| e.into_inner());
            runners.drain().map(|(_, entry)| entry).collect()
        };
        for entry in &entries {
            let _ = entry.cmds.send(RunnerCmd::Destroy);
        }
        for entry in entries {
            let _ = entry.supervisor.await;
        }
    }

    /// Ends the agent and leaves every task running: the allocation watch, the
    /// heartbeats and the status reports stop, every runner ends without stopping
    /// its tasks, and the allocations' state stays in the data dir for the next
    /// agent to take them over. Services stay registered.
    pub async fn shutdown_leave_running(&self) {
        let loops: Vec<JoinHandle<()>> =
            std::mem::take(&mut *self.loops.lock().unwrap_or_else(|e| e.into_inner()));
        // The watch goes first: nothing new may start meanwhile.
        for handle in loops {
            handle.abort();
            let _ended = handle.await;
        }
        let entries: Vec<RunnerEntry> = {
            let mut runners = self.runners.lock().unwrap_or_else(|e| e.into_inner());
            runners.drain().map(|(_, entry)| entry).collect()
        };
        for entry in &entries {
            let _ = entry.cmds.send(RunnerCmd::Detach);
        }
        for entry in entries {
            let _ = entry.supervisor.await;
        }
    }

    fn send(&self, alloc: &AllocId, cmd: RunnerCmd) -> Result<(), ClientAgentError> {
        let runners = self.runners.lock().unwrap_or_else(|e| e.into_inner());
        let entry = runners
            .get(alloc)
            .ok_or_else(|| ClientAgentError::UnknownAlloc(alloc.clone()))?;
        entry
            .cmds
            .send(cmd)
            .map_err(|_| ClientAgentError::Finished(alloc.clone()))
    }

    /// Registers until the servers answer; returns the heartbeat TTL.
    async fn register(&self) -> Duration {
        let foreign = self.foreign_ports.lock().await;
        self.register_with(&foreign).await
    }

    async fn register_with(&self, foreign: &BTreeSet<u16>) -> Duration {
        let node = self.registration(foreign);
        loop {
            match self.server.register_node(node.clone()).await {
                Ok(ttl) => return ttl,
                Err(e) => {
                    tracing::warn!(error = %e, "registering the node failed; retrying");
                    tokio::time::sleep(RETRY_DELAY).await;
                }
            }
        }
    }

    async fn heartbeat_loop(self: Arc<Self>, mut ttl: Duration) {
        loop {
            tokio::time::sleep((ttl / 2).max(Duration::from_millis(100))).await;
            // Registering again keeps the node alive as a heartbeat would.
            if let Some(next) = self.sync_host_ports().await {
                ttl = next;
                continue;
            }
            match self.server.heartbeat(self.node_id()).await {
                Ok(next) => ttl = next,
                Err(ServerApiError::UnknownNode(_)) => ttl = self.register().await,
                Err(e) => {
                    tracing::warn!(error = %e, "heartbeat failed");
                    ttl = RETRY_DELAY * 2;
                }
            }
        }
    }

    async fn watch_loop(self: Arc<Self>) {
        let mut index = 0;
        loop {
            match self
                .server
                .node_allocs(self.node_id(), index, ALLOC_WATCH_WAIT)
                .await
            {
                Ok((allocs, next)) => {
                    index = next;
                    self.reconcile(allocs);
                }
                Err(e) => {
                    tracing::warn!(error = %e, "watching allocations failed; retrying");
                    tokio::time::sleep(RETRY_DELAY).await;
                }
            }
        }
    }

    /// Starts what should run and is not running, stops what should not run, and
    /// destroys what the servers forgot.
    fn reconcile(&self, allocs: Vec<Allocation>) {
        let mut runners = self.runners.lock().unwrap_or_else(|e| e.into_inner());
        let mut seen = Vec::with_capacity(allocs.len());
        for alloc in allocs {
            seen.push(alloc.id.clone());
            let should_run = should_run(&alloc);
            match runners.get_mut(&alloc.id) {
                None if should_run => {
                    let id = alloc.id.clone();
                    match AllocRunner::start(alloc, self.ctx.clone()) {
                        Ok(runner) => {
                            runners.insert(id, self.supervise(runner));
                        }
                        Err(e) => {
                            tracing::warn!(alloc = %id, error = %e, "allocation could not start");
                            let _ = self.updates.send(AllocUpdate {
                                alloc_id: id,
                                client_status: "failed".into(),
                                client_description: e.to_string(),
                                task_states: BTreeMap::new(),
                                network_status: None,
                            });
                        }
                    }
                }
                Some(entry) if alloc.desired_status != "run" && !entry.stopping => {
                    entry.stopping = true;
                    let _ = entry.cmds.send(RunnerCmd::Stop);
                }
                _ => {}
            }
        }
        runners.retain(|id, entry| {
            let keep = seen.contains(id);
            if !keep {
                let _ = entry.cmds.send(RunnerCmd::Destroy);
            }
            keep
        });
    }

    /// Sends status changes to the servers, a batch at a time, newest per allocation.
    async fn report_loop(self: Arc<Self>, mut rx: mpsc::UnboundedReceiver<AllocUpdate>) {
        while let Some(first) = rx.recv().await {
            // The first change goes out at once; whatever arrives while a report is in
            // flight is sent together in the next one.
            let mut batch = BTreeMap::from([(first.alloc_id.clone(), first)]);
            while let Ok(next) = rx.try_recv() {
                batch.insert(next.alloc_id.clone(), next);
            }
            let updates: Vec<AllocUpdate> = batch.into_values().collect();
            // A failure may come from a port taken outside Caravan (the network hook's
            // check): the servers learn of that port before they place the allocation
            // again, so the next attempt does not land on it.
            if updates.iter().any(|u| u.client_status == "failed") {
                let _ttl = self.sync_host_ports().await;
            }
            while let Err(e) = self.server.update_allocs(updates.clone()).await {
                tracing::warn!(error = %e, "reporting allocation status failed; retrying");
                tokio::time::sleep(RETRY_DELAY).await;
            }
        }
    }
}

/// Owns one allocation's runner: forwards its status changes and carries out the
/// agent's commands.
async fn supervise(
    mut runner: AllocRunner,
    ctx: Arc<ClientContext>,
    mut cmds: mpsc::UnboundedReceiver<RunnerCmd>,
    updates: mpsc::UnboundedSender<AllocUpdate>,
) {
    let mut status = runner.subscribe();
    let _ = updates.send(status.borrow_and_update().clone());
    let mut live = true;
    loop {
        tokio::select! {
            changed = status.changed(), if live => {
                live = changed.is_ok();
                let _ = updates.send(status.borrow_and_update().clone());
            }
            cmd = cmds.recv() => match cmd {
                Some(RunnerCmd::Stop) => {
                    if let Ok(last) = runner.stop().await {
                        let _ = updates.send(last);
                    }
                    live = false;
                }
                Some(RunnerCmd::Restart) => {
                    let alloc = runner.alloc().clone();
                    let _ = runner.stop().await;
                    match AllocRunner::start(alloc, ctx.clone()) {
                        Ok(next) => {
                            runner = next;
                            status = runner.subscribe();
                            live = true;
                            let _ = updates.send(status.borrow_and_update().clone());
                        }
                        Err(e) => tracing::warn!(error = %e, "allocation could not restart"),
                    }
                }
                Some(RunnerCmd::Signal { task, signal, reply }) => {
                    // Answered on its own task: the driver may take its time, and
                    // status changes keep flowing meanwhile.
                    let sent = runner.signal(task, signal);
                    tokio::spawn(async move {
                        let _told = reply.send(sent.await);
                    });
                }
                Some(RunnerCmd::RestartTask { task, reply }) => {
                    let restarted = runner.restart_task(task);
                    tokio::spawn(async move {
                        let _told = reply.send(restarted.await);
                    });
                }
                Some(RunnerCmd::Detach) => {
                    runner.detach().await;
                    return;
                }
                Some(RunnerCmd::Destroy) | None => {
                    if let Err(e) = runner.destroy().await {
                        tracing::warn!(error = %e, "destroying the allocation failed");
                    }
                    return;
                }
            }
        }
    }
}

/// Whether the servers want the allocation running and it has not finished.
fn should_run(alloc: &Allocation) -> bool {
    alloc.desired_status == "run"
        && !matches!(alloc.client_status.as_str(), "complete" | "failed" | "lost")
}

fn load_or_create_node_id(path: &Path) -> std::io::Result<String> {
    match std::fs::read_to_string(path) {
        Ok(id) if !id.trim().is_empty() => Ok(id.trim().to_owned()),
        _ => {
            let id = random_uuid()?;
            std::fs::write(path, &id)?;
            Ok(id)
        }
    }
}

/// A v4 UUID from the kernel's random source.
fn random_uuid() -> std::io::Result<String> {
    use std::io::Read;
    let mut b = [0u8; 16];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut b)?;
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    Ok(format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    ))
}
