//! Running the router on a socket.

use std::future::Future;

use axum::{Extension, Router};
use tokio::net::TcpListener;
use tokio::task::JoinSet;

use crate::shutdown::ShutdownSignal;

/// Serves `router` on `listener` until `shutdown` completes; then stops accepting, ends
/// the log streams that follow tasks, and waits for the other requests in flight.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_all(vec![(listener, router)], shutdown).await
}

/// [`serve`] for several listeners at once (Nomad's API and Consul's, say), all
/// stopping on the one `shutdown`. Returns once every one has stopped; the first
/// error, if any.
pub async fn serve_all(
    servers: Vec<(TcpListener, Router)>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (stop, signal) = ShutdownSignal::channel();
    let mut running = JoinSet::new();
    for (listener, router) in servers {
        let router = router.layer(Extension(signal.clone()));
        let mut stopping = signal.clone();
        running.spawn(async move {
            axum::serve(listener, router)
                .with_graceful_shutdown(async move { stopping.fired().await })
                .await
        });
    }
    let mut shutdown = std::pin::pin!(shutdown);
    let mut stopping = false;
    let mut first = Ok(());
    loop {
        tokio::select! {
            () = &mut shutdown, if !stopping => {
                stopping = true;
                let _ = stop.send(true);
            }
            done = running.join_next() => {
                let Some(done) = done else { break };
                let result = done.unwrap_or_else(|e| Err(std::io::Error::other(e)));
                if result.is_err() && first.is_ok() {
                    // One listener failed: stop the others too.
                    first = result;
                    let _ = stop.send(true);
                }
            }
        }
    }
    first
}
