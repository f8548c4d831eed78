//! The DNS server: UDP and TCP (two-byte length framing, RFC 1035 4.2.2) in front of the
//! resolver. Each query takes the current catalog from the source the agent passes, so
//! answers follow the catalog without the server knowing where it lives.

use std::future::Future;
use std::hash::{BuildHasher, Hasher, RandomState};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use hickory_proto::op::ResponseCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::{Semaphore, oneshot};
use tokio::task::JoinSet;
use tokio::time::timeout;

use crate::forward::forward_tcp;
use crate::resolver::error_reply;
use crate::{CatalogViewOwned, DnsConfig, DnsError, Resolution, Transport, resolve, udp};

/// How long to wait after an accept error (out of file descriptors) before retrying.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Serves DNS on `udp` and `tcp` until `shutdown` completes, answering from whatever
/// catalog `source` returns at the time of each query (the agent passes
/// `move || cache.catalog(state.snapshot())`, see [`crate::CatalogCache`]).
///
/// UDP is read by `config.udp_workers` threads of their own, in batches (see
/// [`serve_sockets`] to give each its own socket); TCP connections are served
/// concurrently up to `config.tcp_max_connections`, and closed after
/// `config.tcp_idle_timeout` without a query. On shutdown every task is cancelled and
/// the UDP threads are waited for, so the sockets are closed when this returns.
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
    serve_sockets(vec![udp], tcp, source, config, shutdown).await
}

/// [`serve`] over several UDP sockets bound to one address with `SO_REUSEPORT`, so
/// that the kernel spreads queries over them and the workers do not share one queue.
/// Worker `i` reads socket `i % udp.len()`; there are `config.udp_workers` workers, or
/// one per socket if there are more sockets. This crate binds no sockets: the caller
/// sets `SO_REUSEPORT` on each before binding it.
pub async fn serve_sockets<F>(
    udp: Vec<UdpSocket>,
    tcp: TcpListener,
    source: F,
    config: DnsConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), DnsError>
where
    F: Fn() -> Arc<dyn CatalogViewOwned> + Send + Sync + 'static,
{
    config.validate()?;
    if udp.is_empty() {
        return Err(DnsError::Config("the DNS server needs a UDP socket".into()));
    }
    let workers = config.udp_workers.max(udp.len());
    let sockets = udp
        .into_iter()
        .map(|s| udp::blocking(s).map(Arc::new))
        .collect::<Result<Vec<_>, _>>()
        .map_err(DnsError::Socket)?;
    let shared = Arc::new(Shared { source, config });
    let mut udp_workers = UdpWorkers::default();
    let mut tasks = JoinSet::new();
    for i in 0..workers {
        let ended = udp_workers.spawn(i, Arc::clone(&sockets[i % sockets.len()]), &shared)?;
        tasks.spawn(async move {
            // The worker loops until stopped; only a panic ends it early.
            match ended.await {
                Ok(Ended::Panicked) => Err(DnsError::UdpWorker),
                Ok(Ended::Stopped) | Err(_) => Ok(()),
            }
        });
    }
    drop(sockets);
    tasks.spawn(async move {
        tcp_acceptor(tcp, shared).await;
        Ok(())
    });
    let outcome = tokio::select! {
        () = shutdown => Ok(()),
        Some(ended) = tasks.join_next() => ended?,
    };
    drop(tasks);
    udp_workers.stop().await;
    outcome
}

/// How a UDP worker thread ended.
enum Ended {
    Stopped,
    Panicked,
}

/// The UDP worker threads and the flag that stops them. Dropped without [`Self::stop`]
/// (the `serve` future dropped), it still sets the flag: the threads end within a
/// read timeout.
#[derive(Default)]
struct UdpWorkers {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl UdpWorkers {
    /// Starts worker `i` on `socket`; the receiver learns when it ends.
    fn spawn<F>(
        &mut self,
        i: usize,
        socket: Arc<std::net::UdpSocket>,
        shared: &Arc<Shared<F>>,
    ) -> Result<oneshot::Receiver<Ended>, DnsError>
    where
        F: Fn() -> Arc<dyn CatalogViewOwned> + Send + Sync + 'static,
    {
        let (ended, on_end) = oneshot::channel();
        let (shared, stop) = (Arc::clone(shared), Arc::clone(&self.stop));
        let runtime = tokio::runtime::Handle::current();
        let thread = std::thread::Builder::new()
            .name(format!("caravan-dns-udp-{i}"))
            .spawn(move || {
                let _report = ReportEnd(Some(ended));
                udp::worker(&socket, &shared, &stop, &runtime);
            })
            .map_err(DnsError::Socket)?;
        self.threads.push(thread);
        Ok(on_end)
    }

    /// Stops the workers and waits for their threads (a read timeout at most).
    async fn stop(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let threads = std::mem::take(&mut self.threads);
        let joined = tokio::task::spawn_blocking(move || {
            for thread in threads {
                // A panic was reported through its `ReportEnd` already.
                let _ = thread.join();
            }
        });
        let _ = joined.await;
    }
}

impl Drop for UdpWorkers {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Tells `serve` that a worker thread ended, and whether by a panic.
struct ReportEnd(Option<oneshot::Sender<Ended>>);

impl Drop for ReportEnd {
    fn drop(&mut self) {
        if let Some(ended) = self.0.take() {
            let how = if std::thread::panicking() {
                Ended::Panicked
            } else {
                Ended::Stopped
            };
            let _ = ended.send(how);
        }
    }
}

/// What every task and worker reads.
pub(crate) struct Shared<F> {
    pub source: F,
    pub config: DnsConfig,
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
pub(crate) fn random_seed() -> u64 {
    RandomState::new().build_hasher().finish()
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
