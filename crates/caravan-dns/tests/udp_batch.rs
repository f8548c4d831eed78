//! The batched UDP path on real loopback sockets. Queries are queued on the server's
//! socket before the server starts, so that its first reads take many datagrams at once
//! whatever the machine's speed: all answered, a broken packet among them disturbing
//! none of the others, truncation as for a single query, replies to each sender. Then
//! several workers, on one socket and on `SO_REUSEPORT` sockets, and the sockets closed
//! on shutdown.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::time::Duration;

use caravan_dns::{CatalogViewOwned, DnsConfig, DnsError, MemoryCatalog, serve_sockets};
use caravan_model::HealthStatus;
use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{Name, RecordType};
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::timeout;

const WAIT: Duration = Duration::from_secs(10);

/// web: five instances; redis: two; nothing else.
fn catalog() -> MemoryCatalog {
    let mut c = MemoryCatalog::new();
    c.add_node("node-1", "10.0.0.1", "dc1")
        .add_node("node-2", "10.0.0.2", "dc1")
        .add_instance("redis", "node-1", "", 6379, &[], HealthStatus::Passing)
        .add_instance("redis", "node-2", "", 6380, &[], HealthStatus::Passing);
    for i in 1..=5u16 {
        c.add_instance(
            "web",
            "node-1",
            &format!("10.0.0.{}", 100 + i),
            8000 + i,
            &[],
            HealthStatus::Passing,
        );
    }
    c
}

fn query(name: &str, qtype: RecordType, id: u16, edns: bool) -> Vec<u8> {
    let mut message = Message::new(id, MessageType::Query, OpCode::Query);
    message.add_query(Query::query(Name::from_ascii(name).expect("name"), qtype));
    if edns {
        let mut opt = Edns::new();
        opt.set_max_payload(1232);
        message.set_edns(opt);
    }
    message.to_vec().expect("encode")
}

/// A UDP socket on `addr` with `SO_REUSEPORT` (port 0: a fresh one).
fn reuseport_socket(addr: SocketAddr) -> UdpSocket {
    use nix::sys::socket::{
        AddressFamily, SockFlag, SockType, SockaddrIn, bind, setsockopt, socket, sockopt,
    };
    let SocketAddr::V4(v4) = addr else {
        panic!("IPv4 loopback only")
    };
    let fd = socket(
        AddressFamily::Inet,
        SockType::Datagram,
        SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK,
        None,
    )
    .expect("socket");
    setsockopt(&fd, sockopt::ReusePort, &true).expect("SO_REUSEPORT");
    bind(fd.as_raw_fd(), &SockaddrIn::from(v4)).expect("bind");
    UdpSocket::from_std(std::net::UdpSocket::from(fd)).expect("tokio socket")
}

struct Server {
    stop: oneshot::Sender<()>,
    task: JoinHandle<Result<(), DnsError>>,
}

impl Server {
    fn start(udp: Vec<UdpSocket>, tcp: TcpListener, config: DnsConfig) -> Self {
        let catalog: Arc<dyn CatalogViewOwned> = Arc::new(catalog());
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(serve_sockets(
            udp,
            tcp,
            move || Arc::clone(&catalog),
            config,
            async move {
                let _ = stopped.await;
            },
        ));
        Self { stop, task }
    }

    async fn shutdown(self) {
        let _ = self.stop.send(());
        let ended = timeout(WAIT, self.task)
            .await
            .expect("serve ends on shutdown");
        ended.expect("no panic").expect("no error");
    }
}

/// A UDP socket and a TCP listener on one loopback port, the UDP one with
/// `SO_REUSEPORT` so that tests can add more.
async fn bind_pair() -> (UdpSocket, TcpListener) {
    for _ in 0..20 {
        let udp = reuseport_socket(SocketAddr::from(([127, 0, 0, 1], 0)));
        let addr = udp.local_addr().expect("addr");
        if let Ok(tcp) = TcpListener::bind(addr).await {
            return (udp, tcp);
        }
    }
    panic!("no port free for both UDP and TCP");
}

async fn client(server: SocketAddr) -> UdpSocket {
    let socket = UdpSocket::bind("127.0.0.1:0").await.expect("bind client");
    socket.connect(server).await.expect("connect");
    socket
}

/// Reads replies until the one with `last_id`, keyed by id. One worker sends its
/// replies in the order the queries came, and loopback keeps a sender's order, so
/// everything answered before `last_id` has arrived by then.
async fn replies_until(socket: &UdpSocket, last_id: u16) -> BTreeMap<u16, Message> {
    let mut replies = BTreeMap::new();
    let mut buf = vec![0; 4096];
    loop {
        let n = timeout(WAIT, socket.recv(&mut buf))
            .await
            .expect("a reply in time")
            .expect("recv");
        let message = Message::from_vec(&buf[..n]).expect("decode");
        let id = message.metadata.id;
        assert!(
            replies.insert(id, message).is_none(),
            "one reply per query, id {id}"
        );
        if id == last_id {
            return replies;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queue_of_queries_is_answered_in_full() {
    let (udp, tcp) = bind_pair().await;
    let addr = udp.local_addr().expect("addr");
    let socket = client(addr).await;
    // Three batches and more, queued before the server reads anything (well within
    // the default receive buffer).
    let names = ["web", "redis", "nope"];
    let count = 100u16;
    for id in 0..count {
        let name = format!("{}.service.consul", names[usize::from(id) % 3]);
        let packet = query(&name, RecordType::A, id, true);
        socket.send(&packet).await.expect("send");
    }
    let server = Server::start(vec![udp], tcp, DnsConfig::default());

    let replies = replies_until(&socket, count - 1).await;
    assert_eq!(replies.len(), usize::from(count), "every query answered");
    for (id, m) in &replies {
        let expected = match id % 3 {
            0 => (ResponseCode::NoError, 5),
            1 => (ResponseCode::NoError, 2),
            _ => (ResponseCode::NXDomain, 0),
        };
        assert_eq!(
            (m.metadata.response_code, m.answers.len()),
            expected,
            "query {id}"
        );
        let asked = m.queries.first().map(|q| q.name().to_ascii());
        assert_eq!(
            asked.as_deref(),
            Some(format!("{}.service.consul.", names[usize::from(*id) % 3]).as_str()),
            "query {id} echoed"
        );
    }
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_packet_in_a_batch_disturbs_no_other() {
    let (udp, tcp) = bind_pair().await;
    let addr = udp.local_addr().expect("addr");
    let socket = client(addr).await;
    let packets: Vec<Vec<u8>> = vec![
        query("web.service.consul", RecordType::A, 1, true),
        // One question announced, none there: FORMERR with the id.
        vec![0, 2, 0x01, 0x00, 0x00, 0x01, 0xFF, 0xFF, 0, 0, 0, 0, 7],
        query("redis.service.consul", RecordType::A, 3, true),
        // Too short for a header: dropped.
        vec![0xFF],
        // A response (QR set): dropped.
        vec![0, 5, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0],
        // An empty datagram: dropped.
        Vec::new(),
        query("web.service.consul", RecordType::SRV, 7, true),
    ];
    for packet in &packets {
        socket.send(packet).await.expect("send");
    }
    let server = Server::start(vec![udp], tcp, DnsConfig::default());

    let replies = replies_until(&socket, 7).await;
    let seen: Vec<(u16, ResponseCode, usize)> = replies
        .iter()
        .map(|(id, m)| (*id, m.metadata.response_code, m.answers.len()))
        .collect();
    assert_eq!(
        seen,
        [
            (1, ResponseCode::NoError, 5),
            (2, ResponseCode::FormErr, 0),
            (3, ResponseCode::NoError, 2),
            (7, ResponseCode::NoError, 5),
        ]
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truncation_and_senders_are_kept_per_query_in_a_batch() {
    let (udp, tcp) = bind_pair().await;
    let addr = udp.local_addr().expect("addr");
    let plain = client(addr).await;
    let with_edns = client(addr).await;
    // Interleaved senders, so that one batch holds both.
    for id in 0..10u16 {
        let (socket, edns) = if id % 2 == 0 {
            (&plain, false)
        } else {
            (&with_edns, true)
        };
        socket
            .send(&query("web.service.consul", RecordType::A, id, edns))
            .await
            .expect("send");
    }
    let server = Server::start(vec![udp], tcp, DnsConfig::default());

    let plain_replies = replies_until(&plain, 8).await;
    let edns_replies = replies_until(&with_edns, 9).await;
    assert_eq!(
        plain_replies.keys().copied().collect::<Vec<_>>(),
        [0, 2, 4, 6, 8]
    );
    assert_eq!(
        edns_replies.keys().copied().collect::<Vec<_>>(),
        [1, 3, 5, 7, 9]
    );
    for m in plain_replies.values() {
        assert_eq!(m.answers.len(), 3, "udp_answer_limit without EDNS");
        assert!(m.metadata.truncation, "TC set for the ones left out");
    }
    for m in edns_replies.values() {
        assert_eq!(m.answers.len(), 5);
        assert!(!m.metadata.truncation);
    }
    server.shutdown().await;
}

/// Several workers: `sockets` reuseport sockets on one port, `workers` threads.
async fn answers_with(sockets: usize, workers: usize) {
    let (first, tcp) = bind_pair().await;
    let addr = first.local_addr().expect("addr");
    let mut udp = vec![first];
    udp.extend((1..sockets).map(|_| reuseport_socket(addr)));
    let server = Server::start(
        udp,
        tcp,
        DnsConfig {
            udp_workers: workers,
            ..DnsConfig::default()
        },
    );
    // Many client sockets (the kernel picks a reuseport socket by the sender's port),
    // each asking a few times.
    for c in 0..8u16 {
        let socket = client(addr).await;
        for k in 0..3u16 {
            let id = c * 10 + k;
            socket
                .send(&query("redis.service.consul", RecordType::A, id, false))
                .await
                .expect("send");
            let replies = replies_until(&socket, id).await;
            let m = &replies[&id];
            assert_eq!(m.answers.len(), 2, "client {c}, query {k}");
        }
    }
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_workers_on_one_socket_answer() {
    answers_with(1, 3).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workers_on_reuseport_sockets_answer() {
    answers_with(2, 2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_closes_the_udp_sockets() {
    let udp = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    let addr = udp.local_addr().expect("addr");
    let tcp = TcpListener::bind("127.0.0.1:0").await.expect("bind tcp");
    let server = Server::start(
        vec![udp],
        tcp,
        DnsConfig {
            udp_workers: 2,
            ..DnsConfig::default()
        },
    );
    let socket = client(addr).await;
    socket
        .send(&query("web.service.consul", RecordType::A, 1, false))
        .await
        .expect("send");
    replies_until(&socket, 1).await;
    server.shutdown().await;
    // Without SO_REUSEPORT, binding the port again works only once it is closed.
    UdpSocket::bind(addr)
        .await
        .expect("the port is free after shutdown");
}

#[tokio::test]
async fn no_udp_socket_or_no_worker_is_a_config_error() {
    let tcp = TcpListener::bind("127.0.0.1:0").await.expect("bind tcp");
    let catalog: Arc<dyn CatalogViewOwned> = Arc::new(catalog());
    let source = move || Arc::clone(&catalog);
    let served = serve_sockets(
        Vec::new(),
        tcp,
        source.clone(),
        DnsConfig::default(),
        async {},
    )
    .await;
    assert!(matches!(served, Err(DnsError::Config(_))), "{served:?}");

    let udp = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    let tcp = TcpListener::bind("127.0.0.1:0").await.expect("bind tcp");
    let config = DnsConfig {
        udp_workers: 0,
        ..DnsConfig::default()
    };
    let served = serve_sockets(vec![udp], tcp, source, config, async {}).await;
    assert!(matches!(served, Err(DnsError::Config(_))), "{served:?}");
}
