//! What a node's templates read from the KV store: one key, or every key under a
//! prefix; and an entry as the servers answer it.

use std::fmt;

/// A watched part of the KV store.
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub enum KvPath {
    /// One key, exactly (`key`, `keyOrDefault`, `keyExists`).
    Key(String),
    /// Every key starting with this string, Consul's plain prefix (`ls`, `tree`).
    Prefix(String),
}

impl KvPath {
    /// Whether the entry `key` belongs to this path.
    pub fn holds(&self, key: &str) -> bool {
        match self {
            KvPath::Key(k) => k == key,
            KvPath::Prefix(p) => key.starts_with(p.as_str()),
        }
    }
}

impl fmt::Display for KvPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KvPath::Key(k) => write!(f, "kv.get({k})"),
            KvPath::Prefix(p) => write!(f, "kv.list({p})"),
        }
    }
}

/// One KV entry.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct KvPair {
    pub key: String,
    /// The raw value; templates read it as UTF-8 (lossily).
    pub value: Vec<u8>,
    /// Opaque to the store: a number clients attach to the value.
    pub flags: u64,
    /// The index of the entry's last write.
    pub modify_index: u64,
}

impl KvPair {
    /// The value as templates see it.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.value).into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_holds_itself_and_a_prefix_every_key_starting_with_it() {
        let key = KvPath::Key("config/a".into());
        assert!(key.holds("config/a"));
        assert!(!key.holds("config/ab"));
        let prefix = KvPath::Prefix("config/".into());
        assert!(prefix.holds("config/a"));
        assert!(prefix.holds("config/"));
        assert!(!prefix.holds("configs/a"));
        assert_eq!(key.to_string(), "kv.get(config/a)");
    }
}
