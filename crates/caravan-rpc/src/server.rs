//! The accepting side: one task per connection, one task per request.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc, watch};
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;

use crate::error::RpcError;
use crate::frame::{self, IdOnly, Request};
use crate::handler::{Handler, PeerInfo, call_guarded};

/// How long a client has to finish the TLS handshake before the socket is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Responses queued per connection before handlers wait for the writer.
const RESPONSE_QUEUE: usize = 1024;

/// Requests running at once per connection. Past it the server stops reading from that
/// connection until one finishes, so a peer cannot start tasks without bound. It is far
/// above what an agent needs (a few hundred blocking queries at most).
const MAX_IN_FLIGHT: usize = 4096;

/// Serves RPC on `listener` until `shutdown` completes.
///
/// With `tls`, every connection must complete a TLS handshake first; the server config
/// decides whether a client certificate is required (see [`crate::tls::load`]). On
/// shutdown the listener stops accepting and every connection is closed; requests still
/// running are dropped and their callers see a retryable transport error.
pub async fn serve(
    listener: TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    handler: Arc<dyn Handler>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let acceptor = tls.map(TlsAcceptor::from);
    let mut conns = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            // Reap finished connections so the set does not grow without bound.
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
            accepted = listener.accept() => match accepted {
                Ok((stream, addr)) => {
                    conns.spawn(connection(stream, addr, acceptor.clone(), handler.clone()));
                }
                Err(e) => {
                    // Per-connection failures (reset before accept, too many open files)
                    // must not end the server; pause so a persistent one does not spin.
                    tracing::warn!(error = %e, "rpc accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
        }
    }
    // Aborting a connection task drops its socket and, through its liveness channel,
    // every request task it started.
    conns.shutdown().await;
    Ok(())
}

async fn connection(
    stream: TcpStream,
    addr: SocketAddr,
    acceptor: Option<TlsAcceptor>,
    handler: Arc<dyn Handler>,
) {
    if let Err(e) = stream.set_nodelay(true) {
        tracing::debug!(%addr, error = %e, "rpc set_nodelay failed");
    }
    let Some(acceptor) = acceptor else {
        let peer = PeerInfo {
            addr,
            tls_names: Vec::new(),
        };
        return serve_stream(stream, peer, handler).await;
    };
    let stream = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            tracing::debug!(%addr, error = %e, "rpc tls handshake failed");
            return;
        }
        Err(_) => {
            tracing::debug!(%addr, "rpc tls handshake timed out");
            return;
        }
    };
    let tls_names = stream
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|chain| chain.first())
        .map(crate::tls::dns_names)
        .unwrap_or_default();
    serve_stream(stream, PeerInfo { addr, tls_names }, handler).await;
}

async fn serve_stream<S>(stream: S, peer: PeerInfo, handler: Arc<dyn Handler>)
where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    let (mut rd, wr) = tokio::io::split(stream);
    let (tx, rx) = mpsc::channel(RESPONSE_QUEUE);
    // Never sent on: request tasks wait for it to be dropped, which happens when this
    // function returns or its task is aborted.
    let (alive, _) = watch::channel(());
    let in_flight = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
    let reader = async {
        loop {
            let payload = match frame::read_frame(&mut rd).await {
                Ok(Some(p)) => p,
                Ok(None) => return,
                Err(e) => {
                    tracing::debug!(addr = %peer.addr, error = %e, "rpc connection closed");
                    return;
                }
            };
            let req: Request = match serde_json::from_slice(&payload) {
                Ok(r) => r,
                Err(e) => match serde_json::from_slice::<IdOnly>(&payload) {
                    Ok(IdOnly { id }) => {
                        let err = RpcError::bad_request(format!("decoding request: {e}"));
                        if tx
                            .send(frame::encode_response(id, &Err(err)))
                            .await
                            .is_err()
                        {
                            return;
                        }
                        continue;
                    }
                    Err(_) => {
                        // Without an id nothing can be answered: the peer does not
                        // speak this protocol.
                        tracing::debug!(addr = %peer.addr, error = %e, "rpc undecodable request");
                        return;
                    }
                },
            };
            let Ok(permit) = in_flight.clone().acquire_owned().await else {
                return;
            };
            let fut = call_guarded(handler.as_ref(), req.method, req.body, peer.clone());
            let tx = tx.clone();
            let mut closed = alive.subscribe();
            tokio::spawn(async move {
                let result = tokio::select! {
                    r = fut => r,
                    // Err: the connection is gone, nobody is waiting for the answer.
                    _ = closed.changed() => return,
                };
                drop(permit);
                let _ = tx.send(frame::encode_response(req.id, &result)).await;
            });
        }
    };
    let writer = frame::write_loop(wr, rx);
    tokio::select! {
        () = reader => {}
        res = writer => {
            if let Err(e) = res {
                tracing::debug!(addr = %peer.addr, error = %e, "rpc write failed");
            }
        }
    }
    drop(alive);
}
