//! The one redb file a server keeps: its log, its vote and commit point, and its latest
//! snapshot. Every write transaction commits with immediate durability (an fsync):
//! Raft may count an entry towards a quorum only once it is on disk.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use redb::{Database, DatabaseError, Durability, TableDefinition, WriteTransaction};

/// Log entries by index, serialized.
pub(crate) const LOG: TableDefinition<u64, &[u8]> = TableDefinition::new("log");
/// Small records (vote, committed, last purged), serialized, by name.
pub(crate) const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
/// The latest snapshot: [`SNAPSHOT_META`] and [`SNAPSHOT_DATA`].
pub(crate) const SNAPSHOT: TableDefinition<&str, &[u8]> = TableDefinition::new("snapshot");

pub(crate) const META_VOTE: &str = "vote";
pub(crate) const META_COMMITTED: &str = "committed";
pub(crate) const META_PURGED: &str = "last_purged";
pub(crate) const SNAPSHOT_META: &str = "meta";
pub(crate) const SNAPSHOT_DATA: &str = "data";

/// The file name under the data directory.
pub(crate) const FILE_NAME: &str = "raft.redb";

/// Opens (or creates) the database and its tables. A previous instance in this process
/// may still be letting go of the file after its shutdown, so "already open" is retried
/// for a while.
pub(crate) fn open(dir: &Path) -> Result<Arc<Database>, redb::Error> {
    std::fs::create_dir_all(dir).map_err(redb::Error::Io)?;
    let path = dir.join(FILE_NAME);
    let deadline = Instant::now() + Duration::from_secs(10);
    let db = loop {
        match Database::create(&path) {
            Ok(db) => break db,
            Err(DatabaseError::DatabaseAlreadyOpen) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => return Err(e.into()),
        }
    };
    // Create the tables, so that readers never meet a missing one.
    let txn = begin_write(&db)?;
    txn.open_table(LOG)?;
    txn.open_table(META)?;
    txn.open_table(SNAPSHOT)?;
    txn.commit()?;
    Ok(Arc::new(db))
}

/// A write transaction that is on disk when its commit returns.
pub(crate) fn begin_write(db: &Database) -> Result<WriteTransaction, redb::Error> {
    let mut txn = db.begin_write()?;
    txn.set_durability(Durability::Immediate)?;
    Ok(txn)
}
