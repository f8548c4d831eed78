//! Reconciliation for service and batch jobs: the job's wanted allocations per group
//! against the ones that exist, giving stops, in-place updates and placements.

use std::cmp::Reverse;
use std::collections::BTreeSet;

use caravan_model::{Allocation, Duration, Job, JobType, TaskGroup};
use caravan_state::Snapshot;

use crate::decisions::{
    Decisions, PlaceRequest, STOP_JOB_STOPPED, STOP_LOST, STOP_MIGRATING, STOP_NOT_NEEDED,
    STOP_UPDATING,
};
use crate::reschedule::{self, Reschedule};
use crate::update::{UpdateCheck, UpdateKind};

/// Whether the client has finished with the allocation.
pub(crate) fn client_terminal(alloc: &Allocation) -> bool {
    matches!(alloc.client_status.as_str(), "complete" | "failed" | "lost")
}

/// Wanted to run and still running (or about to) on its client.
pub(crate) fn is_live(alloc: &Allocation) -> bool {
    alloc.desired_status == "run" && !client_terminal(alloc)
}

/// Stops every live allocation: the job is stopped or gone.
pub(crate) fn stop_all<'a>(allocs: &[&'a Allocation]) -> Decisions<'a> {
    let mut d = Decisions::default();
    for alloc in allocs.iter().filter(|a| is_live(a)) {
        d.stop(alloc, STOP_JOB_STOPPED);
    }
    d
}

/// One name slot of a group, from an existing allocation.
#[derive(Debug, Clone, Copy)]
enum Slot<'a> {
    /// Running (or starting) on a healthy node.
    Live(&'a Allocation),
    /// To be replaced under the same name; stopped first when `stop` is set.
    Replace {
        alloc: &'a Allocation,
        stop: Option<&'static str>,
        delay: Option<Duration>,
        replace: bool,
    },
    /// Failed, to be rescheduled at this time.
    Later(&'a Allocation, i64),
    /// Failed for good, or lost with `prevent_reschedule_on_lost`: holds its slot.
    Exhausted(&'a Allocation),
    /// A batch allocation that completed: its work is done.
    Done(&'a Allocation),
}

impl<'a> Slot<'a> {
    fn alloc(&self) -> &'a Allocation {
        match *self {
            Slot::Live(a) | Slot::Later(a, _) | Slot::Exhausted(a) | Slot::Done(a) => a,
            Slot::Replace { alloc, .. } => alloc,
        }
    }

    /// Which slots go first when the count shrinks (lower first); `None` never goes.
    fn drop_rank(&self) -> Option<u8> {
        match self {
            Slot::Later(..) | Slot::Exhausted(_) => Some(0),
            Slot::Replace { .. } => Some(1),
            Slot::Live(_) => Some(2),
            Slot::Done(_) => None,
        }
    }
}

/// Reconciles a service or batch job that is not stopped.
pub(crate) fn reconcile_generic<'a>(
    snap: &'a Snapshot,
    job: &'a Job,
    allocs: &[&'a Allocation],
    now: i64,
) -> Decisions<'a> {
    let mut d = Decisions::default();
    let mut check = UpdateCheck::new(job);
    for alloc in allocs
        .iter()
        .filter(|a| job.group(&a.task_group).is_none() && is_live(a))
    {
        d.stop(alloc, STOP_NOT_NEEDED);
    }
    for group in &job.task_groups {
        let mut mine: Vec<&Allocation> = allocs
            .iter()
            .copied()
            .filter(|a| a.task_group == group.name)
            .collect();
        mine.sort_by(|a, b| {
            (a.index(), a.create_index, &a.id).cmp(&(b.index(), b.create_index, &b.id))
        });
        reconcile_group(snap, job, group, &mine, now, &mut check, &mut d);
    }
    d
}

fn classify<'a>(
    snap: &Snapshot,
    job: &Job,
    group: &TaskGroup,
    allocs: &[&'a Allocation],
    now: i64,
) -> Vec<Slot<'a>> {
    let batch = job.kind() == JobType::Batch;
    let policy = reschedule::policy_for(job, group);
    let keep_lost = group.prevent_reschedule_on_lost == Some(true);
    let mut slots = Vec::new();
    for &alloc in allocs {
        if alloc.next_allocation.is_some() || alloc.desired_status != "run" {
            continue; // replaced already, or being stopped
        }
        let slot = match alloc.client_status.as_str() {
            "complete" if batch => Slot::Done(alloc),
            // A finished service allocation frees its slot for a fresh placement.
            "complete" => continue,
            "failed" => match reschedule::decide(alloc, &policy, now) {
                Reschedule::Now(delay) => Slot::Replace {
                    alloc,
                    stop: None,
                    delay: Some(delay),
                    replace: true,
                },
                Reschedule::Later(at) => Slot::Later(alloc, at),
                Reschedule::Never => Slot::Exhausted(alloc),
            },
            "lost" if keep_lost => Slot::Exhausted(alloc),
            // Its node may come back with it still running: it is told to stop.
            "lost" => Slot::Replace {
                alloc,
                stop: Some(STOP_LOST),
                delay: None,
                replace: true,
            },
            _ => match snap.node(&alloc.node_id) {
                Some(node) if node.status != "down" && node.drain => Slot::Replace {
                    alloc,
                    stop: Some(STOP_MIGRATING),
                    delay: None,
                    replace: true,
                },
                Some(node) if node.status != "down" => Slot::Live(alloc),
                _ => Slot::Replace {
                    alloc,
                    stop: Some(STOP_LOST),
                    delay: None,
                    replace: !keep_lost,
                },
            },
        };
        slots.push(slot);
    }
    slots
}

fn reconcile_group<'a>(
    snap: &Snapshot,
    job: &'a Job,
    group: &'a TaskGroup,
    allocs: &[&'a Allocation],
    now: i64,
    check: &mut UpdateCheck<'_>,
    d: &mut Decisions<'a>,
) {
    let count = usize::try_from(group.count.unwrap_or(1)).unwrap_or(0);
    let slots = classify(snap, job, group, allocs, now);

    // Too many: drop the least useful slots, highest index first.
    let mut droppable: Vec<usize> = (0..slots.len())
        .filter(|i| slots[*i].drop_rank().is_some())
        .collect();
    droppable.sort_by_key(|i| {
        let a = slots[*i].alloc();
        (
            slots[*i].drop_rank(),
            Reverse(a.index()),
            Reverse(a.create_index),
        )
    });
    let excess = slots.len().saturating_sub(count);
    let dropped: BTreeSet<usize> = droppable.into_iter().take(excess).collect();

    let mut used_indexes = BTreeSet::new();
    let mut destructive = Vec::new();
    let mut in_flight = 0usize;
    for (i, slot) in slots.iter().enumerate() {
        if dropped.contains(&i) {
            match *slot {
                Slot::Live(a) => d.stop(a, STOP_NOT_NEEDED),
                Slot::Replace {
                    alloc,
                    stop: Some(why),
                    ..
                } => d.stop(alloc, why),
                _ => {}
            }
            continue;
        }
        used_indexes.insert(slot.alloc().index());
        match *slot {
            Slot::Live(a) => match check.kind(a) {
                UpdateKind::Current => {
                    if a.client_status == "pending" {
                        in_flight += 1;
                    }
                    d.live.push(a);
                }
                UpdateKind::InPlace => {
                    d.in_place.push(a);
                    d.live.push(a);
                }
                UpdateKind::Destructive => destructive.push(a),
            },
            Slot::Replace {
                alloc,
                stop,
                delay,
                replace,
            } => {
                if let Some(why) = stop {
                    d.stop(alloc, why);
                }
                if replace {
                    d.places.push(PlaceRequest {
                        group,
                        index: alloc.index(),
                        previous: Some(alloc),
                        reschedule_delay: delay,
                        node: None,
                    });
                }
            }
            Slot::Later(_, at) => d.reschedule_later(at),
            Slot::Exhausted(_) | Slot::Done(_) => {}
        }
    }

    // Destructive updates, at most `max_parallel` in flight for service jobs.
    let budget = destructive_budget(job, group, in_flight);
    for (i, alloc) in destructive.into_iter().enumerate() {
        if i < budget {
            d.stop(alloc, STOP_UPDATING);
            d.places.push(PlaceRequest {
                group,
                index: alloc.index(),
                previous: None,
                reschedule_delay: None,
                node: None,
            });
        } else {
            d.live.push(alloc);
            d.rolling = true;
        }
    }

    // Too few: new allocations at the lowest free indexes.
    let kept = slots.len() - dropped.len();
    let mut next = 0u32;
    for _ in kept..count {
        while used_indexes.contains(&next) {
            next += 1;
        }
        used_indexes.insert(next);
        d.places.push(PlaceRequest {
            group,
            index: next,
            previous: None,
            reschedule_delay: None,
            node: None,
        });
    }
}

/// How many destructive updates may start now: unlimited for batch jobs and without
/// `max_parallel`, else `max_parallel` less the updated allocations still starting.
pub(crate) fn destructive_budget(job: &Job, group: &TaskGroup, in_flight: usize) -> usize {
    if job.kind() == JobType::Batch {
        return usize::MAX;
    }
    let max_parallel = group
        .update
        .as_ref()
        .or(job.update.as_ref())
        .and_then(|u| u.max_parallel)
        .filter(|m| *m > 0);
    match max_parallel {
        Some(m) => usize::try_from(m)
            .unwrap_or(usize::MAX)
            .saturating_sub(in_flight),
        None => usize::MAX,
    }
}
