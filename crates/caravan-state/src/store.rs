//! The state store: the tables, written only through commands.

use crate::snapshot::Tables;
use crate::txn::Txn;
use crate::{ApplyOutcome, Command, Snapshot, StateError};

/// The in-memory state of the cluster. Every write is a [`Command`] applied at a raft
/// index; reads go through a [`Snapshot`].
#[derive(Debug, Clone, Default)]
pub struct StateStore {
    tables: Tables,
}

impl StateStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// A consistent view of the current state; O(1), unaffected by later writes.
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            tables: self.tables.clone(),
        }
    }

    /// The store as it was when `snapshot` was taken (restoring a raft snapshot).
    pub fn from_snapshot(snapshot: Snapshot) -> Self {
        Self {
            tables: snapshot.tables,
        }
    }

    /// The last raft index applied.
    pub fn latest_index(&self) -> u64 {
        self.tables.indexes.latest
    }

    /// Applies one command at `raft_index`, which must be above every index applied
    /// before. Deterministic: the result depends only on the current state, the index and
    /// the command. On error nothing changed.
    pub fn apply(&mut self, raft_index: u64, cmd: Command) -> Result<ApplyOutcome, StateError> {
        let latest = self.tables.indexes.latest;
        if raft_index <= latest {
            return Err(StateError::StaleIndex {
                index: raft_index,
                latest,
            });
        }
        let mut txn = Txn::new(self.tables.clone(), raft_index);
        txn.run(cmd)?;
        let (tables, outcome) = txn.finish();
        self.tables = tables;
        Ok(outcome)
    }
}
