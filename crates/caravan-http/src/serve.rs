//! Running the router on a socket.

use std::future::Future;

use axum::{Extension, Router};
use tokio::net::TcpListener;

use crate::shutdown::ShutdownSignal;

/// Serves `router` on `listener` until `shutdown` completes; then stops accepting, ends
/// the log streams that follow tasks, and waits for the other requests in flight.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (stop, signal) = ShutdownSignal::channel();
    let router = router.layer(Extension(signal));
    let shutdown = async move {
        shutdown.await;
        let _ = stop.send(true);
    };
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
}
