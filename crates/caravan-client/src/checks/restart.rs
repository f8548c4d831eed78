//! `check_restart` as a pure state machine: restart a task whose check stays unhealthy.
//!
//! Semantics (Nomad's `check_restart`, counted in results rather than Nomad's
//! `interval * (limit - 1)` of wall time, which is the same on a steady interval):
//! - `limit` consecutive unhealthy statuses restart the task; `limit = 0` disables it;
//! - critical is unhealthy; warning is too, unless `ignore_warnings`, which treats it
//!   as passing; a healthy status (or pending) starts the count again;
//! - statuses within `grace` (default 1s) of the task's (re)start are not counted;
//! - once a restart is asked for, nothing more is counted until the task has started
//!   again (a new `task_started_at`), so one start gets at most one restart.
//!
//! Times come in as Unix nanoseconds; the tracker reads no clock.

use caravan_model::{CheckRestart, ServiceCheck};

use super::state::CheckState;

/// Nomad's default `check_restart.grace`.
pub const DEFAULT_GRACE: caravan_model::Duration = caravan_model::Duration::from_secs(1);

/// Counts one check's consecutive unhealthy statuses for `check_restart`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckRestartTracker {
    limit: u64,
    grace_ns: i64,
    ignore_warnings: bool,
    unhealthy: u64,
    /// The task start a restart was already asked for.
    restarted_start: Option<i64>,
}

impl CheckRestartTracker {
    pub fn new(policy: &CheckRestart) -> Self {
        Self {
            limit: u64::try_from(policy.limit).unwrap_or(0),
            grace_ns: policy.grace.unwrap_or(DEFAULT_GRACE).as_nanos().max(0),
            ignore_warnings: policy.ignore_warnings,
            unhealthy: 0,
            restarted_start: None,
        }
    }

    /// The tracker for a check's (merged) `check_restart`, if it can restart anything.
    pub fn for_check(check: &ServiceCheck) -> Option<Self> {
        check
            .check_restart
            .as_ref()
            .filter(|policy| policy.limit > 0)
            .map(Self::new)
    }

    /// How many unhealthy statuses in a row have counted so far.
    pub fn unhealthy_count(&self) -> u64 {
        self.unhealthy
    }

    /// Records the check's status at `now_unix_ns` for the task started at
    /// `task_started_at` (Unix ns); returns true when the task should restart now.
    pub fn record(&mut self, status: CheckState, now_unix_ns: i64, task_started_at: i64) -> bool {
        if self.limit == 0 {
            return false;
        }
        if self.restarted_start == Some(task_started_at) {
            return false;
        }
        let unhealthy = match status {
            CheckState::Critical => true,
            CheckState::Warning => !self.ignore_warnings,
            CheckState::Passing | CheckState::Pending => false,
        };
        if !unhealthy {
            self.unhealthy = 0;
            return false;
        }
        if now_unix_ns < task_started_at.saturating_add(self.grace_ns) {
            return false;
        }
        self.unhealthy += 1;
        if self.unhealthy < self.limit {
            return false;
        }
        self.unhealthy = 0;
        self.restarted_start = Some(task_started_at);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use CheckState::{Critical, Passing, Pending, Warning};

    const S: i64 = 1_000_000_000;

    fn tracker(limit: i64, grace_s: Option<i64>, ignore_warnings: bool) -> CheckRestartTracker {
        CheckRestartTracker::new(&CheckRestart {
            limit,
            grace: grace_s.map(caravan_model::Duration::from_secs),
            ignore_warnings,
        })
    }

    /// Feeds statuses at the given seconds, all for a task started at 0, and
    /// returns the seconds at which a restart was asked for.
    fn restarts_at(t: &mut CheckRestartTracker, steps: &[(i64, CheckState)]) -> Vec<i64> {
        steps
            .iter()
            .filter(|(at, status)| t.record(*status, at * S, 0))
            .map(|(at, _)| *at)
            .collect()
    }

    #[test]
    fn restart_table() {
        // (case, limit, grace seconds, ignore_warnings, statuses at seconds, restarts at)
        type Case<'a> = (
            &'a str,
            i64,
            Option<i64>,
            bool,
            &'a [(i64, CheckState)],
            &'a [i64],
        );
        let table: &[Case] = &[
            (
                "limit 3: the third critical in a row",
                3,
                Some(0),
                false,
                &[(1, Critical), (2, Critical), (3, Critical)],
                &[3],
            ),
            (
                "a passing status starts the count again",
                2,
                Some(0),
                false,
                &[(1, Critical), (2, Passing), (3, Critical), (4, Critical)],
                &[4],
            ),
            (
                "pending is not unhealthy",
                2,
                Some(0),
                false,
                &[(1, Critical), (2, Pending), (3, Critical)],
                &[],
            ),
            (
                "warnings count by default",
                2,
                Some(0),
                false,
                &[(1, Warning), (2, Critical)],
                &[2],
            ),
            (
                "ignore_warnings: a warning is healthy",
                2,
                Some(0),
                true,
                &[(1, Critical), (2, Warning), (3, Critical), (4, Warning)],
                &[],
            ),
            (
                "grace: statuses before start + grace are not counted",
                2,
                Some(10),
                false,
                &[
                    (1, Critical),
                    (5, Critical),
                    (9, Critical),
                    (10, Critical),
                    (11, Critical),
                ],
                &[11],
            ),
            (
                "default grace is one second",
                1,
                None,
                false,
                &[(0, Critical), (1, Critical)],
                &[1],
            ),
            (
                "one restart per task start",
                1,
                Some(0),
                false,
                &[(1, Critical), (2, Critical), (3, Critical)],
                &[1],
            ),
            (
                "limit 0 never restarts",
                0,
                Some(0),
                false,
                &[(1, Critical), (2, Critical)],
                &[],
            ),
        ];
        for (case, limit, grace, ignore, steps, want) in table {
            let mut t = tracker(*limit, *grace, *ignore);
            assert_eq!(restarts_at(&mut t, steps), *want, "{case}");
        }
    }

    #[test]
    fn a_new_start_opens_a_new_grace_and_count() {
        let mut t = tracker(2, Some(5), false);
        assert!(!t.record(Critical, 10 * S, 0));
        assert!(t.record(Critical, 11 * S, 0));
        // Restarted at 12s: within grace until 17s.
        assert!(!t.record(Critical, 13 * S, 12 * S));
        assert_eq!(t.unhealthy_count(), 0);
        assert!(!t.record(Critical, 17 * S, 12 * S));
        assert!(t.record(Critical, 18 * S, 12 * S));
    }

    #[test]
    fn for_check_needs_a_positive_limit() {
        let mut check = ServiceCheck::default();
        assert_eq!(CheckRestartTracker::for_check(&check), None);
        check.check_restart = Some(CheckRestart::default());
        assert_eq!(CheckRestartTracker::for_check(&check), None);
        check.check_restart = Some(CheckRestart {
            limit: 3,
            ..CheckRestart::default()
        });
        assert!(CheckRestartTracker::for_check(&check).is_some());
    }
}
