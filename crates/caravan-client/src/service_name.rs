//! The name of a service as the catalog keys it: namespace and name.

use std::fmt;

/// A watched service: its namespace and name. An empty name stands for every service
/// of the namespace (what `nomadServices` lists).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ServiceName {
    pub namespace: String,
    pub name: String,
}

impl ServiceName {
    pub fn new(namespace: &str, name: &str) -> Self {
        let namespace = if namespace.is_empty() {
            "default"
        } else {
            namespace
        };
        Self {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
        }
    }

    /// Every service of `namespace`.
    pub fn all_in(namespace: &str) -> Self {
        Self::new(namespace, "")
    }
}

impl fmt::Display for ServiceName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = if self.name.is_empty() {
            "*"
        } else {
            &self.name
        };
        write!(f, "{}/{name}", self.namespace)
    }
}
