//! The key/value store (Consul's KV): its entries and its reads.

use serde::{Deserialize, Serialize};

use crate::Snapshot;

/// One key and its value, with Consul's indexes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct KvEntry {
    pub key: String,
    pub value: Vec<u8>,
    /// Opaque to the store: a number clients attach to the value.
    pub flags: u64,
    pub create_index: u64,
    /// The index of the last write; what `cas` compares with.
    pub modify_index: u64,
    /// How many times a session acquired the key (sessions do not exist yet: 0).
    pub lock_index: u64,
    /// The session holding the key's lock (none yet).
    pub session: String,
}

impl Snapshot {
    /// One key.
    pub fn kv_get(&self, key: &str) -> Option<&KvEntry> {
        self.tables.kv.get(key).map(|e| &**e)
    }

    /// Every key starting with `prefix` (a plain string prefix, as in Consul), sorted.
    pub fn kv_list<'a>(&'a self, prefix: &'a str) -> impl Iterator<Item = &'a KvEntry> + 'a {
        self.tables
            .kv
            .range(prefix.to_owned()..)
            .take_while(move |(key, _)| key.starts_with(prefix))
            .map(|(_, e)| &**e)
    }

    /// The keys starting with `prefix`, sorted; with a separator, the keys past the
    /// prefix are cut after their first separator and listed once (Consul's `?keys`
    /// with `?separator`: the "directories" under a prefix).
    pub fn kv_keys(&self, prefix: &str, separator: &str) -> Vec<String> {
        let mut keys: Vec<String> = Vec::new();
        for entry in self.kv_list(prefix) {
            let rest = &entry.key[prefix.len()..];
            let key = match rest.find(separator).filter(|_| !separator.is_empty()) {
                Some(at) => &entry.key[..prefix.len() + at + separator.len()],
                None => entry.key.as_str(),
            };
            if keys.last().is_none_or(|last| last != key) {
                keys.push(key.to_owned());
            }
        }
        keys
    }
}
