//! Node fingerprint: what this machine offers, read from /proc and the drivers.

use std::collections::BTreeMap;
use std::sync::Arc;

use caravan_drivers::TaskDriver;
use caravan_model::{DriverInfo, Node, NodeNetwork};

use crate::ClientConfig;

/// The machine's resources and identity, as found.
#[derive(Debug, Clone, PartialEq)]
pub struct HostFacts {
    pub hostname: String,
    pub cores: u16,
    pub mhz_per_core: i64,
    pub memory_mb: i64,
    pub kernel_release: String,
    pub os_name: String,
}

impl HostFacts {
    /// Reads the running machine; missing files give conservative defaults.
    pub fn read() -> Self {
        let read = |path: &str| std::fs::read_to_string(path).unwrap_or_default();
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Self {
            hostname: read("/proc/sys/kernel/hostname").trim().to_owned(),
            cores: u16::try_from(cores).unwrap_or(u16::MAX),
            mhz_per_core: parse_cpu_mhz(&read("/proc/cpuinfo")).unwrap_or(1000),
            memory_mb: parse_mem_total_mb(&read("/proc/meminfo")).unwrap_or(1024),
            kernel_release: read("/proc/sys/kernel/osrelease").trim().to_owned(),
            os_name: parse_os_id(&read("/etc/os-release")).unwrap_or_else(|| "linux".into()),
        }
    }
}

/// The first `cpu MHz` in /proc/cpuinfo, rounded.
pub fn parse_cpu_mhz(cpuinfo: &str) -> Option<i64> {
    cpuinfo
        .lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim() == "cpu MHz")
        .and_then(|(_, v)| v.trim().parse::<f64>().ok())
        .map(|mhz| mhz.round() as i64)
        .filter(|mhz| *mhz > 0)
}

/// `MemTotal` from /proc/meminfo, in MB.
pub fn parse_mem_total_mb(meminfo: &str) -> Option<i64> {
    meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<i64>().ok())
        .map(|kb| kb / 1024)
}

fn parse_os_id(os_release: &str) -> Option<String> {
    os_release
        .lines()
        .find_map(|l| l.strip_prefix("ID="))
        .map(|v| v.trim_matches('"').to_owned())
}

/// Builds the node this agent registers.
pub async fn fingerprint(
    config: &ClientConfig,
    node_id: &str,
    facts: &HostFacts,
    drivers: &[Arc<dyn TaskDriver>],
) -> Node {
    let mut node = Node {
        id: node_id.into(),
        name: config
            .node_name
            .clone()
            .unwrap_or_else(|| facts.hostname.clone()),
        datacenter: config.datacenter.clone(),
        node_class: config.node_class.clone(),
        node_pool: config.node_pool.clone(),
        http_addr: config.http_addr.clone(),
        meta: config.meta.clone(),
        status: "ready".into(),
        scheduling_eligibility: "eligible".into(),
        ..Node::default()
    };
    let total_mhz = facts.mhz_per_core * i64::from(facts.cores);
    let resources = &mut node.node_resources;
    resources.cpu.cpu_shares = total_mhz;
    resources.cpu.total_cpu_cores = facts.cores;
    resources.cpu.reservable_cpu_cores = (0..facts.cores).collect();
    resources.memory.memory_mb = facts.memory_mb;
    resources.disk.disk_mb = 100 * 1024;
    resources.networks = vec![NodeNetwork {
        mode: "host".into(),
        ip: config.address.clone(),
        ..Default::default()
    }];
    resources.min_dynamic_port = config.min_dynamic_port;
    resources.max_dynamic_port = config.max_dynamic_port;
    let reserved = &mut node.reserved_resources;
    reserved.cpu.cpu_shares = config.reserved_cpu;
    reserved.memory.memory_mb = config.reserved_memory_mb;
    reserved.networks.reserved_host_ports = config.reserved_ports.clone();

    let mut attrs = BTreeMap::from([
        ("kernel.name".to_owned(), std::env::consts::OS.to_owned()),
        ("kernel.version".to_owned(), facts.kernel_release.clone()),
        ("os.name".to_owned(), facts.os_name.clone()),
        ("cpu.arch".to_owned(), std::env::consts::ARCH.to_owned()),
        ("cpu.numcores".to_owned(), facts.cores.to_string()),
        ("cpu.frequency".to_owned(), facts.mhz_per_core.to_string()),
        ("cpu.totalcompute".to_owned(), total_mhz.to_string()),
        (
            "memory.totalbytes".to_owned(),
            (facts.memory_mb * 1024 * 1024).to_string(),
        ),
        ("unique.hostname".to_owned(), facts.hostname.clone()),
        (
            "unique.network.ip-address".to_owned(),
            config.address.clone(),
        ),
        (
            "caravan.version".to_owned(),
            env!("CARGO_PKG_VERSION").to_owned(),
        ),
        ("nomad.version".to_owned(), "1.9.0".to_owned()),
    ]);
    for driver in drivers {
        let fp = driver.fingerprint().await;
        if fp.detected {
            attrs.insert(format!("driver.{}", driver.name()), "1".into());
            for (k, v) in &fp.attributes {
                attrs.insert(format!("driver.{}.{k}", driver.name()), v.clone());
            }
        }
        node.drivers.insert(
            driver.name().to_owned(),
            DriverInfo {
                detected: fp.detected,
                healthy: fp.healthy,
                health_description: fp.description.clone(),
                attributes: fp.attributes.clone(),
            },
        );
    }
    node.attributes = attrs;
    node
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proc_files() {
        assert_eq!(
            parse_cpu_mhz("processor\t: 0\ncpu MHz\t\t: 2399.998\n"),
            Some(2400)
        );
        assert_eq!(parse_cpu_mhz("processor: 0\n"), None);
        assert_eq!(
            parse_mem_total_mb("MemTotal:       24576000 kB\nMemFree: 1 kB\n"),
            Some(24000)
        );
        assert_eq!(
            parse_os_id("NAME=\"Debian\"\nID=debian\n"),
            Some("debian".into())
        );
    }

    #[tokio::test]
    async fn node_carries_resources_attributes_and_drivers() {
        let config = ClientConfig {
            address: "10.0.0.5".into(),
            ..ClientConfig::default()
        };
        let facts = HostFacts {
            hostname: "box".into(),
            cores: 2,
            mhz_per_core: 2000,
            memory_mb: 4096,
            kernel_release: "6.1".into(),
            os_name: "debian".into(),
        };
        let driver: Arc<dyn TaskDriver> = Arc::new(caravan_drivers::FakeDriver::new("raw_exec"));
        let node = fingerprint(&config, "id-1", &facts, &[driver]).await;
        assert_eq!(node.name, "box");
        assert_eq!(node.node_resources.cpu.cpu_shares, 4000);
        assert_eq!(node.node_resources.memory.memory_mb, 4096);
        assert_eq!(node.attributes["unique.network.ip-address"], "10.0.0.5");
        assert_eq!(node.attributes["driver.raw_exec"], "1");
        assert!(node.drivers["raw_exec"].healthy);
    }
}
