//! The seam between the client's task runner and whatever runs the task.

use std::fmt::Debug;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use crate::{DriverError, DriverFingerprint, ExitResult, TaskHandle, TaskHandleState, TaskSpec};

/// A boxed, sendable future: what [`TaskDriver`]'s methods return, so that the
/// client can hold drivers as `Arc<dyn TaskDriver>`.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Runs tasks of one kind (raw_exec, exec, docker).
///
/// Every method may be called concurrently with the others on the same handle; in
/// particular a `wait` is normally pending while `stop` or `signal` is called.
/// Every implementation must pass [`testing::run_battery`](crate::testing::run_battery).
pub trait TaskDriver: Send + Sync + Debug {
    /// The name jobs use in `driver = "..."`.
    fn name(&self) -> &str;

    /// Whether the driver can run here, and the node attributes it contributes.
    fn fingerprint(&self) -> BoxFuture<'_, DriverFingerprint>;

    /// Starts the task and returns once it is running.
    fn start(&self, spec: TaskSpec) -> BoxFuture<'_, Result<TaskHandle, DriverError>>;

    /// Resolves when the task has exited; again with the same result on every call.
    fn wait<'a>(&'a self, handle: &'a TaskHandle) -> BoxFuture<'a, ExitResult>;

    /// Sends `signal` (the driver's default when empty) to the task and everything it
    /// started, waits up to `timeout` for it to exit, then kills it. Returns once the
    /// task has exited; a task that already had is not an error.
    fn stop<'a>(
        &'a self,
        handle: &'a TaskHandle,
        signal: &'a str,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<(), DriverError>>;

    /// Sends `signal` (e.g. `"SIGHUP"`) to the task's main process.
    fn signal<'a>(
        &'a self,
        handle: &'a TaskHandle,
        signal: &'a str,
    ) -> BoxFuture<'a, Result<(), DriverError>>;

    /// Re-attaches to a task started before an agent restart, from its persisted
    /// state. A task that is gone meanwhile yields a handle whose `wait` resolves at
    /// once with an unknown exit code.
    fn recover<'a>(
        &'a self,
        state: &'a TaskHandleState,
    ) -> BoxFuture<'a, Result<TaskHandle, DriverError>>;

    /// Kills the task if it still runs and releases what the driver holds for it.
    fn destroy<'a>(&'a self, handle: &'a TaskHandle) -> BoxFuture<'a, Result<(), DriverError>>;
}
