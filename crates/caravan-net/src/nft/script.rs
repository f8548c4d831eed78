//! The nft scripts this crate applies, as text. Pure, so the exact rules are
//! unit-tested without a kernel.
//!
//! Layout of our table (`ip caravan` by default):
//! - `hostports`: a verdict map `protocol . host port : goto alloc-<id>`, looked up
//!   in `prerouting` (traffic from other hosts and from allocations) and `output`
//!   (traffic from the host itself, 127.0.0.1 included) for local destinations only;
//! - `alloc-<id>`: one chain per allocation with its DNAT rules, so that removing an
//!   allocation is removing its chain and the map elements that point to it;
//! - `postrouting`: masquerade for outbound traffic, for 127.0.0.1 sources that were
//!   DNATed onto the bridge, and for hairpin traffic (an allocation reaching another
//!   one, or itself, through a host port).

use std::fmt::Write as _;
use std::net::Ipv4Addr;

use crate::config::is_name_byte;
use crate::nft::{MapElement, TableListing};
use crate::{BridgeConfig, PortMapping};

/// The map that dispatches host ports to allocation chains.
pub(crate) const PORT_MAP: &str = "hostports";

/// The iptables-nft table whose forward policy may drop our traffic (Docker's).
pub(crate) const COMPAT_TABLE: &str = "filter";

/// The table, its map, and the base chains with their rules. Idempotent: base
/// chains are flushed and refilled in the same transaction, allocation chains and
/// map elements are left alone.
pub(crate) fn base_script(config: &BridgeConfig) -> String {
    let t = &config.table;
    let br = &config.bridge;
    let net = config.subnet;
    format!(
        "add table ip {t}\n\
         add map ip {t} {PORT_MAP} {{ type inet_proto . inet_service : verdict ; }}\n\
         add chain ip {t} prerouting {{ type nat hook prerouting priority dstnat ; policy accept ; }}\n\
         add chain ip {t} output {{ type nat hook output priority -100 ; policy accept ; }}\n\
         add chain ip {t} postrouting {{ type nat hook postrouting priority srcnat ; policy accept ; }}\n\
         flush chain ip {t} prerouting\n\
         flush chain ip {t} output\n\
         flush chain ip {t} postrouting\n\
         add rule ip {t} prerouting fib daddr type local meta l4proto . th dport vmap @{PORT_MAP}\n\
         add rule ip {t} output fib daddr type local meta l4proto . th dport vmap @{PORT_MAP}\n\
         add rule ip {t} postrouting ip saddr {net} oifname != \"{br}\" masquerade comment \"outbound\"\n\
         add rule ip {t} postrouting oifname \"{br}\" ip saddr 127.0.0.0/8 masquerade comment \"localhost to allocation\"\n\
         add rule ip {t} postrouting oifname \"{br}\" ip saddr {net} ct status dnat masquerade comment \"hairpin\"\n"
    )
}

/// An allocation's chain (emptied and refilled) and its map elements.
pub(crate) fn alloc_script(
    config: &BridgeConfig,
    chain: &str,
    ip: Ipv4Addr,
    ports: &[PortMapping],
) -> String {
    let t = &config.table;
    let mut out = format!("add chain ip {t} {chain}\nflush chain ip {t} {chain}\n");
    let mut elements = Vec::new();
    for port in ports {
        let label: String = port
            .label
            .bytes()
            .filter(|b| is_name_byte(*b))
            .take(64)
            .map(char::from)
            .collect();
        for proto in ["tcp", "udp"] {
            let _ = writeln!(
                out,
                "add rule ip {t} {chain} {proto} dport {} dnat to {ip}:{} comment \"{label}\"",
                port.host,
                port.target_port()
            );
            elements.push(format!("{proto} . {} : goto {chain}", port.host));
        }
    }
    if !elements.is_empty() {
        let _ = writeln!(
            out,
            "add element ip {t} {PORT_MAP} {{ {} }}",
            elements.join(", ")
        );
    }
    out
}

/// Removes the given allocation chains and every map element pointing to them;
/// `None` when none of them exists.
pub(crate) fn delete_allocs_script(
    config: &BridgeConfig,
    listing: &TableListing,
    chains: &[&str],
) -> Option<String> {
    let t = &config.table;
    let present: Vec<&str> = chains
        .iter()
        .copied()
        .filter(|c| listing.has_chain(c))
        .collect();
    if present.is_empty() {
        return None;
    }
    let mut out = String::new();
    let keys: Vec<String> = listing
        .map_elements
        .iter()
        .filter(|e: &&MapElement| e.map == PORT_MAP && present.contains(&e.target.as_str()))
        .map(|e| format!("{} . {}", e.protocol, e.port))
        .collect();
    if !keys.is_empty() {
        let _ = writeln!(
            out,
            "delete element ip {t} {PORT_MAP} {{ {} }}",
            keys.join(", ")
        );
    }
    for chain in present {
        let _ = writeln!(
            out,
            "flush chain ip {t} {chain}\ndelete chain ip {t} {chain}"
        );
    }
    Some(out)
}

/// The comment that tags our rules in a table we do not own.
pub(crate) fn compat_comment(config: &BridgeConfig) -> String {
    format!("caravan:{}", config.bridge)
}

/// Where to accept our forwarded traffic in iptables-nft's `ip filter` table, if it
/// could drop it: Docker's `DOCKER-USER` (which Docker never flushes), else a
/// `FORWARD` chain whose policy is drop. An `accept` in our own table would not
/// help: every base chain of the hook must accept.
pub(crate) fn compat_chain(filter: &TableListing) -> Option<&'static str> {
    if filter.has_chain("DOCKER-USER") {
        return Some("DOCKER-USER");
    }
    let forward = filter.chain("FORWARD")?;
    (forward.policy.as_deref() == Some("drop")).then_some("FORWARD")
}

/// Accepts traffic from and to the bridge, at the top of `chain`. Only matches that
/// iptables-nft can read back (`-i`, `-o`, a comment), so `iptables -S` and Docker
/// keep working on that chain.
pub(crate) fn compat_insert_script(config: &BridgeConfig, chain: &str) -> String {
    let br = &config.bridge;
    let comment = compat_comment(config);
    format!(
        "insert rule ip {COMPAT_TABLE} {chain} oifname \"{br}\" accept comment \"{comment}\"\n\
         insert rule ip {COMPAT_TABLE} {chain} iifname \"{br}\" accept comment \"{comment}\"\n"
    )
}

/// Deletes rules by handle from a table that is not ours.
pub(crate) fn delete_rules_script(table: &str, rules: &[(&str, u64)]) -> String {
    let mut out = String::new();
    for (chain, handle) in rules {
        let _ = writeln!(out, "delete rule ip {table} {chain} handle {handle}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nft::listing::ChainEntry;

    fn config() -> BridgeConfig {
        BridgeConfig {
            bridge: "cvt0".into(),
            subnet: "10.250.1.0/24".parse().expect("valid"),
            table: "cvt".into(),
            ..BridgeConfig::default()
        }
    }

    #[test]
    fn base_script_dispatches_local_destinations_and_masquerades() {
        let script = base_script(&config());
        assert!(script.contains(
            "add rule ip cvt prerouting fib daddr type local meta l4proto . th dport vmap @hostports\n"
        ));
        assert!(script.contains("add rule ip cvt output fib daddr type local"));
        assert!(script.contains("ip saddr 10.250.1.0/24 oifname != \"cvt0\" masquerade"));
        assert!(script.contains("oifname \"cvt0\" ip saddr 127.0.0.0/8 masquerade"));
        assert!(
            script.contains("oifname \"cvt0\" ip saddr 10.250.1.0/24 ct status dnat masquerade")
        );
        // Flushed before refilled: applying it twice leaves one copy of each rule.
        let flush = script.find("flush chain ip cvt prerouting").expect("flush");
        let add = script.find("add rule ip cvt prerouting").expect("rule");
        assert!(flush < add);
    }

    #[test]
    fn alloc_script_maps_tcp_and_udp_of_each_port() {
        let ports = [
            PortMapping::new("http", 8080, 80),
            PortMapping::new("db\"x", 6379, 0),
        ];
        let script = alloc_script(&config(), "alloc-a", Ipv4Addr::new(10, 250, 1, 2), &ports);
        assert_eq!(
            script,
            "add chain ip cvt alloc-a\n\
             flush chain ip cvt alloc-a\n\
             add rule ip cvt alloc-a tcp dport 8080 dnat to 10.250.1.2:80 comment \"http\"\n\
             add rule ip cvt alloc-a udp dport 8080 dnat to 10.250.1.2:80 comment \"http\"\n\
             add rule ip cvt alloc-a tcp dport 6379 dnat to 10.250.1.2:6379 comment \"dbx\"\n\
             add rule ip cvt alloc-a udp dport 6379 dnat to 10.250.1.2:6379 comment \"dbx\"\n\
             add element ip cvt hostports { tcp . 8080 : goto alloc-a, udp . 8080 : goto alloc-a, \
             tcp . 6379 : goto alloc-a, udp . 6379 : goto alloc-a }\n"
        );
    }

    #[test]
    fn delete_removes_elements_then_chains_that_exist() {
        let listing = TableListing {
            chains: vec![
                ChainEntry {
                    name: "alloc-a".into(),
                    hook: None,
                    policy: None,
                },
                ChainEntry {
                    name: "alloc-b".into(),
                    hook: None,
                    policy: None,
                },
            ],
            rules: vec![],
            map_elements: vec![
                MapElement {
                    map: PORT_MAP.into(),
                    protocol: "tcp".into(),
                    port: 1,
                    target: "alloc-a".into(),
                },
                MapElement {
                    map: PORT_MAP.into(),
                    protocol: "tcp".into(),
                    port: 2,
                    target: "alloc-b".into(),
                },
            ],
        };
        let script =
            delete_allocs_script(&config(), &listing, &["alloc-a", "alloc-zz"]).expect("a exists");
        assert_eq!(
            script,
            "delete element ip cvt hostports { tcp . 1 }\n\
             flush chain ip cvt alloc-a\ndelete chain ip cvt alloc-a\n"
        );
        assert_eq!(
            delete_allocs_script(&config(), &listing, &["alloc-zz"]),
            None
        );
    }

    #[test]
    fn compat_prefers_docker_user_then_a_dropping_forward() {
        let chain = |name: &str, policy: Option<&str>| ChainEntry {
            name: name.into(),
            hook: None,
            policy: policy.map(str::to_owned),
        };
        let docker = TableListing {
            chains: vec![chain("FORWARD", Some("drop")), chain("DOCKER-USER", None)],
            ..TableListing::default()
        };
        assert_eq!(compat_chain(&docker), Some("DOCKER-USER"));
        let plain = TableListing {
            chains: vec![chain("FORWARD", Some("drop"))],
            ..TableListing::default()
        };
        assert_eq!(compat_chain(&plain), Some("FORWARD"));
        let open = TableListing {
            chains: vec![chain("FORWARD", Some("accept"))],
            ..TableListing::default()
        };
        assert_eq!(compat_chain(&open), None);
        let script = compat_insert_script(&config(), "DOCKER-USER");
        assert!(script.contains(
            "insert rule ip filter DOCKER-USER iifname \"cvt0\" accept comment \"caravan:cvt0\""
        ));
    }
}
