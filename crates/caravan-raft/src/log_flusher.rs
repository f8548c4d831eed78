//! Group commit for the Raft log: one thread owns every write to the log's tables and
//! commits whatever is queued in one redb transaction (one fsync), then reports to each
//! queued operation in the order they were queued.
//!
//! Appends do not wait: their entries stay readable in memory until the transaction
//! holding them has committed, and openraft is told through its callback. Truncate, purge and the vote wait for their own transaction (they are rare
//! and openraft expects them done when they return); the commit point waits for nothing
//! and needs no fsync of its own. Everything goes through the one queue, so the disk sees
//! the operations in the order openraft issued them. Readers see the queue over the disk
//! ([`Flusher::pending`]): queued entries, truncates and purges count from the moment
//! they are queued.

use std::collections::BTreeMap;
use std::ops::RangeBounds;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, MutexGuard};

use redb::{Database, Durability, WriteTransaction};
use tokio::sync::oneshot;

use crate::db::{self, LOG, META, META_COMMITTED, META_PURGED};
use crate::types::{Entry, LogId};

/// At most this many operations go in one transaction, so that a flood of appends still
/// reports back in bounded steps.
const MAX_BATCH: usize = 4096;

/// A log write that did not reach the disk.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum FlushError {
    /// A transaction failed; this and every later operation report it, as the log on
    /// disk may now lag what openraft was told.
    #[error("log flush failed: {0}")]
    Failed(String),
    /// The flusher thread is gone (it panicked).
    #[error("log flusher stopped")]
    Stopped,
    #[error("encoding a log record: {0}")]
    Encode(String),
}

/// The handle on the log's writer thread; cheap to clone (clones share the thread, which
/// ends once the last clone is dropped and the queue is drained).
#[derive(Debug, Clone)]
pub(crate) struct Flusher {
    tx: mpsc::Sender<Op>,
    shared: Arc<Shared>,
}

#[derive(Debug, Default)]
struct Shared {
    /// Entries queued but not yet committed to disk, and the latest commit point queued.
    state: Mutex<Unflushed>,
    counters: Arc<FlushCounters>,
}

/// Transactions committed with an fsync, and the entries they held.
#[derive(Debug, Default)]
pub(crate) struct FlushCounters {
    flushes: AtomicU64,
    entries: AtomicU64,
}

impl FlushCounters {
    pub(crate) fn stats(&self) -> LogFlushStats {
        LogFlushStats {
            flushes: self.flushes.load(Ordering::Relaxed),
            entries: self.entries.load(Ordering::Relaxed),
        }
    }
}

/// How well group commit is grouping: fsynced transactions of this server's Raft log
/// and the entries they held, since it opened.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LogFlushStats {
    pub flushes: u64,
    pub entries: u64,
}

#[derive(Debug, Default)]
struct Unflushed {
    /// By index: the append's sequence number (so that a flush forgets only the entry it
    /// wrote, not one appended again at the same index since) and the entry.
    entries: BTreeMap<u64, (u64, Entry)>,
    next_seq: u64,
    /// Truncates (from an index) and purges (up to an id) queued and not yet on disk,
    /// by sequence number: readers must not see the disk's entries they remove.
    truncates: BTreeMap<u64, u64>,
    purges: BTreeMap<u64, LogId>,
    /// The latest commit point handed to [`Flusher::save_committed`], if any.
    committed: Option<Option<LogId>>,
    /// The first failure; every later operation reports it.
    failed: Option<String>,
}

impl Unflushed {
    fn take_seq(&mut self) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        seq
    }
}

/// The log as queued but not yet on disk, taken in one piece for a reader.
#[derive(Debug, Default)]
pub(crate) struct Pending {
    /// Entries (of the range asked for) not yet on disk; where the disk has an entry at
    /// the same index too, this one is newer.
    pub entries: BTreeMap<u64, Entry>,
    /// The id of the last entry not yet on disk (whatever the range).
    pub last: Option<LogId>,
    /// The disk's entries from this index on are truncated.
    pub truncated_from: Option<u64>,
    /// The disk's entries up to this id are purged; the last purged id.
    pub purged: Option<LogId>,
}

impl Pending {
    /// Whether the disk's entry at `index` is gone once the queue is written.
    pub(crate) fn hides(&self, index: u64) -> bool {
        self.truncated_from.is_some_and(|from| index >= from)
            || self.purged.is_some_and(|p| index <= p.index)
    }
}

/// One queued operation: what to write and whom to tell.
struct Op {
    write: Write,
    done: Done,
}

enum Write {
    /// Rows (index, append sequence number, serialized entry).
    Entries(Vec<(u64, u64, Vec<u8>)>),
    /// Delete entries from this index on (with the truncate's sequence number).
    Truncate(u64, u64),
    /// Delete entries up to this id, inclusive, and record it (serialized) as the last
    /// purged (with the purge's sequence number).
    Purge(LogId, Vec<u8>, u64),
    /// A record in the meta table.
    Meta {
        key: &'static str,
        bytes: Vec<u8>,
        /// Whether it must be on disk when reported done.
        durable: bool,
    },
    /// Tests: the writer waits for a message (or a hang-up) before writing its batch.
    #[cfg(test)]
    Hold(mpsc::Receiver<()>),
    /// Tests: the batch fails.
    #[cfg(test)]
    Fail,
}

/// Told once an append is on disk, or that it will never be.
pub(crate) type OnFlushed = Box<dyn FnOnce(Result<(), FlushError>) + Send>;

enum Done {
    Log(OnFlushed),
    Wait(oneshot::Sender<Result<(), FlushError>>),
    Nothing,
}

impl Done {
    fn complete(self, result: &Result<(), FlushError>) {
        match self {
            Done::Log(on_flushed) => on_flushed(result.clone()),
            // The waiter may have gone (its future was dropped): nobody left to tell.
            Done::Wait(tx) => drop(tx.send(result.clone())),
            Done::Nothing => {}
        }
    }
}

impl Flusher {
    /// Starts the writer thread over `db`.
    pub(crate) fn start(db: Arc<Database>) -> std::io::Result<Flusher> {
        let (tx, rx) = mpsc::channel();
        let shared = Arc::new(Shared::default());
        let thread_shared = shared.clone();
        std::thread::Builder::new()
            .name("raft-log-flush".to_owned())
            .spawn(move || run(&db, &thread_shared, &rx))?;
        Ok(Flusher { tx, shared })
    }

    fn lock(&self) -> MutexGuard<'_, Unflushed> {
        // Nothing done under the lock panics short of running out of memory; a poisoned
        // lock still holds a usable state.
        self.shared.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues `entries`; they are readable at once and `callback` hears when they are on
    /// disk (or that they will never be).
    pub(crate) fn append(
        &self,
        entries: Vec<Entry>,
        callback: OnFlushed,
    ) -> Result<(), FlushError> {
        let encoded = entries
            .iter()
            .map(serde_json::to_vec)
            .collect::<Result<Vec<_>, _>>();
        let encoded = match encoded {
            Ok(encoded) => encoded,
            Err(e) => {
                let err = FlushError::Encode(e.to_string());
                Done::Log(callback).complete(&Err(err.clone()));
                return Err(err);
            }
        };
        let mut state = self.lock();
        if let Some(e) = &state.failed {
            let err = FlushError::Failed(e.clone());
            drop(state);
            Done::Log(callback).complete(&Err(err.clone()));
            return Err(err);
        }
        let mut rows = Vec::with_capacity(entries.len());
        for (entry, bytes) in entries.into_iter().zip(encoded) {
            let seq = state.take_seq();
            rows.push((entry.log_id.index, seq, bytes));
            state.entries.insert(entry.log_id.index, (seq, entry));
        }
        // Sent under the lock: the queue's order is the order entries became visible.
        self.send(
            &mut state,
            Op {
                write: Write::Entries(rows),
                done: Done::Log(callback),
            },
        )
    }

    /// Deletes entries from `index` on, and waits until that is on disk.
    pub(crate) async fn truncate(&self, index: u64) -> Result<(), FlushError> {
        let rx = {
            let mut state = self.lock();
            let seq = state.take_seq();
            state.entries.split_off(&index);
            state.truncates.insert(seq, index);
            self.send_waiting(&mut state, Write::Truncate(index, seq))?
        };
        rx.await.map_err(|_| FlushError::Stopped)?
    }

    /// Deletes entries up to `log_id`, inclusive, records it as the last purged, and waits
    /// until that is on disk.
    pub(crate) async fn purge(&self, log_id: LogId) -> Result<(), FlushError> {
        let bytes = serde_json::to_vec(&log_id).map_err(|e| FlushError::Encode(e.to_string()))?;
        let rx = {
            let mut state = self.lock();
            let seq = state.take_seq();
            let kept = state.entries.split_off(&log_id.index.saturating_add(1));
            state.entries = kept;
            state.purges.insert(seq, log_id);
            self.send_waiting(&mut state, Write::Purge(log_id, bytes, seq))?
        };
        rx.await.map_err(|_| FlushError::Stopped)?
    }

    /// Writes a meta record and waits until it is on disk.
    pub(crate) async fn save_meta(
        &self,
        key: &'static str,
        bytes: Vec<u8>,
    ) -> Result<(), FlushError> {
        let rx = {
            let mut state = self.lock();
            let write = Write::Meta {
                key,
                bytes,
                durable: true,
            };
            self.send_waiting(&mut state, write)?
        };
        rx.await.map_err(|_| FlushError::Stopped)?
    }

    /// Queues the commit point without waiting: it reaches the disk with the next
    /// durable write, and one that lags after a crash is safe (it only shortens the
    /// replay at start; the leader tells the rest).
    pub(crate) fn save_committed(&self, committed: Option<LogId>) -> Result<(), FlushError> {
        let bytes =
            serde_json::to_vec(&committed).map_err(|e| FlushError::Encode(e.to_string()))?;
        let mut state = self.lock();
        if let Some(e) = &state.failed {
            return Err(FlushError::Failed(e.clone()));
        }
        state.committed = Some(committed);
        let write = Write::Meta {
            key: META_COMMITTED,
            bytes,
            durable: false,
        };
        self.send(
            &mut state,
            Op {
                write,
                done: Done::Nothing,
            },
        )
    }

    /// The latest commit point queued by this process, if any (the disk may lag it).
    pub(crate) fn committed(&self) -> Option<Option<LogId>> {
        self.lock().committed
    }

    /// What is queued and not yet on disk, with the entries in `range`. Take this
    /// before reading the disk: nothing leaves memory before its transaction commits.
    pub(crate) fn pending(&self, range: impl RangeBounds<u64>) -> Pending {
        let state = self.lock();
        Pending {
            entries: state
                .entries
                .range(range)
                .map(|(index, (_, entry))| (*index, entry.clone()))
                .collect(),
            last: state
                .entries
                .last_key_value()
                .map(|(_, (_, entry))| entry.log_id),
            truncated_from: state.truncates.values().min().copied(),
            purged: state.purges.values().max().copied(),
        }
    }

    /// The counters, shareable without keeping the writer alive.
    pub(crate) fn counters(&self) -> Arc<FlushCounters> {
        self.shared.counters.clone()
    }

    /// Tests: holds the writer (before its next transaction) until the answer is
    /// dropped.
    #[cfg(test)]
    pub(crate) fn hold(&self) -> mpsc::Sender<()> {
        let (tx, rx) = mpsc::channel();
        let mut state = self.lock();
        self.send(
            &mut state,
            Op {
                write: Write::Hold(rx),
                done: Done::Nothing,
            },
        )
        .expect("writer running");
        tx
    }

    /// Tests: makes the next transaction fail.
    #[cfg(test)]
    pub(crate) fn fail_next(&self) {
        let mut state = self.lock();
        self.send(
            &mut state,
            Op {
                write: Write::Fail,
                done: Done::Nothing,
            },
        )
        .expect("writer running");
    }

    /// The failure every operation reports once a flush has failed.
    pub(crate) fn failure(&self) -> Option<FlushError> {
        self.lock().failed.clone().map(FlushError::Failed)
    }

    fn send_waiting(
        &self,
        state: &mut Unflushed,
        write: Write,
    ) -> Result<oneshot::Receiver<Result<(), FlushError>>, FlushError> {
        if let Some(e) = &state.failed {
            return Err(FlushError::Failed(e.clone()));
        }
        let (tx, rx) = oneshot::channel();
        self.send(
            state,
            Op {
                write,
                done: Done::Wait(tx),
            },
        )?;
        Ok(rx)
    }

    fn send(&self, state: &mut Unflushed, op: Op) -> Result<(), FlushError> {
        if let Some(e) = &state.failed {
            let err = FlushError::Failed(e.clone());
            op.done.complete(&Err(err.clone()));
            return Err(err);
        }
        self.tx.send(op).map_err(|mpsc::SendError(op)| {
            op.done.complete(&Err(FlushError::Stopped));
            FlushError::Stopped
        })
    }
}

/// The writer thread: takes everything queued, commits it in one transaction, forgets
/// the flushed entries from memory, then reports to each operation in order. Ends when
/// every [`Flusher`] is dropped and the queue is empty, letting go of the database.
fn run(db: &Database, shared: &Shared, rx: &mpsc::Receiver<Op>) {
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(op) => batch.push(op),
                Err(_) => break,
            }
        }
        let failed = shared
            .state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .failed
            .clone();
        let result = match failed {
            Some(e) => Err(FlushError::Failed(e)),
            None => write_batch(db, &batch).map_err(FlushError::Failed),
        };
        if let Ok(true) = result {
            let entries: usize = batch
                .iter()
                .map(|op| match &op.write {
                    Write::Entries(rows) => rows.len(),
                    _ => 0,
                })
                .sum();
            shared.counters.flushes.fetch_add(1, Ordering::Relaxed);
            shared
                .counters
                .entries
                .fetch_add(entries as u64, Ordering::Relaxed);
        }
        let result = result.map(|_| ());
        {
            let mut state = shared.state.lock().unwrap_or_else(|e| e.into_inner());
            match &result {
                Ok(()) => forget_flushed(&mut state, &batch),
                Err(FlushError::Failed(e)) => {
                    if state.failed.is_none() {
                        tracing::error!(error = %e, "raft log flush failed; the log stops here");
                        state.failed = Some(e.clone());
                    }
                }
                Err(_) => {}
            }
        }
        for op in batch {
            op.done.complete(&result);
        }
    }
}

/// Drops from memory the entries this batch wrote (unless appended again since).
fn forget_flushed(state: &mut Unflushed, batch: &[Op]) {
    for op in batch {
        match &op.write {
            Write::Entries(rows) => {
                for (index, seq, _) in rows {
                    if state.entries.get(index).is_some_and(|(s, _)| s == seq) {
                        state.entries.remove(index);
                    }
                }
            }
            Write::Truncate(_, seq) => {
                state.truncates.remove(seq);
            }
            Write::Purge(_, _, seq) => {
                state.purges.remove(seq);
            }
            _ => {}
        }
    }
}

/// Writes the batch in one transaction, durable if any of its operations must be;
/// answers whether it was.
fn write_batch(db: &Database, batch: &[Op]) -> Result<bool, String> {
    let durable = batch.iter().any(|op| match &op.write {
        Write::Meta { durable, .. } => *durable,
        Write::Entries(_) | Write::Truncate(..) | Write::Purge(..) => true,
        #[cfg(test)]
        Write::Hold(_) | Write::Fail => false,
    });
    let mut txn = db::begin_write(db).map_err(|e| e.to_string())?;
    let durability = if durable {
        Durability::Immediate
    } else {
        Durability::None
    };
    txn.set_durability(durability).map_err(|e| e.to_string())?;
    apply_batch(&txn, batch)?;
    txn.commit().map_err(|e| e.to_string())?;
    Ok(durable)
}

fn apply_batch(txn: &WriteTransaction, batch: &[Op]) -> Result<(), String> {
    let mut log = txn.open_table(LOG).map_err(|e| e.to_string())?;
    let mut meta = txn.open_table(META).map_err(|e| e.to_string())?;
    for op in batch {
        match &op.write {
            Write::Entries(rows) => {
                for (index, _, bytes) in rows {
                    log.insert(*index, bytes.as_slice())
                        .map_err(|e| e.to_string())?;
                }
            }
            Write::Truncate(index, _) => log
                .retain_in(*index.., |_, _| false)
                .map_err(|e| e.to_string())?,
            Write::Purge(log_id, bytes, _) => {
                // The last purged id first: it stands for the log's start if nothing is
                // left.
                meta.insert(META_PURGED, bytes.as_slice())
                    .map_err(|e| e.to_string())?;
                log.retain_in(..=log_id.index, |_, _| false)
                    .map_err(|e| e.to_string())?;
            }
            Write::Meta { key, bytes, .. } => {
                meta.insert(*key, bytes.as_slice())
                    .map_err(|e| e.to_string())?;
            }
            #[cfg(test)]
            Write::Hold(rx) => {
                // A message or the sender dropped: either way, go on.
                let _ = rx.recv();
            }
            #[cfg(test)]
            Write::Fail => return Err("injected failure".to_owned()),
        }
    }
    Ok(())
}
