//! Runs checks on their intervals: the async loop around [`CheckTracker`] and
//! [`CheckRestartTracker`], carrying out their decisions (send a result, ask for a
//! restart) and nothing more.
//!
//! Timing: each check first runs [`first_delay`] after the start (half its interval,
//! at most one second: Nomad waits half the interval, which keeps a fresh instance's
//! health unknown for seconds; running at once would probe a process that has not
//! bound its port yet), then `interval` after each run ends. A run that outlives the
//! check's timeout (plus [`KILL_GRACE`]) is abandoned as a failure. All waiting is on
//! tokio's clock, so tests can pause it.
//!
//! Timestamps are Unix nanoseconds: the clock is read once at the start and advanced
//! by tokio's monotonic clock, so they are ordered and, under paused time, exact.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::event::{CheckEvent, CheckUpdate, RestartRequest};
use super::handle::CheckRunnerHandle;
use super::probe_result::ProbeResult;
use super::prober::Prober;
use super::restart::CheckRestartTracker;
use super::script::KILL_GRACE;
use super::spec::CheckSpec;
use super::status::CheckTracker;
use crate::{Clock, SystemClock};

/// The longest wait before a check's first run.
pub const MAX_FIRST_DELAY: Duration = Duration::from_secs(1);

/// How long after the start a check with `interval` first runs.
pub fn first_delay(interval: Duration) -> Duration {
    (interval / 2).min(MAX_FIRST_DELAY)
}

/// Starts the checks of an allocation.
#[derive(Debug)]
pub struct CheckRunner;

impl CheckRunner {
    /// Runs `checks` with `prober`, sending reported results and restart requests to
    /// `events`, until the handle is dropped or stopped (or `events` is closed).
    pub fn spawn(
        checks: Vec<CheckSpec>,
        prober: Arc<dyn Prober>,
        events: mpsc::UnboundedSender<CheckEvent>,
    ) -> CheckRunnerHandle {
        Self::spawn_with_clock(checks, prober, events, Arc::new(SystemClock))
    }

    /// As [`CheckRunner::spawn`], with timestamps from `clock`.
    pub fn spawn_with_clock(
        checks: Vec<CheckSpec>,
        prober: Arc<dyn Prober>,
        events: mpsc::UnboundedSender<CheckEvent>,
        clock: Arc<dyn Clock>,
    ) -> CheckRunnerHandle {
        let time = Timeline {
            unix_ns: clock.now_unix_ns(),
            instant: Instant::now(),
        };
        // Until told otherwise, a task started when its checks did.
        let starts: BTreeMap<String, i64> = checks
            .iter()
            .filter(|c| !c.task.is_empty())
            .map(|c| (c.task.clone(), time.unix_ns))
            .collect();
        let (started_tx, started_rx) = watch::channel(starts);
        let mut set = JoinSet::new();
        for spec in checks {
            set.spawn(run_check(
                spec,
                prober.clone(),
                events.clone(),
                time,
                started_rx.clone(),
            ));
        }
        CheckRunnerHandle::new(set, started_tx)
    }
}

/// Unix time anchored to tokio's clock.
#[derive(Debug, Clone, Copy)]
struct Timeline {
    unix_ns: i64,
    instant: Instant,
}

impl Timeline {
    fn now_unix_ns(&self) -> i64 {
        let elapsed = i64::try_from(self.instant.elapsed().as_nanos()).unwrap_or(i64::MAX);
        self.unix_ns.saturating_add(elapsed)
    }
}

async fn run_check(
    spec: CheckSpec,
    prober: Arc<dyn Prober>,
    events: mpsc::UnboundedSender<CheckEvent>,
    time: Timeline,
    started: watch::Receiver<BTreeMap<String, i64>>,
) {
    let mut tracker = CheckTracker::new(&spec.check, spec.provider);
    let mut restart = if spec.task.is_empty() {
        None
    } else {
        CheckRestartTracker::for_check(&spec.check)
    };
    let interval = spec.interval();
    let limit = spec.timeout() + KILL_GRACE;
    tokio::time::sleep(first_delay(interval)).await;
    loop {
        let result = match tokio::time::timeout(limit, prober.probe(&spec)).await {
            Ok(result) => result,
            Err(_) => ProbeResult::failure(format!(
                "{} check timed out after {}",
                spec.check.check_type,
                caravan_model::Duration::from(spec.timeout())
            )),
        };
        let now = time.now_unix_ns();
        if let Some(change) = tracker.record(result, now) {
            let update = CheckUpdate {
                id: spec.id.clone(),
                status: change.status,
                output: change.output,
                timestamp: now,
            };
            if events.send(CheckEvent::Update(update)).is_err() {
                return;
            }
        }
        if let Some(restart) = &mut restart {
            let task_started_at = started
                .borrow()
                .get(&spec.task)
                .copied()
                .unwrap_or(time.unix_ns);
            if restart.record(tracker.status(), now, task_started_at) {
                let request = RestartRequest {
                    task: spec.task.clone(),
                    check_id: spec.id.clone(),
                    check_name: spec.name.clone(),
                    reason: format!("healthcheck: check {:?} unhealthy", spec.name),
                    timestamp: now,
                };
                if events.send(CheckEvent::Restart(request)).is_err() {
                    return;
                }
            }
        }
        tokio::time::sleep(interval).await;
    }
}
