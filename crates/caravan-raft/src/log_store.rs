//! The Raft log on disk: entries, the vote, the commit point and the last purged id, in
//! redb. Every write goes through one [`Flusher`] (group commit: whatever is queued
//! commits in one fsynced transaction), so the disk sees writes in the order openraft
//! issued them. Reads see the entries queued but not yet on disk, then the disk.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::ops::{Bound, RangeBounds};
use std::sync::Arc;

use openraft::storage::{LogFlushed, LogState, RaftLogReader, RaftLogStorage};
use openraft::{AnyError, ErrorSubject, ErrorVerb, OptionalSend, StorageIOError, Vote};
use redb::{Database, ReadableDatabase, ReadableTable};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::db::{LOG, META, META_COMMITTED, META_PURGED, META_VOTE};
use crate::log_flusher::{FlushCounters, FlushError, Flusher, OnFlushed};
use crate::types::{Entry, LogId, RaftId, StorageError, TypeConfig};

/// The log store openraft drives; cheap to clone (readers are clones).
#[derive(Debug, Clone)]
pub(crate) struct LogStore {
    db: Arc<Database>,
    flusher: Flusher,
}

impl LogStore {
    /// Starts the store's writer thread, which lets go of `db` once every clone of the
    /// store is dropped.
    pub(crate) fn new(db: Arc<Database>) -> std::io::Result<Self> {
        let flusher = Flusher::start(db.clone())?;
        Ok(Self { db, flusher })
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

    /// Entries in `start..end` on disk (`end` `None`: to the last).
    fn read_disk(&self, start: u64, end: Option<u64>) -> Result<BTreeMap<u64, Entry>, AnyError> {
        let txn = self.db.begin_read().map_err(any)?;
        let table = txn.open_table(LOG).map_err(any)?;
        let iter = match end {
            Some(end) if end <= start => return Ok(BTreeMap::new()),
            Some(end) => table.range(start..end).map_err(any)?,
            None => table.range(start..).map_err(any)?,
        };
        let mut out = BTreeMap::new();
        for row in iter {
            let (index, value) = row.map_err(any)?;
            out.insert(
                index.value(),
                serde_json::from_slice(value.value()).map_err(any)?,
            );
        }
        Ok(out)
    }

    /// The id of the last entry on disk below `below` (`None`: the last of all).
    fn last_on_disk(&self, below: Option<u64>) -> Result<Option<LogId>, AnyError> {
        let txn = self.db.begin_read().map_err(any)?;
        let table = txn.open_table(LOG).map_err(any)?;
        let last = match below {
            Some(below) => table
                .range(..below)
                .map_err(any)?
                .next_back()
                .transpose()
                .map_err(any)?,
            None => table.last().map_err(any)?,
        };
        match last {
            Some((_, value)) => {
                let entry: Entry = serde_json::from_slice(value.value()).map_err(any)?;
                Ok(Some(entry.log_id))
            }
            None => Ok(None),
        }
    }

    /// How well appends are grouped into transactions.
    pub(crate) fn flush_counters(&self) -> Arc<FlushCounters> {
        self.flusher.counters()
    }

    /// Reads are refused once a flush has failed: memory and disk may disagree.
    fn check_failed(&self) -> Result<(), AnyError> {
        match self.flusher.failure() {
            Some(e) => Err(any(e)),
            None => Ok(()),
        }
    }
}

pub(crate) fn any(e: impl std::fmt::Display) -> AnyError {
    AnyError::error(e)
}

fn to_json<T: Serialize>(value: &T) -> Result<Vec<u8>, AnyError> {
    serde_json::to_vec(value).map_err(any)
}

fn write_error(subject: ErrorSubject<RaftId>, e: FlushError) -> StorageError {
    StorageIOError::new(subject, ErrorVerb::Write, any(e)).into()
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
            self.check_failed()?;
            if end.is_some_and(|end| end <= start) {
                return Ok(Vec::new());
            }
            // The queue first: nothing leaves it before it is on disk, so reading in this
            // order misses nothing. The queue is newer than the disk.
            let pending = match end {
                Some(end) => self.flusher.pending(start..end),
                None => self.flusher.pending(start..),
            };
            let mut entries = self.read_disk(start, end)?;
            entries.retain(|index, _| !pending.hides(*index));
            entries.extend(pending.entries);
            Ok(entries.into_values().collect())
        };
        read().map_err(|e| StorageIOError::read_logs(e).into())
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError> {
        self.check_failed().map_err(StorageIOError::read_logs)?;
        // The queue first, as in `try_get_log_entries`; queued entries are the log's tail.
        let pending = self.flusher.pending(0..0);
        let on_disk: Option<LogId> = self.read_meta(META_PURGED)?;
        let last_purged_log_id = pending.purged.max(on_disk);
        let on_disk = self
            .last_on_disk(pending.truncated_from)
            .map_err(StorageIOError::read_logs)?
            .filter(|d| !pending.hides(d.index));
        let last = match (pending.last, on_disk) {
            (Some(m), Some(d)) if d.index > m.index => Some(d),
            (Some(m), _) => Some(m),
            (None, d) => d,
        };
        Ok(LogState {
            last_log_id: last.or(last_purged_log_id),
            last_purged_log_id,
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote<RaftId>) -> Result<(), StorageError> {
        let bytes = to_json(vote).map_err(StorageIOError::write_vote)?;
        self.flusher
            .save_meta(META_VOTE, bytes)
            .await
            .map_err(|e| write_error(ErrorSubject::Vote, e))
    }

    async fn read_vote(&mut self) -> Result<Option<Vote<RaftId>>, StorageError> {
        self.read_meta(META_VOTE)
    }

    async fn save_committed(&mut self, committed: Option<LogId>) -> Result<(), StorageError> {
        // Queued without waiting and without an fsync of its own: see
        // `Flusher::save_committed`. One fsync per batch of writes instead of two.
        self.flusher
            .save_committed(committed)
            .map_err(|e| write_error(ErrorSubject::Store, e))
    }

    async fn read_committed(&mut self) -> Result<Option<LogId>, StorageError> {
        if let Some(committed) = self.flusher.committed() {
            return Ok(committed);
        }
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
        // Readable on return; `callback` hears once they are on disk.
        let on_flushed: OnFlushed = Box::new(move |result| {
            callback.log_io_completed(result.map_err(std::io::Error::other));
        });
        self.flusher
            .append(entries.into_iter().collect(), on_flushed)
            .map_err(|e| write_error(ErrorSubject::Logs, e))
    }

    async fn truncate(&mut self, log_id: LogId) -> Result<(), StorageError> {
        self.flusher
            .truncate(log_id.index)
            .await
            .map_err(|e| write_error(ErrorSubject::Logs, e))
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), StorageError> {
        self.flusher
            .purge(log_id)
            .await
            .map_err(|e| write_error(ErrorSubject::Logs, e))
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::sync::Mutex;
    use std::time::{Duration, Instant};

    use openraft::{CommittedLeaderId, EntryPayload};
    use tokio::sync::oneshot;

    use super::*;
    use crate::db;

    /// Generous: the machine may be slow and shared; only a hang waits this long.
    const DEADLINE: Duration = Duration::from_secs(60);

    fn log_id(term: u64, index: u64) -> LogId {
        LogId::new(CommittedLeaderId::new(term, 1), index)
    }

    fn entries(term: u64, indexes: std::ops::RangeInclusive<u64>) -> Vec<Entry> {
        indexes
            .map(|index| Entry {
                log_id: log_id(term, index),
                payload: EntryPayload::Blank,
            })
            .collect()
    }

    fn open(dir: &Path) -> LogStore {
        LogStore::new(db::open(dir).expect("open db")).expect("log writer starts")
    }

    /// Queues `entries` the way openraft's append does; the answer hears when they are
    /// on disk.
    fn append(store: &LogStore, entries: Vec<Entry>) -> oneshot::Receiver<Result<(), FlushError>> {
        let (tx, rx) = oneshot::channel();
        store
            .flusher
            .append(
                entries,
                Box::new(move |result| {
                    let _ = tx.send(result);
                }),
            )
            .expect("queued");
        rx
    }

    async fn flushed(rx: oneshot::Receiver<Result<(), FlushError>>) {
        tokio::time::timeout(DEADLINE, rx)
            .await
            .expect("flushed in time")
            .expect("answered")
            .expect("flushed without error");
    }

    /// (term, index) of every entry the store serves, memory and disk together.
    async fn served(store: &mut LogStore) -> Vec<(u64, u64)> {
        store
            .try_get_log_entries(..)
            .await
            .expect("read")
            .iter()
            .map(|e| (e.log_id.leader_id.term, e.log_id.index))
            .collect()
    }

    fn on_disk(store: &LogStore) -> Vec<u64> {
        store
            .read_disk(0, None)
            .expect("read disk")
            .into_keys()
            .collect()
    }

    async fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
        let deadline = Instant::now() + DEADLINE;
        while !done() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    #[tokio::test]
    async fn appended_entries_are_readable_before_they_are_flushed() {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut store = open(dir.path());
        let hold = store.flusher.hold();
        let mut rx = append(&store, entries(1, 1..=3));

        // The writer is held: nothing is on disk, nobody was told, yet all is readable.
        assert_eq!(served(&mut store).await, vec![(1, 1), (1, 2), (1, 3)]);
        let state = store.get_log_state().await.expect("log state");
        assert_eq!(state.last_log_id, Some(log_id(1, 3)));
        assert_eq!(on_disk(&store), Vec::<u64>::new());
        assert!(rx.try_recv().is_err(), "not flushed yet");
        let slice = store.try_get_log_entries(2..3).await.expect("read");
        assert_eq!(slice.len(), 1);
        assert_eq!(slice[0].log_id, log_id(1, 2));

        // Released: on disk, told, and gone from memory.
        drop(hold);
        flushed(rx).await;
        assert_eq!(on_disk(&store), vec![1, 2, 3]);
        assert!(store.flusher.pending(..).entries.is_empty());
        assert_eq!(served(&mut store).await, vec![(1, 1), (1, 2), (1, 3)]);
    }

    #[tokio::test]
    async fn a_truncate_after_an_append_before_its_flush_wins() {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut store = open(dir.path());
        flushed(append(&store, entries(1, 1..=2))).await;
        let hold = store.flusher.hold();
        let rx = append(&store, entries(1, 3..=5));
        let truncate = tokio::spawn({
            let mut store = store.clone();
            async move { store.truncate(log_id(1, 2)).await }
        });

        // The truncate shows at once, even over entries already on disk.
        wait_for("the truncate to show", || {
            store.flusher.pending(..).truncated_from.is_some()
        })
        .await;
        assert_eq!(served(&mut store).await, vec![(1, 1)]);
        let state = store.get_log_state().await.expect("log state");
        assert_eq!(state.last_log_id, Some(log_id(1, 1)));
        assert_eq!(on_disk(&store), vec![1, 2]);

        drop(hold);
        flushed(rx).await;
        truncate.await.expect("task").expect("truncate is on disk");
        assert_eq!(on_disk(&store), vec![1]);

        // A new leader's entries take the truncated indexes.
        flushed(append(&store, entries(2, 2..=3))).await;
        let want = vec![(1, 1), (2, 2), (2, 3)];
        assert_eq!(served(&mut store).await, want);
        let state = store.get_log_state().await.expect("log state");
        assert_eq!(state.last_log_id, Some(log_id(2, 3)));

        // And after a restart.
        drop(store);
        let mut store = open(dir.path());
        assert_eq!(served(&mut store).await, want);
    }

    #[tokio::test]
    async fn a_purge_shows_before_it_is_on_disk() {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut store = open(dir.path());
        flushed(append(&store, entries(1, 1..=3))).await;
        let hold = store.flusher.hold();
        let rx = append(&store, entries(1, 4..=5));
        let purge = tokio::spawn({
            let mut store = store.clone();
            async move { store.purge(log_id(1, 4)).await }
        });
        wait_for("the purge to show", || {
            store.flusher.pending(..).purged.is_some()
        })
        .await;
        assert_eq!(served(&mut store).await, vec![(1, 5)]);
        let state = store.get_log_state().await.expect("log state");
        assert_eq!(state.last_purged_log_id, Some(log_id(1, 4)));
        assert_eq!(state.last_log_id, Some(log_id(1, 5)));

        drop(hold);
        flushed(rx).await;
        purge.await.expect("task").expect("purge is on disk");
        assert_eq!(on_disk(&store), vec![5]);
        assert!(store.flusher.pending(..).purged.is_none());
        let state = store.get_log_state().await.expect("log state");
        assert_eq!(state.last_purged_log_id, Some(log_id(1, 4)));
        assert_eq!(state.last_log_id, Some(log_id(1, 5)));
    }

    #[tokio::test]
    async fn queued_appends_complete_in_order_in_few_transactions() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = open(dir.path());
        let done = Arc::new(Mutex::new(Vec::new()));
        let record = {
            let done = done.clone();
            move |i: u64| {
                let done = done.clone();
                Box::new(move |result: Result<(), FlushError>| {
                    result.expect("flushed");
                    done.lock().expect("lock").push(i);
                }) as OnFlushed
            }
        };

        // Held while 500 appends queue: they take at most two transactions.
        let hold = store.flusher.hold();
        for i in 1..=500 {
            store
                .flusher
                .append(entries(1, i..=i), record(i))
                .expect("queued");
        }
        drop(hold);
        wait_for("500 appends", || done.lock().expect("lock").len() == 500).await;
        let stats = store.flusher.counters().stats();
        assert_eq!(stats.entries, 500);
        assert!(stats.flushes <= 2, "{stats:?}");

        // From several tasks at once, while the writer runs: told in the order queued.
        let next = Arc::new(Mutex::new(500u64));
        let mut tasks = Vec::new();
        for _ in 0..8 {
            let (store, next, record) = (store.clone(), next.clone(), record.clone());
            tasks.push(tokio::spawn(async move {
                for _ in 0..100 {
                    {
                        // Indexes are handed out and queued together, as openraft does.
                        let mut next = next.lock().expect("lock");
                        *next += 1;
                        let i = *next;
                        store
                            .flusher
                            .append(entries(1, i..=i), record(i))
                            .expect("queued");
                    }
                    tokio::task::yield_now().await;
                }
            }));
        }
        for task in tasks {
            task.await.expect("task");
        }
        wait_for("1300 appends", || done.lock().expect("lock").len() == 1300).await;
        let done = done.lock().expect("lock").clone();
        assert_eq!(done, (1..=1300).collect::<Vec<u64>>());
        assert_eq!(on_disk(&store).len(), 1300);
    }

    #[tokio::test]
    async fn a_restart_after_a_flush_keeps_everything() {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut store = open(dir.path());
        flushed(append(&store, entries(1, 1..=10))).await;
        let vote = Vote::new(2, 1);
        store.save_vote(&vote).await.expect("vote");
        store
            .save_committed(Some(log_id(1, 8)))
            .await
            .expect("committed");
        store.purge(log_id(1, 3)).await.expect("purge");
        let rx = append(&store, entries(2, 11..=12));
        flushed(rx).await;
        drop(store);

        let mut store = open(dir.path());
        let state = store.get_log_state().await.expect("log state");
        assert_eq!(state.last_purged_log_id, Some(log_id(1, 3)));
        assert_eq!(state.last_log_id, Some(log_id(2, 12)));
        let indexes: Vec<u64> = served(&mut store).await.iter().map(|e| e.1).collect();
        assert_eq!(indexes, (4..=12).collect::<Vec<u64>>());
        assert_eq!(store.read_vote().await.expect("vote"), Some(vote));
        assert_eq!(
            store.read_committed().await.expect("committed"),
            Some(log_id(1, 8))
        );
    }

    #[tokio::test]
    async fn a_failed_flush_is_reported_to_its_batch_and_every_later_operation() {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut store = open(dir.path());
        let hold = store.flusher.hold();
        let first = append(&store, entries(1, 1..=2));
        store.flusher.fail_next();
        let second = append(&store, entries(1, 3..=3));
        drop(hold);

        for rx in [first, second] {
            let result = tokio::time::timeout(DEADLINE, rx)
                .await
                .expect("answered in time")
                .expect("answered");
            assert!(matches!(result, Err(FlushError::Failed(_))), "{result:?}");
        }
        let (tx, rx) = oneshot::channel();
        let later = store.flusher.append(
            entries(1, 4..=4),
            Box::new(move |result| {
                let _ = tx.send(result);
            }),
        );
        assert!(matches!(later, Err(FlushError::Failed(_))), "{later:?}");
        assert!(rx.await.expect("told").is_err());
        assert!(store.save_vote(&Vote::new(1, 1)).await.is_err());
        assert!(store.truncate(log_id(1, 1)).await.is_err());
        assert!(store.save_committed(None).await.is_err());
        assert!(store.try_get_log_entries(..).await.is_err());
        assert_eq!(on_disk(&store), Vec::<u64>::new());
    }
}
