//! One service of the catalog, as `GET /v1/services` lists it.

use serde::{Deserialize, Serialize};

/// A service name in a namespace, with the tags of all its instances.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ServiceSummary {
    pub namespace: String,
    pub service_name: String,
    /// Every tag any instance carries, sorted, each once.
    pub tags: Vec<String>,
    /// How many instances matched.
    pub instances: usize,
}
