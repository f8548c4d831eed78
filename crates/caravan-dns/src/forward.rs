//! Forwarding names outside the domain to the configured recursors, in order, each
//! with a deadline; the first reply that matches the query's id is relayed as it is.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::time::timeout;

/// The most a UDP reply from a recursor may be.
const MAX_UDP_REPLY: usize = 4096;

/// Asks each recursor over UDP in turn; `None` when none answered in time.
pub(crate) async fn forward_udp(
    query: &[u8],
    recursors: &[SocketAddr],
    limit: Duration,
) -> Option<Vec<u8>> {
    for recursor in recursors {
        match timeout(limit, ask_udp(query, *recursor)).await {
            Ok(Some(reply)) => return Some(reply),
            Ok(None) | Err(_) => {
                tracing::debug!(%recursor, "recursor did not answer over UDP");
            }
        }
    }
    None
}

/// Asks each recursor over TCP in turn; `None` when none answered in time.
pub(crate) async fn forward_tcp(
    query: &[u8],
    recursors: &[SocketAddr],
    limit: Duration,
) -> Option<Vec<u8>> {
    for recursor in recursors {
        match timeout(limit, ask_tcp(query, *recursor)).await {
            Ok(Some(reply)) => return Some(reply),
            Ok(None) | Err(_) => {
                tracing::debug!(%recursor, "recursor did not answer over TCP");
            }
        }
    }
    None
}

async fn ask_udp(query: &[u8], recursor: SocketAddr) -> Option<Vec<u8>> {
    let local: SocketAddr = if recursor.is_ipv4() {
        (Ipv4Addr::UNSPECIFIED, 0).into()
    } else {
        (Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let socket = UdpSocket::bind(local).await.ok()?;
    // Connected: replies from anyone else are not delivered to us.
    socket.connect(recursor).await.ok()?;
    socket.send(query).await.ok()?;
    let mut buf = vec![0; MAX_UDP_REPLY];
    loop {
        let n = socket.recv(&mut buf).await.ok()?;
        if answers(query, &buf[..n]) {
            buf.truncate(n);
            return Some(buf);
        }
    }
}

async fn ask_tcp(query: &[u8], recursor: SocketAddr) -> Option<Vec<u8>> {
    let mut stream = TcpStream::connect(recursor).await.ok()?;
    let len = u16::try_from(query.len()).ok()?;
    let mut framed = Vec::with_capacity(query.len() + 2);
    framed.extend_from_slice(&len.to_be_bytes());
    framed.extend_from_slice(query);
    stream.write_all(&framed).await.ok()?;
    let len = stream.read_u16().await.ok()?;
    let mut reply = vec![0; usize::from(len)];
    stream.read_exact(&mut reply).await.ok()?;
    answers(query, &reply).then_some(reply)
}

/// Whether `reply` is a response to `query`: same id, QR set.
fn answers(query: &[u8], reply: &[u8]) -> bool {
    reply.len() >= 12 && query.len() >= 2 && reply[..2] == query[..2] && reply[2] & 0x80 != 0
}
