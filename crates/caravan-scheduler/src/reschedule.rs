//! Reschedule policies: whether, and when, a failed allocation is replaced.

use caravan_model::{Allocation, Duration, Job, JobType, ReschedulePolicy, TaskGroup};

/// What to do with a failed allocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reschedule {
    /// Replace it now; the delay that was waited is recorded.
    Now(Duration),
    /// Replace it at this time (unix ns).
    Later(i64),
    /// Attempts are used up (or the policy allows none): leave it failed.
    Never,
}

/// The group's policy (else the job's), with Nomad's per-type defaults for what it
/// leaves unset. System jobs do not reschedule.
pub(crate) fn policy_for(job: &Job, group: &TaskGroup) -> ReschedulePolicy {
    let set = group
        .reschedule_policy
        .clone()
        .or_else(|| job.reschedule.clone())
        .unwrap_or_default();
    let defaults = match job.kind() {
        JobType::Service => ReschedulePolicy {
            attempts: Some(0),
            interval: Some(Duration::ZERO),
            delay: Some(Duration::from_secs(30)),
            delay_function: Some("exponential".to_owned()),
            max_delay: Some(Duration::from_hours(1)),
            unlimited: Some(true),
        },
        JobType::Batch => ReschedulePolicy {
            attempts: Some(1),
            interval: Some(Duration::from_hours(24)),
            delay: Some(Duration::from_secs(5)),
            delay_function: Some("constant".to_owned()),
            max_delay: Some(Duration::ZERO),
            unlimited: Some(false),
        },
        JobType::System | JobType::Sysbatch => ReschedulePolicy {
            attempts: Some(0),
            unlimited: Some(false),
            ..ReschedulePolicy::default()
        },
    };
    ReschedulePolicy {
        attempts: set.attempts.or(defaults.attempts),
        interval: set.interval.or(defaults.interval),
        delay: set.delay.or(defaults.delay),
        delay_function: set.delay_function.or(defaults.delay_function),
        max_delay: set.max_delay.or(defaults.max_delay),
        unlimited: set.unlimited.or(defaults.unlimited),
    }
}

/// When the allocation failed: its last task event, else its last update.
fn failed_at(alloc: &Allocation) -> i64 {
    alloc
        .task_states
        .values()
        .flat_map(|s| s.events.iter().map(|e| e.time))
        .max()
        .unwrap_or(alloc.modify_time)
}

/// The delay before the next attempt, after `previous` reschedules.
fn delay(policy: &ReschedulePolicy, previous: usize) -> Duration {
    let base = policy.delay.unwrap_or_default().as_nanos().max(0);
    let max = policy.max_delay.unwrap_or_default().as_nanos();
    let capped = |d: i64| if max > 0 { d.min(max) } else { d };
    let steps = previous.min(62) as u32;
    let ns = match policy.delay_function.as_deref() {
        Some("exponential") => capped(base.saturating_mul(1_i64 << steps.min(62))),
        Some("fibonacci") => {
            let (mut a, mut b) = (base, base);
            for _ in 0..steps {
                (a, b) = (b, capped(a.saturating_add(b)));
            }
            capped(a)
        }
        _ => capped(base),
    };
    Duration::from_nanos(ns)
}

/// Decides a failed allocation's fate at `now`.
pub(crate) fn decide(alloc: &Allocation, policy: &ReschedulePolicy, now: i64) -> Reschedule {
    let events = alloc
        .reschedule_tracker
        .as_ref()
        .map(|t| t.events.as_slice())
        .unwrap_or(&[]);
    if !policy.unlimited.unwrap_or(false) {
        let interval = policy.interval.unwrap_or_default().as_nanos();
        let recent = events
            .iter()
            .filter(|e| interval <= 0 || e.reschedule_time > now.saturating_sub(interval))
            .count();
        if recent as i64 >= policy.attempts.unwrap_or(0) {
            return Reschedule::Never;
        }
    }
    let wait = delay(policy, events.len());
    let at = failed_at(alloc).saturating_add(wait.as_nanos());
    if at <= now {
        Reschedule::Now(wait)
    } else {
        Reschedule::Later(at)
    }
}

#[cfg(test)]
mod tests {
    use caravan_model::{RescheduleEvent, RescheduleTracker};

    use super::*;

    const S: i64 = 1_000_000_000;

    fn policy(function: &str) -> ReschedulePolicy {
        ReschedulePolicy {
            attempts: Some(3),
            interval: Some(Duration::from_mins(10)),
            delay: Some(Duration::from_secs(5)),
            delay_function: Some(function.to_owned()),
            max_delay: Some(Duration::from_secs(60)),
            unlimited: Some(false),
        }
    }

    fn failed(at: i64, past: &[i64]) -> Allocation {
        Allocation {
            client_status: "failed".into(),
            modify_time: at,
            reschedule_tracker: Some(RescheduleTracker {
                events: past
                    .iter()
                    .map(|t| RescheduleEvent {
                        reschedule_time: *t,
                        ..RescheduleEvent::default()
                    })
                    .collect(),
            }),
            ..Allocation::default()
        }
    }

    #[test]
    fn delay_functions() {
        let secs = |f: &str, n| delay(&policy(f), n).as_nanos() / S;
        assert_eq!(
            (0..5).map(|n| secs("constant", n)).collect::<Vec<_>>(),
            vec![5, 5, 5, 5, 5]
        );
        assert_eq!(
            (0..6).map(|n| secs("exponential", n)).collect::<Vec<_>>(),
            vec![5, 10, 20, 40, 60, 60]
        );
        assert_eq!(
            (0..6).map(|n| secs("fibonacci", n)).collect::<Vec<_>>(),
            vec![5, 5, 10, 15, 25, 40]
        );
        assert_eq!(secs("fibonacci", 9), 60);
    }

    #[test]
    fn waits_for_the_delay_then_reschedules() {
        let p = policy("constant");
        let alloc = failed(100 * S, &[]);
        assert_eq!(decide(&alloc, &p, 101 * S), Reschedule::Later(105 * S));
        assert_eq!(
            decide(&alloc, &p, 105 * S),
            Reschedule::Now(Duration::from_secs(5))
        );
    }

    #[test]
    fn attempts_count_within_the_interval() {
        let p = policy("constant");
        let now = 1000 * S;
        assert_eq!(
            decide(&failed(0, &[990 * S, 980 * S, 970 * S]), &p, now),
            Reschedule::Never
        );
        // One of the three is older than the 10 minute interval.
        assert!(matches!(
            decide(&failed(0, &[990 * S, 980 * S, 100 * S]), &p, now),
            Reschedule::Now(_)
        ));
        let unlimited = ReschedulePolicy {
            unlimited: Some(true),
            ..p
        };
        assert!(matches!(
            decide(&failed(0, &[990 * S; 9]), &unlimited, now),
            Reschedule::Now(_)
        ));
    }

    #[test]
    fn defaults_per_job_type() {
        let mut job = Job {
            job_type: Some("batch".into()),
            ..Job::default()
        };
        let group = TaskGroup::default();
        let p = policy_for(&job, &group);
        assert_eq!((p.attempts, p.unlimited), (Some(1), Some(false)));
        job.job_type = Some("service".into());
        let p = policy_for(&job, &group);
        assert_eq!(
            (p.unlimited, p.delay_function.as_deref()),
            (Some(true), Some("exponential"))
        );
        job.reschedule = Some(ReschedulePolicy {
            attempts: Some(7),
            ..ReschedulePolicy::default()
        });
        assert_eq!(policy_for(&job, &group).attempts, Some(7));
    }
}
