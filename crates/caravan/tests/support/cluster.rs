//! Multi-host tests: every host is a network namespace with an address of its own on a
//! test bridge, running one process; the test kills, restarts and partitions hosts.
//!
//! Two layers. [`TestNet`] and [`Host`] are generic: a bridge with its own /24
//! (`10.213.N.0/24`, the host side `.1` so the test process reaches every host), and
//! namespaces joined to it by veth pairs, each running one command through
//! `ip netns exec`. [`Cluster`] puts `caravan agent -config <file>` on such hosts:
//! servers first (`s1`, `s2`, ... at `.11`, `.12`, ...), then clients (`c1`, ...).
//!
//! Parallel tests and parallel test binaries never share a network: the slot `N` is
//! held by an exclusive `flock` on `/tmp/caravan-testnet/N.lock` for the network's
//! life. The kernel drops that lock when its process dies, so a slot whose lock is
//! free belongs to nobody alive, and anything named after it (`cvnNN-*`: namespaces,
//! links, our accept rule in the firewall) is a crashed run's leftover. Such leftovers
//! are removed on the first [`TestNet::new`] of a process, and a slot's own leftovers
//! whenever the slot is claimed.
//!
//! A partition is an nftables table *inside* the host's namespace that drops every
//! packet but loopback, both ways: nothing outside the namespace changes, and the
//! table goes away with the namespace. Dropped packets are silent, as in a real
//! partition, so callers connect with a timeout ([`reachable`], [`try_http`]).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{
    CliOutput, Response, caravan_bin, read_response, run_with_deadline, signal, wait_for_within,
};

/// Every name of a test network starts with this, then the slot in two hex digits.
const NAME_PREFIX: &str = "cvn";
/// The second octet of every test network: `10.213.<slot>.0/24`.
const SECOND_OCTET: u8 = 213;
/// Where the slot locks live: a fixed path, so every test binary agrees.
const LOCK_DIR: &str = "/tmp/caravan-testnet";
/// Tags our accept rule in iptables-nft's `ip filter` table (not ours).
const RULE_TAG: &str = "caravan-testnet:";
/// The nftables table (family inet) that partitions a host, inside its namespace.
const PARTITION_TABLE: &str = "caravan_partition";
/// The last octet of the first host; host `i` gets `FIRST_HOST + i`.
const FIRST_HOST: u8 = 11;
/// How long a stopped process may take to exit after SIGTERM.
pub const STOP_DEADLINE: Duration = Duration::from_secs(20);
/// How long the agents of a cluster may take to listen, or servers to elect a leader.
pub const CLUSTER_DEADLINE: Duration = Duration::from_secs(60);
/// How long one request to an agent may take (connect, then each read).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// How long one poll of a host may take in a wait loop (a partitioned host never
/// answers, so this bounds every probe).
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);
const POLL: Duration = Duration::from_millis(100);

/// Distinguishes the networks and commands of one test process.
static SEQ: AtomicU32 = AtomicU32::new(0);

// ---------------------------------------------------------------------------------
// Running ip and nft
// ---------------------------------------------------------------------------------

/// Runs a short command (ip, nft) to completion: its stdout, or an error naming it.
fn run(argv: &[&str]) -> Result<String, String> {
    run_with_stdin(argv, None)
}

/// [`run`], feeding `stdin` (an `nft -f -` script).
fn run_with_stdin(argv: &[&str], stdin: Option<&str>) -> Result<String, String> {
    let (program, args) = argv
        .split_first()
        .expect("invariant: a command has a program");
    let mut child = Command::new(program)
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("{argv:?}: {e}"))?;
    if let Some(input) = stdin {
        let mut pipe = child.stdin.take().expect("invariant: stdin is piped");
        pipe.write_all(input.as_bytes())
            .map_err(|e| format!("{argv:?}: writing stdin: {e}"))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| format!("{argv:?}: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "{argv:?} failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim(),
            stdin.map(|s| format!("\nscript:\n{s}")).unwrap_or_default()
        ))
    }
}

/// [`run`] that fails the test.
#[track_caller]
fn must(argv: &[&str]) -> String {
    run(argv).unwrap_or_else(|e| panic!("{e}"))
}

/// Whether a TCP connection to `addr` from the test process succeeds within `timeout`.
/// False when refused, unroutable or silently dropped (a partition).
pub fn reachable(addr: SocketAddr, timeout: Duration) -> bool {
    TcpStream::connect_timeout(&addr, timeout).is_ok()
}

/// One HTTP/1.1 request with `Connection: close` and a bound on connecting and on each
/// read, so a partitioned or dead host yields an error instead of a hang.
pub fn try_http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: Option<&str>,
    timeout: Duration,
) -> io::Result<Response> {
    let mut stream = TcpStream::connect_timeout(&addr, timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    let body = body.unwrap_or("");
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes())?;
    stream.write_all(body.as_bytes())?;
    read_response(&mut stream)
}

// ---------------------------------------------------------------------------------
// Slots and leftovers
// ---------------------------------------------------------------------------------

/// The name prefix of slot `n`: `cvn0a`.
pub fn slot_prefix(n: u8) -> String {
    format!("{NAME_PREFIX}{n:02x}")
}

/// The slot a name of ours belongs to: `cvn0a-s1` -> 10.
fn slot_of(name: &str) -> Option<u8> {
    let rest = name.strip_prefix(NAME_PREFIX)?;
    let (hex, tail) = (rest.get(..2)?, rest.get(2..)?);
    if !tail.starts_with('-') || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u8::from_str_radix(hex, 16).ok()
}

/// Takes slot `n`'s lock if nobody alive holds it. The lock lasts as long as the file.
pub fn try_lock_slot(n: u8) -> Option<File> {
    fs::create_dir_all(LOCK_DIR).ok()?;
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(Path::new(LOCK_DIR).join(format!("{n}.lock")))
        .ok()?;
    file.try_lock().ok()?;
    Some(file)
}

/// Named network namespaces (`ip netns list`).
pub fn netns_names() -> Vec<String> {
    run(&["ip", "netns", "list"])
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
        .collect()
}

/// Links of the test process's namespace (`ip -o link`), without their `@peer`.
pub fn link_names() -> Vec<String> {
    run(&["ip", "-o", "link", "show"])
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split(": ").nth(1))
        .map(|n| n.split('@').next().unwrap_or(n).to_owned())
        .collect()
}

/// The chain of iptables-nft's `ip filter` table that could drop traffic between two
/// hosts of a bridge (with `br_netfilter` loaded, bridged IPv4 goes through the forward
/// hook): Docker's `DOCKER-USER`, else `FORWARD` when its policy is drop. An accept in
/// a table of our own would not help: every base chain of the hook must accept.
fn compat_chain() -> Option<&'static str> {
    if run(&["nft", "list", "chain", "ip", "filter", "DOCKER-USER"]).is_ok() {
        return Some("DOCKER-USER");
    }
    let forward = run(&["nft", "list", "chain", "ip", "filter", "FORWARD"]).ok()?;
    forward.contains("policy drop").then_some("FORWARD")
}

/// Our tagged rules in `ip filter` (chain, handle, tag), found by their comment.
pub fn tagged_rules() -> Vec<(String, u64, String)> {
    let mut found = Vec::new();
    for chain in ["DOCKER-USER", "FORWARD"] {
        let Ok(listing) = run(&["nft", "-a", "list", "chain", "ip", "filter", chain]) else {
            continue;
        };
        for line in listing.lines() {
            let Some((_, after)) = line.split_once(&format!("comment \"{RULE_TAG}")) else {
                continue;
            };
            let tag = after.split('"').next().unwrap_or_default().to_owned();
            let handle = line
                .rsplit_once("# handle ")
                .and_then(|(_, h)| h.trim().parse().ok());
            if let Some(handle) = handle {
                found.push((chain.to_owned(), handle, tag));
            }
        }
    }
    found
}

/// Kills every process in namespace `ns` and waits (bounded) until none is left.
fn kill_netns_processes(ns: &str) {
    let start = Instant::now();
    loop {
        let pids: Vec<u32> = run(&["ip", "netns", "pids", ns])
            .unwrap_or_default()
            .split_whitespace()
            .filter_map(|p| p.parse().ok())
            .collect();
        if pids.is_empty() || start.elapsed() > Duration::from_secs(10) {
            return;
        }
        for pid in pids {
            signal(pid, "KILL");
        }
        std::thread::sleep(POLL);
    }
}

/// Removes everything named after slot `n`: processes in its namespaces, the
/// namespaces, its links (veths, bridge) and its accept rule. Errors are ignored: this
/// cleans up whatever exists.
fn remove_slot(n: u8) {
    let prefix = format!("{}-", slot_prefix(n));
    for ns in netns_names().iter().filter(|ns| ns.starts_with(&prefix)) {
        kill_netns_processes(ns);
        let _ = run(&["ip", "netns", "delete", ns]);
    }
    for link in link_names().iter().filter(|l| l.starts_with(&prefix)) {
        let _ = run(&["ip", "link", "delete", link]);
    }
    let tag = slot_prefix(n);
    for (chain, handle, t) in tagged_rules() {
        if t == tag {
            let handle = handle.to_string();
            let _ = run(&[
                "nft", "delete", "rule", "ip", "filter", &chain, "handle", &handle,
            ]);
        }
    }
}

/// Removes the leftovers of every slot nobody alive holds: crashed earlier runs. Runs
/// on the first [`TestNet::new`] of each process; public for the self-test.
pub fn remove_leftovers() {
    let mut slots: BTreeSet<u8> = netns_names()
        .iter()
        .chain(link_names().iter())
        .filter_map(|n| slot_of(n))
        .collect();
    slots.extend(
        tagged_rules()
            .iter()
            .filter_map(|(_, _, tag)| slot_of(&format!("{tag}-"))),
    );
    for n in slots {
        if let Some(lock) = try_lock_slot(n) {
            remove_slot(n);
            drop(lock);
        }
    }
}

// ---------------------------------------------------------------------------------
// TestNet and Host
// ---------------------------------------------------------------------------------

/// A test bridge with its own /24 and the hosts on it; removes all of it on drop.
#[derive(Debug)]
pub struct TestNet {
    slot: u8,
    /// `cvnNN`: starts every name of this network.
    prefix: String,
    /// `cvnNN-br`.
    bridge: String,
    /// Where the iptables-nft accept rule went, if one was needed.
    compat_chain: Option<&'static str>,
    /// Holds each host's directory (logs, configs, data).
    dir: PathBuf,
    hosts: Vec<Host>,
    /// Held for the network's life: the slot is ours (see the module docs).
    _lock: File,
}

impl TestNet {
    /// Claims a free slot, removes leftovers, and creates the bridge. `label` names
    /// the test in the temporary directory. Needs root.
    pub fn new(label: &str) -> TestNet {
        static SWEPT: OnceLock<()> = OnceLock::new();
        SWEPT.get_or_init(remove_leftovers);
        let seq = SEQ.fetch_add(1, Ordering::Relaxed);
        // Start the search at a different slot per process and network, so parallel
        // claims rarely contend for the same lock.
        let start = std::process::id().wrapping_mul(31).wrapping_add(seq * 7) % 256;
        let (slot, lock) = (0..256u32)
            .find_map(|k| {
                let n = u8::try_from((start + k) % 256).expect("invariant: below 256");
                try_lock_slot(n).map(|lock| (n, lock))
            })
            .expect("every test network slot (256) is taken");
        remove_slot(slot);
        let prefix = slot_prefix(slot);
        let dir = std::env::temp_dir().join(format!(
            "caravan-net-{label}-{}-{seq}-{prefix}",
            std::process::id()
        ));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("create the test network's temp dir");
        // Built before the bridge exists, so a failure below still cleans up on drop.
        let mut net = TestNet {
            slot,
            bridge: format!("{prefix}-br"),
            prefix,
            compat_chain: None,
            dir,
            hosts: Vec::new(),
            _lock: lock,
        };
        net.create_bridge();
        net
    }

    fn create_bridge(&mut self) {
        let br = self.bridge.clone();
        must(&["ip", "link", "add", &br, "type", "bridge"]);
        let gateway = format!("{}/24", self.gateway());
        must(&["ip", "addr", "add", &gateway, "dev", &br]);
        must(&["ip", "link", "set", &br, "up"]);
        if let Some(chain) = compat_chain() {
            self.compat_chain = Some(chain);
            let rule = format!(
                "insert rule ip filter {chain} iifname \"{br}\" oifname \"{br}\" accept \
                 comment \"{RULE_TAG}{}\"\n",
                self.prefix
            );
            run_with_stdin(&["nft", "-f", "-"], Some(&rule)).unwrap_or_else(|e| panic!("{e}"));
        }
    }

    /// `cvnNN`: the start of every namespace and link name of this network.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    pub fn bridge(&self) -> &str {
        &self.bridge
    }

    /// `10.213.N.0`: the network's address.
    pub fn base(&self) -> Ipv4Addr {
        Ipv4Addr::new(10, SECOND_OCTET, self.slot, 0)
    }

    /// `10.213.N.0/24`.
    pub fn subnet(&self) -> String {
        format!("{}/24", self.base())
    }

    /// `10.213.N.1`: the test process's own address on the bridge, every host's route.
    pub fn gateway(&self) -> Ipv4Addr {
        Ipv4Addr::new(10, SECOND_OCTET, self.slot, 1)
    }

    /// The directory holding each host's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Adds a host: namespace `<prefix>-<name>` with loopback up, `eth0` at
    /// `10.213.N.(11+i)` joined to the bridge, a default route via the gateway, and a
    /// directory `<dir>/<name>`. Nothing runs until [`Host::start`]. Returns its index.
    pub fn add_host(&mut self, name: &str) -> usize {
        let index = self.hosts.len();
        let netns = format!("{}-{name}", self.prefix);
        assert!(
            netns.len() <= 15 && name != "br" && !name.is_empty(),
            "host name {name:?} is reserved or too long (link names have at most 15 chars)"
        );
        assert!(
            self.hosts.iter().all(|h| h.name != name),
            "two hosts named {name:?}"
        );
        let dir = self.dir.join(name);
        fs::create_dir_all(&dir).expect("create the host's directory");
        must(&["ip", "netns", "add", &netns]);
        // Pushed before its links exist, so drop removes whatever was made.
        self.hosts.push(Host {
            name: name.to_owned(),
            ip: host_ip(self.base(), index),
            veth: netns.clone(),
            log: dir.join("process.log"),
            dir,
            netns,
            state: Mutex::new(HostState::default()),
        });
        let host = &self.hosts[index];
        let (ns, veth) = (host.netns.as_str(), host.veth.as_str());
        must(&[
            "ip", "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns,
        ]);
        must(&["ip", "link", "set", veth, "master", &self.bridge]);
        must(&["ip", "link", "set", veth, "up"]);
        let addr = format!("{}/24", host.ip);
        let gateway = self.gateway().to_string();
        must(&["ip", "-n", ns, "link", "set", "lo", "up"]);
        must(&["ip", "-n", ns, "addr", "add", &addr, "dev", "eth0"]);
        must(&["ip", "-n", ns, "link", "set", "eth0", "up"]);
        must(&["ip", "-n", ns, "route", "add", "default", "via", &gateway]);
        index
    }

    /// [`TestNet::add_host`], then runs `argv` on it.
    pub fn spawn_host(&mut self, name: &str, argv: &[&str]) -> usize {
        let index = self.add_host(name);
        let host = &self.hosts[index];
        host.set_command(argv);
        host.start();
        index
    }

    #[track_caller]
    pub fn host(&self, index: usize) -> &Host {
        self.hosts
            .get(index)
            .unwrap_or_else(|| panic!("no host {index}: there are {}", self.hosts.len()))
    }

    pub fn hosts(&self) -> &[Host] {
        &self.hosts
    }

    /// Every host's log, for a failure message.
    pub fn logs(&self) -> String {
        let mut out = String::new();
        for h in &self.hosts {
            let _ = writeln!(out, "---- {} ({}) ----\n{}", h.name, h.ip, h.log());
        }
        out
    }
}

impl Drop for TestNet {
    fn drop(&mut self) {
        let panicking = std::thread::panicking();
        for host in &self.hosts {
            host.teardown();
        }
        if panicking {
            eprintln!(
                "test network {} ({}), files in {}:\n{}",
                self.prefix,
                self.subnet(),
                self.dir.display(),
                self.logs()
            );
        }
        let _ = run(&["ip", "link", "delete", &self.bridge]);
        if self.compat_chain.is_some() {
            for (chain, handle, tag) in tagged_rules() {
                if tag == self.prefix {
                    let handle = handle.to_string();
                    let _ = run(&[
                        "nft", "delete", "rule", "ip", "filter", &chain, "handle", &handle,
                    ]);
                }
            }
        }
        // Whatever a process of ours made under our names (and any step above that
        // failed) goes too, while the slot is still ours.
        remove_slot(self.slot);
        if !panicking {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

/// Host `index`'s address: servers first, from `.11` on.
pub fn host_ip(base: Ipv4Addr, index: usize) -> Ipv4Addr {
    let last = u8::try_from(index)
        .ok()
        .and_then(|i| FIRST_HOST.checked_add(i))
        .filter(|last| *last < 255)
        .unwrap_or_else(|| panic!("host index {index} does not fit in a /24"));
    let [a, b, c, _] = base.octets();
    Ipv4Addr::new(a, b, c, last)
}

#[derive(Debug, Default)]
struct HostState {
    argv: Vec<String>,
    child: Option<Child>,
    starts: u32,
    partitioned: bool,
}

/// One network namespace on a [`TestNet`], running one process. Every operation takes
/// `&self`, so hosts can be used from several threads of a test.
#[derive(Debug)]
pub struct Host {
    name: String,
    netns: String,
    /// The bridge side of the veth pair (the namespace side is `eth0`).
    veth: String,
    ip: Ipv4Addr,
    dir: PathBuf,
    /// Output of every start, appended.
    log: PathBuf,
    state: Mutex<HostState>,
}

impl Host {
    fn state(&self) -> MutexGuard<'_, HostState> {
        // A test that panicked while holding the lock left a usable state.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn netns(&self) -> &str {
        &self.netns
    }

    pub fn ip(&self) -> Ipv4Addr {
        self.ip
    }

    /// `ip:port` on this host.
    pub fn addr(&self, port: u16) -> SocketAddr {
        SocketAddr::from((self.ip, port))
    }

    /// The host's own directory (its log, config and data).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Sets the command that [`Host::start`] runs (inside the namespace).
    pub fn set_command(&self, argv: &[&str]) {
        self.state().argv = argv.iter().map(|a| (*a).to_owned()).collect();
    }

    /// Runs the host's command via `ip netns exec`, appending its stdout and stderr to
    /// the host's log. `ip netns exec` execs the command, so the child's pid is the
    /// command's. Fails the test if it already runs.
    #[track_caller]
    pub fn start(&self) {
        let mut state = self.state();
        if let Some(child) = state.child.as_mut()
            && let Ok(None) = child.try_wait()
        {
            panic!("start: the process of host {} still runs", self.name);
        }
        assert!(!state.argv.is_empty(), "host {} has no command", self.name);
        state.starts += 1;
        let mut log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("open the host's log");
        let _ = writeln!(
            log,
            "==== start {} of {}: {:?} ====",
            state.starts, self.name, state.argv
        );
        let child = Command::new("ip")
            .args(["netns", "exec", &self.netns])
            .args(&state.argv)
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("clone the host's log"))
            .stderr(log)
            // Its own group: a Ctrl-C meant for the test runner does not reach it.
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("start {:?} on {}: {e}", state.argv, self.name));
        state.child = Some(child);
    }

    /// Whether the process runs (a started one that has not exited).
    pub fn is_running(&self) -> bool {
        self.state()
            .child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// The process id while it runs.
    pub fn pid(&self) -> Option<u32> {
        let mut state = self.state();
        let child = state.child.as_mut()?;
        matches!(child.try_wait(), Ok(None)).then(|| child.id())
    }

    /// Kills the process with SIGKILL, as a crash would, and reaps it. Its own
    /// children (in other process groups) stay, as they would after a crash.
    pub fn kill(&self) {
        if let Some(mut child) = self.state().child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Sends SIGTERM and waits up to `deadline` for the exit; then SIGKILL. Returns the
    /// exit status (`None` if nothing ran, or it needed the SIGKILL).
    pub fn stop(&self, deadline: Duration) -> Option<ExitStatus> {
        let mut child = self.state().child.take()?;
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        signal(child.id(), "TERM");
        let start = Instant::now();
        while start.elapsed() < deadline {
            if let Ok(Some(status)) = child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(POLL);
        }
        let _ = child.kill();
        let _ = child.wait();
        None
    }

    /// Cuts the host off from every other host and from the test process, both ways,
    /// by dropping every packet but loopback in its namespace. Idempotent.
    pub fn partition(&self) {
        let mut state = self.state();
        if state.partitioned {
            return;
        }
        let script = format!(
            "table inet {PARTITION_TABLE} {{\n\
             \tchain input {{ type filter hook input priority -300; policy drop; iifname \"lo\" accept; }}\n\
             \tchain output {{ type filter hook output priority -300; policy drop; oifname \"lo\" accept; }}\n\
             }}\n"
        );
        run_with_stdin(
            &["ip", "netns", "exec", &self.netns, "nft", "-f", "-"],
            Some(&script),
        )
        .unwrap_or_else(|e| panic!("partition {}: {e}", self.name));
        state.partitioned = true;
    }

    /// Undoes [`Host::partition`]. Idempotent.
    pub fn heal(&self) {
        let mut state = self.state();
        if !state.partitioned {
            return;
        }
        must(&[
            "ip",
            "netns",
            "exec",
            &self.netns,
            "nft",
            "delete",
            "table",
            "inet",
            PARTITION_TABLE,
        ]);
        state.partitioned = false;
    }

    pub fn is_partitioned(&self) -> bool {
        self.state().partitioned
    }

    /// The output of every start so far.
    pub fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Runs a command inside the namespace to completion (killed after the CLI
    /// deadline), its output kept in the host's directory.
    pub fn exec(&self, argv: &[&str]) -> CliOutput {
        let n = SEQ.fetch_add(1, Ordering::Relaxed);
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.netns]).args(argv);
        run_with_deadline(cmd, &self.dir, &format!("exec-{n}"))
    }

    /// Whether a TCP connection from this host to `addr` succeeds within a few
    /// seconds (bash's `/dev/tcp` under `timeout`).
    pub fn can_reach(&self, addr: SocketAddr) -> bool {
        let connect = format!("exec 3<>/dev/tcp/{}/{}", addr.ip(), addr.port());
        self.exec(&["timeout", "3", "bash", "-c", &connect]).code == 0
    }

    /// Kills everything in the namespace and removes it with its veth pair.
    fn teardown(&self) {
        self.kill();
        kill_netns_processes(&self.netns);
        let _ = run(&["ip", "link", "delete", &self.veth]);
        let _ = run(&["ip", "netns", "delete", &self.netns]);
    }
}

// ---------------------------------------------------------------------------------
// Caravan clusters
// ---------------------------------------------------------------------------------

/// The agent ports; every host has its own namespace, so they never collide.
pub const HTTP_PORT: u16 = 4646;
pub const RPC_PORT: u16 = 4647;
pub const CONSUL_PORT: u16 = 8500;
pub const DNS_PORT: u16 = 8600;

/// What cluster to start.
#[derive(Debug, Clone)]
pub struct ClusterSpec {
    pub servers: usize,
    pub clients: usize,
    /// The servers' datacenter, and the clients' unless `client_datacenter` says.
    pub datacenter: String,
    pub region: String,
    /// Client `i`'s datacenter (missing entries: `datacenter`).
    pub client_datacenter: Vec<String>,
    /// Client `i`'s node meta (missing entries: none).
    pub client_meta: Vec<BTreeMap<String, String>>,
    /// HCL appended to every server's config.
    pub extra_server_config: String,
    /// HCL appended to every client's config.
    pub extra_client_config: String,
    /// The program and leading arguments of each agent; `-config <file>` follows.
    /// Empty: `caravan agent`. The self-test puts a stand-in here.
    pub agent_command: Vec<String>,
}

impl Default for ClusterSpec {
    /// Three servers and three clients in `dc1`, region `global`.
    fn default() -> Self {
        ClusterSpec {
            servers: 3,
            clients: 3,
            datacenter: "dc1".to_owned(),
            region: "global".to_owned(),
            client_datacenter: Vec::new(),
            client_meta: Vec::new(),
            extra_server_config: String::new(),
            extra_client_config: String::new(),
            agent_command: Vec::new(),
        }
    }
}

/// One agent's config file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentConfig {
    /// `s1`, `c1`, ...: the host's name and the agent's.
    pub name: String,
    pub server: bool,
    pub ip: Ipv4Addr,
    /// The HCL text.
    pub text: String,
}

impl ClusterSpec {
    /// Every agent's config, servers first, for a network at `base` whose host
    /// directories are `<root>/<name>` (each agent's data dir is `<root>/<name>/data`).
    /// Pure: nothing is written or started.
    pub fn agent_configs(&self, base: Ipv4Addr, root: &Path) -> Vec<AgentConfig> {
        assert!(self.servers > 0, "a cluster needs a server");
        let server_ips: Vec<Ipv4Addr> = (0..self.servers).map(|i| host_ip(base, i)).collect();
        let mut configs = Vec::new();
        for (i, ip) in server_ips.iter().enumerate() {
            let name = format!("s{}", i + 1);
            let mut text = self.common(&name, &self.datacenter, *ip, root);
            let join = server_ips
                .iter()
                .map(|ip| hcl_str(&ip.to_string()))
                .collect::<Vec<_>>()
                .join(", ");
            let _ = write!(
                text,
                "\nserver {{\n  enabled          = true\n  bootstrap_expect = {}\n\n  \
                 server_join {{\n    retry_join = [{join}]\n  }}\n}}\n",
                self.servers
            );
            push_extra(&mut text, &self.extra_server_config);
            configs.push(AgentConfig {
                name,
                server: true,
                ip: *ip,
                text,
            });
        }
        let rpc = server_ips
            .iter()
            .map(|ip| hcl_str(&format!("{ip}:{RPC_PORT}")))
            .collect::<Vec<_>>()
            .join(", ");
        for i in 0..self.clients {
            let name = format!("c{}", i + 1);
            let ip = host_ip(base, self.servers + i);
            let dc = self
                .client_datacenter
                .get(i)
                .unwrap_or(&self.datacenter)
                .clone();
            let mut text = self.common(&name, &dc, ip, root);
            // The client's own bridge (inside its namespace) is named after the host,
            // so its allocations' namespaces (`<bridge>-<alloc>`, in the one
            // /var/run/netns every host shares) are told apart from other clients',
            // and carry the network's prefix: dropping the network removes them.
            let bridge = format!("{}-{name}", slot_prefix(base.octets()[2]));
            let _ = write!(
                text,
                "\nclient {{\n  enabled = true\n  servers = [{rpc}]\n  \
                 bridge_network_name = {}\n",
                hcl_str(&bridge)
            );
            if let Some(meta) = self.client_meta.get(i).filter(|m| !m.is_empty()) {
                text.push_str("\n  meta = {\n");
                for (k, v) in meta {
                    let _ = writeln!(text, "    {} = {}", hcl_key(k), hcl_str(v));
                }
                text.push_str("  }\n");
            }
            text.push_str("}\n");
            push_extra(&mut text, &self.extra_client_config);
            configs.push(AgentConfig {
                name,
                server: false,
                ip,
                text,
            });
        }
        configs
    }

    /// The attributes and blocks every agent has.
    fn common(&self, name: &str, dc: &str, ip: Ipv4Addr, root: &Path) -> String {
        let data_dir = root.join(name).join("data");
        format!(
            "name       = {}\ndatacenter = {}\nregion     = {}\ndata_dir   = {}\n\
             bind_addr  = {}\nlog_level  = \"debug\"\n\nports {{\n  http   = {HTTP_PORT}\n  \
             rpc    = {RPC_PORT}\n  consul = {CONSUL_PORT}\n  dns    = {DNS_PORT}\n}}\n",
            hcl_str(name),
            hcl_str(dc),
            hcl_str(&self.region),
            hcl_str(&data_dir.to_string_lossy()),
            hcl_str(&ip.to_string()),
        )
    }
}

fn push_extra(text: &mut String, extra: &str) {
    if !extra.trim().is_empty() {
        text.push('\n');
        text.push_str(extra.trim_end());
        text.push('\n');
    }
}

/// An HCL string literal: quotes and backslashes escaped, template openers doubled.
pub fn hcl_str(s: &str) -> String {
    let escaped = s
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
        .replace("${", "$${")
        .replace("%{", "%%{");
    format!("\"{escaped}\"")
}

/// An object key: bare when it is an identifier, else a string.
fn hcl_key(k: &str) -> String {
    let ident = k
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if ident { k.to_owned() } else { hcl_str(k) }
}

/// Caravan agents on a [`TestNet`], one per host. Dropping it stops the agents
/// (SIGTERM, then SIGKILL) and removes the network.
#[derive(Debug)]
pub struct Cluster {
    pub net: TestNet,
    pub spec: ClusterSpec,
    /// Host indexes of the servers, then of the clients.
    servers: Vec<usize>,
    clients: Vec<usize>,
    cli_runs: AtomicU32,
}

impl Cluster {
    /// Writes each agent's config to `<host dir>/agent.hcl`, starts every agent and
    /// waits until each listens on its HTTP port (failing with its log if one exits).
    /// It does not wait for a leader: see [`Cluster::wait_for_leader`].
    pub fn start(spec: ClusterSpec) -> Cluster {
        let mut net = TestNet::new("cluster");
        let configs = spec.agent_configs(net.base(), net.dir());
        let (mut servers, mut clients) = (Vec::new(), Vec::new());
        let program: Vec<String> = if spec.agent_command.is_empty() {
            vec![caravan_bin().display().to_string(), "agent".to_owned()]
        } else {
            spec.agent_command.clone()
        };
        for config in &configs {
            let index = net.add_host(&config.name);
            let host = net.host(index);
            assert_eq!(host.ip(), config.ip, "invariant: hosts are added in order");
            let file = host.dir().join("agent.hcl");
            fs::write(&file, &config.text).expect("write an agent config");
            fs::create_dir_all(host.dir().join("data")).expect("create a data dir");
            let file = file.display().to_string();
            let mut argv: Vec<&str> = program.iter().map(String::as_str).collect();
            argv.extend(["-config", &file]);
            host.set_command(&argv);
            if config.server {
                servers.push(index);
            } else {
                clients.push(index);
            }
        }
        let cluster = Cluster {
            net,
            spec,
            servers,
            clients,
            cli_runs: AtomicU32::new(0),
        };
        for host in cluster.net.hosts() {
            host.start();
        }
        for host in cluster.net.hosts() {
            cluster.wait_for(
                &format!(
                    "agent {} to listen on {}",
                    host.name(),
                    host.addr(HTTP_PORT)
                ),
                CLUSTER_DEADLINE,
                |last| {
                    if !host.is_running() {
                        panic!("agent {} exited:\n{}", host.name(), host.log());
                    }
                    *last = "not listening".to_owned();
                    reachable(host.addr(HTTP_PORT), PROBE_TIMEOUT).then_some(())
                },
            );
        }
        cluster
    }

    /// Server `i` (0-based: `server(0)` is `s1`).
    #[track_caller]
    pub fn server(&self, i: usize) -> &Host {
        let index = *self
            .servers
            .get(i)
            .unwrap_or_else(|| panic!("no server {i}: there are {}", self.servers.len()));
        self.net.host(index)
    }

    /// Client `i` (0-based: `client(0)` is `c1`).
    #[track_caller]
    pub fn client(&self, i: usize) -> &Host {
        let index = *self
            .clients
            .get(i)
            .unwrap_or_else(|| panic!("no client {i}: there are {}", self.clients.len()));
        self.net.host(index)
    }

    pub fn servers(&self) -> impl Iterator<Item = &Host> {
        self.servers.iter().map(|i| self.net.host(*i))
    }

    pub fn clients(&self) -> impl Iterator<Item = &Host> {
        self.clients.iter().map(|i| self.net.host(*i))
    }

    /// `http://10.213.N.x:4646`.
    pub fn http_addr(&self, host: &Host) -> String {
        format!("http://{}", host.addr(HTTP_PORT))
    }

    /// One request to a host's HTTP API; an error when it does not answer in time.
    pub fn request(
        &self,
        host: &Host,
        method: &str,
        path: &str,
        body: Option<&str>,
    ) -> io::Result<Response> {
        try_http(host.addr(HTTP_PORT), method, path, body, REQUEST_TIMEOUT)
    }

    /// GET that must answer 200 with JSON.
    #[track_caller]
    pub fn get_json(&self, host: &Host, path: &str) -> Value {
        self.json_of(host, "GET", path, None)
    }

    /// PUT of a JSON body that must answer 200 with JSON.
    #[track_caller]
    pub fn put_json(&self, host: &Host, path: &str, body: &Value) -> Value {
        self.json_of(host, "PUT", path, Some(&body.to_string()))
    }

    #[track_caller]
    fn json_of(&self, host: &Host, method: &str, path: &str, body: Option<&str>) -> Value {
        let r = self.request(host, method, path, body).unwrap_or_else(|e| {
            panic!(
                "{method} {path} on {}: {e}\n---- its log ----\n{}",
                host.name(),
                host.log()
            )
        });
        assert_eq!(r.status, 200, "{method} {path} on {}: {r:#?}", host.name());
        r.json()
    }

    /// Waits until every server that runs and is not partitioned answers
    /// `GET /v1/status/leader` with the same leader (`ip:4647`), itself one of them;
    /// returns that server's index.
    pub fn wait_for_leader(&self) -> usize {
        self.wait_for(
            "the servers to agree on a leader",
            CLUSTER_DEADLINE,
            |last| {
                let mut answers = Vec::new();
                for (i, host) in self.servers().enumerate() {
                    if !host.is_running() || host.is_partitioned() {
                        continue;
                    }
                    let answer = try_http(
                        host.addr(HTTP_PORT),
                        "GET",
                        "/v1/status/leader",
                        None,
                        PROBE_TIMEOUT,
                    )
                    .ok()
                    .filter(|r| r.status == 200)
                    .and_then(|r| serde_json::from_str::<Value>(&r.body).ok())
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default();
                    answers.push((i, answer));
                }
                *last = format!("{answers:?}");
                let (_, first) = answers.first()?;
                if first.is_empty() || answers.iter().any(|(_, a)| a != first) {
                    return None;
                }
                let leader: SocketAddr = first.parse().ok()?;
                answers
                    .iter()
                    .map(|(i, _)| *i)
                    .find(|i| self.server(*i).addr(RPC_PORT) == leader)
            },
        )
    }

    /// Runs the CLI from the test process with `CARAVAN_ADDR` pointed at `host`.
    pub fn cli(&self, host: &Host, args: &[&str]) -> CliOutput {
        let n = self.cli_runs.fetch_add(1, Ordering::Relaxed);
        // run_with_deadline clears CARAVAN_ADDR (so the caller's shell cannot leak in);
        // env(1) sets it again for the CLI alone.
        let mut cmd = Command::new("env");
        cmd.arg(format!("CARAVAN_ADDR={}", self.http_addr(host)))
            .arg(caravan_bin())
            .args(args);
        run_with_deadline(cmd, self.net.dir(), &format!("cli-{n}"))
    }

    /// Polls `f` until it returns `Some`, failing after `timeout` with `desc` and the
    /// last state `f` wrote (every host's log follows when the network drops).
    pub fn wait_for<T>(
        &self,
        desc: &str,
        timeout: Duration,
        mut f: impl FnMut(&mut String) -> Option<T>,
    ) -> T {
        wait_for_within(timeout, desc, &mut f)
    }
}

impl Drop for Cluster {
    /// Stops every agent gracefully at once (their tasks stop with them), then the
    /// network's drop kills whatever is left.
    fn drop(&mut self) {
        let running: Vec<&Host> = self.net.hosts().iter().filter(|h| h.is_running()).collect();
        for host in &running {
            if let Some(pid) = host.pid() {
                signal(pid, "TERM");
            }
        }
        let start = Instant::now();
        while start.elapsed() < STOP_DEADLINE && running.iter().any(|h| h.is_running()) {
            std::thread::sleep(POLL);
        }
    }
}
