//! Host ports bound by something outside Caravan: read from the kernel's socket tables
//! so the agent can keep them out of the scheduler's port ledger (as reserved ports).
//!
//! The parsing is pure and tested on sample text; [`read_bound_ports`] is the thin
//! reader. Only this network namespace is seen (the one the agent runs in), which is
//! the one host-mode tasks share.
//!
//! Which sockets count:
//! - TCP sockets in `LISTEN` (state `0A`); connected sockets use ephemeral ports the
//!   kernel picks and would only add churn;
//! - UDP sockets that are bound but not connected (state `07`, no remote address):
//!   servers, not the short-lived sockets of a resolver query.
//!
//! Which addresses conflict with the node's address `N` (see [`conflicts`]): a socket
//! on the wildcard (`0.0.0.0` or `::`), any socket when `N` is itself a wildcard, a
//! socket on `N` (an IPv4-mapped IPv6 address counts as its IPv4 address), and any
//! loopback socket when `N` is loopback (`127.0.0.1` and `127.0.0.53` are one host
//! for a task told to listen on "localhost"). A socket on another interface's address
//! does not keep a task on `N` from binding, so it is not counted.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The socket tables read, with the protocol each holds.
const PROC_NET_TABLES: [(&str, Protocol); 4] = [
    ("/proc/net/tcp", Protocol::Tcp),
    ("/proc/net/tcp6", Protocol::Tcp),
    ("/proc/net/udp", Protocol::Udp),
    ("/proc/net/udp6", Protocol::Udp),
];

/// `TCP_LISTEN` in the kernel's state numbering.
const TCP_LISTEN: u8 = 0x0A;
/// `TCP_CLOSE`: what an unconnected UDP socket shows.
const UDP_UNCONNECTED: u8 = 0x07;

/// The transport of a socket table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Protocol {
    Tcp,
    Udp,
}

/// A port some socket on this host holds, and the address it is bound on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct BoundPort {
    pub protocol: Protocol,
    pub addr: IpAddr,
    pub port: u16,
}

/// Parses one `/proc/net/{tcp,tcp6,udp,udp6}` table: the listening TCP sockets or the
/// bound, unconnected UDP sockets. Lines that do not parse (the header) are skipped.
pub fn parse_proc_net(text: &str, protocol: Protocol) -> Vec<BoundPort> {
    text.lines()
        .filter_map(|line| parse_line(line, protocol))
        .collect()
}

fn parse_line(line: &str, protocol: Protocol) -> Option<BoundPort> {
    // "sl local_address rem_address st ...": "0: 0100007F:1F90 00000000:0000 0A ..."
    let mut fields = line.split_whitespace();
    let _slot = fields.next()?.strip_suffix(':')?;
    let (local_addr, local_port) = parse_endpoint(fields.next()?)?;
    let (remote_addr, _) = parse_endpoint(fields.next()?)?;
    let state = u8::from_str_radix(fields.next()?, 16).ok()?;
    let bound = match protocol {
        Protocol::Tcp => state == TCP_LISTEN,
        Protocol::Udp => state == UDP_UNCONNECTED && remote_addr.is_unspecified(),
    };
    (bound && local_port != 0).then_some(BoundPort {
        protocol,
        addr: local_addr,
        port: local_port,
    })
}

/// `"0100007F:1F90"` -> 127.0.0.1:8080. The kernel prints the address as 32-bit words
/// in the machine's byte order (one word for IPv4, four for IPv6) and the port as a
/// plain hex number.
fn parse_endpoint(field: &str) -> Option<(IpAddr, u16)> {
    let (addr, port) = field.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let word = |hex: &str| u32::from_str_radix(hex, 16).ok().map(u32::to_ne_bytes);
    let addr = match addr.len() {
        8 => IpAddr::V4(Ipv4Addr::from(word(addr)?)),
        32 => {
            let mut octets = [0u8; 16];
            for (i, chunk) in octets.chunks_exact_mut(4).enumerate() {
                chunk.copy_from_slice(&word(addr.get(i * 8..i * 8 + 8)?)?);
            }
            IpAddr::V6(Ipv6Addr::from(octets))
        }
        _ => return None,
    };
    Some((addr, port))
}

/// Whether a socket bound on `bound` keeps a task from binding the same port on the
/// node address `node` (the rule in the module documentation).
pub fn conflicts(bound: IpAddr, node: IpAddr) -> bool {
    let bound = bound.to_canonical();
    let node = node.to_canonical();
    bound.is_unspecified()
        || node.is_unspecified()
        || bound == node
        || (bound.is_loopback() && node.is_loopback())
}

/// The ports held by something other than Caravan's own allocations: bound on an
/// address that conflicts with `node_addr`, and not in `own` (the ports granted to
/// the allocations running here). A node address that does not parse is taken as the
/// wildcard, which counts every socket: better a port kept back than one handed out
/// twice.
pub fn foreign_ports(bound: &[BoundPort], node_addr: &str, own: &BTreeSet<u16>) -> BTreeSet<u16> {
    let node: IpAddr = node_addr
        .parse()
        .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    bound
        .iter()
        .filter(|b| conflicts(b.addr, node) && !own.contains(&b.port))
        .map(|b| b.port)
        .collect()
}

/// Reads the socket tables of this network namespace. A table that cannot be read
/// (no IPv6, say) contributes nothing.
pub fn read_bound_ports() -> Vec<BoundPort> {
    PROC_NET_TABLES
        .iter()
        .flat_map(|(path, protocol)| {
            let text = std::fs::read_to_string(path).unwrap_or_default();
            parse_proc_net(&text, *protocol)
        })
        .collect()
}

/// Ports as Nomad's port list: `{22, 80, 81, 82}` -> `"22,80-82"`.
pub fn compact_ranges(ports: &BTreeSet<u16>) -> String {
    let mut ranges: Vec<(u16, u16)> = Vec::new();
    for &port in ports {
        match ranges.last_mut() {
            Some((_, hi)) if hi.checked_add(1) == Some(port) => *hi = port,
            _ => ranges.push((port, port)),
        }
    }
    ranges
        .iter()
        .map(|&(lo, hi)| {
            if lo == hi {
                lo.to_string()
            } else {
                format!("{lo}-{hi}")
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// The agent's configured reserved ports (kept as written: the scheduler skips a
/// malformed entry, and the operator sees what they wrote) followed by the foreign
/// ports, in one port list.
pub fn merge_reserved(configured: &str, foreign: &BTreeSet<u16>) -> String {
    let configured = configured.trim().trim_end_matches(',');
    let foreign = compact_ranges(foreign);
    match (configured.is_empty(), foreign.is_empty()) {
        (_, true) => configured.to_owned(),
        (true, false) => foreign,
        (false, false) => format!("{configured},{foreign}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Captured on x86_64 (little-endian words).
    const TCP: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:18EB 00000000:0000 0A 00000000:00000000 00:00000000 00000000   999        0 4242 1 0000000000000000 100 0 0 10 0
   1: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 640 1 00000000ad2a453a 100 0 0 10 0
   2: 0100007F:9473 0100007F:BD7E 06 00000000:00000000 03:00001485 00000000     0        0 0 3 000000009ea7065c
   3: 0500000A:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 641 1 00000000ad2a453a 100 0 0 10 0
   4: 0100007F:D2F0 0100007F:18EB 01 00000000:00000000 00:00000000 00000000     0        0 642 1 00000000ad2a453a 20 4 30 10 -1
";
    const TCP6: &str = "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000000000000:1F91 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 7001 1 0000000000000000 100 0 0 10 0
   1: 00000000000000000000000001000000:0277 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 7002 1 0000000000000000 100 0 0 10 0
   2: 0000000000000000FFFF00000100007F:2382 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 7003 1 0000000000000000 100 0 0 10 0
";
    const UDP: &str = "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops
  100: 3500007F:0035 00000000:0000 07 00000000:00000000 00:00000000 00000000   101        0 900 2 0000000000000000 0
  101: 0100007F:E1A5 0100007F:0035 01 00000000:00000000 00:00000000 00000000  1000        0 901 2 0000000000000000 0
  102: 00000000:0044 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 902 2 0000000000000000 0
";

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("test address")
    }

    #[cfg(target_endian = "little")]
    #[test]
    fn tcp_table_keeps_listeners_only() {
        let ports = parse_proc_net(TCP, Protocol::Tcp);
        let got: Vec<(IpAddr, u16)> = ports.iter().map(|b| (b.addr, b.port)).collect();
        assert_eq!(
            got,
            [
                (ip("127.0.0.1"), 6379),
                (ip("0.0.0.0"), 22),
                (ip("10.0.0.5"), 8080)
            ]
        );
    }

    #[cfg(target_endian = "little")]
    #[test]
    fn tcp6_table_decodes_wildcard_loopback_and_mapped_addresses() {
        let ports = parse_proc_net(TCP6, Protocol::Tcp);
        let got: Vec<(IpAddr, u16)> = ports.iter().map(|b| (b.addr, b.port)).collect();
        assert_eq!(
            got,
            [
                (ip("::"), 8081),
                (ip("::1"), 631),
                (ip("::ffff:127.0.0.1"), 9090)
            ]
        );
    }

    #[cfg(target_endian = "little")]
    #[test]
    fn udp_table_keeps_unconnected_sockets_only() {
        let ports = parse_proc_net(UDP, Protocol::Udp);
        let got: Vec<(IpAddr, u16)> = ports.iter().map(|b| (b.addr, b.port)).collect();
        assert_eq!(got, [(ip("127.0.0.53"), 53), (ip("0.0.0.0"), 68)]);
        assert!(ports.iter().all(|b| b.protocol == Protocol::Udp));
    }

    #[test]
    fn garbage_lines_are_skipped() {
        assert!(parse_proc_net("", Protocol::Tcp).is_empty());
        assert!(parse_proc_net("0: nonsense 00000000:0000 0A\n", Protocol::Tcp).is_empty());
        assert!(parse_proc_net("0: 0100007F:ZZZZ 00000000:0000 0A\n", Protocol::Tcp).is_empty());
        assert!(parse_proc_net("0: 01007F:0050 00000000:0000 0A\n", Protocol::Tcp).is_empty());
    }

    #[test]
    fn address_conflict_rule() {
        let node = ip("10.0.0.5");
        assert!(conflicts(ip("0.0.0.0"), node), "IPv4 wildcard");
        assert!(conflicts(ip("::"), node), "IPv6 wildcard");
        assert!(conflicts(ip("10.0.0.5"), node), "the node's address");
        assert!(conflicts(ip("::ffff:10.0.0.5"), node), "mapped");
        assert!(
            !conflicts(ip("127.0.0.1"), node),
            "loopback is not 10.0.0.5"
        );
        assert!(!conflicts(ip("10.0.0.6"), node), "another interface");

        let loopback = ip("127.0.0.1");
        assert!(conflicts(ip("127.0.0.1"), loopback));
        assert!(conflicts(ip("127.0.0.53"), loopback), "all of 127/8");
        assert!(conflicts(ip("::1"), loopback));
        assert!(!conflicts(ip("10.0.0.5"), loopback));

        assert!(conflicts(ip("10.0.0.6"), ip("0.0.0.0")), "wildcard node");
    }

    #[cfg(target_endian = "little")]
    #[test]
    fn foreign_ports_skip_other_addresses_and_our_own_allocations() {
        let mut bound = parse_proc_net(TCP, Protocol::Tcp);
        bound.extend(parse_proc_net(UDP, Protocol::Udp));
        let own = BTreeSet::from([22]);
        // On loopback: redis on 127.0.0.1, the resolver on 127.0.0.53, dhcp on the
        // wildcard; sshd is ours in this example, 10.0.0.5 is elsewhere.
        assert_eq!(
            foreign_ports(&bound, "127.0.0.1", &own),
            BTreeSet::from([53, 68, 6379])
        );
        assert_eq!(
            foreign_ports(&bound, "10.0.0.5", &BTreeSet::new()),
            BTreeSet::from([22, 68, 8080])
        );
        assert_eq!(
            foreign_ports(&bound, "not an address", &BTreeSet::new()),
            BTreeSet::from([22, 53, 68, 6379, 8080])
        );
    }

    #[test]
    fn ranges_are_compacted_and_merged_with_the_configured_list() {
        let ports = BTreeSet::from([22, 80, 81, 82, 8000, 65535]);
        assert_eq!(compact_ranges(&ports), "22,80-82,8000,65535");
        assert_eq!(compact_ranges(&BTreeSet::new()), "");
        assert_eq!(
            merge_reserved("22, 9000-9010", &BTreeSet::from([6379, 6380])),
            "22, 9000-9010,6379-6380"
        );
        assert_eq!(merge_reserved("", &BTreeSet::from([6379])), "6379");
        assert_eq!(merge_reserved("22,", &BTreeSet::new()), "22");
        assert_eq!(merge_reserved("", &BTreeSet::new()), "");
    }

    #[test]
    fn a_real_listener_is_read_from_proc() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let bound = read_bound_ports();
        assert!(
            bound
                .iter()
                .any(|b| b.port == port && b.protocol == Protocol::Tcp),
            "listener on {port} not found"
        );
        assert!(foreign_ports(&bound, "127.0.0.1", &BTreeSet::new()).contains(&port));
        assert!(!foreign_ports(&bound, "127.0.0.1", &BTreeSet::from([port])).contains(&port));
    }
}
