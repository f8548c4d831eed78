//! Keeps an allocation's registrations in the catalog equal to what it runs: a task
//! service is registered while its task runs, a group service while any task of the
//! group does, each with the health its checks give; a registration whose health or
//! check results change is sent again, one whose task stopped is removed, and
//! everything goes (`delete_services_for_alloc`) when the allocation stops.
//!
//! The registrar is one tokio task per allocation, fed by the allocation runner's
//! status updates. It decides from its inputs what should be registered, and sends
//! only the difference from what it registered last; a failed call is retried.
//!
//! It also runs the checks of the services it registers ([`CheckRunner`]), from the
//! moment a service is advertised until it is not: their results become the
//! registration's `Checks` and `Health`, and a `check_restart` verdict is passed on
//! to the allocation runner ([`RestartRequest`]).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use caravan_model::{
    AllocId, CheckMode, CheckStatus, HealthStatus, ServiceProvider, ServiceRegistration,
};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::planned::{PlannedCheck, PlannedService};
use crate::checks::{
    CheckAddress, CheckEvent, CheckRunner, CheckRunnerHandle, CheckSpec, Prober, Provider,
    RestartRequest,
};
use crate::{AllocUpdate, Clock, ServerApi};

/// What a registrar works with besides its plan.
#[derive(Debug, Clone)]
pub struct RegistrarDeps {
    pub server: Arc<dyn ServerApi>,
    /// Runs the checks.
    pub prober: Arc<dyn Prober>,
    pub clock: Arc<dyn Clock>,
    /// Where `check_restart` verdicts go.
    pub restarts: mpsc::UnboundedSender<RestartRequest>,
}

/// How long to wait before retrying a failed call to the servers.
const RETRY_DELAY: Duration = Duration::from_secs(1);
/// How long deregistering at stop may hold up the allocation's shutdown.
const DEREGISTER_TIMEOUT: Duration = Duration::from_secs(5);

/// The allocation runner's grip on its registrar.
#[derive(Debug)]
pub struct ServiceRegistrar {
    stop: Option<oneshot::Sender<()>>,
    join: Option<JoinHandle<()>>,
}

impl ServiceRegistrar {
    /// Starts registering `planned` for `alloc_id`, following the task states
    /// `updates` carries.
    pub fn spawn(
        alloc_id: AllocId,
        planned: Vec<PlannedService>,
        deps: RegistrarDeps,
        updates: watch::Receiver<AllocUpdate>,
    ) -> Self {
        let (stop, stop_rx) = oneshot::channel();
        let checks = initial_statuses(&planned);
        let (events_tx, events) = mpsc::unbounded_channel();
        let registrar = Registrar {
            alloc_id,
            planned,
            deps,
            updates,
            registered: BTreeMap::new(),
            checks,
            runners: BTreeMap::new(),
            starts: BTreeMap::new(),
            events_tx,
            events,
        };
        Self {
            stop: Some(stop),
            join: Some(tokio::spawn(registrar.run(stop_rx))),
        }
    }

    /// Deregisters every instance of the allocation and ends; returns once the
    /// servers answered, or after a few seconds.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(join) = self.join.take() {
            let _ = tokio::time::timeout(DEREGISTER_TIMEOUT, join).await;
        }
    }
}

impl ServiceRegistrar {
    /// Ends the registrar without deregistering anything: the agent is going away
    /// and leaves the tasks running, so their services stay in the catalog until a
    /// restarted agent takes them over. The checks stop.
    pub async fn detach(mut self) {
        if let Some(join) = self.join.take() {
            // Aborted before the stop sender goes (on drop), so the loop never sees
            // a stop and never deregisters.
            join.abort();
            let _ = join.await;
        }
    }
}

impl Drop for ServiceRegistrar {
    fn drop(&mut self) {
        // Dropping the stop sender ends the loop, which deregisters on its way out.
        self.stop.take();
    }
}

fn initial_statuses(planned: &[PlannedService]) -> BTreeMap<String, CheckStatus> {
    planned
        .iter()
        .flat_map(|p| {
            p.checks
                .iter()
                .map(|c| (c.id.clone(), initial_status(p, c)))
        })
        .collect()
}

/// What the check runner runs for `check` of `service`.
fn check_spec(service: &PlannedService, check: &PlannedCheck) -> CheckSpec {
    CheckSpec {
        id: check.id.clone(),
        name: check.check.name.clone(),
        service: service.registration.service_name.clone(),
        task: check.task.clone(),
        provider: match service.registration.provider {
            ServiceProvider::Nomad => Provider::Nomad,
            ServiceProvider::Consul => Provider::Consul,
        },
        check: check.check.clone(),
        address: match &check.address {
            Ok(Some((host, port))) => Some(CheckAddress::new(host.clone(), *port)),
            _ => None,
        },
    }
}

/// The status a check reports before its first result: pending (timestamp 0) with
/// the `initial_status` for the Consul provider (critical by default), or passing,
/// kept out of the health, for Nomad's.
fn initial_status(service: &PlannedService, check: &PlannedCheck) -> CheckStatus {
    let status = match service.registration.provider {
        ServiceProvider::Nomad => HealthStatus::Passing,
        ServiceProvider::Consul => check
            .check
            .initial_status
            .parse()
            .unwrap_or(HealthStatus::Critical),
    };
    CheckStatus {
        name: check.check.name.clone(),
        check_type: check.check.check_type.clone(),
        status,
        output: String::new(),
        timestamp: 0,
        task: check.task.clone(),
        mode: if check.check.on_update == "ignore" {
            CheckMode::Readiness
        } else {
            CheckMode::Healthiness
        },
        ..CheckStatus::default()
    }
}

/// The instance's health: the worst of its checks that have a result, except that
/// a Consul check counts from its initial status; passing without checks.
fn health(provider: ServiceProvider, checks: &[CheckStatus]) -> HealthStatus {
    HealthStatus::worst(
        checks
            .iter()
            .filter(|c| provider == ServiceProvider::Consul || !c.is_pending())
            .map(|c| c.status),
    )
}

struct Registrar {
    alloc_id: AllocId,
    planned: Vec<PlannedService>,
    deps: RegistrarDeps,
    updates: watch::Receiver<AllocUpdate>,
    /// What the servers hold for this allocation, as last sent, by id.
    registered: BTreeMap<String, ServiceRegistration>,
    /// The latest status of every check, by check id.
    checks: BTreeMap<String, CheckStatus>,
    /// The checks running, by registration id: while the service is advertised.
    runners: BTreeMap<String, CheckRunnerHandle>,
    /// When each running task last started, as its state says.
    starts: BTreeMap<String, Option<String>>,
    events_tx: mpsc::UnboundedSender<CheckEvent>,
    events: mpsc::UnboundedReceiver<CheckEvent>,
}

impl Registrar {
    async fn run(mut self, mut stop: oneshot::Receiver<()>) {
        let mut retry: Option<Instant> = None;
        loop {
            self.run_checks();
            let desired = self.desired();
            retry = match self.sync(desired).await {
                Ok(()) => None,
                Err(e) => {
                    // Logged once per failure streak, not on every retry.
                    if retry.is_none() {
                        tracing::warn!(alloc = %self.alloc_id, error = %e, "registering services failed; retrying");
                    }
                    Some(Instant::now() + RETRY_DELAY)
                }
            };
            tokio::select! {
                changed = self.updates.changed() => {
                    if changed.is_err() {
                        break;
                    }
                }
                _ = &mut stop => break,
                () = sleep_until(retry), if retry.is_some() => {}
                Some(event) = self.events.recv() => self.check_event(event),
            }
        }
        for (_, runner) in std::mem::take(&mut self.runners) {
            runner.stop().await;
        }
        self.deregister_all().await;
    }

    /// Starts the checks of services that became advertised, stops those of services
    /// that no longer are (their statuses start over), and tells the runners of
    /// tasks that restarted meanwhile.
    fn run_checks(&mut self) {
        let running = self.running();
        let running_refs: Vec<&str> = running.iter().map(String::as_str).collect();
        let started: BTreeMap<String, Option<String>> = {
            let update = self.updates.borrow();
            running
                .iter()
                .map(|t| {
                    let at = update.task_states.get(t).and_then(|s| s.started_at.clone());
                    (t.clone(), at)
                })
                .collect()
        };
        let restarted: Vec<&String> = started
            .iter()
            .filter(|(t, at)| self.starts.get(*t).is_some_and(|seen| seen != *at))
            .map(|(t, _)| t)
            .collect();
        let now = self.deps.clock.now_unix_ns();
        for service in &self.planned {
            let id = &service.registration.id;
            let active = service.active(&running_refs);
            if !active {
                if self.runners.remove(id).is_some() {
                    for check in &service.checks {
                        self.checks
                            .insert(check.id.clone(), initial_status(service, check));
                    }
                }
                continue;
            }
            if let Some(runner) = self.runners.get(id) {
                for task in &restarted {
                    runner.task_started(task, now);
                }
                continue;
            }
            let runnable: Vec<CheckSpec> = service
                .checks
                .iter()
                .filter(|c| match &c.address {
                    Ok(_) => true,
                    Err(reason) => {
                        tracing::warn!(alloc = %self.alloc_id, "check not run: {reason}");
                        false
                    }
                })
                .map(|c| check_spec(service, c))
                .collect();
            if runnable.is_empty() {
                continue;
            }
            let runner = CheckRunner::spawn_with_clock(
                runnable,
                self.deps.prober.clone(),
                self.events_tx.clone(),
                self.deps.clock.clone(),
            );
            self.runners.insert(id.clone(), runner);
        }
        self.starts = started;
    }

    /// Records a check's new status, or passes a restart on.
    fn check_event(&mut self, event: CheckEvent) {
        match event {
            CheckEvent::Update(update) => {
                let Some(status) = self.checks.get_mut(&update.id) else {
                    return;
                };
                // Pending is where every check starts: nothing to record.
                let Some(health) = update.status.health() else {
                    return;
                };
                status.status = health;
                status.output = update.output;
                status.timestamp = update.timestamp;
            }
            CheckEvent::Restart(request) => {
                let _ = self.deps.restarts.send(request);
            }
        }
    }

    /// The tasks running now.
    fn running(&self) -> Vec<String> {
        self.updates
            .borrow()
            .task_states
            .iter()
            .filter(|(_, s)| s.state == "running")
            .map(|(name, _)| name.clone())
            .collect()
    }

    /// What should be registered now, by id.
    fn desired(&self) -> BTreeMap<String, ServiceRegistration> {
        let running = self.running();
        let running: Vec<&str> = running.iter().map(String::as_str).collect();
        self.planned
            .iter()
            .filter(|p| p.active(&running))
            .map(|p| {
                let mut reg = p.registration.clone();
                reg.checks = p
                    .checks
                    .iter()
                    .filter_map(|c| self.checks.get(&c.id).cloned())
                    .collect();
                reg.health = health(reg.provider, &reg.checks);
                (reg.id.clone(), reg)
            })
            .collect()
    }

    /// Sends what changed since the last successful sync.
    async fn sync(
        &mut self,
        desired: BTreeMap<String, ServiceRegistration>,
    ) -> Result<(), crate::ServerApiError> {
        let upserts: Vec<ServiceRegistration> = desired
            .values()
            .filter(|d| self.registered.get(&d.id) != Some(*d))
            .cloned()
            .collect();
        let gone: BTreeSet<&String> = self
            .registered
            .keys()
            .filter(|id| !desired.contains_key(*id))
            .collect();
        let deletes: Vec<ServiceRegistration> = gone
            .iter()
            .filter_map(|id| self.registered.get(*id).cloned())
            .collect();
        if !deletes.is_empty() {
            self.deps.server.delete_services(deletes.clone()).await?;
            for d in &deletes {
                self.registered.remove(&d.id);
            }
        }
        if !upserts.is_empty() {
            self.deps.server.upsert_services(upserts.clone()).await?;
            for u in upserts {
                self.registered.insert(u.id.clone(), u);
            }
        }
        Ok(())
    }

    async fn deregister_all(&mut self) {
        for attempt in 0..3 {
            match self
                .deps
                .server
                .delete_services_for_alloc(&self.alloc_id)
                .await
            {
                Ok(()) => {
                    self.registered.clear();
                    return;
                }
                Err(e) if attempt == 2 => {
                    // The servers also drop the registrations of an allocation that
                    // stopped for good, so this is not the last word.
                    tracing::warn!(alloc = %self.alloc_id, error = %e, "deregistering services failed");
                }
                Err(_) => tokio::time::sleep(RETRY_DELAY / 4).await,
            }
        }
    }
}

/// Sleeps until `at`, or forever without one.
async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(status: HealthStatus, timestamp: i64) -> CheckStatus {
        CheckStatus {
            status,
            timestamp,
            ..CheckStatus::default()
        }
    }

    #[test]
    fn nomad_health_leaves_pending_checks_out() {
        let checks = [
            status(HealthStatus::Passing, 0),
            status(HealthStatus::Critical, 5),
        ];
        assert_eq!(
            health(ServiceProvider::Nomad, &checks),
            HealthStatus::Critical
        );
        assert_eq!(
            health(ServiceProvider::Nomad, &checks[..1]),
            HealthStatus::Passing
        );
        assert_eq!(health(ServiceProvider::Nomad, &[]), HealthStatus::Passing);
        // Consul's initial status counts before the first result.
        let initial = [status(HealthStatus::Critical, 0)];
        assert_eq!(
            health(ServiceProvider::Consul, &initial),
            HealthStatus::Critical
        );
    }
}
