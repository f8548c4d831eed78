//! Figures from samples: percentiles, and how they are printed.

use std::time::Duration;

use super::nomad::{STEP_COUNT, Started};

/// The nearest-rank percentile of sorted samples.
pub fn percentile(sorted: &[Duration], p: usize) -> Duration {
    let rank = (sorted.len() * p).div_ceil(100).max(1);
    sorted[rank - 1]
}

/// Milliseconds, to a tenth.
pub fn ms(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1000.0)
}

/// ` MISSED` when `value` is over `target`.
pub fn missed(value: Duration, target: Duration) -> &'static str {
    if value <= target { "" } else { " MISSED" }
}

/// The samples of a series of job starts.
#[derive(Default)]
pub struct Samples {
    pub took: Vec<Duration>,
    pub steps: [Vec<Duration>; STEP_COUNT],
}

impl Samples {
    pub fn push(&mut self, run: &Started) {
        self.took.push(run.took);
        for (all, step) in self.steps.iter_mut().zip(run.steps.iter().flatten()) {
            all.push(*step);
        }
    }

    /// Sorts every series, as [`percentile`] needs.
    pub fn sort(&mut self) {
        self.took.sort();
        for all in &mut self.steps {
            all.sort();
        }
    }

    /// `<name> <p50><unit>` for each step, `names` being the bench's for them; nothing
    /// when no run carried the steps.
    pub fn breakdown(&self, names: &[&str; STEP_COUNT], unit: &str) -> String {
        names
            .iter()
            .zip(&self.steps)
            .filter(|(_, all)| !all.is_empty())
            .map(|(name, all)| format!("{name} {}{unit}", ms(percentile(all, 50))))
            .collect::<Vec<_>>()
            .join(", ")
    }
}
