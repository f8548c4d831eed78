//! What the client needs of a container engine besides running tasks: the pause
//! container that holds a bridge-mode group's network namespace for its docker tasks
//! to join, and, at agent start, the removal of containers whose allocation is gone
//! (an agent that died cannot have removed them).
//!
//! [`DockerDriver`] is the real one; [`FakeContainerRuntime`] records calls.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Debug;
use std::sync::{Mutex, MutexGuard};

use caravan_drivers::DockerDriver;
use caravan_drivers::DriverError;
use caravan_drivers::docker::PauseContainer;
use caravan_model::{AllocId, DnsConfig};

use crate::BoxFuture;

/// A container engine as the network hook and the agent's start see it.
pub trait ContainerRuntime: Send + Sync + Debug {
    /// Starts the allocation's pause container, or returns the one that runs. `dns`
    /// (the group's `network { dns { ... } }`) becomes its resolv.conf, which the
    /// docker tasks joining it share.
    fn start_pause<'a>(
        &'a self,
        alloc: &'a AllocId,
        dns: Option<&'a DnsConfig>,
    ) -> BoxFuture<'a, Result<PauseContainer, DriverError>>;

    /// Removes the allocation's pause container; none there is fine.
    fn remove_pause<'a>(&'a self, alloc: &'a AllocId) -> BoxFuture<'a, Result<(), DriverError>>;

    /// Removes this node's containers (tasks' and pause) whose allocation is not in
    /// `live`; returns the ids of those removed.
    fn reconcile<'a>(
        &'a self,
        live: &'a BTreeSet<AllocId>,
    ) -> BoxFuture<'a, Result<Vec<String>, DriverError>>;
}

impl ContainerRuntime for DockerDriver {
    fn start_pause<'a>(
        &'a self,
        alloc: &'a AllocId,
        dns: Option<&'a DnsConfig>,
    ) -> BoxFuture<'a, Result<PauseContainer, DriverError>> {
        Box::pin(DockerDriver::start_pause(self, alloc, dns))
    }

    fn remove_pause<'a>(&'a self, alloc: &'a AllocId) -> BoxFuture<'a, Result<(), DriverError>> {
        Box::pin(DockerDriver::remove_pause(self, alloc))
    }

    fn reconcile<'a>(
        &'a self,
        live: &'a BTreeSet<AllocId>,
    ) -> BoxFuture<'a, Result<Vec<String>, DriverError>> {
        Box::pin(DockerDriver::reconcile(self, |id| live.contains(id)))
    }
}

/// One call made to a [`FakeContainerRuntime`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContainerCall {
    StartPause(AllocId),
    RemovePause(AllocId),
    Reconcile(Vec<AllocId>),
}

/// A [`ContainerRuntime`] that starts nothing: pause containers are names with a
/// made-up pid, and every call is recorded.
#[derive(Debug, Default)]
pub struct FakeContainerRuntime {
    state: Mutex<FakeState>,
}

#[derive(Debug, Default)]
struct FakeState {
    calls: Vec<ContainerCall>,
    running: BTreeSet<AllocId>,
    /// The `dns` each allocation's pause container was last started with.
    dns: BTreeMap<AllocId, Option<DnsConfig>>,
    fail_start: Option<String>,
}

impl FakeContainerRuntime {
    /// Every call so far, in order.
    pub fn calls(&self) -> Vec<ContainerCall> {
        self.state().calls.clone()
    }

    /// The allocations whose pause container "runs".
    pub fn running(&self) -> BTreeSet<AllocId> {
        self.state().running.clone()
    }

    /// The `dns` block the allocation's pause container was last started with:
    /// `None` if it never was, `Some(None)` if started without one.
    pub fn pause_dns(&self, alloc: &AllocId) -> Option<Option<DnsConfig>> {
        self.state().dns.get(alloc).cloned()
    }

    /// Makes every `start_pause` fail with this reason.
    pub fn fail_start(&self, reason: impl Into<String>) {
        self.state().fail_start = Some(reason.into());
    }

    fn state(&self) -> MutexGuard<'_, FakeState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn do_start(
        &self,
        alloc: &AllocId,
        dns: Option<&DnsConfig>,
    ) -> Result<PauseContainer, DriverError> {
        let mut state = self.state();
        state.calls.push(ContainerCall::StartPause(alloc.clone()));
        state.dns.insert(alloc.clone(), dns.cloned());
        if let Some(reason) = &state.fail_start {
            return Err(DriverError::DockerDaemon {
                action: "start the pause container",
                reason: reason.clone(),
            });
        }
        state.running.insert(alloc.clone());
        Ok(PauseContainer {
            id: format!("pause-{alloc}"),
            pid: 4242,
        })
    }
}

impl ContainerRuntime for FakeContainerRuntime {
    fn start_pause<'a>(
        &'a self,
        alloc: &'a AllocId,
        dns: Option<&'a DnsConfig>,
    ) -> BoxFuture<'a, Result<PauseContainer, DriverError>> {
        Box::pin(std::future::ready(self.do_start(alloc, dns)))
    }

    fn remove_pause<'a>(&'a self, alloc: &'a AllocId) -> BoxFuture<'a, Result<(), DriverError>> {
        let mut state = self.state();
        state.calls.push(ContainerCall::RemovePause(alloc.clone()));
        state.running.remove(alloc);
        Box::pin(std::future::ready(Ok(())))
    }

    fn reconcile<'a>(
        &'a self,
        live: &'a BTreeSet<AllocId>,
    ) -> BoxFuture<'a, Result<Vec<String>, DriverError>> {
        let mut state = self.state();
        state
            .calls
            .push(ContainerCall::Reconcile(live.iter().cloned().collect()));
        let dead: Vec<AllocId> = state
            .running
            .iter()
            .filter(|a| !live.contains(*a))
            .cloned()
            .collect();
        let mut removed = Vec::new();
        for alloc in dead {
            state.running.remove(&alloc);
            removed.push(format!("pause-{alloc}"));
        }
        Box::pin(std::future::ready(Ok(removed)))
    }
}
