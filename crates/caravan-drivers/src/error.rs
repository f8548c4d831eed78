//! The one error type of the drivers.

use std::path::PathBuf;

/// What a driver could not do, with the task it was doing it for.
#[derive(Debug, thiserror::Error)]
pub enum DriverError {
    /// A required key of the task's driver `config` is absent.
    #[error("task {task:?}: driver config is missing the required key `{key}`")]
    MissingConfig { task: String, key: &'static str },

    /// A key of the task's driver `config` has the wrong shape.
    #[error("task {task:?}: driver config key `{key}` is invalid: {reason}")]
    InvalidConfig {
        task: String,
        key: String,
        reason: String,
    },

    /// A signal name that no platform signal matches.
    #[error("unknown signal {0:?}")]
    UnknownSignal(String),

    /// The task's `user` does not exist on this node.
    #[error("task {task:?}: user {user:?} does not exist on this node")]
    UnknownUser { task: String, user: String },

    /// A directory the task needs does not exist (the client creates them).
    #[error("task {task:?}: directory {} does not exist", path.display())]
    MissingDir { task: String, path: PathBuf },

    /// The network namespace to run the task in does not exist.
    #[error("task {task:?}: network namespace {} does not exist", path.display())]
    MissingNetns { task: String, path: PathBuf },

    /// A log file could not be opened.
    #[error("task {task:?}: cannot open log file {}: {source}", path.display())]
    Log {
        task: String,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// A log collector process could not be started.
    #[error("task {task:?}: cannot start its log collector: {source}")]
    LogCollector {
        task: String,
        #[source]
        source: std::io::Error,
    },

    /// The process could not be started.
    #[error("task {task:?}: cannot start {command:?}: {source}")]
    Spawn {
        task: String,
        command: String,
        #[source]
        source: std::io::Error,
    },

    /// Sending a signal failed for a reason other than the process being gone.
    #[error("task {task:?}: cannot send {signal}: {source}")]
    Signal {
        task: String,
        signal: String,
        #[source]
        source: std::io::Error,
    },

    /// A signal was asked for a task that has already exited.
    #[error("task {task:?} is not running")]
    NotRunning { task: String },

    /// The task did not exit even after SIGKILL.
    #[error("task {task:?} did not exit {waited_secs}s after SIGKILL")]
    StopTimedOut { task: String, waited_secs: u64 },

    /// A handle or state made by another driver was passed to this one.
    #[error("driver {driver} was given a handle of driver {other}")]
    ForeignHandle { driver: String, other: String },

    /// A persisted handle state lacks what this driver needs to re-attach.
    #[error("task {task:?}: handle state cannot be recovered: {reason}")]
    BadState { task: String, reason: String },

    /// The task's image is not on this node and pulling it failed.
    #[error("task {task:?}: image {image:?} not found locally and could not be pulled: {reason}")]
    ImageUnavailable {
        task: String,
        image: String,
        reason: String,
    },

    /// The container engine refused or failed a request made for a task.
    #[error("task {task:?}: docker could not {action}: {reason}")]
    Docker {
        task: String,
        action: &'static str,
        reason: String,
    },

    /// The container engine cannot be reached, or failed a request made for no task in
    /// particular (fingerprint, reconcile).
    #[error("docker daemon: cannot {action}: {reason}")]
    DockerDaemon {
        action: &'static str,
        reason: String,
    },
}
