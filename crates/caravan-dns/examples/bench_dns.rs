//! DNS queries per second on loopback: Caravan's server over a synthetic catalog of
//! 1,000 services x 5 instances, then, in the same run, NSD and Knot serving the same
//! names from a zone file when they are installed. Each server is measured with our own
//! load loop (N client threads, a window of queries in flight each) and with dnsperf
//! when it is installed.
//!
//! ```text
//! cargo run --release -p caravan-dns --example bench_dns -- \
//!     [--clients 2] [--server-threads 1] [--seconds 3] [--no-peers] [--one-socket] \
//!     [--rounds 1]
//! ```
//!
//! With `--rounds N` every server is measured N times in turn and the medians are
//! reported (each round's figures go to stderr): on a shared machine, a load that
//! comes and goes then weighs on all servers alike.
//!
//! `--server-threads N` gives every server N UDP workers: Caravan's `udp_workers`, each
//! on its own `SO_REUSEPORT` socket (all on one socket with `--one-socket`), NSD's
//! `server-count` with `reuseport`, Knot's `udp-workers`.
//!
//! Queries carry EDNS (payload 1232) so that every server returns all five addresses
//! (without it Caravan returns three and sets TC, Consul's `udp_answer_limit`).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use caravan_dns::{CatalogCache, CatalogViewOwned, DnsConfig, serve_sockets};
use caravan_model::{Node, NodeId, ServiceProvider, ServiceRegistration};
use caravan_state::{Command as StateCommand, StateStore};
use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query};
use hickory_proto::rr::{Name, RecordType};

const SERVICES: usize = 1_000;
const INSTANCES: usize = 5;
const NODES: usize = 100;
/// Queries in flight per client thread.
const WINDOW: usize = 32;
/// Sockets per client thread (the window spread over them): the kernel hands a query
/// to one of a server's `SO_REUSEPORT` sockets by the sender's address and port, so a
/// few senders could all land on one worker.
const SOCKETS_PER_CLIENT: usize = 8;

#[derive(Debug, Clone, Copy)]
struct Args {
    clients: usize,
    server_threads: usize,
    seconds: u64,
    peers: bool,
    one_socket: bool,
    rounds: usize,
}

fn args() -> Args {
    let mut args = Args {
        clients: 2,
        server_threads: 1,
        seconds: 3,
        peers: true,
        one_socket: false,
        rounds: 1,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = |name: &str| -> usize {
            it.next()
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("{name} takes a number"))
        };
        match flag.as_str() {
            "--clients" => args.clients = value("--clients").max(1),
            "--server-threads" => args.server_threads = value("--server-threads").max(1),
            "--seconds" => args.seconds = value("--seconds").max(1) as u64,
            "--no-peers" => args.peers = false,
            "--one-socket" => args.one_socket = true,
            "--rounds" => args.rounds = value("--rounds").max(1),
            other => panic!("unknown flag {other}"),
        }
    }
    args
}

fn service(i: usize) -> String {
    format!("svc-{i}")
}

fn node(n: usize) -> (String, String) {
    (
        format!("node-{n}"),
        format!("10.0.{}.{}", n / 250, n % 250 + 1),
    )
}

fn instance_address(i: usize, k: usize) -> String {
    let flat = i * INSTANCES + k;
    format!(
        "10.{}.{}.{}",
        1 + flat / 62_500,
        (flat / 250) % 250,
        flat % 250 + 1
    )
}

/// The synthetic catalog in a state store, as the agent holds it: 100 nodes, and
/// 1,000 services x 5 instances registered through the Consul agent API (agent-owned
/// registrations need no allocation), each at an address of its own.
fn synthetic_store() -> StateStore {
    let mut store = StateStore::new();
    let mut index = 0;
    let mut apply = |store: &mut StateStore, command| {
        index += 1;
        store.apply(index, command).expect("apply");
    };
    for n in 0..NODES {
        let (name, address) = node(n);
        let node = Node {
            id: NodeId::from(format!("n{n}").as_str()),
            name,
            datacenter: "dc1".to_owned(),
            status: "ready".to_owned(),
            attributes: BTreeMap::from([("unique.network.ip-address".to_owned(), address)]),
            ..Node::default()
        };
        apply(
            &mut store,
            StateCommand::UpsertNode {
                node: Box::new(node),
            },
        );
    }
    for i in 0..SERVICES {
        for k in 0..INSTANCES {
            let reg = ServiceRegistration {
                id: format!("{}-{k}", service(i)),
                service_name: service(i),
                node_id: NodeId::from(format!("n{}", (i * INSTANCES + k) % NODES).as_str()),
                address: instance_address(i, k),
                port: u16::try_from(20_000 + k).expect("port"),
                tags: vec!["v1".to_owned()],
                provider: ServiceProvider::Consul,
                ..ServiceRegistration::default()
            };
            apply(
                &mut store,
                StateCommand::RegisterAgentService {
                    reg: Box::new(reg),
                    replace_existing_checks: true,
                },
            );
        }
    }
    store
}

/// One encoded A query with EDNS per service.
fn queries() -> Vec<Vec<u8>> {
    (0..SERVICES)
        .map(|i| {
            let mut m = Message::new(0, MessageType::Query, OpCode::Query);
            m.metadata.recursion_desired = true;
            let name = Name::from_ascii(format!("{}.service.consul.", service(i))).expect("name");
            m.add_query(Query::query(name, RecordType::A));
            let mut edns = Edns::new();
            edns.set_max_payload(1232);
            m.set_edns(edns);
            m.to_vec().expect("encode")
        })
        .collect()
}

/// A handle on the in-process server: dropping the sender stops it.
struct Caravan {
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// A UDP socket on `addr` with `SO_REUSEPORT`, so that more can join it.
fn reuseport_socket(addr: SocketAddr) -> UdpSocket {
    use nix::sys::socket::{
        AddressFamily, SockFlag, SockType, SockaddrIn, bind, setsockopt, socket, sockopt,
    };
    use std::os::fd::AsRawFd;
    let SocketAddr::V4(v4) = addr else {
        panic!("the bench binds IPv4 loopback")
    };
    let fd = socket(
        AddressFamily::Inet,
        SockType::Datagram,
        SockFlag::SOCK_CLOEXEC,
        None,
    )
    .expect("socket");
    setsockopt(&fd, sockopt::ReusePort, &true).expect("SO_REUSEPORT");
    bind(fd.as_raw_fd(), &SockaddrIn::from(v4)).expect("bind udp");
    let socket = UdpSocket::from(fd);
    socket.set_nonblocking(true).expect("nonblocking");
    socket
}

impl Caravan {
    /// Caravan's server with `threads` UDP workers, on as many sockets unless
    /// `one_socket`; its tokio runtime has one thread (TCP, forwarding).
    fn start(threads: usize, one_socket: bool) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        let (udp, tcp) = runtime.block_on(async {
            // UDP and TCP on one port, as clients falling back to TCP expect.
            for _ in 0..20 {
                let first = reuseport_socket(SocketAddr::from(([127, 0, 0, 1], 0)));
                let addr = first.local_addr().expect("addr");
                if let Ok(tcp) = tokio::net::TcpListener::bind(addr).await {
                    let sockets = if one_socket { 1 } else { threads };
                    let mut udp = vec![first];
                    udp.extend((1..sockets).map(|_| reuseport_socket(addr)));
                    let udp: Vec<_> = udp
                        .into_iter()
                        .map(|s| tokio::net::UdpSocket::from_std(s).expect("tokio socket"))
                        .collect();
                    return (udp, tcp);
                }
            }
            panic!("no loopback port free for both UDP and TCP");
        });
        let addr = udp[0].local_addr().expect("addr");
        // The agent's source: the newest snapshot under a read lock, indexed once per
        // catalog change by the cache.
        let store = Arc::new(RwLock::new(synthetic_store()));
        let cache = CatalogCache::default();
        let source = move || -> Arc<dyn CatalogViewOwned> {
            let snapshot = store.read().unwrap_or_else(|e| e.into_inner()).snapshot();
            cache.catalog(snapshot)
        };
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let config = DnsConfig {
                udp_workers: threads,
                ..DnsConfig::default()
            };
            let served = runtime.block_on(serve_sockets(udp, tcp, source, config, async move {
                let _ = stopped.await;
            }));
            if let Err(e) = served {
                eprintln!("caravan dns server failed: {e}");
            }
        });
        Self {
            addr,
            stop: Some(stop),
            thread: Some(thread),
        }
    }
}

impl Drop for Caravan {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// What one load run saw.
#[derive(Debug, Default, Clone, Copy)]
struct Load {
    replies: u64,
    /// Replies that were not NOERROR with five answers.
    wrong: u64,
    /// Queries given up on (no reply within 100 ms).
    lost: u64,
}

/// `clients` threads, each keeping `WINDOW` queries in flight to `server` from
/// `SOCKETS_PER_CLIENT` sockets for `seconds`; every reply counts, and is checked for
/// NOERROR with five answers.
fn load(
    server: SocketAddr,
    clients: usize,
    seconds: u64,
    queries: &Arc<Vec<Vec<u8>>>,
) -> (f64, Load) {
    let start = Instant::now();
    let deadline = start + Duration::from_secs(seconds);
    let threads: Vec<_> = (0..clients)
        .map(|t| {
            let queries = Arc::clone(queries);
            std::thread::spawn(move || client(server, t, deadline, &queries))
        })
        .collect();
    let mut total = Load::default();
    for thread in threads {
        let l = thread.join().expect("client thread");
        total.replies += l.replies;
        total.wrong += l.wrong;
        total.lost += l.lost;
    }
    let elapsed = start.elapsed().as_secs_f64();
    (total.replies as f64 / elapsed, total)
}

fn client(server: SocketAddr, thread: usize, deadline: Instant, queries: &[Vec<u8>]) -> Load {
    use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
    use std::os::fd::AsFd;
    let sockets: Vec<UdpSocket> = (0..SOCKETS_PER_CLIENT)
        .map(|_| {
            let socket = UdpSocket::bind("127.0.0.1:0").expect("bind client");
            socket.connect(server).expect("connect");
            socket.set_nonblocking(true).expect("nonblocking");
            socket
        })
        .collect();
    let window = (WINDOW / SOCKETS_PER_CLIENT).max(1);
    let mut load = Load::default();
    let mut next = thread * 997;
    let mut id: u16 = 0;
    let mut in_flight = [0usize; SOCKETS_PER_CLIENT];
    let mut packet = Vec::new();
    let mut buf = [0u8; 2048];
    while Instant::now() < deadline {
        for (socket, in_flight) in sockets.iter().zip(&mut in_flight) {
            while *in_flight < window {
                packet.clear();
                packet.extend_from_slice(&queries[next % queries.len()]);
                packet[..2].copy_from_slice(&id.to_be_bytes());
                next += 1;
                id = id.wrapping_add(1);
                if socket.send(&packet).is_err() {
                    break;
                }
                *in_flight += 1;
            }
        }
        let mut fds: Vec<PollFd<'_>> = sockets
            .iter()
            .map(|s| PollFd::new(s.as_fd(), PollFlags::POLLIN))
            .collect();
        if !matches!(poll(&mut fds, PollTimeout::from(100u16)), Ok(n) if n > 0) {
            // Nothing for 100 ms: whatever is in flight is lost.
            load.lost += in_flight.iter().sum::<usize>() as u64;
            in_flight = [0; SOCKETS_PER_CLIENT];
            continue;
        }
        let ready: Vec<bool> = fds
            .iter()
            .map(|fd| fd.revents().is_some_and(|r| !r.is_empty()))
            .collect();
        for ((socket, in_flight), ready) in sockets.iter().zip(&mut in_flight).zip(ready) {
            if !ready {
                continue;
            }
            while let Ok(n) = socket.recv(&mut buf) {
                *in_flight = in_flight.saturating_sub(1);
                load.replies += 1;
                let good =
                    n >= 12 && buf[3] & 0x0F == 0 && u16::from_be_bytes([buf[6], buf[7]]) == 5;
                if !good {
                    load.wrong += 1;
                }
            }
        }
    }
    load
}

fn installed(program: &str, version_flag: &str) -> bool {
    Command::new(program)
        .arg(version_flag)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}

/// The same names as a zone file: five A records per service.
fn zone_text() -> String {
    let mut zone = String::from(
        "$TTL 0\n\
         consul. IN SOA ns.consul. hostmaster.consul. 1 3600 600 86400 0\n\
         consul. IN NS ns.consul.\n\
         ns.consul. IN A 127.0.0.1\n",
    );
    for i in 0..SERVICES {
        for k in 0..INSTANCES {
            let _ = writeln!(
                zone,
                "{}.service.consul. IN A {}",
                service(i),
                instance_address(i, k)
            );
        }
    }
    zone
}

/// A file of queries in dnsperf's format.
fn dnsperf_input(dir: &Path) -> PathBuf {
    let path = dir.join("queries.txt");
    let text: String = (0..SERVICES)
        .map(|i| format!("{}.service.consul A\n", service(i)))
        .collect();
    std::fs::write(&path, text).expect("write queries");
    path
}

/// dnsperf's "Queries per second" against `server`, when dnsperf ran.
fn dnsperf(server: SocketAddr, input: &Path, args: &Args) -> Option<f64> {
    let output = Command::new("dnsperf")
        .args([
            "-s",
            &server.ip().to_string(),
            "-p",
            &server.port().to_string(),
        ])
        .args([
            "-d",
            &input.to_string_lossy(),
            "-l",
            &args.seconds.to_string(),
        ])
        .args([
            "-c",
            &(args.clients * SOCKETS_PER_CLIENT).to_string(),
            "-T",
            &args.clients.to_string(),
        ])
        .args(["-q", "200", "-e"])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&output.stdout);
    let qps = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Queries per second:"))
        .and_then(|v| v.trim().parse().ok());
    if qps.is_none() {
        eprintln!("dnsperf gave no figure: {text}");
    }
    qps
}

/// A free loopback port for a peer (bound and released: a small race, fine here).
fn free_port() -> u16 {
    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
    socket.local_addr().expect("addr").port()
}

/// Waits until `server` answers a query with records (a peer loading its zone may
/// answer SERVFAIL first), up to 10 s.
fn wait_ready(server: SocketAddr, query: &[u8]) -> bool {
    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
    socket
        .set_read_timeout(Some(Duration::from_millis(200)))
        .expect("timeout");
    let mut buf = [0u8; 2048];
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if socket.send_to(query, server).is_ok()
            && let Ok(n) = socket.recv(&mut buf)
            && n >= 12
            && buf[3] & 0x0F == 0
            && buf[7] > 0
        {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

/// Starts a peer in a directory of its own under the given one.
type StartPeer = fn(&Path, usize) -> Option<Peer>;

/// A peer server we started: stopped with SIGTERM by its own pid (so that NSD takes
/// its children with it), then reaped.
struct Peer {
    name: &'static str,
    child: Child,
    addr: SocketAddr,
}

impl Drop for Peer {
    fn drop(&mut self) {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// NSD with `threads` server processes (on `SO_REUSEPORT` sockets when more than one)
/// and response rate limiting off (Debian builds it in, and at these rates it drops or
/// truncates most replies).
fn start_nsd(dir: &Path, threads: usize) -> Option<Peer> {
    let dir = dir.join("nsd");
    std::fs::create_dir_all(&dir).ok()?;
    std::fs::write(dir.join("consul.zone"), zone_text()).ok()?;
    let port = free_port();
    let d = dir.display();
    let reuseport = if threads > 1 { "yes" } else { "no" };
    let conf = format!(
        "server:\n  ip-address: 127.0.0.1@{port}\n  port: {port}\n  server-count: {threads}\n  \
         reuseport: {reuseport}\n  \
         username: \"\"\n  zonesdir: \"{d}\"\n  database: \"\"\n  zonelistfile: \"{d}/zone.list\"\n  \
         xfrdfile: \"{d}/xfrd.state\"\n  xfrdir: \"{d}\"\n  pidfile: \"{d}/nsd.pid\"\n  \
         logfile: \"{d}/nsd.log\"\n  verbosity: 0\n  rrl-ratelimit: 0\n\
         remote-control:\n  control-enable: no\n\
         zone:\n  name: consul.\n  zonefile: \"{d}/consul.zone\"\n"
    );
    std::fs::write(dir.join("nsd.conf"), conf).ok()?;
    let child = Command::new("nsd")
        .args(["-d", "-c"])
        .arg(dir.join("nsd.conf"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    Some(Peer {
        name: "nsd",
        child,
        addr: SocketAddr::from(([127, 0, 0, 1], port)),
    })
}

/// Knot with `threads` UDP workers.
fn start_knot(dir: &Path, threads: usize) -> Option<Peer> {
    let dir = dir.join("knot");
    std::fs::create_dir_all(dir.join("db")).ok()?;
    std::fs::write(dir.join("consul.zone"), zone_text()).ok()?;
    let port = free_port();
    let d = dir.display();
    let conf = format!(
        "server:\n  rundir: \"{d}\"\n  listen: 127.0.0.1@{port}\n  udp-workers: {threads}\n  \
         tcp-workers: 1\n  background-workers: 1\n\
         log:\n  - target: stderr\n    any: error\n\
         database:\n  storage: \"{d}/db\"\n\
         zone:\n  - domain: consul.\n    storage: \"{d}\"\n    file: \"consul.zone\"\n"
    );
    std::fs::write(dir.join("knot.conf"), conf).ok()?;
    let child = Command::new("knotd")
        .arg("-c")
        .arg(dir.join("knot.conf"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    Some(Peer {
        name: "knot",
        child,
        addr: SocketAddr::from(([127, 0, 0, 1], port)),
    })
}

fn report(name: &str, qps: f64, load: Load, args: &Args) {
    println!(
        "{name}: {qps:.0} queries/s (A, {SERVICES} services, {} client threads)",
        args.clients
    );
    if load.wrong > 0 || load.lost > 0 {
        println!(
            "  {name}: {} replies not NOERROR with 5 answers, {} queries lost",
            load.wrong, load.lost
        );
    }
}

/// Where a server's CPU time is read: threads of this process whose name starts with
/// a prefix (Caravan's UDP workers), or a process and its children (a peer).
#[derive(Debug, Clone, Copy)]
enum Cpu {
    Threads(&'static str),
    Process(u32),
}

/// `utime + stime` in clock ticks from a `/proc/.../stat` line, and its parent's pid.
fn stat_ticks(stat: &str) -> Option<(u64, u32)> {
    // The name is in parentheses and may hold spaces: count fields after it.
    let (_, rest) = stat.rsplit_once(')')?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ppid = fields.get(1)?.parse().ok()?;
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime, ppid))
}

impl Cpu {
    /// CPU time used so far, in clock ticks (10 ms on Linux).
    fn ticks(self) -> u64 {
        let read = |path: PathBuf| std::fs::read_to_string(path).ok();
        match self {
            Cpu::Threads(prefix) => std::fs::read_dir("/proc/self/task")
                .into_iter()
                .flatten()
                .flatten()
                .filter(|task| {
                    read(task.path().join("comm")).is_some_and(|c| c.starts_with(prefix))
                })
                .filter_map(|task| read(task.path().join("stat")))
                .filter_map(|stat| stat_ticks(&stat).map(|(t, _)| t))
                .sum(),
            Cpu::Process(pid) => {
                // The process (all its threads) and its descendants (NSD forks its
                // servers, not always straight from the process we started).
                let mut procs: Vec<(u32, u32, u64)> = Vec::new();
                for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
                    let Some(id) = entry
                        .file_name()
                        .to_str()
                        .and_then(|n| n.parse::<u32>().ok())
                    else {
                        continue;
                    };
                    if let Some((ticks, ppid)) =
                        read(entry.path().join("stat")).and_then(|s| stat_ticks(&s))
                    {
                        procs.push((id, ppid, ticks));
                    }
                }
                let mut tree = vec![pid];
                let mut total = 0;
                while let Some(parent) = tree.pop() {
                    for &(id, ppid, ticks) in &procs {
                        if id == parent {
                            total += ticks;
                        }
                        if ppid == parent {
                            tree.push(id);
                        }
                    }
                }
                total
            }
        }
    }
}

/// Server CPU microseconds per reply over a run that used `ticks` and got `replies`.
fn cpu_us_per_query(ticks: u64, replies: f64) -> f64 {
    // USER_HZ is 100 on every Linux this runs on.
    ticks as f64 * 10_000.0 / replies.max(1.0)
}

/// One server under test and what each round measured: queries/s, and the server's CPU
/// per query (which another load on the machine disturbs much less).
struct Target {
    name: &'static str,
    addr: SocketAddr,
    cpu: Cpu,
    own: Vec<f64>,
    own_cpu: Vec<f64>,
    dnsperf: Vec<f64>,
    dnsperf_cpu: Vec<f64>,
}

impl Target {
    fn new(name: &'static str, addr: SocketAddr, cpu: Cpu) -> Self {
        Self {
            name,
            addr,
            cpu,
            own: Vec::new(),
            own_cpu: Vec::new(),
            dnsperf: Vec::new(),
            dnsperf_cpu: Vec::new(),
        }
    }
}

fn median(values: &[f64]) -> Option<f64> {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted.get(sorted.len() / 2).copied()
}

fn main() {
    let args = args();
    let queries = Arc::new(queries());
    let dir = std::env::temp_dir().join(format!("caravan-bench-dns-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let has_dnsperf = installed("dnsperf", "-h");
    let input = dnsperf_input(&dir);

    println!(
        "# {SERVICES} services x {INSTANCES} instances; caravan and peers with {} UDP worker(s){}; \
         clients on the same {} core(s); {} round(s), medians",
        args.server_threads,
        if args.one_socket && args.server_threads > 1 {
            " (caravan's on one socket)"
        } else {
            ""
        },
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        args.rounds,
    );
    // Every server runs for the whole bench and is measured in turn, round after
    // round, so that a change in the machine's load falls on all of them alike.
    let caravan = Caravan::start(args.server_threads, args.one_socket);
    assert!(
        wait_ready(caravan.addr, &queries[0]),
        "caravan dns did not start"
    );
    let mut targets = vec![Target::new(
        "dns",
        caravan.addr,
        Cpu::Threads("caravan-dns-udp"),
    )];
    let mut peers = Vec::new();
    if args.peers {
        let starts: [(&str, &str, StartPeer); 2] =
            [("nsd", "-v", start_nsd), ("knotd", "-V", start_knot)];
        for (program, flag, start) in starts {
            if !installed(program, flag) {
                continue;
            }
            let Some(peer) = start(&dir, args.server_threads) else {
                println!("{program}: could not start");
                continue;
            };
            if !wait_ready(peer.addr, &queries[0]) {
                println!("{}: did not answer", peer.name);
                continue;
            }
            targets.push(Target::new(
                peer.name,
                peer.addr,
                Cpu::Process(peer.child.id()),
            ));
            peers.push(peer);
        }
    }
    for _ in 0..args.rounds {
        for target in &mut targets {
            let before = target.cpu.ticks();
            let (qps, l) = load(target.addr, args.clients, args.seconds, &queries);
            let cpu = cpu_us_per_query(target.cpu.ticks() - before, l.replies as f64);
            if args.rounds > 1 {
                eprintln!(
                    "  {}: {qps:.0} queries/s, {cpu:.2} us CPU/query",
                    target.name
                );
            }
            if l.wrong > 0 || l.lost > 0 {
                report(target.name, qps, l, &args);
            }
            target.own.push(qps);
            target.own_cpu.push(cpu);
            let before = target.cpu.ticks();
            let started = Instant::now();
            if has_dnsperf && let Some(qps) = dnsperf(target.addr, &input, &args) {
                // dnsperf reports a rate over its own run; its replies are near enough
                // rate x the time it ran.
                let replies = qps * started.elapsed().as_secs_f64().min(args.seconds as f64);
                let cpu = cpu_us_per_query(target.cpu.ticks() - before, replies);
                if args.rounds > 1 {
                    eprintln!(
                        "  {} (dnsperf): {qps:.0} queries/s, {cpu:.2} us CPU/query",
                        target.name
                    );
                }
                target.dnsperf.push(qps);
                target.dnsperf_cpu.push(cpu);
            }
        }
    }
    for target in &targets {
        if let Some(qps) = median(&target.own) {
            report(target.name, qps, Load::default(), &args);
        }
        if let Some(qps) = median(&target.dnsperf) {
            println!("{} (dnsperf): {qps:.0} queries/s", target.name);
        }
        if let (Some(own), Some(perf)) = (median(&target.own_cpu), median(&target.dnsperf_cpu)) {
            println!(
                "{} server CPU per query: {own:.2} us (dnsperf: {perf:.2} us)",
                target.name
            );
        } else if let Some(own) = median(&target.own_cpu) {
            println!("{} server CPU per query: {own:.2} us", target.name);
        }
    }
    let ours = &targets[0];
    for peer in &targets[1..] {
        let ratio = |a: &[f64], b: &[f64]| Some(median(a)? / median(b)?);
        if let Some(r) = ratio(&ours.own, &peer.own) {
            print!("caravan / {}: {r:.2}", peer.name);
            if let Some(r) = ratio(&ours.dnsperf, &peer.dnsperf) {
                print!(" (dnsperf {r:.2})");
            }
            // Queries per CPU second, ours over theirs: the inverse of CPU per query.
            if let Some(r) = ratio(&peer.own_cpu, &ours.own_cpu) {
                print!("; per CPU second {r:.2}");
            }
            println!();
        }
    }
    println!(
        "# peers available: {}{}",
        if peers.is_empty() {
            "none".to_owned()
        } else {
            peers.iter().map(|p| p.name).collect::<Vec<_>>().join(", ")
        },
        if has_dnsperf { "; dnsperf" } else { "" }
    );
    drop(peers);
    drop(caravan);
    let _ = std::fs::remove_dir_all(&dir);
}
