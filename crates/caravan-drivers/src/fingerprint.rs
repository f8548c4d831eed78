//! What a driver reports about itself to the node fingerprint.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A driver's view of the node: whether it can run here, and the attributes it adds
/// to the node (e.g. `driver.raw_exec = "1"`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct DriverFingerprint {
    /// The driver's prerequisites are present on this node.
    pub detected: bool,
    /// The driver can start tasks right now.
    pub healthy: bool,
    /// A one-line explanation, e.g. why the driver is unhealthy.
    pub description: String,
    /// Node attributes contributed by this driver.
    pub attributes: BTreeMap<String, String>,
}
