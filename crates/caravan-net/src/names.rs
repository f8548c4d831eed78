//! The names an allocation's pieces carry, derived from its id alone, so that
//! teardown and reconcile find them without any saved state.

use caravan_model::AllocId;

use crate::config::is_name_byte;
use crate::{BridgeConfig, NetError};

/// The per-allocation chain's prefix in our nftables table.
pub(crate) const CHAIN_PREFIX: &str = "alloc-";

/// The host side of every allocation's veth pair starts with this.
pub(crate) const VETH_PREFIX: &str = "cv";

/// The peer's name inside the allocation's namespace.
pub(crate) const PEER_NAME: &str = "eth0";

/// The names of one allocation's netns, veth and nftables chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllocNames {
    /// The named namespace (`caravan-<short id>`), under the netns directory.
    pub netns: String,
    /// The host side of the veth pair (`cv` + 12 hex digits of the id's hash).
    pub veth: String,
    /// The nftables chain holding the allocation's DNAT rules (`alloc-<id>`).
    pub chain: String,
}

impl AllocNames {
    pub fn new(config: &BridgeConfig, alloc: &AllocId) -> Result<Self, NetError> {
        let id = alloc.as_str();
        if id.is_empty() || id.len() > 64 || !id.bytes().all(is_name_byte) {
            return Err(NetError::InvalidAllocId(id.to_owned()));
        }
        Ok(Self {
            netns: format!("{}{}", config.netns_prefix, alloc.short()),
            veth: veth_name(id),
            chain: format!("{CHAIN_PREFIX}{id}"),
        })
    }
}

/// `cv` + the low 48 bits of the id's FNV-1a hash: 14 characters, within IFNAMSIZ,
/// the same on every run.
pub(crate) fn veth_name(alloc_id: &str) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in alloc_id.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{VETH_PREFIX}{:012x}", hash & 0xffff_ffff_ffff)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_deterministic_and_fit_ifnamsiz() {
        let config = BridgeConfig::default();
        let alloc = AllocId::new("0b6e4c2a-1111-2222-3333-444455556666");
        let names = AllocNames::new(&config, &alloc).expect("valid id");
        assert_eq!(names.netns, "caravan-0b6e4c2a");
        assert_eq!(names.chain, "alloc-0b6e4c2a-1111-2222-3333-444455556666");
        assert_eq!(names.veth.len(), 14);
        assert!(names.veth.starts_with("cv"));
        assert_eq!(names, AllocNames::new(&config, &alloc).expect("valid id"));
        let other = AllocNames::new(&config, &AllocId::new("0b6e4c2a-9999")).expect("valid");
        assert_ne!(names.veth, other.veth);
    }

    #[test]
    fn ids_that_would_break_a_name_are_refused() {
        let config = BridgeConfig::default();
        for bad in ["", "a b", "x\"y", "../etc", &"a".repeat(65)] {
            assert!(
                AllocNames::new(&config, &AllocId::new(bad)).is_err(),
                "{bad:?}"
            );
        }
    }
}
