//! The check state machine (pure): probe results in, reported status out.
//!
//! Consul's semantics (agent/checks `StatusHandler`), which Nomad's consul provider
//! inherits:
//! - the check starts at `initial_status` (default critical); a Nomad-provider check
//!   starts "pending";
//! - a passing or warning result counts as a success and resets the failure count; it
//!   is reported once `success_before_passing` successes are in a row;
//! - a failure resets the success count; it is reported as critical once
//!   `failures_before_critical` failures are in a row, else as warning once
//!   `failures_before_warning` are (which defaults to `failures_before_critical`);
//! - the counters start *at* their thresholds, so the very first result is reported
//!   as it is (Consul: "immediately update status after first check"); the thresholds
//!   only damp later flapping;
//! - a result that does not reach its threshold changes nothing, not even the output.
//!
//! A Nomad-provider check never warns: a warning result counts as a failure.
//!
//! What is *reported* (sent to the server) is a subset of what is recorded: a status
//! change, the first result (so the server learns the check ran), and a changed
//! output in a steady status at most once per [`OUTPUT_SYNC_INTERVAL`] (Consul's
//! `check_update_interval`), so a body with a timestamp does not flood the server.
//!
//! Time comes in as Unix nanoseconds; the tracker reads no clock.

use std::time::Duration;

use caravan_model::ServiceCheck;

use super::probe_result::{ProbeOutcome, ProbeResult};
use super::spec::Provider;
use super::state::CheckState;

/// How often a changed output in an unchanged status is reported (Consul's
/// `check_update_interval` default).
pub const OUTPUT_SYNC_INTERVAL: Duration = Duration::from_secs(5 * 60);

/// A result worth sending to the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusChange {
    pub previous: CheckState,
    pub status: CheckState,
    pub output: String,
}

/// The status of one check, from its results.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckTracker {
    status: CheckState,
    output: String,
    provider: Provider,
    success_before_passing: u64,
    failures_before_warning: u64,
    failures_before_critical: u64,
    successes: u64,
    failures: u64,
    /// When the last report was made; `None` before the first.
    reported_at: Option<i64>,
    output_sync_ns: i64,
}

impl CheckTracker {
    pub fn new(check: &ServiceCheck, provider: Provider) -> Self {
        let success_before_passing = non_negative(check.success_before_passing);
        let failures_before_critical = non_negative(check.failures_before_critical);
        let failures_before_warning = match non_negative(check.failures_before_warning) {
            0 => failures_before_critical,
            n => n,
        };
        Self {
            status: initial_state(check, provider),
            output: String::new(),
            provider,
            success_before_passing,
            failures_before_warning,
            failures_before_critical,
            successes: success_before_passing,
            failures: failures_before_critical,
            reported_at: None,
            output_sync_ns: nanos(OUTPUT_SYNC_INTERVAL),
        }
    }

    /// Replaces [`OUTPUT_SYNC_INTERVAL`].
    pub fn with_output_sync_interval(mut self, interval: Duration) -> Self {
        self.output_sync_ns = nanos(interval);
        self
    }

    /// The status now.
    pub fn status(&self) -> CheckState {
        self.status
    }

    /// The output of the last result that counted (empty before the first).
    pub fn output(&self) -> &str {
        &self.output
    }

    /// Records one probe result at `now_unix_ns`; returns what to report, if anything.
    pub fn record(&mut self, result: ProbeResult, now_unix_ns: i64) -> Option<StatusChange> {
        let outcome = match (self.provider, result.outcome) {
            (Provider::Nomad, ProbeOutcome::Warning) => ProbeOutcome::Failure,
            (_, outcome) => outcome,
        };
        let status = match outcome {
            ProbeOutcome::Ok | ProbeOutcome::Warning => {
                self.successes = self.successes.saturating_add(1);
                self.failures = 0;
                if self.successes < self.success_before_passing {
                    return None;
                }
                if outcome == ProbeOutcome::Ok {
                    CheckState::Passing
                } else {
                    CheckState::Warning
                }
            }
            ProbeOutcome::Failure => {
                self.failures = self.failures.saturating_add(1);
                self.successes = 0;
                if self.failures >= self.failures_before_critical {
                    CheckState::Critical
                } else if self.failures >= self.failures_before_warning {
                    CheckState::Warning
                } else {
                    return None;
                }
            }
        };
        self.apply(status, result.output, now_unix_ns)
    }

    fn apply(&mut self, status: CheckState, output: String, now: i64) -> Option<StatusChange> {
        let previous = self.status;
        let report = match self.reported_at {
            None => true,
            Some(at) => {
                status != previous
                    || (output != self.output && now.saturating_sub(at) >= self.output_sync_ns)
            }
        };
        self.status = status;
        self.output = output;
        if !report {
            return None;
        }
        self.reported_at = Some(now);
        Some(StatusChange {
            previous,
            status,
            output: self.output.clone(),
        })
    }
}

/// The status a check has before its first result.
pub fn initial_state(check: &ServiceCheck, provider: Provider) -> CheckState {
    match provider {
        Provider::Nomad => CheckState::Pending,
        Provider::Consul => match check.initial_status.as_str() {
            "passing" => CheckState::Passing,
            "warning" => CheckState::Warning,
            // Validation refuses other words; Consul's default is critical.
            _ => CheckState::Critical,
        },
    }
}

fn non_negative(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

fn nanos(d: Duration) -> i64 {
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use CheckState::{Critical, Passing, Pending, Warning};

    const S: i64 = 1_000_000_000;

    /// A check with thresholds (success_before_passing, failures_before_warning,
    /// failures_before_critical) and an initial status.
    fn check(initial: &str, thresholds: (i64, i64, i64)) -> ServiceCheck {
        ServiceCheck {
            initial_status: initial.into(),
            success_before_passing: thresholds.0,
            failures_before_warning: thresholds.1,
            failures_before_critical: thresholds.2,
            ..ServiceCheck::default()
        }
    }

    fn result(code: char) -> ProbeResult {
        match code {
            'o' => ProbeResult::ok("ok"),
            'w' => ProbeResult::warning("slow down"),
            'f' => ProbeResult::failure("down"),
            other => panic!("unknown result code {other}"),
        }
    }

    /// Feeds results (o = ok, w = warning, f = failure) one second apart and returns
    /// the status after each, and the reported statuses (`-` when nothing was).
    fn run(tracker: &mut CheckTracker, results: &str) -> (Vec<CheckState>, String) {
        let mut statuses = Vec::new();
        let mut reported = Vec::new();
        for (i, code) in results.chars().enumerate() {
            let change = tracker.record(result(code), i64::try_from(i).expect("small") * S);
            statuses.push(tracker.status());
            reported.push(change.map_or("-", |c| match c.status {
                Pending => "pending",
                Passing => "P",
                Warning => "W",
                Critical => "C",
            }));
        }
        (statuses, reported.join(" "))
    }

    #[test]
    fn state_machine_table() {
        // (case, provider, initial_status, thresholds, results, reported)
        type Case<'a> = (
            &'a str,
            Provider,
            &'a str,
            (i64, i64, i64),
            &'a str,
            &'a str,
        );
        let table: &[Case] = &[
            (
                "consul defaults: every change reported, first result always",
                Provider::Consul,
                "",
                (0, 0, 0),
                "ffoofwo",
                "C - P - C W P",
            ),
            (
                "initial passing: a first ok is still reported (the check ran)",
                Provider::Consul,
                "passing",
                (0, 0, 0),
                "oof",
                "P - C",
            ),
            (
                "success_before_passing: first result counts at once, later ones wait",
                Provider::Consul,
                "",
                (3, 0, 0),
                "ofoooo",
                "P C - - P -",
            ),
            (
                "failures_before_critical: damped after the first result",
                Provider::Consul,
                "",
                (0, 0, 2),
                "offofff",
                "P - C P - C -",
            ),
            (
                "failures_before_warning then critical",
                Provider::Consul,
                "",
                (0, 1, 3),
                "offfof",
                "P W - C P W",
            ),
            (
                "a warning counts as a success for the thresholds",
                Provider::Consul,
                "",
                (2, 0, 2),
                "wfwfw",
                "W - - - -",
            ),
            (
                "nomad: pending first, warnings are failures",
                Provider::Nomad,
                "passing",
                (0, 0, 0),
                "owf",
                "P C -",
            ),
        ];
        for (case, provider, initial, thresholds, results, reported) in table {
            let mut tracker = CheckTracker::new(&check(initial, *thresholds), *provider);
            let (_, got) = run(&mut tracker, results);
            assert_eq!(&got, reported, "{case}");
        }
    }

    #[test]
    fn initial_status_by_provider() {
        let table = [
            (Provider::Consul, "", Critical),
            (Provider::Consul, "critical", Critical),
            (Provider::Consul, "warning", Warning),
            (Provider::Consul, "passing", Passing),
            (Provider::Consul, "bogus", Critical),
            (Provider::Nomad, "", Pending),
            (Provider::Nomad, "passing", Pending),
        ];
        for (provider, initial, want) in table {
            let tracker = CheckTracker::new(&check(initial, (0, 0, 0)), provider);
            assert_eq!(tracker.status(), want, "{provider:?} {initial:?}");
            assert_eq!(initial_state(&check(initial, (0, 0, 0)), provider), want);
            assert_eq!(tracker.output(), "");
        }
    }

    #[test]
    fn statuses_follow_thresholds_between_reports() {
        let mut tracker = CheckTracker::new(&check("", (0, 1, 3)), Provider::Consul);
        let (statuses, _) = run(&mut tracker, "offf");
        assert_eq!(statuses, [Passing, Warning, Warning, Critical]);
    }

    #[test]
    fn unreached_threshold_keeps_the_old_output() {
        let mut tracker = CheckTracker::new(&check("", (0, 0, 2)), Provider::Consul);
        tracker.record(ProbeResult::ok("fine"), 0);
        assert_eq!(tracker.record(ProbeResult::failure("boom"), S), None);
        assert_eq!(tracker.output(), "fine");
        let change = tracker.record(ProbeResult::failure("boom again"), 2 * S);
        assert_eq!(
            change,
            Some(StatusChange {
                previous: Passing,
                status: Critical,
                output: "boom again".into()
            })
        );
    }

    #[test]
    fn a_new_output_in_a_steady_status_is_reported_at_most_once_per_sync_interval() {
        let mut tracker = CheckTracker::new(&check("", (0, 0, 0)), Provider::Consul)
            .with_output_sync_interval(Duration::from_secs(60));
        assert!(tracker.record(ProbeResult::ok("t=0"), 0).is_some());
        assert_eq!(tracker.record(ProbeResult::ok("t=30"), 30 * S), None);
        assert_eq!(tracker.output(), "t=30", "recorded even when not reported");
        let change = tracker.record(ProbeResult::ok("t=60"), 60 * S);
        assert_eq!(change.map(|c| c.output), Some("t=60".to_owned()));
        // The same output never needs a report, however long it has been.
        assert_eq!(tracker.record(ProbeResult::ok("t=60"), 600 * S), None);
    }
}
