//! What reconciliation decided for a job, before nodes are chosen.

use caravan_model::{Allocation, Duration, TaskGroup};

pub(crate) const STOP_JOB_STOPPED: &str = "alloc not needed as job is stopped";
pub(crate) const STOP_NOT_NEEDED: &str = "alloc not needed due to job update";
pub(crate) const STOP_UPDATING: &str = "alloc is being updated due to job update";
pub(crate) const STOP_LOST: &str = "alloc is lost since its node is down";
pub(crate) const STOP_MIGRATING: &str = "alloc is being migrated";
pub(crate) const STOP_NODE_INELIGIBLE: &str = "alloc not needed as node is no longer eligible";

/// An allocation to stop, and why (shown as its desired description).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Stop<'a> {
    pub alloc: &'a Allocation,
    pub description: &'static str,
}

/// An allocation to place.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PlaceRequest<'a> {
    pub group: &'a TaskGroup,
    /// The index in its name, `<job>.<group>[index]`.
    pub index: u32,
    /// The allocation it replaces (reschedule, lost node, drain), linked both ways.
    pub previous: Option<&'a Allocation>,
    /// For a reschedule: the delay applied, recorded in the reschedule tracker.
    pub reschedule_delay: Option<Duration>,
    /// For system jobs: the node it must go to (an index into the placer's nodes).
    pub node: Option<usize>,
}

/// Reconciliation's result: stops, in-place updates and placements, plus what remains
/// for a later evaluation.
#[derive(Debug, Default)]
pub(crate) struct Decisions<'a> {
    pub stops: Vec<Stop<'a>>,
    pub in_place: Vec<&'a Allocation>,
    /// In the job's group order.
    pub places: Vec<PlaceRequest<'a>>,
    /// The job's allocations that stay live after the plan.
    pub live: Vec<&'a Allocation>,
    /// The earliest time a failed allocation becomes due for rescheduling.
    pub reschedule_at: Option<i64>,
    /// Destructive updates were held back by `max_parallel`.
    pub rolling: bool,
}

impl<'a> Decisions<'a> {
    pub fn stop(&mut self, alloc: &'a Allocation, description: &'static str) {
        self.stops.push(Stop { alloc, description });
    }

    pub fn reschedule_later(&mut self, at: i64) {
        self.reschedule_at = Some(self.reschedule_at.map_or(at, |t| t.min(at)));
    }
}
