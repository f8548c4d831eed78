//! One check to run, as the allocation runner resolves it: which service and task it
//! belongs to, the job's `check` block, and the address to probe.

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use caravan_model::ServiceCheck;

/// Consul's minimum check interval: a shorter one is raised to it.
pub const MIN_INTERVAL: Duration = Duration::from_secs(1);

/// The timeout of a check that sets none (Consul's default for http and tcp).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// Which catalog the service is registered in, which decides a few check semantics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum Provider {
    /// Consul's semantics: `initial_status` (default critical), warnings, thresholds.
    #[default]
    Consul,
    /// Nomad's built-in checks: "pending" until the first result, no warning, and
    /// any HTTP status below 400 is a success.
    Nomad,
}

impl Provider {
    /// The service's `provider` attribute; anything but "nomad" is Consul, Nomad's
    /// default.
    pub fn from_name(name: &str) -> Self {
        if name == "nomad" {
            Self::Nomad
        } else {
            Self::Consul
        }
    }
}

/// Where a network check connects: an IP address or a host name, and a port.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CheckAddress {
    pub host: String,
    pub port: u16,
}

impl CheckAddress {
    pub fn new(host: impl Into<String>, port: u16) -> Self {
        Self {
            host: host.into(),
            port,
        }
    }
}

impl From<SocketAddr> for CheckAddress {
    fn from(addr: SocketAddr) -> Self {
        Self::new(addr.ip().to_string(), addr.port())
    }
}

impl fmt::Display for CheckAddress {
    /// `host:port`, with an IPv6 literal in brackets (as a URL authority wants it).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// One check of one service instance.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckSpec {
    /// The check's id, unique in the allocation; updates carry it.
    pub id: String,
    /// The check's name (interpolated).
    pub name: String,
    /// The service's name.
    pub service: String,
    /// The task the check belongs to (script checks run in it, `check_restart`
    /// restarts it); empty for a group service's check without `task`.
    pub task: String,
    pub provider: Provider,
    /// The job's check block, canonicalized (so `check_restart` is already merged
    /// with the service's).
    pub check: ServiceCheck,
    /// Where http, tcp and grpc checks connect, resolved by the caller from the
    /// check's `address_mode` and `port`; `None` for script checks.
    pub address: Option<CheckAddress>,
}

impl CheckSpec {
    /// How often the check runs: the job's `interval`, at least [`MIN_INTERVAL`].
    pub fn interval(&self) -> Duration {
        self.check.interval.to_std().max(MIN_INTERVAL)
    }

    /// How long one run may take: the job's `timeout`, or [`DEFAULT_TIMEOUT`] when
    /// it is zero.
    pub fn timeout(&self) -> Duration {
        let timeout = self.check.timeout.to_std();
        if timeout.is_zero() {
            DEFAULT_TIMEOUT
        } else {
            timeout
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_print_as_url_authorities() {
        assert_eq!(CheckAddress::new("10.0.0.1", 80).to_string(), "10.0.0.1:80");
        assert_eq!(CheckAddress::new("::1", 8080).to_string(), "[::1]:8080");
        assert_eq!(
            CheckAddress::new("db.local", 5432).to_string(),
            "db.local:5432"
        );
        let v6: SocketAddr = "[fe80::1]:9".parse().expect("addr");
        assert_eq!(CheckAddress::from(v6), CheckAddress::new("fe80::1", 9));
    }

    #[test]
    fn interval_has_a_floor_and_timeout_a_default() {
        let mut spec = CheckSpec {
            id: "c".into(),
            name: "c".into(),
            service: "s".into(),
            task: String::new(),
            provider: Provider::from_name("consul"),
            check: ServiceCheck::default(),
            address: None,
        };
        assert_eq!(spec.interval(), MIN_INTERVAL);
        assert_eq!(spec.timeout(), DEFAULT_TIMEOUT);
        spec.check.interval = caravan_model::Duration::from_secs(15);
        spec.check.timeout = caravan_model::Duration::from_millis(1500);
        assert_eq!(spec.interval(), Duration::from_secs(15));
        assert_eq!(spec.timeout(), Duration::from_millis(1500));
        assert_eq!(Provider::from_name("nomad"), Provider::Nomad);
        assert_eq!(Provider::from_name(""), Provider::Consul);
    }
}
