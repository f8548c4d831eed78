//! What applying a command did.

use std::collections::BTreeSet;

use caravan_model::{AllocId, EvalId};
use serde::{Deserialize, Serialize};

use crate::Table;

/// The result of [`StateStore::apply`](crate::StateStore::apply).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApplyOutcome {
    /// The raft index the command was applied at.
    pub index: u64,
    /// Tables whose index is now `index`: who to wake.
    pub changed: BTreeSet<Table>,
    /// For job commands: the job's version after the command.
    pub job_version: Option<u64>,
    /// Allocations the command named that were skipped (gone, or still live for GC).
    pub skipped_allocs: Vec<AllocId>,
    /// Evaluations the command named that were skipped (gone, or still live for GC).
    pub skipped_evals: Vec<EvalId>,
    /// Service registrations the command named that were skipped: registrations of an
    /// allocation that is gone or terminal, deletions of unknown ids.
    pub skipped_services: Vec<String>,
    /// For KV commands: whether the write happened (false when its `cas` did not hold).
    pub kv_applied: bool,
    /// For [`Command::ExpireTtlChecks`](crate::Command::ExpireTtlChecks): how many
    /// checks turned critical.
    pub checks_expired: usize,
}
