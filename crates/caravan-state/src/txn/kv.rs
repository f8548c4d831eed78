//! The key/value store's writes, with Consul's check-and-set rules.

use std::sync::Arc;

use super::Txn;
use crate::{KvEntry, StateError, Table};

impl Txn {
    /// Sets a key, unless `cas` says otherwise: `Some(0)` writes only a key that is
    /// absent, `Some(n)` only a key whose modify index is `n`.
    pub(super) fn kv_set(
        &mut self,
        key: String,
        value: Vec<u8>,
        flags: u64,
        cas: Option<u64>,
    ) -> Result<(), StateError> {
        if key.is_empty() {
            return Err(StateError::MissingKvKey);
        }
        let existing = self.tables.kv.get(&key).cloned();
        let holds = match (cas, &existing) {
            (None, _) => true,
            (Some(0), existing) => existing.is_none(),
            (Some(_), None) => false,
            (Some(n), Some(e)) => e.modify_index == n,
        };
        self.outcome.kv_applied = holds;
        if !holds {
            return Ok(());
        }
        let entry = KvEntry {
            key: key.clone(),
            value,
            flags,
            create_index: existing.as_ref().map_or(self.index, |e| e.create_index),
            modify_index: self.index,
            lock_index: existing.as_ref().map_or(0, |e| e.lock_index),
            session: existing.map(|e| e.session.clone()).unwrap_or_default(),
        };
        self.tables.kv.insert(key, Arc::new(entry));
        self.touch(Table::Kv);
        Ok(())
    }

    /// Deletes a key (or, with `recurse`, every key starting with it). With `cas`, a
    /// key whose modify index is another number stays; a missing key counts as
    /// deleted.
    pub(super) fn kv_delete(&mut self, key: &str, recurse: bool, cas: Option<u64>) {
        self.outcome.kv_applied = true;
        if recurse {
            let doomed: Vec<String> = self
                .tables
                .kv
                .range(key.to_owned()..)
                .take_while(|(k, _)| k.starts_with(key))
                .map(|(k, _)| k.clone())
                .collect();
            for k in doomed {
                self.tables.kv.remove(&k);
                self.touch(Table::Kv);
            }
            return;
        }
        let Some(existing) = self.tables.kv.get(key) else {
            return;
        };
        if cas.is_some_and(|n| n != existing.modify_index) {
            self.outcome.kv_applied = false;
            return;
        }
        self.tables.kv.remove(key);
        self.touch(Table::Kv);
    }
}
