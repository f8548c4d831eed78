//! openraft's storage test battery against the redb log store and the state machine.

use std::sync::{Arc, Mutex};

use caravan_state::{ApplyOutcome, Command, StateStore};
use openraft::testing::{StoreBuilder, Suite};

use crate::db;
use crate::log_store::LogStore;
use crate::state_machine::{SmStore, StateMachine};
use crate::types::{StorageError, TypeConfig};

#[derive(Debug, Default)]
struct Store(Mutex<StateStore>);

impl StateMachine for Store {
    fn apply(&self, index: u64, cmd: Command) -> Result<ApplyOutcome, String> {
        let mut store = self.0.lock().expect("lock");
        store.apply(index, cmd).map_err(|e| e.to_string())
    }
    fn snapshot(&self) -> caravan_state::Snapshot {
        self.0.lock().expect("lock").snapshot()
    }
    fn restore(&self, store: StateStore) {
        *self.0.lock().expect("lock") = store;
    }
}

struct Builder;

impl StoreBuilder<TypeConfig, LogStore, SmStore, tempfile::TempDir> for Builder {
    async fn build(&self) -> Result<(tempfile::TempDir, LogStore, SmStore), StorageError> {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = db::open(dir.path()).expect("open db");
        let sm = SmStore::open(Arc::new(Store::default()), db.clone())?;
        Ok((dir, LogStore::new(db).expect("log writer starts"), sm))
    }
}

#[test]
fn openraft_storage_suite() {
    Suite::test_all(Builder).expect("storage suite passes");
}
