//! What the DNS interface is told: its domain, its datacenter, TTLs, health filtering,
//! UDP limits, recursors and the server's own bounds. Consul's `dns_config` names and
//! defaults, except where a field says otherwise.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use crate::DnsError;

/// The DNS interface's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsConfig {
    /// The domain served, with or without its trailing dot (`consul.`). Compared
    /// ASCII-case-insensitively.
    pub domain: String,
    /// The datacenter a name without one means (`dc1`).
    pub datacenter: String,
    /// TTLs of service answers by service name: an exact name wins, then the longest
    /// entry ending in `*` that prefixes the name (`"*"` alone matches every name).
    /// Services that match nothing get 0, Consul's default.
    pub service_ttl: BTreeMap<String, Duration>,
    /// The TTL of node and address answers (0 by default).
    pub node_ttl: Duration,
    /// Keep only passing instances; `false` (the default) keeps warning ones too.
    /// Critical instances are never served.
    pub only_passing: bool,
    /// At most this many answers in a UDP reply to a query without EDNS (3); 0 means no
    /// limit. EDNS queries are bounded by their payload size only.
    pub udp_answer_limit: usize,
    /// Set TC when answers were left out for `udp_answer_limit`, so that the client
    /// retries over TCP and gets them all. On by default, unlike Consul's
    /// `enable_truncate`: a client that can take every instance should get them.
    /// Answers left out for size always set TC.
    pub enable_truncate: bool,
    /// Servers that names outside `domain` are forwarded to, in order; none by
    /// default, and then such names are refused.
    pub recursors: Vec<SocketAddr>,
    /// How long one recursor gets to answer (2 s).
    pub recursor_timeout: Duration,
    /// How many TCP connections are served at once (128); more wait to be accepted.
    pub tcp_max_connections: usize,
    /// A TCP connection idle this long is closed (10 s).
    pub tcp_idle_timeout: Duration,
    /// How many threads read and answer UDP queries (1; not a Consul setting). Each
    /// takes up to a core under load; with several, give each a socket of its own
    /// ([`crate::serve_sockets`]) so that they do not contend for one receive queue.
    pub udp_workers: usize,
}

impl Default for DnsConfig {
    fn default() -> Self {
        Self {
            domain: "consul.".into(),
            datacenter: "dc1".into(),
            service_ttl: BTreeMap::new(),
            node_ttl: Duration::ZERO,
            only_passing: false,
            udp_answer_limit: 3,
            enable_truncate: true,
            recursors: Vec::new(),
            recursor_timeout: Duration::from_secs(2),
            tcp_max_connections: 128,
            tcp_idle_timeout: Duration::from_secs(10),
            udp_workers: 1,
        }
    }
}

impl DnsConfig {
    /// The TTL, in seconds, of answers about service `name`.
    pub fn service_ttl_secs(&self, name: &str) -> u32 {
        if let Some((_, ttl)) = self
            .service_ttl
            .iter()
            .find(|(key, _)| !key.ends_with('*') && key.eq_ignore_ascii_case(name))
        {
            return secs(*ttl);
        }
        self.service_ttl
            .iter()
            .filter_map(|(key, ttl)| {
                let prefix = key.strip_suffix('*')?;
                starts_with_ignore_case(name, prefix).then_some((prefix.len(), *ttl))
            })
            .max_by_key(|(len, _)| *len)
            .map_or(0, |(_, ttl)| secs(ttl))
    }

    /// The TTL, in seconds, of node and address answers.
    pub fn node_ttl_secs(&self) -> u32 {
        secs(self.node_ttl)
    }

    /// Checks what the resolver relies on: a domain of valid labels (1 to 63 bytes,
    /// room left for names under it) and a datacenter that is one label.
    pub fn validate(&self) -> Result<(), DnsError> {
        let bad = |what: &str| Err(DnsError::Config(what.to_owned()));
        let labels: Vec<&str> = self.domain_labels().collect();
        if labels.is_empty() || labels.iter().any(|l| l.len() > 63) {
            return bad("the DNS domain needs labels of 1 to 63 bytes");
        }
        if labels.iter().map(|l| l.len() + 1).sum::<usize>() > 128 {
            return bad("the DNS domain is too long to leave room for names under it");
        }
        if self.datacenter.is_empty() || self.datacenter.len() > 63 || self.datacenter.contains('.')
        {
            return bad("the DNS datacenter must be one label of 1 to 63 bytes");
        }
        if self.udp_workers == 0 {
            return bad("the DNS server needs at least one UDP worker");
        }
        Ok(())
    }

    /// The domain's labels, without the root (`["consul"]`), as written.
    pub(crate) fn domain_labels(&self) -> impl DoubleEndedIterator<Item = &str> + Clone {
        self.domain.split('.').filter(|l| !l.is_empty())
    }
}

fn secs(d: Duration) -> u32 {
    u32::try_from(d.as_secs()).unwrap_or(u32::MAX)
}

fn starts_with_ignore_case(name: &str, prefix: &str) -> bool {
    name.len() >= prefix.len()
        && name.as_bytes()[..prefix.len()].eq_ignore_ascii_case(prefix.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_ttl_prefers_exact_then_longest_prefix() {
        let mut config = DnsConfig::default();
        assert_eq!(config.service_ttl_secs("web"), 0, "Consul's default is 0");
        config.service_ttl = BTreeMap::from([
            ("*".to_owned(), Duration::from_secs(5)),
            ("web*".to_owned(), Duration::from_secs(10)),
            ("web-front*".to_owned(), Duration::from_secs(20)),
            ("web".to_owned(), Duration::from_secs(30)),
        ]);
        assert_eq!(config.service_ttl_secs("web"), 30);
        assert_eq!(config.service_ttl_secs("WEB"), 30, "names fold case");
        assert_eq!(config.service_ttl_secs("web-api"), 10);
        assert_eq!(config.service_ttl_secs("web-frontend"), 20);
        assert_eq!(config.service_ttl_secs("db"), 5);
    }

    #[test]
    fn validate_rejects_unusable_domains_and_datacenters() {
        assert!(DnsConfig::default().validate().is_ok());
        let with = |domain: &str, datacenter: &str| DnsConfig {
            domain: domain.into(),
            datacenter: datacenter.into(),
            ..DnsConfig::default()
        };
        assert!(with(".", "dc1").validate().is_err());
        assert!(with(&"x".repeat(64), "dc1").validate().is_err());
        assert!(with("consul", "dc.1").validate().is_err());
        assert!(with("cluster.local.", "east").validate().is_ok());
        let no_workers = DnsConfig {
            udp_workers: 0,
            ..DnsConfig::default()
        };
        assert!(no_workers.validate().is_err());
    }

    #[test]
    fn domain_labels_skip_empty_ones() {
        let config = DnsConfig {
            domain: "Cluster.Local".into(),
            ..DnsConfig::default()
        };
        assert_eq!(
            config.domain_labels().collect::<Vec<_>>(),
            ["Cluster", "Local"]
        );
    }
}
