//! What the server side of the wire calls into.

use std::future::Future;
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::task::{Context, Poll};

use serde_json::Value;

use crate::error::RpcError;

/// A boxed, sendable future.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Who sent a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerInfo {
    /// The remote socket address.
    pub addr: SocketAddr,
    /// The DNS names (SAN) of the client certificate the TLS handshake verified; empty
    /// without TLS.
    pub tls_names: Vec<String>,
}

/// Answers requests. The crate knows no method: it hands every request here.
///
/// Each request runs in its own task, so a slow call (a blocking query) does not hold
/// up others on the same connection. The returned future is dropped, like an HTTP
/// handler's, if the connection closes or the server shuts down before it completes;
/// work that must finish regardless should be spawned by the handler. A panic in the
/// handler is answered with an `internal` error.
pub trait Handler: Send + Sync + 'static {
    /// Handles one request.
    fn call(
        &self,
        method: String,
        body: Value,
        peer: PeerInfo,
    ) -> BoxFuture<'static, Result<Value, RpcError>>;
}

/// Calls the handler, turning a panic (while building or polling the future) into an
/// `internal` error for this request alone.
pub(crate) fn call_guarded(
    handler: &dyn Handler,
    method: String,
    body: Value,
    peer: PeerInfo,
) -> BoxFuture<'static, Result<Value, RpcError>> {
    match std::panic::catch_unwind(AssertUnwindSafe(|| handler.call(method, body, peer))) {
        Ok(fut) => Box::pin(CatchUnwind(Some(fut))),
        Err(_) => Box::pin(std::future::ready(Err(panicked()))),
    }
}

fn panicked() -> RpcError {
    RpcError::internal("the handler panicked")
}

/// Polls the inner future, answering a panic with an error instead of unwinding into
/// the connection's task.
struct CatchUnwind(Option<BoxFuture<'static, Result<Value, RpcError>>>);

impl Future for CatchUnwind {
    type Output = Result<Value, RpcError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let Some(fut) = self.0.as_mut() else {
            // Only reachable if polled after completion; answer rather than panic.
            return Poll::Ready(Err(panicked()));
        };
        match std::panic::catch_unwind(AssertUnwindSafe(|| fut.as_mut().poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(out)) => {
                self.0 = None;
                Poll::Ready(out)
            }
            Err(_) => {
                // A future that panicked must not be polled again.
                self.0 = None;
                Poll::Ready(Err(panicked()))
            }
        }
    }
}
