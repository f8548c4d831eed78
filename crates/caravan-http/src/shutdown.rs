//! Ending long-lived streams when the server shuts down. Graceful shutdown waits for
//! every response in flight, and a log follower never finishes on its own, so [`serve`]
//! hands each request a signal that followers watch.
//!
//! [`serve`]: crate::serve

use tokio::sync::watch;

/// Fires once the server has begun shutting down. Requests served without
/// [`serve`](crate::serve) (tests calling the router directly) carry none.
#[derive(Debug, Clone)]
pub(crate) struct ShutdownSignal(watch::Receiver<bool>);

impl ShutdownSignal {
    /// The sender that starts the shutdown, and the signal requests carry.
    pub(crate) fn channel() -> (watch::Sender<bool>, Self) {
        let (tx, rx) = watch::channel(false);
        (tx, Self(rx))
    }

    /// Completes once shutdown has begun (or the sender is gone, which means the same).
    pub(crate) async fn fired(&mut self) {
        let _ = self.0.wait_for(|stopping| *stopping).await;
    }
}

/// Waits on an optional signal; without one, never completes.
pub(crate) async fn fired(signal: &mut Option<ShutdownSignal>) {
    match signal {
        Some(signal) => signal.fired().await,
        None => std::future::pending().await,
    }
}
