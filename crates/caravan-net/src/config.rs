//! Where allocations' networks live: the bridge, its subnet, and the names of our
//! nftables table and network namespaces.

use std::net::Ipv4Addr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::{Ipv4Subnet, NetError};

/// Linux's limit on interface names (IFNAMSIZ less the terminating NUL).
pub(crate) const MAX_IFNAME: usize = 15;

/// The bridge and the names that tag everything this crate creates for it.
///
/// Two configurations with different `bridge`, `table` and `netns_prefix` never
/// touch each other's pieces, so tests run side by side with `caravan0`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BridgeConfig {
    /// The bridge interface (`caravan0`).
    pub bridge: String,
    /// The allocations' network; the bridge takes its first address.
    pub subnet: Ipv4Subnet,
    /// Our nftables table, in the `ip` family (`caravan`).
    pub table: String,
    /// The prefix of named network namespaces (`caravan-`), followed by the
    /// allocation's short id.
    pub netns_prefix: String,
    /// Where named namespaces are bind-mounted (`/var/run/netns`, as `ip netns`).
    pub netns_dir: PathBuf,
}

impl Default for BridgeConfig {
    fn default() -> Self {
        Self {
            bridge: "caravan0".to_owned(),
            subnet: Ipv4Subnet::new(Ipv4Addr::new(172, 26, 64, 0), 20)
                .expect("invariant: /20 is a valid prefix"),
            table: "caravan".to_owned(),
            netns_prefix: "caravan-".to_owned(),
            netns_dir: PathBuf::from("/var/run/netns"),
        }
    }
}

impl BridgeConfig {
    /// The bridge's address, which allocations use as their default route.
    pub fn gateway(&self) -> Ipv4Addr {
        self.subnet.gateway()
    }

    /// Refuses names that the kernel or nft would reject or misread.
    pub fn validate(&self) -> Result<(), NetError> {
        if self.bridge.is_empty()
            || self.bridge.len() > MAX_IFNAME
            || !self.bridge.bytes().all(is_name_byte)
        {
            return Err(NetError::Config(format!(
                "bridge name {:?} must be 1 to {MAX_IFNAME} letters, digits, '-' or '_'",
                self.bridge
            )));
        }
        let table_ok = self
            .table
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphabetic())
            && self.table.bytes().all(is_name_byte);
        if !table_ok {
            return Err(NetError::Config(format!(
                "nftables table {:?} must start with a letter and hold only letters, digits, '-' or '_'",
                self.table
            )));
        }
        if self.netns_prefix.is_empty() || !self.netns_prefix.bytes().all(is_name_byte) {
            return Err(NetError::Config(format!(
                "netns prefix {:?} must be letters, digits, '-' or '_'",
                self.netns_prefix
            )));
        }
        Ok(())
    }
}

pub(crate) fn is_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_caravan0_on_172_26_64_0_20() {
        let config = BridgeConfig::default();
        config.validate().expect("default is valid");
        assert_eq!(config.bridge, "caravan0");
        assert_eq!(config.subnet.to_string(), "172.26.64.0/20");
        assert_eq!(config.gateway(), Ipv4Addr::new(172, 26, 64, 1));
    }

    #[test]
    fn bad_names_are_refused() {
        let long = BridgeConfig {
            bridge: "a-very-long-bridge".into(),
            ..BridgeConfig::default()
        };
        assert!(long.validate().is_err());
        let quote = BridgeConfig {
            table: "ca\"ravan".into(),
            ..BridgeConfig::default()
        };
        assert!(quote.validate().is_err());
    }
}
