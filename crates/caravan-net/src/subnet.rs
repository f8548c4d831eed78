//! An IPv4 network in CIDR form, with the addresses the bridge reserves.

use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::NetError;

/// An IPv4 network such as `172.26.64.0/20`: the host bits of `network` are zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ipv4Subnet {
    network: Ipv4Addr,
    prefix_len: u8,
}

impl Ipv4Subnet {
    /// The network holding `addr`; host bits are cleared. Prefixes longer than /30
    /// leave no room for a gateway and an allocation, so they are refused.
    pub fn new(addr: Ipv4Addr, prefix_len: u8) -> Result<Self, NetError> {
        if !(1..=30).contains(&prefix_len) {
            return Err(NetError::Config(format!(
                "subnet prefix /{prefix_len} must be between /1 and /30"
            )));
        }
        let mask = u32::MAX << (32 - u32::from(prefix_len));
        Ok(Self {
            network: Ipv4Addr::from(u32::from(addr) & mask),
            prefix_len,
        })
    }

    pub fn network(&self) -> Ipv4Addr {
        self.network
    }

    pub fn prefix_len(&self) -> u8 {
        self.prefix_len
    }

    /// How many addresses the network spans, network and broadcast included.
    pub fn size(&self) -> u32 {
        1u32 << (32 - u32::from(self.prefix_len))
    }

    pub fn broadcast(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.network) + (self.size() - 1))
    }

    /// The bridge's own address: the first after the network address.
    pub fn gateway(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.network) + 1)
    }

    pub fn contains(&self, addr: Ipv4Addr) -> bool {
        u32::from(addr) >> (32 - u32::from(self.prefix_len))
            == u32::from(self.network) >> (32 - u32::from(self.prefix_len))
    }

    /// Whether an allocation may be given `addr`: inside the network, and neither
    /// the network, the gateway nor the broadcast address.
    pub fn is_assignable(&self, addr: Ipv4Addr) -> bool {
        self.contains(addr)
            && addr != self.network
            && addr != self.gateway()
            && addr != self.broadcast()
    }

    /// The addresses allocations may have, lowest first.
    pub fn assignable(&self) -> impl Iterator<Item = Ipv4Addr> + use<> {
        let first = u32::from(self.network) + 2;
        let last = u32::from(self.broadcast()) - 1;
        (first..=last).map(Ipv4Addr::from)
    }
}

impl fmt::Display for Ipv4Subnet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix_len)
    }
}

impl FromStr for Ipv4Subnet {
    type Err = NetError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || NetError::Config(format!("{s:?} is not an IPv4 CIDR such as 172.26.64.0/20"));
        let (addr, len) = s.split_once('/').ok_or_else(bad)?;
        let addr: Ipv4Addr = addr.parse().map_err(|_| bad())?;
        let len: u8 = len.parse().map_err(|_| bad())?;
        Self::new(addr, len)
    }
}

impl Serialize for Ipv4Subnet {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Ipv4Subnet {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_subnet_reserves_network_gateway_and_broadcast() {
        let net: Ipv4Subnet = "172.26.64.0/20".parse().expect("valid");
        assert_eq!(net.gateway(), Ipv4Addr::new(172, 26, 64, 1));
        assert_eq!(net.broadcast(), Ipv4Addr::new(172, 26, 79, 255));
        assert!(!net.is_assignable(net.network()));
        assert!(!net.is_assignable(net.gateway()));
        assert!(!net.is_assignable(net.broadcast()));
        assert!(net.is_assignable(Ipv4Addr::new(172, 26, 64, 2)));
        assert!(!net.is_assignable(Ipv4Addr::new(172, 26, 80, 2)));
        assert_eq!(net.assignable().count(), 4096 - 3);
    }

    #[test]
    fn host_bits_are_cleared_and_bad_input_refused() {
        let net: Ipv4Subnet = "10.1.2.3/24".parse().expect("valid");
        assert_eq!(net.to_string(), "10.1.2.0/24");
        assert!("10.1.2.0".parse::<Ipv4Subnet>().is_err());
        assert!("10.1.2.0/31".parse::<Ipv4Subnet>().is_err());
        assert!("x/24".parse::<Ipv4Subnet>().is_err());
    }
}
