//! What a [`FakeDriver`](crate::FakeDriver) was asked to do.

use std::time::Duration;

use caravan_model::AllocId;

/// One call made to a [`FakeDriver`](crate::FakeDriver), in order. `wait` and
/// `fingerprint` are not recorded: they change nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FakeCall {
    Start {
        alloc_id: AllocId,
        task: String,
    },
    Stop {
        task: String,
        signal: String,
        timeout: Duration,
    },
    Signal {
        task: String,
        signal: String,
    },
    Recover {
        task: String,
    },
    Destroy {
        task: String,
    },
}
