//! The whole state as bytes, for Raft snapshots: [`Snapshot::encode`] and
//! [`StateStore::decode`].
//!
//! The format is JSON with a version number, so a snapshot written by one release is
//! either read correctly by the next or refused with a clear error, never misread.

use serde::{Deserialize, Serialize};

use crate::snapshot::Tables;
use crate::{Snapshot, StateStore};

/// The version of the encoding [`Snapshot::encode`] writes.
const FORMAT_VERSION: u32 = 1;

/// Why bytes could not be decoded into a store.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("state snapshot is malformed: {0}")]
    Malformed(#[from] serde_json::Error),
    #[error("state snapshot format {found} is not supported (this build reads {supported})")]
    UnsupportedVersion { found: u32, supported: u32 },
}

#[derive(Serialize)]
struct EncodedRef<'a> {
    format: u32,
    tables: &'a Tables,
}

/// Only the version, read first so that a newer format is refused as such rather than
/// as malformed.
#[derive(Deserialize)]
struct Header {
    format: u32,
}

#[derive(Deserialize)]
struct Encoded {
    tables: Tables,
}

impl Snapshot {
    /// Every table and index as bytes; [`StateStore::decode`] gives back an equal store.
    pub fn encode(&self) -> Vec<u8> {
        let encoded = EncodedRef {
            format: FORMAT_VERSION,
            tables: &self.tables,
        };
        serde_json::to_vec(&encoded)
            .expect("invariant: the tables hold only JSON-serializable values")
    }
}

impl StateStore {
    /// The store [`Snapshot::encode`] wrote.
    pub fn decode(bytes: &[u8]) -> Result<StateStore, DecodeError> {
        let header: Header = serde_json::from_slice(bytes)?;
        if header.format != FORMAT_VERSION {
            return Err(DecodeError::UnsupportedVersion {
                found: header.format,
                supported: FORMAT_VERSION,
            });
        }
        let encoded: Encoded = serde_json::from_slice(bytes)?;
        Ok(StateStore::from_snapshot(Snapshot {
            tables: encoded.tables,
        }))
    }
}

/// `#[serde(with = "pairs")]` for an `OrdMap`: a list of `[key, value]` pairs, since
/// JSON object keys must be strings and several tables are keyed by structs.
pub(crate) mod pairs {
    use imbl::OrdMap;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<K, V, S>(map: &OrdMap<K, V>, serializer: S) -> Result<S::Ok, S::Error>
    where
        K: Serialize + Ord + Clone,
        V: Serialize + Clone,
        S: Serializer,
    {
        serializer.collect_seq(map.iter())
    }

    pub fn deserialize<'de, K, V, D>(deserializer: D) -> Result<OrdMap<K, V>, D::Error>
    where
        K: Deserialize<'de> + Ord + Clone,
        V: Deserialize<'de> + Clone,
        D: Deserializer<'de>,
    {
        let pairs: Vec<(K, V)> = Vec::deserialize(deserializer)?;
        Ok(pairs.into_iter().collect())
    }
}
