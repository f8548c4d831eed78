//! The UDP side of the server: worker threads that read queries in batches (one
//! `recvmmsg` for up to [`BATCH`] datagrams) and send the replies back in one `sendmmsg`.
//!
//! Why threads of their own rather than tokio tasks: on loopback most of a query's cost
//! is the kernel's, and a blocking `recvmmsg` that waits for the first datagram and then
//! takes whatever else is queued costs two system calls per batch, where a task on a
//! readiness loop pays an `epoll_wait`, an extra empty read and a wake-up on top. It
//! also keeps DNS latency apart from whatever else the agent's runtime is busy with.
//! Each worker takes the catalog from the source once per batch, not once per query:
//! a batch is answered from one catalog, as a query always was.
//!
//! A worker sees the stop flag within [`POLL`] (the socket's read timeout). Forwarded
//! queries go to the tokio runtime `serve` was called on.

use std::io::{IoSlice, IoSliceMut};
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use hickory_proto::op::ResponseCode;
use nix::errno::Errno;
use nix::sys::socket::{
    ControlMessage, MsgFlags, MultiHeaders, SockaddrStorage, recvmmsg, sendmmsg,
};
use tokio::runtime::Handle;

use crate::forward::forward_udp;
use crate::resolver::error_reply;
use crate::server::{Shared, random_seed};
use crate::{CatalogViewOwned, Resolution, Transport, resolve};

/// The most datagrams read (and replies sent) with one system call.
pub(crate) const BATCH: usize = 32;
/// The largest UDP query read; a longer one arrives cut and is answered FORMERR.
const MAX_UDP_QUERY: usize = 4096;
/// How long a worker blocks waiting for a query before it looks at the stop flag.
const POLL: Duration = Duration::from_millis(100);
/// The pause after a receive error other than a timeout, so that a broken socket does
/// not spin a core.
const ERROR_BACKOFF: Duration = Duration::from_millis(10);

/// Turns a socket handed to `serve` into one a worker thread blocks on, with the read
/// timeout that lets it notice the stop flag.
pub(crate) fn blocking(socket: tokio::net::UdpSocket) -> std::io::Result<std::net::UdpSocket> {
    let socket = socket.into_std()?;
    socket.set_nonblocking(false)?;
    socket.set_read_timeout(Some(POLL))?;
    Ok(socket)
}

/// One worker's buffers, allocated once: the datagrams of a batch, the kernel's message
/// headers for reading and for sending, and the replies waiting to go out.
struct Batch {
    queries: Box<[[u8; MAX_UDP_QUERY]; BATCH]>,
    /// The length and sender of each datagram of the current batch.
    received: Vec<(usize, Option<SockaddrStorage>)>,
    /// The headers are reused from batch to batch: `recvmmsg` leaves each one's address
    /// length at what the kernel last wrote, which is always the same for one socket
    /// (its address family fixes the peers' address size, v4-mapped ones included).
    recv_headers: MultiHeaders<SockaddrStorage>,
    send_headers: MultiHeaders<SockaddrStorage>,
    replies: Vec<Vec<u8>>,
    peers: Vec<Option<SockaddrStorage>>,
}

impl Batch {
    fn new() -> Self {
        Self {
            queries: Box::new([[0; MAX_UDP_QUERY]; BATCH]),
            received: Vec::with_capacity(BATCH),
            recv_headers: MultiHeaders::preallocate(BATCH, None),
            send_headers: MultiHeaders::preallocate(BATCH, None),
            replies: Vec::with_capacity(BATCH),
            peers: Vec::with_capacity(BATCH),
        }
    }

    /// Waits for at least one datagram (up to [`POLL`]) and reads what is queued behind
    /// it, up to [`BATCH`], into `received`.
    fn receive(&mut self, fd: RawFd) -> Result<(), Errno> {
        self.received.clear();
        let mut slices = self.queries.each_mut().map(|q| [IoSliceMut::new(q)]);
        let got = recvmmsg(
            fd,
            &mut self.recv_headers,
            slices.iter_mut(),
            MsgFlags::MSG_WAITFORONE,
            None,
        )?;
        self.received.extend(got.map(|m| (m.bytes, m.address)));
        Ok(())
    }

    /// Sends the queued replies, as many per call as the kernel takes. A reply the
    /// kernel refuses (its peer unreachable, say) is skipped; the rest still go.
    fn send(&mut self, fd: RawFd) {
        let mut start = 0;
        while start < self.replies.len() {
            let slices: Vec<[IoSlice<'_>; 1]> = self.replies[start..]
                .iter()
                .map(|r| [IoSlice::new(r)])
                .collect();
            let sent = sendmmsg(
                fd,
                &mut self.send_headers,
                &slices,
                &self.peers[start..],
                [] as [ControlMessage<'_>; 0],
                MsgFlags::empty(),
            )
            .map(Iterator::count);
            match sent {
                Ok(0) => {
                    tracing::debug!("DNS UDP send took no reply");
                    start += 1;
                }
                Ok(sent) => start += sent,
                Err(Errno::EINTR) => {}
                Err(e) => {
                    // The error is the first unsent reply's: drop it, go on.
                    tracing::debug!(error = %e, "DNS UDP send failed");
                    start += 1;
                }
            }
        }
        self.replies.clear();
        self.peers.clear();
    }
}

/// A worker: reads batches from `socket` until `stop` is set.
pub(crate) fn worker<F>(
    socket: &Arc<std::net::UdpSocket>,
    shared: &Arc<Shared<F>>,
    stop: &AtomicBool,
    runtime: &Handle,
) where
    F: Fn() -> Arc<dyn CatalogViewOwned> + Send + Sync + 'static,
{
    let fd = socket.as_raw_fd();
    let mut batch = Batch::new();
    let mut seed = random_seed();
    while !stop.load(Ordering::Relaxed) {
        match batch.receive(fd) {
            Ok(()) => {}
            // The read timeout: time to look at the stop flag.
            Err(Errno::EAGAIN | Errno::EINTR) => continue,
            Err(e) => {
                // ICMP errors from earlier sends surface here on some systems: not ours.
                tracing::debug!(error = %e, "DNS UDP receive failed");
                std::thread::sleep(ERROR_BACKOFF);
                continue;
            }
        }
        let catalog = (shared.source)();
        let config = &shared.config;
        for (i, &(len, peer)) in batch.received.iter().enumerate() {
            let Some(peer) = peer else { continue };
            let query = &batch.queries[i][..len.min(MAX_UDP_QUERY)];
            seed = seed.wrapping_add(1);
            match resolve(query, Transport::Udp, &*catalog, config, seed) {
                Resolution::Reply(reply) => {
                    batch.replies.push(reply);
                    batch.peers.push(Some(peer));
                }
                Resolution::Drop => {}
                Resolution::Forward => {
                    if let Some(peer) = socket_addr(&peer) {
                        forward(socket, shared, query.to_vec(), peer, runtime);
                    }
                }
            }
        }
        batch.send(fd);
    }
}

/// Relays `query` to the recursors on the runtime, and their answer (or SERVFAIL) back
/// to `peer` from the worker's socket.
fn forward<F>(
    socket: &Arc<std::net::UdpSocket>,
    shared: &Arc<Shared<F>>,
    query: Vec<u8>,
    peer: SocketAddr,
    runtime: &Handle,
) where
    F: Fn() -> Arc<dyn CatalogViewOwned> + Send + Sync + 'static,
{
    let (socket, shared) = (Arc::clone(socket), Arc::clone(shared));
    runtime.spawn(async move {
        let config = &shared.config;
        let reply = match forward_udp(&query, &config.recursors, config.recursor_timeout).await {
            Some(reply) => Some(reply),
            None => error_reply(&query, Transport::Udp, config, ResponseCode::ServFail),
        };
        if let Some(reply) = reply
            // A UDP send waits only for room in the socket's buffer: brief enough here.
            && let Err(e) = socket.send_to(&reply, peer)
        {
            tracing::debug!(error = %e, %peer, "DNS UDP send failed");
        }
    });
}

fn socket_addr(address: &SockaddrStorage) -> Option<SocketAddr> {
    if let Some(v4) = address.as_sockaddr_in() {
        return Some(SocketAddr::from(std::net::SocketAddrV4::from(*v4)));
    }
    address
        .as_sockaddr_in6()
        .map(|v6| SocketAddr::from(std::net::SocketAddrV6::from(*v6)))
}

#[cfg(test)]
mod tests {
    use nix::sys::socket::SockaddrLike;

    use super::*;

    #[test]
    fn peer_addresses_convert_for_both_families() {
        let v4: SocketAddr = "192.0.2.1:53".parse().expect("v4");
        let v6: SocketAddr = "[2001:db8::1]:5353".parse().expect("v6");
        for addr in [v4, v6] {
            let storage = SockaddrStorage::from(addr);
            assert_eq!(socket_addr(&storage), Some(addr));
            assert!(storage.len() > 0);
        }
    }

    #[test]
    fn a_blocking_socket_times_out_for_the_stop_flag() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .build()
            .expect("runtime");
        let socket = runtime.block_on(async {
            tokio::net::UdpSocket::bind("127.0.0.1:0")
                .await
                .expect("bind")
        });
        let socket = runtime
            .block_on(async { blocking(socket) })
            .expect("blocking");
        let mut buf = [0u8; 16];
        let e = socket.recv_from(&mut buf).expect_err("nothing sent");
        assert!(
            matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ),
            "{e}"
        );
    }
}
