//! Addresses for allocations, kept in a small JSON file so that an agent restart
//! hands every running allocation the address it already has.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::{self, Write};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use caravan_model::AllocId;

use crate::{Ipv4Subnet, NetError};

/// The state file's name inside the directory the agent gives us.
pub const IP_STATE_FILE: &str = "bridge-ips.json";

/// Hands out the lowest free address of the subnet (never the network, the gateway
/// or the broadcast address) and remembers it per allocation.
///
/// The file is a JSON object `{"<alloc id>": "<ip>"}`, rewritten whole on every
/// change (temporary file, then rename), so an agent crash leaves the old or the new
/// map, never half of one.
#[derive(Debug)]
pub struct IpAllocator {
    subnet: Ipv4Subnet,
    path: Option<PathBuf>,
    assigned: BTreeMap<String, Ipv4Addr>,
}

impl IpAllocator {
    /// An allocator that keeps nothing on disk (for fakes).
    pub fn in_memory(subnet: Ipv4Subnet) -> Self {
        Self {
            subnet,
            path: None,
            assigned: BTreeMap::new(),
        }
    }

    /// Loads `dir/bridge-ips.json`, or starts empty when there is none. Entries that do
    /// not fit the subnet (it was changed) or that repeat an address are dropped.
    pub fn open(dir: &Path, subnet: Ipv4Subnet) -> Result<Self, NetError> {
        let path = dir.join(IP_STATE_FILE);
        let stored: BTreeMap<String, Ipv4Addr> = match fs::read(&path) {
            // Empty: what a power loss can leave of a file that was never synced.
            Ok(bytes) if bytes.iter().all(u8::is_ascii_whitespace) => BTreeMap::new(),
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|source| NetError::State {
                path: path.clone(),
                source,
            })?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => BTreeMap::new(),
            Err(e) => return Err(NetError::io("read", path, e)),
        };
        let mut seen = BTreeSet::new();
        let assigned = stored
            .into_iter()
            .filter(|(_, ip)| subnet.is_assignable(*ip) && seen.insert(*ip))
            .collect();
        Ok(Self {
            subnet,
            path: Some(path),
            assigned,
        })
    }

    pub fn subnet(&self) -> Ipv4Subnet {
        self.subnet
    }

    /// The address of `alloc`, if it has one.
    pub fn get(&self, alloc: &AllocId) -> Option<Ipv4Addr> {
        self.assigned.get(alloc.as_str()).copied()
    }

    /// Every allocation that holds an address, by id.
    pub fn assigned(&self) -> &BTreeMap<String, Ipv4Addr> {
        &self.assigned
    }

    /// The address of `alloc`: the one it has, or the lowest free one (persisted
    /// before it is returned).
    pub fn assign(&mut self, alloc: &AllocId) -> Result<Ipv4Addr, NetError> {
        if let Some(ip) = self.get(alloc) {
            return Ok(ip);
        }
        let used: BTreeSet<Ipv4Addr> = self.assigned.values().copied().collect();
        let ip = self
            .subnet
            .assignable()
            .find(|ip| !used.contains(ip))
            .ok_or_else(|| NetError::SubnetExhausted {
                subnet: self.subnet.to_string(),
            })?;
        self.assigned.insert(alloc.as_str().to_owned(), ip);
        if let Err(e) = self.save() {
            self.assigned.remove(alloc.as_str());
            return Err(e);
        }
        Ok(ip)
    }

    /// Frees the address of `alloc`; returns it if there was one.
    pub fn release(&mut self, alloc: &AllocId) -> Result<Option<Ipv4Addr>, NetError> {
        let freed = self.assigned.remove(alloc.as_str());
        if freed.is_some() {
            self.save()?;
        }
        Ok(freed)
    }

    /// Frees every address whose allocation is not in `live`; returns the freed ids.
    pub fn retain_live(&mut self, live: &BTreeSet<&str>) -> Result<Vec<AllocId>, NetError> {
        let dead: Vec<String> = self
            .assigned
            .keys()
            .filter(|id| !live.contains(id.as_str()))
            .cloned()
            .collect();
        if dead.is_empty() {
            return Ok(Vec::new());
        }
        for id in &dead {
            self.assigned.remove(id);
        }
        self.save()?;
        Ok(dead.into_iter().map(AllocId::new).collect())
    }

    fn save(&self) -> Result<(), NetError> {
        let Some(path) = &self.path else {
            return Ok(());
        };
        let bytes =
            serde_json::to_vec_pretty(&self.assigned).map_err(|source| NetError::State {
                path: path.clone(),
                source,
            })?;
        // No fsync: the map has to outlive the agent, not the machine. After a
        // reboot no namespace or veth of ours is left and reconcile frees every
        // address anyway; an fsync would add milliseconds to every allocation start.
        let tmp = path.with_extension("json.tmp");
        let write = || -> io::Result<()> { fs::File::create(&tmp)?.write_all(&bytes) };
        write().map_err(|e| NetError::io("write", &tmp, e))?;
        fs::rename(&tmp, path).map_err(|e| NetError::io("rename to", path, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subnet() -> Ipv4Subnet {
        "10.9.0.0/29".parse().expect("valid")
    }

    fn temp_dir(tag: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("caravan-net-ipam-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("temp dir");
        dir
    }

    #[test]
    fn hands_out_lowest_free_and_skips_reserved_addresses() {
        let mut ipam = IpAllocator::in_memory(subnet());
        let ips: Vec<Ipv4Addr> = (0..5)
            .map(|i| {
                ipam.assign(&AllocId::new(format!("a{i}")))
                    .expect("free address")
            })
            .collect();
        // .0 is the network, .1 the gateway, .7 the broadcast address.
        let expected: Vec<Ipv4Addr> = (2..=6).map(|d| Ipv4Addr::new(10, 9, 0, d)).collect();
        assert_eq!(ips, expected);
        assert!(matches!(
            ipam.assign(&AllocId::new("a5")),
            Err(NetError::SubnetExhausted { .. })
        ));
        // Asking again gives the same address; a freed one is reused.
        assert_eq!(
            ipam.assign(&AllocId::new("a3")).expect("has one"),
            expected[3]
        );
        assert_eq!(
            ipam.release(&AllocId::new("a1")).expect("saved"),
            Some(expected[1])
        );
        assert_eq!(ipam.assign(&AllocId::new("b")).expect("free"), expected[1]);
    }

    #[test]
    fn survives_a_restart_and_frees_what_is_not_live() {
        let dir = temp_dir("restart");
        let mut ipam = IpAllocator::open(&dir, subnet()).expect("opens");
        let a = ipam.assign(&AllocId::new("a")).expect("free");
        let b = ipam.assign(&AllocId::new("b")).expect("free");
        drop(ipam);

        let text = fs::read_to_string(dir.join(IP_STATE_FILE)).expect("written");
        assert!(text.contains("\"a\": \"10.9.0.2\""), "{text}");
        assert!(!dir.join("bridge-ips.json.tmp").exists());

        let mut ipam = IpAllocator::open(&dir, subnet()).expect("reopens");
        assert_eq!(ipam.get(&AllocId::new("a")), Some(a));
        assert_eq!(ipam.get(&AllocId::new("b")), Some(b));
        let freed = ipam.retain_live(&BTreeSet::from(["b"])).expect("saved");
        assert_eq!(freed, vec![AllocId::new("a")]);
        let ipam = IpAllocator::open(&dir, subnet()).expect("reopens");
        assert_eq!(ipam.assigned().len(), 1);
        fs::remove_dir_all(&dir).expect("cleanup");
    }

    #[test]
    fn entries_outside_the_subnet_or_repeated_are_dropped() {
        let dir = temp_dir("foreign");
        fs::write(
            dir.join(IP_STATE_FILE),
            r#"{"a":"10.9.0.2","b":"10.9.0.2","c":"192.168.0.5","d":"10.9.0.1"}"#,
        )
        .expect("write");
        let ipam = IpAllocator::open(&dir, subnet()).expect("opens");
        assert_eq!(ipam.assigned().keys().collect::<Vec<_>>(), vec!["a"]);
        fs::write(dir.join(IP_STATE_FILE), "not json").expect("write");
        assert!(matches!(
            IpAllocator::open(&dir, subnet()),
            Err(NetError::State { .. })
        ));
        fs::remove_dir_all(&dir).expect("cleanup");
    }
}
