//! What a name asks for: the grammar of Consul's names under the served domain.
//!
//! ```text
//! [<tag>.]<service>.service[.<dc>[.dc]].<domain>
//! _<service>._<tag|tcp|udp>[.service][.<dc>[.dc]].<domain>     (RFC 2782)
//! <node>.node[.<dc>[.dc]].<domain>
//! <hex ip>.addr[.<dc>[.dc]].<domain>
//! ```

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The meaning of a query name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Lookup<'q> {
    /// The domain itself (`consul.`).
    Apex,
    Service {
        name: &'q str,
        tag: Option<&'q str>,
        datacenter: Option<&'q str>,
    },
    Node {
        name: &'q str,
        datacenter: Option<&'q str>,
    },
    Addr {
        ip: IpAddr,
        datacenter: Option<&'q str>,
    },
    /// Under the domain, but no name of ours has that shape.
    NoSuchName,
    /// Not under the domain: a recursor's business.
    Outside,
}

/// The kinds of names ours are (the label before the optional datacenter).
const KINDS: [&str; 3] = ["service", "node", "addr"];

impl<'q> Lookup<'q> {
    /// Reads `labels` (the query name's, left to right, without the root) against the
    /// domain's labels. Every comparison ignores ASCII case.
    pub fn parse<'d>(
        labels: &[&'q [u8]],
        domain: impl DoubleEndedIterator<Item = &'d str>,
    ) -> Self {
        let mut rest = labels;
        for want in domain.rev() {
            match rest.split_last() {
                Some((last, before)) if last.eq_ignore_ascii_case(want.as_bytes()) => {
                    rest = before;
                }
                _ => return Self::Outside,
            }
        }
        let mut words: Vec<&'q str> = Vec::with_capacity(rest.len());
        for label in rest {
            match std::str::from_utf8(label) {
                Ok(word) if !word.is_empty() => words.push(word),
                _ => return Self::NoSuchName,
            }
        }
        Self::parse_words(&words)
    }

    fn parse_words(words: &[&'q str]) -> Self {
        let n = words.len();
        if n == 0 {
            return Self::Apex;
        }
        let is_kind = |i: usize| KINDS.iter().any(|k| words[i].eq_ignore_ascii_case(k));
        let is = |i: usize, word: &str| words[i].eq_ignore_ascii_case(word);
        // Where the kind label is, and the datacenter after it.
        let (kind, datacenter) = if is_kind(n - 1) {
            (n - 1, None)
        } else if n >= 2 && is_kind(n - 2) {
            (n - 2, Some(words[n - 1]))
        } else if n >= 3 && is(n - 1, "dc") && is_kind(n - 3) {
            (n - 3, Some(words[n - 2]))
        } else {
            // RFC 2782 may leave out `.service`: `_redis._tcp[.<dc>[.dc]].consul`.
            let datacenter = match n {
                2 => None,
                3 => Some(words[2]),
                4 if is(3, "dc") => Some(words[2]),
                _ => return Self::NoSuchName,
            };
            return Self::rfc2782(words[0], words[1], datacenter);
        };
        let body = &words[..kind];
        if is(kind, "service") {
            match body {
                [name] => Self::Service {
                    name,
                    tag: None,
                    datacenter,
                },
                [first, second] if first.starts_with('_') && second.starts_with('_') => {
                    Self::rfc2782(first, second, datacenter)
                }
                [tag, name] => Self::Service {
                    name,
                    tag: Some(tag),
                    datacenter,
                },
                _ => Self::NoSuchName,
            }
        } else if is(kind, "node") {
            match body {
                [name] => Self::Node { name, datacenter },
                _ => Self::NoSuchName,
            }
        } else {
            match body {
                [hex] => {
                    parse_hex_ip(hex).map_or(Self::NoSuchName, |ip| Self::Addr { ip, datacenter })
                }
                _ => Self::NoSuchName,
            }
        }
    }

    /// `_<service>._<tag>`, where `_tcp` and `_udp` are protocols, not tags.
    fn rfc2782(service: &'q str, second: &'q str, datacenter: Option<&'q str>) -> Self {
        let (Some(name), Some(tag)) = (service.strip_prefix('_'), second.strip_prefix('_')) else {
            return Self::NoSuchName;
        };
        if name.is_empty() || tag.is_empty() {
            return Self::NoSuchName;
        }
        let tag =
            (!tag.eq_ignore_ascii_case("tcp") && !tag.eq_ignore_ascii_case("udp")).then_some(tag);
        Self::Service {
            name,
            tag,
            datacenter,
        }
    }
}

/// `c000020a` is 192.0.2.10; 32 hex digits are an IPv6 address.
fn parse_hex_ip(hex: &str) -> Option<IpAddr> {
    if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    match hex.len() {
        8 => u32::from_str_radix(hex, 16)
            .ok()
            .map(|v| IpAddr::V4(Ipv4Addr::from(v))),
        32 => u128::from_str_radix(hex, 16)
            .ok()
            .map(|v| IpAddr::V6(Ipv6Addr::from(v))),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The hex label of an address, as `<hex>.addr` names carry it.
    fn hex_ip(ip: IpAddr) -> String {
        match ip {
            IpAddr::V4(v4) => format!("{:08x}", u32::from(v4)),
            IpAddr::V6(v6) => format!("{:032x}", u128::from(v6)),
        }
    }

    fn parse(name: &str) -> Lookup<'_> {
        let labels: Vec<&[u8]> = name
            .split('.')
            .filter(|l| !l.is_empty())
            .map(str::as_bytes)
            .collect();
        Lookup::parse(&labels, ["consul"].into_iter())
    }

    fn service<'a>(name: &'a str, tag: Option<&'a str>, dc: Option<&'a str>) -> Lookup<'a> {
        Lookup::Service {
            name,
            tag,
            datacenter: dc,
        }
    }

    #[test]
    fn service_forms() {
        assert_eq!(parse("redis.service.consul."), service("redis", None, None));
        assert_eq!(
            parse("redis.service.dc2.consul"),
            service("redis", None, Some("dc2"))
        );
        assert_eq!(
            parse("redis.service.dc2.dc.consul"),
            service("redis", None, Some("dc2"))
        );
        assert_eq!(
            parse("cache.redis.service.consul"),
            service("redis", Some("cache"), None)
        );
        assert_eq!(parse("ReDiS.SERVICE.Consul"), service("ReDiS", None, None));
        assert_eq!(parse("a.b.redis.service.consul"), Lookup::NoSuchName);
        assert_eq!(parse("service.consul"), Lookup::NoSuchName);
    }

    #[test]
    fn rfc2782_forms() {
        assert_eq!(
            parse("_redis._tcp.service.consul"),
            service("redis", None, None)
        );
        assert_eq!(
            parse("_redis._UDP.service.consul"),
            service("redis", None, None)
        );
        assert_eq!(
            parse("_redis._cache.service.consul"),
            service("redis", Some("cache"), None)
        );
        assert_eq!(
            parse("_redis._tcp.service.dc2.consul"),
            service("redis", None, Some("dc2"))
        );
        assert_eq!(parse("_redis._tcp.consul"), service("redis", None, None));
        assert_eq!(
            parse("_redis._tcp.dc2.consul"),
            service("redis", None, Some("dc2"))
        );
        assert_eq!(
            parse("_redis._tcp.dc2.dc.consul"),
            service("redis", None, Some("dc2"))
        );
        assert_eq!(parse("_._tcp.service.consul"), Lookup::NoSuchName);
        assert_eq!(parse("redis._tcp.consul"), Lookup::NoSuchName);
    }

    #[test]
    fn node_addr_apex_and_outside() {
        assert_eq!(
            parse("web-1.node.consul"),
            Lookup::Node {
                name: "web-1",
                datacenter: None
            }
        );
        assert_eq!(
            parse("web-1.node.dc1.consul"),
            Lookup::Node {
                name: "web-1",
                datacenter: Some("dc1")
            }
        );
        assert_eq!(
            parse("c000020a.addr.dc1.consul"),
            Lookup::Addr {
                ip: "192.0.2.10".parse().expect("ip"),
                datacenter: Some("dc1")
            }
        );
        assert_eq!(
            parse("20010db8000000000000000000000001.addr.consul"),
            Lookup::Addr {
                ip: "2001:db8::1".parse().expect("ip"),
                datacenter: None
            }
        );
        assert_eq!(parse("c00002.addr.consul"), Lookup::NoSuchName);
        assert_eq!(parse("zz00020a.addr.consul"), Lookup::NoSuchName);
        assert_eq!(parse("consul."), Lookup::Apex);
        assert_eq!(parse("CONSUL"), Lookup::Apex);
        assert_eq!(parse("example.com."), Lookup::Outside);
        assert_eq!(parse("."), Lookup::Outside);
        assert_eq!(parse("x.query.consul"), Lookup::NoSuchName);
    }

    #[test]
    fn hex_round_trips() {
        for ip in ["192.0.2.10", "10.0.0.1", "2001:db8::1", "::1"] {
            let ip: IpAddr = ip.parse().expect("ip");
            assert_eq!(parse_hex_ip(&hex_ip(ip)), Some(ip));
        }
        assert_eq!(hex_ip("192.0.2.10".parse().expect("ip")), "c000020a");
    }

    #[test]
    fn multi_label_domains() {
        let labels: Vec<&[u8]> = vec![b"web", b"service", b"Cluster", b"local"];
        assert_eq!(
            Lookup::parse(&labels, ["cluster", "local"].into_iter()),
            service("web", None, None)
        );
        assert_eq!(
            Lookup::parse(&labels[..3], ["cluster", "local"].into_iter()),
            Lookup::Outside
        );
    }
}
