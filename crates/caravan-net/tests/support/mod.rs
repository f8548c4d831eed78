//! A private bridge per test (`cvt<id>`, its own /24 in 10.200-249.x, its own
//! nftables table and netns prefix) so tests run in parallel and never touch
//! `caravan0`; everything is removed on drop. Traffic goes only to addresses on
//! this machine.

#![allow(dead_code)]

use std::fs::File;
use std::future::Future;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use caravan_model::AllocId;
use caravan_net::{BridgeConfig, Ipv4Subnet, LinuxNetOps, NetOps};
use nix::sched::{CloneFlags, setns, unshare};

static NEXT: AtomicU32 = AtomicU32::new(0);

/// Runs a future on a fresh current-thread runtime.
pub fn block<F: Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(future)
}

/// Why this machine cannot run the root tests, if it cannot.
pub fn skip_reason() -> Option<String> {
    if !nix::unistd::geteuid().is_root() {
        return Some("not root".into());
    }
    let can_unshare = std::thread::spawn(|| unshare(CloneFlags::CLONE_NEWNET).is_ok())
        .join()
        .unwrap_or(false);
    if !can_unshare {
        return Some("cannot create a network namespace".into());
    }
    for program in ["nft", "ip"] {
        let works = Command::new(tool(program))
            .arg("-V")
            .output()
            .is_ok_and(|o| o.status.success());
        if !works {
            return Some(format!("{program} is not installed"));
        }
    }
    None
}

/// `/usr/sbin/<name>` when it is there (root's tools may be missing from PATH).
pub fn tool(name: &str) -> PathBuf {
    ["/usr/sbin", "/sbin", "/usr/bin", "/bin"]
        .iter()
        .map(|dir| Path::new(dir).join(name))
        .find(|path| path.exists())
        .unwrap_or_else(|| PathBuf::from(name))
}

/// Skips the calling test (prints why and returns) when it cannot run here.
#[macro_export]
macro_rules! require_root {
    () => {
        if let Some(reason) = support::skip_reason() {
            eprintln!("skipped: {reason}");
            return;
        }
    };
}

/// A test's own bridge, table, netns prefix, state dir and host ports.
pub struct TestNet {
    pub id: String,
    pub config: BridgeConfig,
    pub state_dir: PathBuf,
    pub ops: LinuxNetOps,
    port_base: u16,
}

impl TestNet {
    pub fn new() -> Self {
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        let pid = std::process::id();
        let id = format!("{:x}{n:x}", pid % 0x10000);
        let subnet = Ipv4Subnet::new(
            Ipv4Addr::new(10, 200 + (pid % 50) as u8, (n % 256) as u8, 0),
            24,
        )
        .expect("valid subnet");
        let config = BridgeConfig {
            bridge: format!("cvt{id}"),
            subnet,
            table: format!("cvt{id}"),
            netns_prefix: format!("cvt{id}-"),
            netns_dir: PathBuf::from("/var/run/netns"),
        };
        let state_dir = std::env::temp_dir().join(format!("caravan-net-test-{id}"));
        let _ = std::fs::remove_dir_all(&state_dir);
        let ops = LinuxNetOps::new(config.clone(), &state_dir).expect("ops");
        // Host ports below the ephemeral range, distinct per test in this process.
        let port_base = 20000 + ((pid % 200) * 40 + n * 4) as u16 % 12000;
        Self {
            id,
            config,
            state_dir,
            ops,
            port_base,
        }
    }

    /// The `k`th host port of this test (k < 4).
    pub fn port(&self, k: u16) -> u16 {
        self.port_base + k
    }

    pub fn alloc(&self, name: &str) -> AllocId {
        // The first 8 characters (the netns name's suffix) differ per name and test.
        AllocId::new(format!("{name}{:0>7}-{}", self.id, self.id))
    }

    /// Named namespaces of this test, as `ip netns` lists them.
    pub fn netns_count(&self) -> usize {
        let out = run("ip", &["netns", "list"]);
        out.lines()
            .filter(|l| l.starts_with(&self.config.netns_prefix))
            .count()
    }

    /// Links attached to this test's bridge, as `ip link` lists them.
    pub fn veth_count(&self) -> usize {
        let out = run("ip", &["-o", "link", "show", "master", &self.config.bridge]);
        out.lines().filter(|l| !l.trim().is_empty()).count()
    }

    /// The named namespace of `alloc` (`<prefix><short id>`).
    pub fn netns_name(&self, alloc: &AllocId) -> String {
        caravan_net::AllocNames::new(&self.config, alloc)
            .expect("valid id")
            .netns
    }

    /// Where `ip netns exec` finds the namespace's resolv.conf.
    pub fn resolv_conf_dir(&self, netns: &str) -> PathBuf {
        Path::new(caravan_net::ETC_NETNS_DIR).join(netns)
    }

    /// Allocation chains and port map entries in this test's table.
    pub fn nft_alloc_pieces(&self) -> (usize, usize) {
        let out = run("nft", &["list", "table", "ip", &self.config.table]);
        let chains = out
            .lines()
            .filter(|l| l.trim_start().starts_with("chain alloc-"))
            .count();
        let elements = out.matches("goto alloc-").count();
        (chains, elements)
    }
}

impl Drop for TestNet {
    fn drop(&mut self) {
        let ops = self.ops.clone();
        let cleanup = std::thread::spawn(move || {
            block(async {
                let _ = ops.reconcile(&[]).await;
                let _ = ops.remove_bridge().await;
            })
        });
        let _ = cleanup.join();
        let _ = std::fs::remove_dir_all(&self.state_dir);
    }
}

/// Runs a command on the host and returns its stdout (empty on failure).
pub fn run(program: &str, args: &[&str]) -> String {
    Command::new(tool(program))
        .args(args)
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
}

/// Runs a command inside the network namespace at `netns`.
pub fn run_in(netns: &Path, program: &str, args: &[&str]) -> String {
    let netns = netns.to_path_buf();
    let program = program.to_owned();
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    std::thread::spawn(move || {
        enter(&netns);
        run(
            &program,
            &args.iter().map(String::as_str).collect::<Vec<_>>(),
        )
    })
    .join()
    .expect("thread")
}

/// Moves the calling thread into the namespace at `path`.
pub fn enter(path: &Path) {
    let file = File::open(path).expect("open netns");
    setns(&file, CloneFlags::CLONE_NEWNET).expect("setns");
}

/// The host's first global IPv4 address that is not a bridge of ours or Docker's.
pub fn host_ip() -> Option<Ipv4Addr> {
    let out = run("ip", &["-4", "-o", "addr", "show", "scope", "global"]);
    out.lines().find_map(|line| {
        let mut words = line.split_whitespace();
        let dev = words.nth(1)?;
        if dev.starts_with("cvt") || dev.starts_with("caravan") || dev.starts_with("docker") {
            return None;
        }
        let cidr = words.skip_while(|w| *w != "inet").nth(1)?;
        cidr.split('/').next()?.parse().ok()
    })
}

/// A TCP server that answers every connection with `reply` and closes it.
pub struct Server {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    pub addr: SocketAddr,
}

impl Server {
    /// Binds `bind` inside the namespace at `netns` (the host's when `None`).
    pub fn start(netns: Option<&Path>, bind: SocketAddr, reply: &str) -> Self {
        let netns = netns.map(Path::to_path_buf);
        let listener = std::thread::spawn(move || {
            if let Some(path) = &netns {
                enter(path);
            }
            TcpListener::bind(bind).expect("bind")
        })
        .join()
        .expect("bind thread");
        let addr = listener.local_addr().expect("addr");
        listener.set_nonblocking(true).expect("nonblocking");
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let reply = reply.to_owned();
        let thread = std::thread::spawn(move || {
            while !flag.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((mut stream, _)) => {
                        let _ = stream.set_nonblocking(false);
                        let _ = stream.write_all(reply.as_bytes());
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        Self {
            stop,
            thread: Some(thread),
            addr,
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Connects to `addr` from the namespace at `netns` (the host's when `None`) and
/// returns what the server said.
pub fn fetch(netns: Option<&Path>, addr: SocketAddr) -> std::io::Result<String> {
    let netns = netns.map(Path::to_path_buf);
    std::thread::spawn(move || {
        if let Some(path) = &netns {
            enter(path);
        }
        let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(3))?;
        stream.set_read_timeout(Some(Duration::from_secs(3)))?;
        let mut text = String::new();
        stream.read_to_string(&mut text)?;
        Ok(text)
    })
    .join()
    .expect("fetch thread")
}

/// Binds a UDP socket inside the namespace at `netns` that answers one datagram
/// with `reply`, on its own thread.
pub fn udp_answer_once(netns: &Path, bind: SocketAddr, reply: &'static str) -> JoinHandle<()> {
    let netns = netns.to_path_buf();
    let socket = std::thread::spawn(move || {
        enter(&netns);
        UdpSocket::bind(bind).expect("bind udp")
    })
    .join()
    .expect("bind thread");
    socket
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    std::thread::spawn(move || {
        let mut buf = [0u8; 64];
        if let Ok((_, from)) = socket.recv_from(&mut buf) {
            let _ = socket.send_to(reply.as_bytes(), from);
        }
    })
}

/// Sends one datagram from the host to `addr` and returns the answer.
pub fn udp_ask(addr: SocketAddr) -> std::io::Result<String> {
    let socket = UdpSocket::bind("127.0.0.1:0")?;
    socket.set_read_timeout(Some(Duration::from_secs(3)))?;
    socket.send_to(b"ping", addr)?;
    let mut buf = [0u8; 64];
    let (n, _) = socket.recv_from(&mut buf)?;
    Ok(String::from_utf8_lossy(&buf[..n]).into_owned())
}
