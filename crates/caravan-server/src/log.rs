//! The command log: where every write is committed before it is acknowledged.

use std::fmt::Debug;
use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;

use caravan_state::{ApplyOutcome, Command};

use crate::{ServerError, StateHandle};

/// A boxed future, so that the log can be a trait object.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Commits commands. The outcome is returned only once the command is durable in the
/// log's sense (applied in dev mode; committed by a quorum under Raft).
pub trait CommandLog: Send + Sync + Debug {
    fn commit(&self, cmd: Command) -> BoxFuture<'_, Result<ApplyOutcome, ServerError>>;
}

/// Dev mode's log: applies each command to the local store at the next index.
#[derive(Debug)]
pub struct LocalLog {
    state: StateHandle,
    /// Serializes commits so indexes are handed out in apply order.
    lock: Mutex<()>,
}

impl LocalLog {
    pub fn new(state: StateHandle) -> Self {
        Self {
            state,
            lock: Mutex::new(()),
        }
    }
}

impl CommandLog for LocalLog {
    fn commit(&self, cmd: Command) -> BoxFuture<'_, Result<ApplyOutcome, ServerError>> {
        let result = {
            let _guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
            self.state.write(|store| {
                let index = store.latest_index() + 1;
                store.apply(index, cmd)
            })
        };
        Box::pin(async move { result.map_err(ServerError::from) })
    }
}
