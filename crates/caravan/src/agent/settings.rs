//! What the agent runs with: its configuration files merged in order, then its
//! flags on top, then the defaults.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use caravan_net::Ipv4Subnet;

use super::AgentArgs;
use super::config::{AgentConfig, PortSetting, parse_host_port};

/// The default RPC port (Nomad's).
pub(crate) const RPC_PORT: u16 = 4647;
/// The default bridge, whose table and netns prefix are `caravan` and `caravan-`.
pub(crate) const DEFAULT_BRIDGE: &str = "caravan0";

/// Everything the agent needs to start, resolved.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub dev: bool,
    pub server: bool,
    pub client: bool,
    pub name: Option<String>,
    pub datacenter: String,
    pub region: String,
    pub data_dir: Option<PathBuf>,
    pub bind: IpAddr,
    pub http_port: u16,
    pub rpc_port: u16,
    /// `None`: off.
    pub consul_port: Option<u16>,
    pub dns_port: Option<u16>,
    pub advertise_http: Option<String>,
    pub advertise_rpc: Option<String>,
    pub log_level: tracing::Level,
    pub bridge_network_name: String,
    pub bridge_network_subnet: Ipv4Subnet,
    pub bootstrap_expect: u32,
    pub retry_join: Vec<String>,
    pub retry_interval: Duration,
    pub retry_max: u32,
    /// Servers a client reaches, `host:port`.
    pub servers: Vec<String>,
    pub node_class: String,
    pub meta: BTreeMap<String, String>,
    pub reserved_cpu: i64,
    pub reserved_memory_mb: i64,
    pub reserved_ports: String,
    pub num_schedulers: Option<usize>,
    pub heartbeat_grace: Option<Duration>,
    pub min_heartbeat_ttl: Option<Duration>,
    pub tls: Option<caravan_rpc::tls::TlsFiles>,
    pub dns_recursors: Vec<SocketAddr>,
    pub dns_service_ttl: Option<Duration>,
    pub dns_node_ttl: Option<Duration>,
    pub dns_only_passing: Option<bool>,
    pub dns_domain: Option<String>,
}

/// A listener that may be turned off: the flag's port, else the file's setting,
/// else the default.
fn optional_port(flag: Option<u16>, file: Option<PortSetting>, default: u16) -> Option<u16> {
    match (flag, file) {
        (Some(p), _) => Some(p),
        (None, Some(PortSetting::Off)) => None,
        (None, Some(PortSetting::Port(p))) => Some(p),
        (None, None) => Some(default),
    }
}

impl Settings {
    pub(crate) fn resolve(args: &AgentArgs) -> anyhow::Result<Settings> {
        let mut file = AgentConfig::default();
        for path in &args.config {
            let next = AgentConfig::load(path).map_err(|e| anyhow::anyhow!("{e}"))?;
            file = file.merge(next);
        }
        let dev = args.dev;
        let server = args.server || file.server.enabled.unwrap_or(false) || dev;
        let client = args.client || file.client.enabled.unwrap_or(false) || dev;
        if !server && !client {
            bail!(
                "nothing to run: enable a server or a client (`-server`, `-client`, \
                 `server {{ enabled = true }}`, `client {{ enabled = true }}`), or use `-dev`"
            );
        }
        let default_bind = if dev {
            IpAddr::V4(Ipv4Addr::LOCALHOST)
        } else {
            IpAddr::V4(Ipv4Addr::UNSPECIFIED)
        };
        let bind = args.bind.or(file.bind_addr).unwrap_or(default_bind);
        let http_port = args.http_port.or(file.ports.http).unwrap_or(4646);
        let rpc_port = args.rpc_port.or(file.ports.rpc).unwrap_or(RPC_PORT);
        let consul_port = optional_port(args.consul_port, file.ports.consul, 8500);
        let dns_port = optional_port(args.dns_port, file.ports.dns, 8600);
        let mut retry_join = file.server.retry_join.clone();
        retry_join.extend(args.retry_join.iter().cloned());
        let mut servers = Vec::new();
        for entry in file.client.servers.iter().chain(&args.servers) {
            let (host, port) = parse_host_port(entry, RPC_PORT)
                .map_err(|e| anyhow::anyhow!("client.servers: {entry:?}: {e}"))?;
            servers.push(join_host_port(&host, port));
        }
        if client && !server && servers.is_empty() {
            bail!("a client needs servers to reach: `client {{ servers = [...] }}` or `-servers`");
        }
        let tls = if file.tls.rpc.unwrap_or(false) {
            let need = |v: &Option<PathBuf>, what: &str| {
                v.clone()
                    .with_context(|| format!("tls.rpc is on but tls.{what} is not set"))
            };
            Some(caravan_rpc::tls::TlsFiles {
                ca_file: need(&file.tls.ca_file, "ca_file")?,
                cert_file: need(&file.tls.cert_file, "cert_file")?,
                key_file: need(&file.tls.key_file, "key_file")?,
                verify_server_hostname: file.tls.verify_server_hostname.unwrap_or(false),
            })
        } else {
            None
        };
        let mut dns_recursors = Vec::new();
        for r in &file.dns.recursors {
            let (host, port) =
                parse_host_port(r, 53).map_err(|e| anyhow::anyhow!("dns.recursors: {r:?}: {e}"))?;
            let ip: IpAddr = host
                .parse()
                .with_context(|| format!("dns.recursors: {r:?} is not an IP address"))?;
            dns_recursors.push(SocketAddr::new(ip, port));
        }
        let bridge_network_subnet = match args
            .bridge_network_subnet
            .or(file.client.bridge_network_subnet)
        {
            Some(s) => s,
            None => "172.26.64.0/20"
                .parse()
                .map_err(|e| anyhow::anyhow!("the default subnet: {e}"))?,
        };
        Ok(Settings {
            dev,
            server,
            client,
            name: args.node_name.clone().or(file.name.clone()),
            datacenter: args
                .dc
                .clone()
                .or(file.datacenter.clone())
                .unwrap_or_else(|| "dc1".into()),
            region: args
                .region
                .clone()
                .or(file.region.clone())
                .unwrap_or_else(|| "global".into()),
            data_dir: args.data_dir.clone().or(file.data_dir.clone()),
            bind,
            http_port,
            rpc_port,
            consul_port: if server { consul_port } else { None },
            dns_port: if server { dns_port } else { None },
            advertise_http: file.advertise.http.clone(),
            advertise_rpc: file.advertise.rpc.clone(),
            log_level: args
                .log_level
                .or(file.log_level)
                .unwrap_or(tracing::Level::INFO),
            bridge_network_name: args
                .bridge_network_name
                .clone()
                .or(file.client.bridge_network_name.clone())
                .unwrap_or_else(|| DEFAULT_BRIDGE.into()),
            bridge_network_subnet,
            bootstrap_expect: args
                .bootstrap_expect
                .or(file.server.bootstrap_expect)
                .unwrap_or(1),
            retry_join,
            retry_interval: file.server.retry_interval.unwrap_or(Duration::from_secs(2)),
            retry_max: file.server.retry_max.unwrap_or(0),
            servers,
            node_class: file.client.node_class.clone().unwrap_or_default(),
            meta: file.client.meta.clone(),
            reserved_cpu: i64::try_from(file.client.reserved.cpu.unwrap_or(0))
                .context("client.reserved.cpu is too large")?,
            reserved_memory_mb: i64::try_from(file.client.reserved.memory.unwrap_or(0))
                .context("client.reserved.memory is too large")?,
            reserved_ports: file
                .client
                .reserved
                .reserved_ports
                .clone()
                .unwrap_or_default(),
            num_schedulers: file.server.num_schedulers,
            heartbeat_grace: file.server.heartbeat_grace,
            min_heartbeat_ttl: file.server.min_heartbeat_ttl,
            tls,
            dns_recursors,
            dns_service_ttl: file.dns.service_ttl,
            dns_node_ttl: file.dns.node_ttl,
            dns_only_passing: file.dns.only_passing,
            dns_domain: file.dns.domain.clone(),
        })
    }

    /// The address other agents reach this one's RPC port at.
    pub(crate) fn rpc_advertise(&self, bound: SocketAddr) -> anyhow::Result<String> {
        if let Some(adv) = &self.advertise_rpc {
            let (host, port) = parse_host_port(adv, bound.port())
                .map_err(|e| anyhow::anyhow!("advertise.rpc {adv:?}: {e}"))?;
            return Ok(join_host_port(&host, port));
        }
        if bound.ip().is_unspecified() && !self.dev {
            bail!(
                "bind_addr is {} : set `advertise {{ rpc = \"<address>\" }}` so other agents can reach this one",
                bound.ip()
            );
        }
        Ok(bound.to_string())
    }
}

fn join_host_port(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}
