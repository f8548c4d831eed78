//! The Raft log on disk: entries, the vote, the commit point and the last purged id, in
//! redb. Writes run on the blocking pool (each is an fsync) and are awaited in order, so
//! openraft sees them in the order it issued them.

use std::fmt::Debug;
use std::ops::{Bound, RangeBounds};
use std::sync::Arc;

use openraft::storage::{LogFlushed, LogState, RaftLogReader, RaftLogStorage};
use openraft::{AnyError, ErrorSubject, ErrorVerb, OptionalSend, StorageIOError, Vote};
use redb::{Database, Durability, ReadableDatabase, ReadableTable};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::db::{self, LOG, META, META_COMMITTED, META_PURGED, META_VOTE};
use crate::types::{Entry, LogId, RaftId, StorageError, TypeConfig};

/// The log store openraft drives; cheap to clone (readers are clones).
#[derive(Debug, Clone)]
pub(crate) struct LogStore {
    db: Arc<Database>,
}

impl LogStore {
    pub(crate) fn new(db: Arc<Database>) -> Self {
        Self { db }
    }

    fn read_meta<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, StorageError> {
        let read = |key: &str| -> Result<Option<T>, AnyError> {
            let txn = self.db.begin_read().map_err(any)?;
            let table = txn.open_table(META).map_err(any)?;
            match table.get(key).map_err(any)? {
                Some(bytes) => Ok(Some(serde_json::from_slice(bytes.value()).map_err(any)?)),
                None => Ok(None),
            }
        };
        read(key).map_err(|e| StorageIOError::read(e).into())
    }

    /// Writes on the blocking pool, in a transaction committed with an fsync.
    async fn write<F>(&self, subject: ErrorSubject<RaftId>, f: F) -> Result<(), StorageError>
    where
        F: FnOnce(&redb::WriteTransaction) -> Result<(), AnyError> + Send + 'static,
    {
        self.write_with(subject, Durability::Immediate, f).await
    }

    async fn write_with<F>(
        &self,
        subject: ErrorSubject<RaftId>,
        durability: Durability,
        f: F,
    ) -> Result<(), StorageError>
    where
        F: FnOnce(&redb::WriteTransaction) -> Result<(), AnyError> + Send + 'static,
    {
        let db = self.db.clone();
        let result = tokio::task::spawn_blocking(move || -> Result<(), AnyError> {
            let mut txn = db::begin_write(&db).map_err(any)?;
            txn.set_durability(durability).map_err(any)?;
            f(&txn)?;
            txn.commit().map_err(any)?;
            Ok(())
        })
        .await
        .map_err(any)
        .and_then(|r| r);
        result.map_err(|e| StorageIOError::new(subject, ErrorVerb::Write, e).into())
    }
}

pub(crate) fn any(e: impl std::fmt::Display) -> AnyError {
    AnyError::error(e)
}

fn to_json<T: Serialize>(value: &T) -> Result<Vec<u8>, AnyError> {
    serde_json::to_vec(value).map_err(any)
}

fn put_meta<T: Serialize>(
    txn: &redb::WriteTransaction,
    key: &str,
    value: &T,
) -> Result<(), AnyError> {
    let bytes = to_json(value)?;
    let mut table = txn.open_table(META).map_err(any)?;
    table.insert(key, bytes.as_slice()).map_err(any)?;
    Ok(())
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, StorageError> {
        let start = match range.start_bound() {
            Bound::Included(i) => *i,
            Bound::Excluded(i) => i.saturating_add(1),
            Bound::Unbounded => 0,
        };
        let end = match range.end_bound() {
            Bound::Included(i) => Some(i.saturating_add(1)),
            Bound::Excluded(i) => Some(*i),
            Bound::Unbounded => None,
        };
        let read = || -> Result<Vec<Entry>, AnyError> {
            let txn = self.db.begin_read().map_err(any)?;
            let table = txn.open_table(LOG).map_err(any)?;
            let iter = match end {
                Some(end) if end <= start => return Ok(Vec::new()),
                Some(end) => table.range(start..end).map_err(any)?,
                None => table.range(start..).map_err(any)?,
            };
            let mut out = Vec::new();
            for row in iter {
                let (_, value) = row.map_err(any)?;
                out.push(serde_json::from_slice(value.value()).map_err(any)?);
            }
            Ok(out)
        };
        read().map_err(|e| StorageIOError::read_logs(e).into())
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError> {
        let last_purged_log_id: Option<LogId> = self.read_meta(META_PURGED)?;
        let read_last = || -> Result<Option<LogId>, AnyError> {
            let txn = self.db.begin_read().map_err(any)?;
            let table = txn.open_table(LOG).map_err(any)?;
            match table.last().map_err(any)? {
                Some((_, value)) => {
                    let entry: Entry = serde_json::from_slice(value.value()).map_err(any)?;
                    Ok(Some(entry.log_id))
                }
                None => Ok(None),
            }
        };
        let last = read_last().map_err(StorageIOError::read_logs)?;
        Ok(LogState {
            last_log_id: last.or(last_purged_log_id),
            last_purged_log_id,
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote<RaftId>) -> Result<(), StorageError> {
        let vote = *vote;
        self.write(ErrorSubject::Vote, move |txn| {
            put_meta(txn, META_VOTE, &vote)
        })
        .await
    }

    async fn read_vote(&mut self) -> Result<Option<Vote<RaftId>>, StorageError> {
        self.read_meta(META_VOTE)
    }

    async fn save_committed(&mut self, committed: Option<LogId>) -> Result<(), StorageError> {
        // Without an fsync of its own: it reaches the disk with the next log append, and
        // a commit point that lags after a crash is safe (it only speeds up the replay
        // at start; the leader tells the rest). One fsync per write instead of two.
        self.write_with(ErrorSubject::Store, Durability::None, move |txn| {
            put_meta(txn, META_COMMITTED, &committed)
        })
        .await
    }

    async fn read_committed(&mut self) -> Result<Option<LogId>, StorageError> {
        Ok(self.read_meta::<Option<LogId>>(META_COMMITTED)?.flatten())
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: LogFlushed<TypeConfig>,
    ) -> Result<(), StorageError>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let rows = entries
            .into_iter()
            .map(|e| Ok((e.log_id.index, to_json(&e)?)))
            .collect::<Result<Vec<_>, AnyError>>()
            .map_err(StorageIOError::write_logs)?;
        let result = self
            .write(ErrorSubject::Logs, move |txn| {
                let mut table = txn.open_table(LOG).map_err(any)?;
                for (index, bytes) in &rows {
                    table.insert(*index, bytes.as_slice()).map_err(any)?;
                }
                Ok(())
            })
            .await;
        // The entries are on disk (or not) now: tell openraft either way.
        callback.log_io_completed(
            result
                .as_ref()
                .map(|_| ())
                .map_err(|e| std::io::Error::other(e.to_string())),
        );
        result
    }

    async fn truncate(&mut self, log_id: LogId) -> Result<(), StorageError> {
        self.write(ErrorSubject::Logs, move |txn| {
            let mut table = txn.open_table(LOG).map_err(any)?;
            table.retain_in(log_id.index.., |_, _| false).map_err(any)?;
            Ok(())
        })
        .await
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), StorageError> {
        self.write(ErrorSubject::Logs, move |txn| {
            // The last purged id first: it stands for the log's start if nothing is left.
            put_meta(txn, META_PURGED, &log_id)?;
            let mut table = txn.open_table(LOG).map_err(any)?;
            table
                .retain_in(..=log_id.index, |_, _| false)
                .map_err(any)?;
            Ok(())
        })
        .await
    }
}
