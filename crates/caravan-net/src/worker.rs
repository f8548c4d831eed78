//! Namespace work happens on short-lived OS threads: `setns` and `unshare` change
//! the calling thread only, and a tokio worker must never end up in an allocation's
//! namespace. Each operation runs on a worker thread that stays in the host's
//! namespace (nft and sysctl act on the namespace of whoever runs them); the part
//! that enters an allocation's namespace runs on a thread of its own, spawned from
//! the worker so that it starts in the host's namespace too. Each thread runs its
//! netlink requests on a runtime of its own.

use std::future::Future;

use crate::NetError;

/// Runs `work` on a new OS thread; the caller awaits the result without blocking
/// its runtime. The thread ends with `work`, whatever namespace it is in by then.
pub(crate) async fn on_worker<T, F>(work: F) -> Result<T, NetError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, NetError> + Send + 'static,
{
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("caravan-net".to_owned())
        .spawn(move || {
            let _ = tx.send(work());
        })
        .map_err(|e| NetError::Worker(format!("cannot start a thread: {e}")))?;
    rx.await
        .map_err(|_| NetError::Worker("the thread panicked".to_owned()))?
}

/// Drives `future` on a current-thread runtime owned by the calling worker thread
/// (rtnetlink's sockets need a reactor).
pub(crate) fn block_on<F: Future>(future: F) -> Result<F::Output, NetError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .map_err(|e| NetError::Worker(format!("cannot build a runtime: {e}")))?;
    Ok(runtime.block_on(future))
}

/// Runs `work` on a thread of its own, spawned from (and so starting in the
/// namespace of) the calling worker, and waits for it: `work` may move its thread
/// into another namespace without moving the caller.
pub(crate) fn in_own_thread<T, F>(work: F) -> Result<T, NetError>
where
    T: Send,
    F: FnOnce() -> Result<T, NetError> + Send,
{
    std::thread::scope(|scope| {
        std::thread::Builder::new()
            .name("caravan-netns".to_owned())
            .spawn_scoped(scope, work)
            .map_err(|e| NetError::Worker(format!("cannot start a thread: {e}")))?
            .join()
            .map_err(|_| NetError::Worker("the namespace thread panicked".to_owned()))?
    })
}
