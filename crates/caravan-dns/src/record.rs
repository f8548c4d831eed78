//! The records a reply carries, in the few shapes this server produces, borrowing from
//! the catalog and the config until they are written.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The longest label (RFC 1035 2.3.4).
const MAX_LABEL: usize = 63;
/// The longest name on the wire, length bytes and root included.
const MAX_NAME: usize = 255;

/// A name this server writes: some labels, then (except for host names) the domain's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DomainName<'a> {
    /// `<node>.node.<dc>.<domain>`.
    Node { node: &'a str, datacenter: &'a str },
    /// `<hex ip>.addr.<dc>.<domain>`.
    Addr { ip: IpAddr, datacenter: &'a str },
    /// `<label>.<domain>`, or the domain itself.
    Apex(Option<&'static str>),
    /// A host name as registered (`db.example.com`), outside the domain.
    Host(&'a str),
}

impl<'a> DomainName<'a> {
    /// The name's labels, left to right, without the root. `hex` holds an address's
    /// hex label.
    pub fn labels<'s>(&'s self, domain: &[&'s str], hex: &'s mut [u8; 32]) -> Vec<&'s [u8]> {
        let mut out: Vec<&[u8]> = Vec::with_capacity(domain.len() + 3);
        match self {
            Self::Node { node, datacenter } => {
                out.extend([node.as_bytes(), b"node", datacenter.as_bytes()]);
            }
            Self::Addr { ip, datacenter } => {
                let len = hex_label(*ip, hex);
                out.extend([&hex[..len], b"addr", datacenter.as_bytes()]);
            }
            Self::Apex(label) => out.extend(label.map(str::as_bytes)),
            Self::Host(host) => {
                out.extend(host.split('.').filter(|l| !l.is_empty()).map(str::as_bytes));
                return out;
            }
        }
        out.extend(domain.iter().map(|l| l.as_bytes()));
        out
    }

    /// Whether it can be written: labels of 1 to 63 bytes, at most 255 bytes in all,
    /// and a host name has at least one label.
    pub fn is_valid(&self, domain: &[&str]) -> bool {
        let mut hex = [0u8; 32];
        let labels = self.labels(domain, &mut hex);
        let wire_len: usize = labels.iter().map(|l| l.len() + 1).sum::<usize>() + 1;
        labels.iter().all(|l| (1..=MAX_LABEL).contains(&l.len()))
            && wire_len <= MAX_NAME
            && !(matches!(self, Self::Host(_)) && labels.is_empty())
    }
}

/// Writes `ip`'s hex form into `out`: 8 digits for IPv4, 32 for IPv6; returns the length.
fn hex_label(ip: IpAddr, out: &mut [u8; 32]) -> usize {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let (value, len) = match ip {
        IpAddr::V4(v4) => (u128::from(u32::from(v4)), 8),
        IpAddr::V6(v6) => (u128::from(v6), 32),
    };
    for (i, slot) in out[..len].iter_mut().enumerate() {
        let shift = 4 * (len - 1 - i);
        *slot = DIGITS[((value >> shift) & 0xF) as usize];
    }
    len
}

/// Whose name a record carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Owner<'a> {
    /// The question's name, as the client wrote it.
    Query,
    Name(DomainName<'a>),
}

/// A record's data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Data<'a> {
    A(Ipv4Addr),
    Aaaa(Ipv6Addr),
    /// Priority 1, weight 1 (Consul's without weights).
    Srv {
        port: u16,
        target: DomainName<'a>,
    },
    Ns(DomainName<'a>),
    /// `ns.<domain> hostmaster.<domain> <serial> 3600 600 86400 0`.
    Soa {
        serial: u32,
    },
    /// One TXT record; split into 255-byte strings when written.
    Txt(String),
}

/// One resource record, class IN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Rr<'a> {
    pub owner: Owner<'a>,
    pub ttl: u32,
    pub data: Data<'a>,
}

impl<'a> Rr<'a> {
    pub fn address(owner: Owner<'a>, ttl: u32, ip: IpAddr) -> Self {
        let data = match ip {
            IpAddr::V4(v4) => Data::A(v4),
            IpAddr::V6(v6) => Data::Aaaa(v6),
        };
        Self { owner, ttl, data }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(name: DomainName<'_>) -> String {
        let mut hex = [0u8; 32];
        name.labels(&["consul"], &mut hex)
            .iter()
            .map(|l| String::from_utf8_lossy(l).into_owned())
            .collect::<Vec<_>>()
            .join(".")
    }

    #[test]
    fn names_spell_out_with_the_domain() {
        let ip = |s: &str| s.parse::<IpAddr>().expect("ip");
        assert_eq!(
            text(DomainName::Node {
                node: "n1",
                datacenter: "dc1"
            }),
            "n1.node.dc1.consul"
        );
        assert_eq!(
            text(DomainName::Addr {
                ip: ip("192.0.2.10"),
                datacenter: "dc1"
            }),
            "c000020a.addr.dc1.consul"
        );
        assert_eq!(
            text(DomainName::Addr {
                ip: ip("2001:db8::1"),
                datacenter: "dc1"
            }),
            "20010db8000000000000000000000001.addr.dc1.consul"
        );
        assert_eq!(text(DomainName::Apex(None)), "consul");
        assert_eq!(text(DomainName::Apex(Some("ns"))), "ns.consul");
        assert_eq!(text(DomainName::Host("db.example.com.")), "db.example.com");
    }

    #[test]
    fn validity_bounds_labels_and_length() {
        let node = |node| DomainName::Node {
            node,
            datacenter: "dc1",
        };
        assert!(node("web-1").is_valid(&["consul"]));
        assert!(!node("").is_valid(&["consul"]));
        let long = "x".repeat(64);
        assert!(!node(&long).is_valid(&["consul"]));
        assert!(DomainName::Host("a..").is_valid(&[]));
        assert!(!DomainName::Host("..").is_valid(&[]), "no label at all");
        let many = vec!["abcdefghi"; 30];
        assert!(!DomainName::Apex(None).is_valid(&many), "over 255 bytes");
    }
}
