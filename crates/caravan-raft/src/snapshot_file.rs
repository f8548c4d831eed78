//! A snapshot as bytes: a magic line, the length of a JSON header (the openraft
//! snapshot meta: last log id, membership, snapshot id), the header, then the state as
//! [`caravan_state::Snapshot::encode`] wrote it. The same bytes are kept on disk, sent to
//! followers and handed to an operator, so a saved snapshot says which index it holds.

use crate::types::SnapshotMeta;

const MAGIC: &[u8] = b"CARAVAN-RAFT-SNAPSHOT-1\n";

/// Why snapshot bytes could not be read.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SnapshotFileError {
    #[error("not a caravan raft snapshot (bad magic)")]
    BadMagic,
    #[error("snapshot is truncated")]
    Truncated,
    #[error("snapshot header is malformed: {0}")]
    Header(#[from] serde_json::Error),
}

/// The bytes of a snapshot of `state` (already encoded) taken at `meta`.
pub(crate) fn write(meta: &SnapshotMeta, state: &[u8]) -> Vec<u8> {
    let header = serde_json::to_vec(meta).expect("invariant: snapshot meta serializes to JSON");
    let mut out = Vec::with_capacity(MAGIC.len() + 8 + header.len() + state.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&(header.len() as u64).to_le_bytes());
    out.extend_from_slice(&header);
    out.extend_from_slice(state);
    out
}

/// Whether `bytes` start like a snapshot file (as opposed to bare encoded state).
pub(crate) fn is_snapshot_file(bytes: &[u8]) -> bool {
    bytes.starts_with(MAGIC)
}

/// The meta and the encoded state of a snapshot file.
pub(crate) fn read(bytes: &[u8]) -> Result<(SnapshotMeta, &[u8]), SnapshotFileError> {
    let rest = bytes
        .strip_prefix(MAGIC)
        .ok_or(SnapshotFileError::BadMagic)?;
    let (len, rest) = rest
        .split_at_checked(8)
        .ok_or(SnapshotFileError::Truncated)?;
    let len = u64::from_le_bytes(len.try_into().expect("invariant: split at 8 bytes"));
    let len = usize::try_from(len).map_err(|_| SnapshotFileError::Truncated)?;
    let (header, state) = rest
        .split_at_checked(len)
        .ok_or(SnapshotFileError::Truncated)?;
    Ok((serde_json::from_slice(header)?, state))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_garbage() {
        let meta = SnapshotMeta {
            snapshot_id: "7-1".to_owned(),
            ..SnapshotMeta::default()
        };
        let bytes = write(&meta, b"{\"state\":1}");
        assert!(is_snapshot_file(&bytes));
        let (back, state) = read(&bytes).expect("reads");
        assert_eq!(back, meta);
        assert_eq!(state, b"{\"state\":1}");
        assert!(matches!(read(b"nope"), Err(SnapshotFileError::BadMagic)));
        assert!(matches!(
            read(&bytes[..MAGIC.len() + 4]),
            Err(SnapshotFileError::Truncated)
        ));
    }
}
