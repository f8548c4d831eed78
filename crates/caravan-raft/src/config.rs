//! How a Raft server is set up.

use std::path::PathBuf;
use std::time::Duration;

use crate::RaftId;

/// A Raft server's identity, storage and timing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RaftConfig {
    pub id: RaftId,
    /// This server's RPC address, stored in the membership for the others to reach it.
    pub addr: String,
    /// Where the log and snapshots live (`raft.redb`).
    pub data_dir: PathBuf,
    /// How often the leader heartbeats its followers.
    pub heartbeat_interval: Duration,
    /// A follower that hears no leader for a random time in this range starts an
    /// election. With the defaults a failed leader is replaced within about 3 s.
    pub election_timeout: (Duration, Duration),
    /// A snapshot is built every this many applied entries, and the log before it
    /// purged (keeping some entries for followers that lag a little).
    pub snapshot_after_logs: u64,
}

impl Default for RaftConfig {
    fn default() -> Self {
        Self {
            id: 1,
            addr: String::new(),
            data_dir: PathBuf::from("."),
            heartbeat_interval: Duration::from_millis(100),
            election_timeout: (Duration::from_millis(500), Duration::from_millis(1000)),
            snapshot_after_logs: 10_000,
        }
    }
}

impl RaftConfig {
    /// How many entries before a snapshot stay in the log after it: a follower less
    /// behind than this catches up from the log, not through a whole snapshot.
    pub(crate) fn logs_kept_after_snapshot(&self) -> u64 {
        self.snapshot_after_logs.min(1_000)
    }

    /// The openraft configuration this stands for.
    pub(crate) fn to_openraft(&self) -> Result<openraft::Config, openraft::ConfigError> {
        let millis = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1);
        openraft::Config {
            cluster_name: "caravan".to_owned(),
            heartbeat_interval: millis(self.heartbeat_interval),
            election_timeout_min: millis(self.election_timeout.0),
            election_timeout_max: millis(self.election_timeout.1),
            // A chunk must travel within this; generous, as chunks are large.
            install_snapshot_timeout: millis(self.election_timeout.1).max(2_000),
            snapshot_policy: openraft::SnapshotPolicy::LogsSinceLast(
                self.snapshot_after_logs.max(1),
            ),
            max_in_snapshot_log_to_keep: self.logs_kept_after_snapshot(),
            ..openraft::Config::default()
        }
        .validate()
    }
}
