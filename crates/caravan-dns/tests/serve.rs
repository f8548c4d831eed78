//! The server on real loopback sockets: UDP and TCP answers, the TC fallback, `dig`
//! when it is installed, forwarding to a recursor, the TCP connection bound, shutdown.

use std::net::{IpAddr, SocketAddr};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use caravan_dns::{CatalogViewOwned, DnsConfig, DnsError, MemoryCatalog, serve};
use caravan_model::HealthStatus;
use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::{Name, RData, Record, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::timeout;

const WAIT: Duration = Duration::from_secs(5);

fn catalog() -> MemoryCatalog {
    let mut c = MemoryCatalog::new();
    c.add_node("node-1", "10.0.0.1", "dc1")
        .add_node("node-2", "10.0.0.2", "dc1")
        .add_instance(
            "redis",
            "node-1",
            "",
            6379,
            &["cache"],
            HealthStatus::Passing,
        )
        .add_instance(
            "redis",
            "node-2",
            "10.0.0.22",
            6380,
            &[],
            HealthStatus::Passing,
        );
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

/// UDP and TCP sockets on one loopback port (as dig's TCP fallback expects).
async fn bind_pair() -> (UdpSocket, TcpListener) {
    for _ in 0..20 {
        let udp = UdpSocket::bind("127.0.0.1:0").await.expect("bind udp");
        let addr = udp.local_addr().expect("udp addr");
        if let Ok(tcp) = TcpListener::bind(addr).await {
            return (udp, tcp);
        }
    }
    panic!("no port free for both UDP and TCP");
}

struct Server {
    addr: SocketAddr,
    stop: oneshot::Sender<()>,
    task: JoinHandle<Result<(), DnsError>>,
}

impl Server {
    async fn start(config: DnsConfig) -> Self {
        let (udp, tcp) = bind_pair().await;
        let addr = udp.local_addr().expect("addr");
        let catalog: Arc<dyn CatalogViewOwned> = Arc::new(catalog());
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(serve(
            udp,
            tcp,
            move || Arc::clone(&catalog),
            config,
            async move {
                let _ = stopped.await;
            },
        ));
        Self { addr, stop, task }
    }

    async fn shutdown(self) {
        let _ = self.stop.send(());
        let ended = timeout(WAIT, self.task)
            .await
            .expect("serve ends on shutdown");
        ended.expect("no panic").expect("no error");
    }
}

fn query(name: &str, qtype: RecordType, id: u16) -> Vec<u8> {
    let mut message = Message::new(id, MessageType::Query, OpCode::Query);
    message.add_query(Query::query(Name::from_ascii(name).expect("name"), qtype));
    message.to_vec().expect("encode")
}

async fn ask_udp(server: SocketAddr, packet: &[u8]) -> Message {
    let socket = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    socket.connect(server).await.expect("connect");
    socket.send(packet).await.expect("send");
    let mut buf = vec![0; 4096];
    let n = timeout(WAIT, socket.recv(&mut buf))
        .await
        .expect("a reply in time")
        .expect("recv");
    Message::from_vec(&buf[..n]).expect("decode")
}

async fn send_tcp(stream: &mut TcpStream, packet: &[u8]) {
    let len = u16::try_from(packet.len()).expect("small");
    stream
        .write_all(&len.to_be_bytes())
        .await
        .expect("write len");
    stream.write_all(packet).await.expect("write");
}

async fn read_tcp(stream: &mut TcpStream) -> Message {
    let len = stream.read_u16().await.expect("read len");
    let mut buf = vec![0; usize::from(len)];
    stream.read_exact(&mut buf).await.expect("read");
    Message::from_vec(&buf).expect("decode")
}

fn a_records(message: &Message) -> Vec<IpAddr> {
    let mut ips: Vec<IpAddr> = message
        .answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::A(a) => Some(IpAddr::V4(a.0)),
            _ => None,
        })
        .collect();
    ips.sort();
    ips
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn udp_answers_and_tcp_carries_what_udp_truncated() {
    let server = Server::start(DnsConfig::default()).await;

    let m = ask_udp(
        server.addr,
        &query("redis.service.consul", RecordType::SRV, 1),
    )
    .await;
    assert_eq!(m.metadata.id, 1);
    assert_eq!(m.answers.len(), 2);
    assert_eq!(m.additionals.len(), 2);

    let m = ask_udp(server.addr, &query("web.service.consul", RecordType::A, 2)).await;
    assert_eq!(m.answers.len(), 3);
    assert!(m.metadata.truncation);

    // Over TCP, two queries on one connection, answered in order.
    let mut stream = TcpStream::connect(server.addr).await.expect("connect");
    send_tcp(&mut stream, &query("web.service.consul", RecordType::A, 3)).await;
    send_tcp(&mut stream, &query("nope.service.consul", RecordType::A, 4)).await;
    let m = read_tcp(&mut stream).await;
    assert_eq!(
        (m.metadata.id, m.answers.len(), m.metadata.truncation),
        (3, 5, false)
    );
    let m = read_tcp(&mut stream).await;
    assert_eq!(
        (m.metadata.id, m.metadata.response_code),
        (4, ResponseCode::NXDomain)
    );

    // Garbage over TCP gets FORMERR; a response (QR set) closes the connection.
    send_tcp(
        &mut stream,
        &[
            0xAB, 0xCD, 0x01, 0x00, 0x00, 0x01, 0xFF, 0xFF, 0, 0, 0, 0, 7,
        ],
    )
    .await;
    let m = read_tcp(&mut stream).await;
    assert_eq!(
        (m.metadata.id, m.metadata.response_code),
        (0xABCD, ResponseCode::FormErr)
    );
    send_tcp(&mut stream, &[0, 9, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0]).await;
    let mut rest = Vec::new();
    let read = timeout(WAIT, stream.read_to_end(&mut rest))
        .await
        .expect("closed");
    assert_eq!(
        read.expect("eof").min(1),
        0,
        "nothing more after a dropped packet"
    );

    // Garbage over UDP is answered or ignored, and the server keeps serving.
    let socket = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    socket.send_to(&[1, 2, 3], server.addr).await.expect("send");
    let m = ask_udp(
        server.addr,
        &query("redis.service.consul", RecordType::A, 5),
    )
    .await;
    assert_eq!(a_records(&m).len(), 2);

    server.shutdown().await;
}

fn dig_installed() -> bool {
    Command::new("dig").arg("-v").output().is_ok()
}

/// `dig +short` lines for `args`, sorted.
async fn dig(server: SocketAddr, args: &[&str]) -> Vec<String> {
    let mut command = Command::new("dig");
    command
        .arg(format!("@{}", server.ip()))
        .args([
            "-p",
            &server.port().to_string(),
            "+short",
            "+time=2",
            "+tries=1",
        ])
        .args(args);
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .expect("join")
        .expect("run dig");
    assert!(output.status.success(), "dig {args:?}: {output:?}");
    let mut lines: Vec<String> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter(|l| !l.starts_with(';'))
        .map(str::to_owned)
        .collect();
    lines.sort();
    lines
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dig_resolves_services_and_falls_back_to_tcp() {
    if !dig_installed() {
        eprintln!("dig is not installed: the socket test above covers the server");
        return;
    }
    let server = Server::start(DnsConfig::default()).await;
    assert_eq!(
        dig(server.addr, &["redis.service.consul", "SRV"]).await,
        [
            "1 1 6379 node-1.node.dc1.consul.",
            "1 1 6380 0a000016.addr.dc1.consul."
        ]
    );
    assert_eq!(
        dig(server.addr, &["redis.service.consul", "A"]).await,
        ["10.0.0.1", "10.0.0.22"]
    );
    assert_eq!(
        dig(server.addr, &["cache.redis.service.consul"]).await,
        ["10.0.0.1"]
    );
    assert_eq!(
        dig(server.addr, &["_redis._tcp.service.consul", "SRV"])
            .await
            .len(),
        2
    );
    assert_eq!(
        dig(server.addr, &["node-2.node.consul"]).await,
        ["10.0.0.2"]
    );
    // Without EDNS the UDP answer is cut at 3 with TC; dig retries over TCP and gets 5.
    assert_eq!(
        dig(server.addr, &["+noedns", "web.service.consul"])
            .await
            .len(),
        5
    );
    assert_eq!(
        dig(server.addr, &["+tcp", "web.service.consul"])
            .await
            .len(),
        5
    );
    server.shutdown().await;
}

/// A recursor that answers every query with 192.0.2.1, over UDP and TCP.
async fn fake_recursor() -> SocketAddr {
    let (udp, tcp) = bind_pair().await;
    let addr = udp.local_addr().expect("addr");
    let reply = |packet: &[u8]| {
        let request = Message::from_vec(packet).expect("forwarded query decodes");
        let mut m = Message::response(request.metadata.id, OpCode::Query);
        m.metadata.recursion_available = true;
        let q = request.queries[0].clone();
        m.add_answer(Record::from_rdata(
            q.name().clone(),
            60,
            RData::A(A("192.0.2.1".parse().expect("ip"))),
        ));
        m.add_query(q);
        m.to_vec().expect("encode")
    };
    tokio::spawn(async move {
        let mut buf = vec![0; 4096];
        while let Ok((n, peer)) = udp.recv_from(&mut buf).await {
            let _ = udp.send_to(&reply(&buf[..n]), peer).await;
        }
    });
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = tcp.accept().await {
            let len = stream.read_u16().await.expect("len");
            let mut buf = vec![0; usize::from(len)];
            stream.read_exact(&mut buf).await.expect("query");
            let out = reply(&buf);
            let len = u16::try_from(out.len()).expect("small");
            stream.write_all(&len.to_be_bytes()).await.expect("len");
            stream.write_all(&out).await.expect("reply");
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_outside_the_domain_go_to_the_recursors() {
    let recursor = fake_recursor().await;
    let dead: SocketAddr = {
        // A port with nobody behind it: tried first, times out, then the live one.
        let socket = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
        socket.local_addr().expect("addr")
    };
    let server = Server::start(DnsConfig {
        recursors: vec![dead, recursor],
        recursor_timeout: Duration::from_millis(300),
        ..DnsConfig::default()
    })
    .await;
    let m = ask_udp(server.addr, &query("example.com.", RecordType::A, 77)).await;
    assert_eq!(m.metadata.id, 77);
    assert_eq!(a_records(&m), ["192.0.2.1".parse::<IpAddr>().expect("ip")]);

    let mut stream = TcpStream::connect(server.addr).await.expect("connect");
    send_tcp(&mut stream, &query("example.org.", RecordType::A, 78)).await;
    let m = read_tcp(&mut stream).await;
    assert_eq!((m.metadata.id, a_records(&m).len()), (78, 1));

    // Our own names never leave.
    let m = ask_udp(
        server.addr,
        &query("redis.service.consul", RecordType::A, 79),
    )
    .await;
    assert!(m.metadata.recursion_available && m.metadata.authoritative);
    assert_eq!(a_records(&m).len(), 2);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_recursors_give_servfail() {
    let dead: SocketAddr = {
        let socket = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
        socket.local_addr().expect("addr")
    };
    let server = Server::start(DnsConfig {
        recursors: vec![dead],
        recursor_timeout: Duration::from_millis(200),
        ..DnsConfig::default()
    })
    .await;
    let m = ask_udp(server.addr, &query("example.com.", RecordType::A, 5)).await;
    assert_eq!(m.metadata.response_code, ResponseCode::ServFail);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_connections_beyond_the_bound_wait_for_a_slot() {
    let server = Server::start(DnsConfig {
        tcp_max_connections: 1,
        ..DnsConfig::default()
    })
    .await;
    let mut first = TcpStream::connect(server.addr).await.expect("first");
    send_tcp(&mut first, &query("redis.service.consul", RecordType::A, 1)).await;
    assert_eq!(read_tcp(&mut first).await.answers.len(), 2);

    // The second connection completes in the backlog but is not served yet.
    let mut second = TcpStream::connect(server.addr).await.expect("second");
    send_tcp(
        &mut second,
        &query("redis.service.consul", RecordType::A, 2),
    )
    .await;
    let mut len = [0u8; 2];
    let early = timeout(Duration::from_millis(300), second.read_exact(&mut len)).await;
    assert!(early.is_err(), "served beyond the bound");

    drop(first);
    let m = timeout(WAIT, read_tcp(&mut second))
        .await
        .expect("served once a slot frees");
    assert_eq!(m.metadata.id, 2);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_tcp_connections_are_closed() {
    let server = Server::start(DnsConfig {
        tcp_idle_timeout: Duration::from_millis(200),
        ..DnsConfig::default()
    })
    .await;
    let mut stream = TcpStream::connect(server.addr).await.expect("connect");
    let mut rest = Vec::new();
    let read = timeout(WAIT, stream.read_to_end(&mut rest))
        .await
        .expect("closed by the server");
    assert_eq!(read.expect("eof"), 0);
    server.shutdown().await;
}
