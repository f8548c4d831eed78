//! One node as the resolver sees it.

use std::collections::BTreeMap;

/// A node: its name, address, datacenter and meta (served as TXT records).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeEntry<'a> {
    pub name: &'a str,
    pub address: &'a str,
    pub datacenter: &'a str,
    pub meta: &'a BTreeMap<String, String>,
}
