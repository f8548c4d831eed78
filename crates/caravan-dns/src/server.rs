//! The DNS server: UDP and TCP (two-byte length framing, RFC 1035 4.2.2) in front of the
//! resolver. Each query takes the current catalog from the source the agent passes, so
//! answers follow the catalog without the server knowing where it lives.

use std::future::Future;
use std::hash::{BuildHasher, Hasher, RandomState};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hickory_proto::op::ResponseCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::timeout;

use crate::forward::{forward_tcp, forward_udp};
use crate::resolver::error_reply;
use crate::{CatalogViewOwned, DnsConfig, DnsError, Resolution, Transport, resolve};

/// The largest UDP query read; a longer one arrives cut and is answered FORMERR.
const MAX_UDP_QUERY: usize = 4096;
/// How long to wait after an accept error (out of file descriptors) before retrying.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Serves DNS on `udp` and `tcp` until `shutdown` completes, answering from whatever
/// catalog `source` returns at the time of each query (the agent passes
/// `move || cache.catalog(state.snapshot())`, see [`crate::CatalogCache`]).
///
/// UDP is read by one task per core (at most 4); TCP connections are served
/// concurrently up to `config.tcp_max_connections`, and closed after
/// `config.tcp_idle_timeout` without a query. On shutdown every task is cancelled.
/// An invalid config ([`DnsConfig::validate`]) is an error before anything is served.
pub async fn serve<F>(
    udp: UdpSocket,
    tcp: TcpListener,
    source: F,
    config: DnsConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), DnsError>
where
    F: Fn() -> Arc<dyn CatalogViewOwned> + Send + Sync + 'static,
{
    config.validate()?;
    let shared = Arc::new(Shared { source, config });
    let udp = Arc::new(udp);
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get().min(4));
    let mut tasks = JoinSet::new();
    for _ in 0..workers {
        tasks.spawn(udp_worker(Arc::clone(&udp), Arc::clone(&shared)));
    }
    tasks.spawn(tcp_acceptor(tcp, Arc::clone(&shared)));
    tokio::select! {
        () = shutdown => Ok(()),
        Some(ended) = tasks.join_next() => {
            // The loops never return; only a panic ends one early.
            ended?;
            Ok(())
        }
    }
}

/// What every task reads.
struct Shared<F> {
    source: F,
    config: DnsConfig,
}

impl<F> Shared<F>
where
    F: Fn() -> Arc<dyn CatalogViewOwned>,
{
    fn resolve(&self, query: &[u8], transport: Transport, seed: u64) -> Resolution {
        let catalog = (self.source)();
        resolve(query, transport, &*catalog, &self.config, seed)
    }
}

/// A starting point for answer shuffles that differs between tasks and processes.
fn random_seed() -> u64 {
    RandomState::new().build_hasher().finish()
}

async fn udp_worker<F>(socket: Arc<UdpSocket>, shared: Arc<Shared<F>>)
where
    F: Fn() -> Arc<dyn CatalogViewOwned> + Send + Sync + 'static,
{
    let mut buf = vec![0u8; MAX_UDP_QUERY];
    let mut seed = random_seed();
    loop {
        let (n, peer) = match socket.recv_from(&mut buf).await {
            Ok(got) => got,
            // ICMP errors from earlier sends surface here on some systems: not ours.
            Err(e) => {
                tracing::debug!(error = %e, "DNS UDP receive failed");
                continue;
            }
        };
        seed = seed.wrapping_add(1);
        let query = &buf[..n];
        match shared.resolve(query, Transport::Udp, seed) {
            Resolution::Reply(reply) => send(&socket, &reply, peer).await,
            Resolution::Drop => {}
            Resolution::Forward => {
                let (socket, shared, query) =
                    (Arc::clone(&socket), Arc::clone(&shared), query.to_vec());
                tokio::spawn(async move {
                    let config = &shared.config;
                    let reply =
                        match forward_udp(&query, &config.recursors, config.recursor_timeout).await
                        {
                            Some(reply) => Some(reply),
                            None => {
                                error_reply(&query, Transport::Udp, config, ResponseCode::ServFail)
                            }
                        };
                    if let Some(reply) = reply {
                        send(&socket, &reply, peer).await;
                    }
                });
            }
        }
    }
}

async fn send(socket: &UdpSocket, reply: &[u8], peer: SocketAddr) {
    if let Err(e) = socket.send_to(reply, peer).await {
        tracing::debug!(error = %e, %peer, "DNS UDP send failed");
    }
}

async fn tcp_acceptor<F>(listener: TcpListener, shared: Arc<Shared<F>>)
where
    F: Fn() -> Arc<dyn CatalogViewOwned> + Send + Sync + 'static,
{
    let permits = Arc::new(Semaphore::new(shared.config.tcp_max_connections.max(1)));
    let mut connections = JoinSet::new();
    loop {
        // Wait for a free slot before accepting: excess clients queue in the backlog.
        let Ok(permit) = Arc::clone(&permits).acquire_owned().await else {
            return;
        };
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                tracing::warn!(error = %e, "DNS TCP accept failed");
                tokio::time::sleep(ACCEPT_BACKOFF).await;
                continue;
            }
        };
        let shared = Arc::clone(&shared);
        connections.spawn(async move {
            serve_connection(stream, &shared).await;
            drop(permit);
        });
        while connections.try_join_next().is_some() {}
    }
}

/// Answers the queries of one connection in order until the client closes it, stays
/// idle too long, or sends something that gets no reply.
async fn serve_connection<F>(mut stream: TcpStream, shared: &Shared<F>)
where
    F: Fn() -> Arc<dyn CatalogViewOwned> + Send + Sync + 'static,
{
    let config = &shared.config;
    let mut seed = random_seed();
    loop {
        let Ok(Ok(len)) = timeout(config.tcp_idle_timeout, stream.read_u16()).await else {
            return;
        };
        let mut query = vec![0u8; usize::from(len)];
        if !matches!(
            timeout(config.tcp_idle_timeout, stream.read_exact(&mut query)).await,
            Ok(Ok(_))
        ) {
            return;
        }
        seed = seed.wrapping_add(1);
        let reply = match shared.resolve(&query, Transport::Tcp, seed) {
            Resolution::Reply(reply) => reply,
            Resolution::Drop => return,
            Resolution::Forward => {
                match forward_tcp(&query, &config.recursors, config.recursor_timeout).await {
                    Some(reply) => reply,
                    None => {
                        match error_reply(&query, Transport::Tcp, config, ResponseCode::ServFail) {
                            Some(reply) => reply,
                            None => return,
                        }
                    }
                }
            }
        };
        let Ok(len) = u16::try_from(reply.len()) else {
            return;
        };
        let mut framed = Vec::with_capacity(reply.len() + 2);
        framed.extend_from_slice(&len.to_be_bytes());
        framed.extend_from_slice(&reply);
        if stream.write_all(&framed).await.is_err() {
            return;
        }
    }
}
