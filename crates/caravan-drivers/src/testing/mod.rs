//! The test battery every [`TaskDriver`] must pass, and what driver tests share.
//!
//! [`run_battery`] runs every check; each check is also public, so a driver's test
//! file can give each its own `#[tokio::test]`.

mod logs;
mod scenario;
mod temp_root;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

pub use logs::{read_log, wait_for_log};
pub use scenario::{READY, STDERR_LINE, STDOUT_LINE, Scenario};
pub use temp_root::{TEST_PATH, TempRoot};

use crate::{DriverError, TaskDriver, TaskHandle, TaskHandleState, TaskSpec};

/// A bound on anything that should happen at once, generous for loaded machines: a
/// check never fails for being slow, only for hanging.
pub const PATIENCE: Duration = Duration::from_secs(30);

const SIGINT: i32 = 2;
const SIGKILL: i32 = 9;
const SIGUSR1: i32 = 10;
const SIGTERM: i32 = 15;

/// Runs every check against the driver. `new_driver` is called once for the driver
/// under test and once more to play the same driver after an agent restart.
pub async fn run_battery(
    new_driver: impl Fn() -> Arc<dyn TaskDriver>,
    make_spec: impl Fn(Scenario) -> TaskSpec,
) {
    let driver = new_driver();
    let restarted = new_driver();
    let (d, r, s): (
        &dyn TaskDriver,
        &dyn TaskDriver,
        &dyn Fn(Scenario) -> TaskSpec,
    ) = (&*driver, &*restarted, &make_spec);
    check_fingerprint(d).await;
    // The checks are independent, so they run side by side.
    tokio::join!(
        check_exit_codes(d, s),
        check_logs(d, s),
        check_signal(d, s),
        check_stop(d, s),
        check_stop_timeout(d, s),
        check_concurrent_wait(d, s),
        check_recover(d, r, s),
        check_destroy(d, s),
        check_bad_config(d, s),
    );
}

/// The driver is detected and healthy and has a name.
pub async fn check_fingerprint(driver: &dyn TaskDriver) {
    let fp = driver.fingerprint().await;
    assert!(!driver.name().is_empty(), "a driver needs a name");
    assert!(
        fp.detected && fp.healthy,
        "{} is not usable here: {fp:?}",
        driver.name()
    );
}

/// Exit codes are reported, and `wait` answers again with the same result.
pub async fn check_exit_codes(driver: &dyn TaskDriver, make_spec: &dyn Fn(Scenario) -> TaskSpec) {
    let h = start(driver, make_spec(Scenario::ExitZero)).await;
    let exit = within(driver.wait(&h), "ExitZero to exit").await;
    assert!(exit.successful(), "ExitZero: {exit:?}");

    let h = start(driver, make_spec(Scenario::ExitCode3)).await;
    let exit = within(driver.wait(&h), "ExitCode3 to exit").await;
    assert_eq!(
        (exit.exit_code, exit.signal),
        (Some(3), None),
        "ExitCode3: {exit:?}"
    );
    assert!(!exit.successful());
    // A second wait, e.g. by a restarted task runner, sees the same end.
    assert_eq!(within(driver.wait(&h), "a second wait").await, exit);
}

/// stdout and stderr land in their own `<base>.0` log files.
pub async fn check_logs(driver: &dyn TaskDriver, make_spec: &dyn Fn(Scenario) -> TaskSpec) {
    let spec = make_spec(Scenario::PrintLogs);
    let logs = spec.logs.clone();
    let h = start(driver, spec).await;
    let exit = within(driver.wait(&h), "PrintLogs to exit").await;
    assert!(exit.successful(), "PrintLogs: {exit:?}");
    wait_for_log(&logs.stdout_base, STDOUT_LINE, PATIENCE).await;
    wait_for_log(&logs.stderr_base, STDERR_LINE, PATIENCE).await;
    assert!(
        !read_log(&logs.stdout_base).contains(STDERR_LINE),
        "stderr leaked into stdout"
    );
    let mut first = logs.stdout_base.into_os_string();
    first.push(".0");
    assert!(std::path::Path::new(&first).is_file(), "no {first:?}");
}

/// `signal` reaches the task; unknown names and exited tasks are errors.
pub async fn check_signal(driver: &dyn TaskDriver, make_spec: &dyn Fn(Scenario) -> TaskSpec) {
    let (h, _) = start_ready(driver, make_spec(Scenario::LongRunning)).await;
    let bogus = driver.signal(&h, "SIGBOGUS").await;
    assert!(
        matches!(bogus, Err(DriverError::UnknownSignal(_))),
        "SIGBOGUS: {bogus:?}"
    );
    driver.signal(&h, "SIGUSR1").await.expect("send SIGUSR1");
    let exit = within(driver.wait(&h), "SIGUSR1 to end the task").await;
    assert_eq!(exit.signal, Some(SIGUSR1), "after SIGUSR1: {exit:?}");
    assert_eq!(exit.exit_code, Some(128 + SIGUSR1));
    let late = driver.signal(&h, "SIGUSR1").await;
    assert!(
        matches!(late, Err(DriverError::NotRunning { .. })),
        "signal after exit: {late:?}"
    );
}

/// `stop` delivers the given signal and returns once the task has exited; a second
/// stop is a no-op.
pub async fn check_stop(driver: &dyn TaskDriver, make_spec: &dyn Fn(Scenario) -> TaskSpec) {
    let (h, _) = start_ready(driver, make_spec(Scenario::LongRunning)).await;
    let began = tokio::time::Instant::now();
    within(driver.stop(&h, "SIGTERM", PATIENCE * 2), "stop")
        .await
        .expect("stop");
    assert!(began.elapsed() < PATIENCE, "stop waited for its timeout");
    let exit = within(driver.wait(&h), "the stopped task's exit").await;
    assert_eq!(
        exit.signal,
        Some(SIGTERM),
        "after stop with SIGTERM: {exit:?}"
    );
    within(driver.stop(&h, "SIGTERM", PATIENCE), "a second stop")
        .await
        .expect("a second stop is fine");
    let bogus = driver.stop(&h, "SIGBOGUS", PATIENCE).await;
    assert!(bogus.is_err(), "stop with an unknown signal: {bogus:?}");
}

/// A task that ignores the stop signal is killed once the timeout has passed.
pub async fn check_stop_timeout(driver: &dyn TaskDriver, make_spec: &dyn Fn(Scenario) -> TaskSpec) {
    let (h, _) = start_ready(driver, make_spec(Scenario::IgnoresTerm)).await;
    let timeout = Duration::from_millis(800);
    let began = tokio::time::Instant::now();
    within(driver.stop(&h, "SIGTERM", timeout), "stop with a timeout")
        .await
        .expect("stop");
    let waited = began.elapsed();
    assert!(
        waited >= timeout,
        "killed after {waited:?}, before the {timeout:?} timeout"
    );
    let exit = within(driver.wait(&h), "the killed task's exit").await;
    assert_eq!(
        exit.signal,
        Some(SIGKILL),
        "a task ignoring SIGTERM: {exit:?}"
    );
}

/// Several waits run while a stop happens, and all see the same exit.
pub async fn check_concurrent_wait(
    driver: &dyn TaskDriver,
    make_spec: &dyn Fn(Scenario) -> TaskSpec,
) {
    let (h, _) = start_ready(driver, make_spec(Scenario::LongRunning)).await;
    let other = h.clone();
    let (a, b, stopped) = tokio::join!(
        within(driver.wait(&h), "the first wait"),
        within(driver.wait(&other), "the second wait"),
        within(driver.stop(&h, "SIGINT", PATIENCE), "stop during waits"),
    );
    stopped.expect("stop during waits");
    assert_eq!(a, b);
    assert_eq!(a.signal, Some(SIGINT), "after SIGINT: {a:?}");
}

/// After a restart (the handle dropped, a new driver given the persisted state), a
/// running task can be stopped again, and a task gone meanwhile reads as an unknown
/// exit.
pub async fn check_recover(
    driver: &dyn TaskDriver,
    restarted: &dyn TaskDriver,
    make_spec: &dyn Fn(Scenario) -> TaskSpec,
) {
    let (h, _) = start_ready(driver, make_spec(Scenario::LongRunning)).await;
    let state = persisted(&h);
    drop(h);
    let h = within(restarted.recover(&state), "recover")
        .await
        .expect("recover a running task");
    assert_eq!(h.state().task_name, state.task_name);
    within(
        restarted.stop(&h, "SIGTERM", PATIENCE),
        "stop the recovered task",
    )
    .await
    .expect("stop the recovered task");
    // Whoever reaped it, the restarted driver saw it go: that is all it can promise.
    within(restarted.wait(&h), "the recovered task's exit").await;

    let h = start(driver, make_spec(Scenario::ExitZero)).await;
    within(driver.wait(&h), "ExitZero to exit").await;
    let state = persisted(&h);
    drop(h);
    let h = within(restarted.recover(&state), "recover a finished task")
        .await
        .expect("recovering a finished task still gives a handle");
    let exit = within(restarted.wait(&h), "the finished task's wait").await;
    assert_eq!(exit.exit_code, None, "an exit nobody saw: {exit:?}");
    assert!(!exit.successful());

    let mut foreign = state;
    foreign.driver = "someone-else".to_owned();
    assert!(
        restarted.recover(&foreign).await.is_err(),
        "recovered another driver's task"
    );
}

/// `destroy` ends a running task; destroying again is fine.
pub async fn check_destroy(driver: &dyn TaskDriver, make_spec: &dyn Fn(Scenario) -> TaskSpec) {
    let (h, _) = start_ready(driver, make_spec(Scenario::IgnoresTerm)).await;
    within(driver.destroy(&h), "destroy")
        .await
        .expect("destroy");
    let exit = within(driver.wait(&h), "the destroyed task's exit").await;
    assert!(!exit.successful(), "a destroyed task: {exit:?}");
    within(driver.destroy(&h), "a second destroy")
        .await
        .expect("a second destroy is fine");
}

/// A config the driver cannot run is refused at start.
pub async fn check_bad_config(driver: &dyn TaskDriver, make_spec: &dyn Fn(Scenario) -> TaskSpec) {
    let started = driver.start(make_spec(Scenario::BadConfig)).await;
    assert!(started.is_err(), "BadConfig started: {started:?}");
}

/// Starts a task, panicking with the driver's error if it cannot.
pub async fn start(driver: &dyn TaskDriver, spec: TaskSpec) -> TaskHandle {
    let task = spec.task_name.clone();
    match within(driver.start(spec), "start").await {
        Ok(h) => h,
        Err(e) => panic!("{}: cannot start {task}: {e}", driver.name()),
    }
}

/// Starts a task and waits for it to print [`READY`].
pub async fn start_ready(driver: &dyn TaskDriver, spec: TaskSpec) -> (TaskHandle, TaskSpec) {
    let kept = spec.clone();
    let h = start(driver, spec).await;
    wait_for_log(&kept.logs.stdout_base, READY, PATIENCE).await;
    (h, kept)
}

/// Awaits `fut`, panicking if it takes longer than [`PATIENCE`].
pub async fn within<T>(fut: impl Future<Output = T>, what: &str) -> T {
    match tokio::time::timeout(PATIENCE, fut).await {
        Ok(v) => v,
        Err(_) => panic!("{what} took longer than {PATIENCE:?}"),
    }
}

/// The handle's state after a trip through JSON, as the client persists it.
fn persisted(h: &TaskHandle) -> TaskHandleState {
    let json = serde_json::to_string(h.state()).expect("serialize handle state");
    serde_json::from_str(&json).expect("deserialize handle state")
}
