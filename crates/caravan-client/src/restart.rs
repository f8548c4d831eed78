//! The restart policy as a pure state machine: given how a task ended and when, decide
//! whether to start it again, after how long, or to give up.
//!
//! Semantics (Nomad's `restart` block):
//! - a batch task that exits 0 is done; a service task's exit, whatever its code, is a
//!   failure to restart (services are meant to run forever);
//! - attempts are counted in a window of `interval` that opens at the first counted
//!   exit; an exit after the window has closed opens a new one;
//! - while the count is within `attempts`, restart after `delay` plus up to 25% jitter;
//! - past `attempts`, mode `fail` gives up, mode `delay` waits until the window ends
//!   (then the count starts again);
//! - `attempts = 0` never restarts.
//!
//! Time comes in as Unix nanoseconds and the jitter as a fraction in `[0, 1)`, so the
//! tracker reads no clock and no random source.

use std::time::Duration;

use caravan_model::{JobType, Lifecycle, RestartPolicy};

/// The largest jitter, as a fraction of `delay`.
const MAX_JITTER: f64 = 0.25;

/// How a run of the task ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskOutcome {
    /// The process exited (a signal counts as a failure).
    Exited { exit_code: i64, signal: Option<i64> },
    /// The driver could not start the task. A recoverable error (e.g. a busy resource)
    /// is retried per policy; another (e.g. no such binary) fails at once.
    StartFailed { recoverable: bool },
}

impl TaskOutcome {
    pub fn exited(exit_code: i64) -> Self {
        Self::Exited {
            exit_code,
            signal: None,
        }
    }

    pub fn is_success(self) -> bool {
        matches!(
            self,
            Self::Exited {
                exit_code: 0,
                signal: None
            }
        )
    }
}

/// What to do after an exit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RestartDecision {
    /// Start the task again after `after`.
    Restart { after: Duration },
    /// Attempts are exhausted in mode `delay`: start again when the window closes.
    WaitForInterval { after: Duration },
    /// Give up: the task is dead and failed.
    Fail { reason: String },
    /// A batch task succeeded: dead, not failed, not restarted.
    Done,
}

/// The restart policy with Nomad's defaults filled in for the job type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EffectiveRestartPolicy {
    pub attempts: u64,
    pub interval: Duration,
    pub delay: Duration,
    pub delay_mode: bool,
}

impl EffectiveRestartPolicy {
    /// Service/system: 2 attempts in 30m; batch/sysbatch: 3 in 24h; delay 15s; mode fail.
    pub fn new(policy: Option<&RestartPolicy>, job_type: JobType) -> Self {
        let (attempts, interval) = if job_type.is_batch_like() {
            (3, Duration::from_secs(24 * 3600))
        } else {
            (2, Duration::from_secs(30 * 60))
        };
        let attempts = policy
            .and_then(|p| p.attempts)
            .map_or(attempts, |a| u64::try_from(a).unwrap_or(0));
        let interval = policy
            .and_then(|p| p.interval)
            .map_or(interval, |d| d.to_std());
        let delay = policy
            .and_then(|p| p.delay)
            .map_or(Duration::from_secs(15), |d| d.to_std());
        let delay_mode = policy.and_then(|p| p.mode.as_deref()) == Some("delay");
        Self {
            attempts,
            interval,
            delay,
            delay_mode,
        }
    }

    fn mode(&self) -> &'static str {
        if self.delay_mode { "delay" } else { "fail" }
    }
}

/// Counts exits against a [`RestartPolicy`].
#[derive(Debug, Clone)]
pub struct RestartTracker {
    policy: EffectiveRestartPolicy,
    /// Exit 0 ends the task for good: batch jobs, and ephemeral lifecycle tasks.
    success_is_done: bool,
    /// When the current window opened (Unix ns); `None` before the first counted exit.
    window_start: Option<i64>,
    count: u64,
}

impl RestartTracker {
    /// A tracker for a task's effective policy: the task's own block, else the group's.
    pub fn new(policy: Option<&RestartPolicy>, job_type: JobType) -> Self {
        Self::with_policy(EffectiveRestartPolicy::new(policy, job_type), job_type)
    }

    pub fn with_policy(policy: EffectiveRestartPolicy, job_type: JobType) -> Self {
        Self {
            policy,
            success_is_done: job_type.is_batch_like(),
            window_start: None,
            count: 0,
        }
    }

    /// A tracker for a task with its lifecycle: prestart and poststart tasks that are
    /// not sidecars, and poststop tasks, are done after exit 0 even in a service job.
    pub fn for_task(
        policy: Option<&RestartPolicy>,
        job_type: JobType,
        lifecycle: Option<&Lifecycle>,
    ) -> Self {
        let mut tracker = Self::new(policy, job_type);
        if lifecycle.is_some_and(|l| !l.hook.is_empty() && (!l.sidecar || l.hook == "poststop")) {
            tracker.success_is_done = true;
        }
        tracker
    }

    pub fn policy(&self) -> &EffectiveRestartPolicy {
        &self.policy
    }

    /// Exits counted in the current window.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Decides what follows an exit at `now_ns`; `jitter` is a random fraction in
    /// `[0, 1)` (clamped) that stretches the delay by up to 25%.
    pub fn on_exit(&mut self, outcome: TaskOutcome, now_ns: i64, jitter: f64) -> RestartDecision {
        if self.success_is_done && outcome.is_success() {
            return RestartDecision::Done;
        }
        if let TaskOutcome::StartFailed { recoverable: false } = outcome {
            return RestartDecision::Fail {
                reason: "Error was unrecoverable".to_owned(),
            };
        }
        if self.policy.attempts == 0 {
            return RestartDecision::Fail {
                reason: "Policy allows no restarts".to_owned(),
            };
        }
        let interval_ns = i64::try_from(self.policy.interval.as_nanos()).unwrap_or(i64::MAX);
        let window_end = |start: i64| start.saturating_add(interval_ns);
        let start = match self.window_start {
            Some(start) if now_ns <= window_end(start) => start,
            _ => {
                self.window_start = Some(now_ns);
                self.count = 0;
                now_ns
            }
        };
        self.count += 1;
        if self.count <= self.policy.attempts {
            return RestartDecision::Restart {
                after: self.jittered_delay(jitter),
            };
        }
        let exhausted = format!(
            "Exceeded allowed attempts {} in interval {} and mode is \"{}\"",
            self.policy.attempts,
            caravan_model::Duration::from(self.policy.interval),
            self.policy.mode()
        );
        if self.policy.delay_mode {
            let left = u64::try_from(window_end(start).saturating_sub(now_ns)).unwrap_or(0);
            RestartDecision::WaitForInterval {
                after: Duration::from_nanos(left),
            }
        } else {
            RestartDecision::Fail { reason: exhausted }
        }
    }

    /// Why the last decision was taken, as Nomad words it for task events.
    pub fn describe(&self, decision: &RestartDecision) -> String {
        match decision {
            RestartDecision::Restart { .. } => "Restart within policy".to_owned(),
            RestartDecision::WaitForInterval { .. } => format!(
                "Exceeded allowed attempts {} in interval {} and mode is \"delay\"",
                self.policy.attempts,
                caravan_model::Duration::from(self.policy.interval)
            ),
            RestartDecision::Fail { reason } => reason.clone(),
            RestartDecision::Done => "Task completed successfully".to_owned(),
        }
    }

    fn jittered_delay(&self, jitter: f64) -> Duration {
        let fraction = if jitter.is_finite() {
            jitter.clamp(0.0, 1.0)
        } else {
            0.0
        };
        self.policy.delay + self.policy.delay.mul_f64(fraction * MAX_JITTER)
    }
}

#[cfg(test)]
mod tests {
    use caravan_model::Duration as ModelDuration;

    use super::*;

    const S: i64 = 1_000_000_000;

    fn policy(attempts: i64, interval_s: i64, delay_s: i64, mode: &str) -> RestartPolicy {
        RestartPolicy {
            attempts: Some(attempts),
            interval: Some(ModelDuration::from_secs(interval_s)),
            delay: Some(ModelDuration::from_secs(delay_s)),
            mode: Some(mode.to_owned()),
            render_templates: None,
        }
    }

    fn restart(s: u64) -> RestartDecision {
        RestartDecision::Restart {
            after: Duration::from_secs(s),
        }
    }

    fn is_fail(d: &RestartDecision) -> bool {
        matches!(d, RestartDecision::Fail { .. })
    }

    struct Case {
        name: &'static str,
        policy: RestartPolicy,
        job: JobType,
        /// (outcome, time in seconds, expected decision; `None` means "a Fail").
        steps: Vec<(TaskOutcome, i64, Option<RestartDecision>)>,
    }

    #[test]
    fn table() {
        let fail = TaskOutcome::exited(1);
        let ok = TaskOutcome::exited(0);
        let cases = vec![
            Case {
                name: "batch success is done",
                policy: policy(3, 60, 5, "fail"),
                job: JobType::Batch,
                steps: vec![(ok, 0, Some(RestartDecision::Done))],
            },
            Case {
                name: "batch success is done even with no attempts",
                policy: policy(0, 60, 5, "fail"),
                job: JobType::Sysbatch,
                steps: vec![(ok, 0, Some(RestartDecision::Done))],
            },
            Case {
                name: "service exit 0 is a failure to restart",
                policy: policy(1, 60, 5, "fail"),
                job: JobType::Service,
                steps: vec![(ok, 0, Some(restart(5))), (ok, 10, None)],
            },
            Case {
                name: "attempts exhausted in the interval, mode fail",
                policy: policy(2, 60, 5, "fail"),
                job: JobType::Service,
                steps: vec![
                    (fail, 0, Some(restart(5))),
                    (fail, 10, Some(restart(5))),
                    (fail, 20, None),
                ],
            },
            Case {
                name: "a new interval resets the count",
                policy: policy(1, 60, 5, "fail"),
                job: JobType::Batch,
                steps: vec![
                    (fail, 0, Some(restart(5))),
                    (fail, 61, Some(restart(5))),
                    (fail, 100, None),
                ],
            },
            Case {
                name: "mode delay waits for the window to close, then counts again",
                policy: policy(1, 60, 5, "delay"),
                job: JobType::Service,
                steps: vec![
                    (fail, 0, Some(restart(5))),
                    (
                        fail,
                        20,
                        Some(RestartDecision::WaitForInterval {
                            after: Duration::from_secs(40),
                        }),
                    ),
                    (fail, 65, Some(restart(5))),
                ],
            },
            Case {
                name: "zero attempts fails at once",
                policy: policy(0, 60, 5, "fail"),
                job: JobType::Service,
                steps: vec![(fail, 0, None)],
            },
            Case {
                name: "a signal is a failure even with code 0",
                policy: policy(0, 60, 5, "fail"),
                job: JobType::Batch,
                steps: vec![(
                    TaskOutcome::Exited {
                        exit_code: 0,
                        signal: Some(9),
                    },
                    0,
                    None,
                )],
            },
            Case {
                name: "unrecoverable start error fails at once",
                policy: policy(5, 60, 5, "fail"),
                job: JobType::Service,
                steps: vec![(TaskOutcome::StartFailed { recoverable: false }, 0, None)],
            },
            Case {
                name: "recoverable start error is retried",
                policy: policy(1, 60, 5, "fail"),
                job: JobType::Service,
                steps: vec![
                    (
                        TaskOutcome::StartFailed { recoverable: true },
                        0,
                        Some(restart(5)),
                    ),
                    (TaskOutcome::StartFailed { recoverable: true }, 1, None),
                ],
            },
        ];
        for case in cases {
            let mut tracker = RestartTracker::new(Some(&case.policy), case.job);
            for (i, (outcome, at, want)) in case.steps.into_iter().enumerate() {
                let got = tracker.on_exit(outcome, at * S, 0.0);
                match want {
                    Some(want) => assert_eq!(got, want, "{}: step {i}", case.name),
                    None => assert!(is_fail(&got), "{}: step {i}: {got:?}", case.name),
                }
            }
        }
    }

    #[test]
    fn ephemeral_lifecycle_tasks_are_done_after_success_in_service_jobs() {
        let hook = |hook: &str, sidecar| Lifecycle {
            hook: hook.into(),
            sidecar,
        };
        let ok = TaskOutcome::exited(0);
        for (lifecycle, done) in [
            (None, false),
            (Some(hook("prestart", false)), true),
            (Some(hook("prestart", true)), false),
            (Some(hook("poststart", false)), true),
            (Some(hook("poststart", true)), false),
            (Some(hook("poststop", false)), true),
        ] {
            let mut t = RestartTracker::for_task(None, JobType::Service, lifecycle.as_ref());
            let decision = t.on_exit(ok, 0, 0.0);
            assert_eq!(
                decision == RestartDecision::Done,
                done,
                "{lifecycle:?}: {decision:?}"
            );
        }
    }

    #[test]
    fn defaults_per_job_type() {
        let service = EffectiveRestartPolicy::new(None, JobType::Service);
        assert_eq!(service.attempts, 2);
        assert_eq!(service.interval, Duration::from_secs(1800));
        assert_eq!(service.delay, Duration::from_secs(15));
        assert!(!service.delay_mode);
        let batch = EffectiveRestartPolicy::new(None, JobType::Batch);
        assert_eq!(batch.attempts, 3);
        assert_eq!(batch.interval, Duration::from_secs(86_400));
        let partial = RestartPolicy {
            attempts: Some(7),
            ..RestartPolicy::default()
        };
        let merged = EffectiveRestartPolicy::new(Some(&partial), JobType::System);
        assert_eq!(
            (merged.attempts, merged.interval),
            (7, Duration::from_secs(1800))
        );
    }

    #[test]
    fn jitter_is_at_most_a_quarter_of_the_delay() {
        let p = policy(10, 600, 20, "fail");
        for (jitter, want_ms) in [
            (0.0, 20_000),
            (0.5, 22_500),
            (0.999_999, 24_999),
            (7.0, 25_000),
            (-1.0, 20_000),
        ] {
            let mut t = RestartTracker::new(Some(&p), JobType::Service);
            let RestartDecision::Restart { after } = t.on_exit(TaskOutcome::exited(1), 0, jitter)
            else {
                panic!("expected a restart");
            };
            assert_eq!(after.as_millis(), want_ms, "jitter {jitter}");
        }
        let mut t = RestartTracker::new(Some(&p), JobType::Service);
        let RestartDecision::Restart { after } = t.on_exit(TaskOutcome::exited(1), 0, f64::NAN)
        else {
            panic!("expected a restart");
        };
        assert_eq!(after, Duration::from_secs(20));
    }

    #[test]
    fn fail_reason_names_the_policy() {
        let mut t = RestartTracker::new(Some(&policy(1, 1800, 1, "fail")), JobType::Service);
        t.on_exit(TaskOutcome::exited(1), 0, 0.0);
        let decision = t.on_exit(TaskOutcome::exited(1), S, 0.0);
        assert_eq!(
            decision,
            RestartDecision::Fail {
                reason: "Exceeded allowed attempts 1 in interval 30m0s and mode is \"fail\"".into()
            }
        );
        assert_eq!(t.describe(&restart(1)), "Restart within policy");
    }
}
