//! The state machine openraft drives: applies committed entries to the server's
//! [`StateMachine`], tracks the last applied log id and membership itself, and builds,
//! keeps (in redb) and installs snapshots.

use std::io::Cursor;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use caravan_state::{ApplyOutcome, Command, StateStore};
use openraft::storage::{RaftStateMachine, Snapshot};
use openraft::{
    AnyError, EntryPayload, ErrorSubject, ErrorVerb, OptionalSend, RaftSnapshotBuilder,
    StorageIOError,
};
use redb::{Database, ReadableDatabase, ReadableTable};

use crate::db::{self, SNAPSHOT, SNAPSHOT_DATA, SNAPSHOT_META};
use crate::log_store::any;
use crate::snapshot_file;
use crate::types::{
    ApplyResult, Entry, LogId, LogPayload, SnapshotMeta, StorageError, StoredMembership, TypeConfig,
};

/// What the replicated log applies to. The server implements it over its shared store.
pub trait StateMachine: Send + Sync + std::fmt::Debug + 'static {
    /// Applies a committed command at `index` (deterministic; may fail without changing
    /// state).
    fn apply(&self, index: u64, cmd: Command) -> Result<ApplyOutcome, String>;
    /// The current state (O(1)) for building a snapshot.
    fn snapshot(&self) -> caravan_state::Snapshot;
    /// Replaces the whole state (installing a snapshot, or an operator restore).
    fn restore(&self, store: StateStore);
}

/// How far the state machine got. Locked while an entry is applied, so that the state
/// and this always match for whoever holds the lock.
#[derive(Debug, Clone, Default)]
pub(crate) struct Applied {
    pub last_applied: Option<LogId>,
    pub membership: StoredMembership,
}

/// The state machine, the applied position and the snapshot store, shared by the openraft
/// state machine worker and the [`Raft`](crate::Raft) handle.
#[derive(Debug, Clone)]
pub(crate) struct SmStore {
    sm: Arc<dyn StateMachine>,
    db: Arc<Database>,
    applied: Arc<Mutex<Applied>>,
    /// Makes snapshot ids unique within this process.
    builds: Arc<AtomicU64>,
}

impl SmStore {
    /// Loads the latest snapshot on disk into `sm`; openraft then replays the log after
    /// it.
    pub(crate) fn open(sm: Arc<dyn StateMachine>, db: Arc<Database>) -> Result<Self, StorageError> {
        let store = Self {
            sm,
            db,
            applied: Arc::default(),
            builds: Arc::default(),
        };
        if let Some((meta, bytes)) = store.read_snapshot()? {
            store.restore_from_file(&meta, &bytes)?;
        }
        Ok(store)
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Applied> {
        // A panic while applying leaves the position as it was: safe to go on reading.
        self.applied.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The state and the position it stands for, taken together.
    pub(crate) fn current(&self) -> (caravan_state::Snapshot, Applied) {
        let applied = self.lock();
        (self.sm.snapshot(), applied.clone())
    }

    fn restore_from_file(&self, meta: &SnapshotMeta, bytes: &[u8]) -> Result<(), StorageError> {
        let signature = Some(meta.signature());
        let (_, state) = snapshot_file::read(bytes)
            .map_err(|e| StorageIOError::read_snapshot(signature.clone(), any(e)))?;
        let store = StateStore::decode(state)
            .map_err(|e| StorageIOError::read_snapshot(signature, any(e)))?;
        let mut applied = self.lock();
        self.sm.restore(store);
        applied.last_applied = meta.last_log_id;
        applied.membership = meta.last_membership.clone();
        Ok(())
    }

    fn read_snapshot(&self) -> Result<Option<(SnapshotMeta, Vec<u8>)>, StorageError> {
        let read = || -> Result<Option<(SnapshotMeta, Vec<u8>)>, AnyError> {
            let txn = self.db.begin_read().map_err(any)?;
            let table = txn.open_table(SNAPSHOT).map_err(any)?;
            let Some(meta) = table.get(SNAPSHOT_META).map_err(any)? else {
                return Ok(None);
            };
            let meta: SnapshotMeta = serde_json::from_slice(meta.value()).map_err(any)?;
            let data = table
                .get(SNAPSHOT_DATA)
                .map_err(any)?
                .ok_or_else(|| AnyError::error("snapshot meta without data"))?;
            Ok(Some((meta, data.value().to_vec())))
        };
        read().map_err(|e| StorageIOError::read_snapshot(None, e).into())
    }

    /// Keeps a snapshot on disk. Unless `force`, one older than the kept snapshot is
    /// dropped: a build that started before a newer snapshot was installed.
    async fn save_snapshot(
        &self,
        meta: &SnapshotMeta,
        bytes: Vec<u8>,
        force: bool,
    ) -> Result<(), StorageError> {
        let db = self.db.clone();
        let signature = Some(meta.signature());
        let meta_json = serde_json::to_vec(meta)
            .map_err(|e| StorageIOError::write_snapshot(signature.clone(), any(e)))?;
        let last = meta.last_log_id;
        let result = tokio::task::spawn_blocking(move || -> Result<(), AnyError> {
            let txn = db::begin_write(&db).map_err(any)?;
            {
                let mut table = txn.open_table(SNAPSHOT).map_err(any)?;
                let kept: Option<SnapshotMeta> = match table.get(SNAPSHOT_META).map_err(any)? {
                    Some(v) => serde_json::from_slice(v.value()).ok(),
                    None => None,
                };
                if !force && kept.is_some_and(|k| k.last_log_id > last) {
                    return Ok(());
                }
                table
                    .insert(SNAPSHOT_META, meta_json.as_slice())
                    .map_err(any)?;
                table.insert(SNAPSHOT_DATA, bytes.as_slice()).map_err(any)?;
            }
            txn.commit().map_err(any)?;
            Ok(())
        })
        .await
        .map_err(any)
        .and_then(|r| r);
        result.map_err(|e| {
            StorageIOError::new(ErrorSubject::Snapshot(signature), ErrorVerb::Write, e).into()
        })
    }

    fn apply_one(&self, entry: Entry) -> ApplyResult {
        let index = entry.log_id.index;
        let mut applied = self.lock();
        let result = match entry.payload {
            EntryPayload::Blank => Ok(ApplyOutcome {
                index,
                ..ApplyOutcome::default()
            }),
            EntryPayload::Normal(LogPayload::Command(cmd)) => self.sm.apply(index, *cmd),
            EntryPayload::Normal(LogPayload::Restore(bytes)) => match StateStore::decode(&bytes) {
                // The state's indexes are log indexes: a state from further along than
                // this log would refuse every later command as stale.
                Ok(store) if store.latest_index() >= index => Err(format!(
                    "restore refused: the snapshot is at index {} but this cluster's log is \
                     only at {index}",
                    store.latest_index()
                )),
                Ok(store) => {
                    self.sm.restore(store);
                    Ok(ApplyOutcome {
                        index,
                        ..ApplyOutcome::default()
                    })
                }
                Err(e) => Err(format!("restore refused: {e}")),
            },
            EntryPayload::Membership(membership) => {
                applied.membership = StoredMembership::new(Some(entry.log_id), membership);
                Ok(ApplyOutcome {
                    index,
                    ..ApplyOutcome::default()
                })
            }
        };
        applied.last_applied = Some(entry.log_id);
        result
    }
}

/// Builds a snapshot of the state as it was when the builder was made (openraft builds
/// in the background while applying goes on).
#[derive(Debug)]
pub(crate) struct SnapshotBuilder {
    store: SmStore,
    state: caravan_state::Snapshot,
    applied: Applied,
}

impl RaftSnapshotBuilder<TypeConfig> for SnapshotBuilder {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, StorageError> {
        let build = self.store.builds.fetch_add(1, Ordering::Relaxed);
        let meta = SnapshotMeta {
            last_log_id: self.applied.last_applied,
            last_membership: self.applied.membership.clone(),
            snapshot_id: format!(
                "{}-{}-{build}",
                self.applied.last_applied.map_or(0, |l| l.leader_id.term),
                self.applied.last_applied.map_or(0, |l| l.index),
            ),
        };
        let state = self.state.clone();
        let encode_meta = meta.clone();
        // Encoding the whole state is CPU work: keep it off the runtime's workers.
        let bytes = tokio::task::spawn_blocking(move || {
            snapshot_file::write(&encode_meta, &state.encode())
        })
        .await
        .map_err(|e| StorageIOError::write_snapshot(Some(meta.signature()), any(e)))?;
        self.store
            .save_snapshot(&meta, bytes.clone(), false)
            .await?;
        Ok(Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(bytes)),
        })
    }
}

impl RaftStateMachine<TypeConfig> for SmStore {
    type SnapshotBuilder = SnapshotBuilder;

    async fn applied_state(&mut self) -> Result<(Option<LogId>, StoredMembership), StorageError> {
        let applied = self.lock();
        Ok((applied.last_applied, applied.membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<ApplyResult>, StorageError>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        Ok(entries.into_iter().map(|e| self.apply_one(e)).collect())
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        let (state, applied) = self.current();
        SnapshotBuilder {
            store: self.clone(),
            state,
            applied,
        }
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<Cursor<Vec<u8>>>, StorageError> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), StorageError> {
        let bytes = snapshot.into_inner();
        // The header inside comes from the sender; the meta openraft passes is what
        // counts, so the file kept is rewritten with it.
        let signature = Some(meta.signature());
        let (_, state) = snapshot_file::read(&bytes)
            .map_err(|e| StorageIOError::read_snapshot(signature.clone(), any(e)))?;
        let bytes = snapshot_file::write(meta, state);
        self.restore_from_file(meta, &bytes)?;
        self.save_snapshot(meta, bytes, true).await
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot<TypeConfig>>, StorageError> {
        Ok(self.read_snapshot()?.map(|(meta, bytes)| Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(bytes)),
        }))
    }
}

impl SmStore {
    /// Whether this handle is the last one on the store file (openraft's tasks have let
    /// go of theirs).
    pub(crate) fn is_last_store_handle(&self) -> bool {
        Arc::strong_count(&self.db) == 1
    }
}
