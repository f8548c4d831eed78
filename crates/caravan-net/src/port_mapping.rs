//! A host port forwarded into an allocation.

use serde::{Deserialize, Serialize};

/// `host` on every local address of the node goes to `to` on the allocation's
/// address, for tcp and for udp.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PortMapping {
    /// The port's label in the job (`http`), for messages only.
    pub label: String,
    pub host: u16,
    /// The port inside the allocation; 0 means the same as `host`, as in Nomad.
    pub to: u16,
}

impl PortMapping {
    pub fn new(label: impl Into<String>, host: u16, to: u16) -> Self {
        Self {
            label: label.into(),
            host,
            to,
        }
    }

    /// The port the allocation listens on.
    pub fn target_port(&self) -> u16 {
        if self.to == 0 { self.host } else { self.to }
    }
}
