//! The tables of the store and their modify indexes, which blocking queries wait on.

use serde::{Deserialize, Serialize};

/// A table of the store, for [`Snapshot::index`](crate::Snapshot::index).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Table {
    /// Jobs and their version history.
    Jobs,
    /// Job summaries, which change with a job's allocations and evaluations.
    JobSummaries,
    Evals,
    Allocs,
    Nodes,
    /// Service registrations: the catalog.
    Services,
    /// The key/value store (Consul's KV).
    Kv,
}

impl Table {
    pub const ALL: [Table; 7] = [
        Self::Jobs,
        Self::JobSummaries,
        Self::Evals,
        Self::Allocs,
        Self::Nodes,
        Self::Services,
        Self::Kv,
    ];
}

/// The raft index of the last write to each table.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct TableIndexes {
    pub jobs: u64,
    pub job_summaries: u64,
    pub evals: u64,
    pub allocs: u64,
    pub nodes: u64,
    pub services: u64,
    pub kv: u64,
    /// The last raft index applied, whatever it touched.
    pub latest: u64,
}

impl TableIndexes {
    pub fn get(&self, table: Table) -> u64 {
        match table {
            Table::Jobs => self.jobs,
            Table::JobSummaries => self.job_summaries,
            Table::Evals => self.evals,
            Table::Allocs => self.allocs,
            Table::Nodes => self.nodes,
            Table::Services => self.services,
            Table::Kv => self.kv,
        }
    }

    pub fn set(&mut self, table: Table, index: u64) {
        let slot = match table {
            Table::Jobs => &mut self.jobs,
            Table::JobSummaries => &mut self.job_summaries,
            Table::Evals => &mut self.evals,
            Table::Allocs => &mut self.allocs,
            Table::Nodes => &mut self.nodes,
            Table::Services => &mut self.services,
            Table::Kv => &mut self.kv,
        };
        *slot = index;
    }
}
