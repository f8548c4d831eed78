//! `caravan agent`: a server, a client and the HTTP APIs (Nomad's, and Consul's on
//! `-consul-port`) in one process.
//!
//! Only dev mode exists so far: state in memory, one node, everything bound to
//! 127.0.0.1 unless `-bind` says otherwise. The client runs raw_exec and docker
//! tasks; bridge-mode groups get their network from caravan-net when the agent
//! runs as root (it alone may create network namespaces), and fail their setup
//! with that reason otherwise.

mod local;

use std::ffi::OsString;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, bail};
use caravan_client::{ClientAgent, ClientConfig, ClientPlugins, ContainerRuntime};
use caravan_drivers::{DockerDriver, DockerOptions, RawExecDriver, TaskDriver};
use caravan_http::{AgentInfo, Api};
use caravan_net::{BridgeConfig, Ipv4Subnet, LinuxNetOps, NetOps};
use caravan_server::{LocalLog, Server, ServerConfig, StateHandle, SystemClock};
use clap::Parser;

use self::local::{LocalClient, LocalServer};

/// `caravan agent` flags (Nomad's names).
#[derive(Debug, Parser)]
#[command(
    name = "caravan agent",
    about = "Run a Caravan agent (server, client and HTTP API)."
)]
struct AgentArgs {
    /// Dev mode: a server and a client in this process, state in memory.
    #[arg(long)]
    dev: bool,
    /// The address to bind the HTTP API to, and to publish task ports on.
    #[arg(long, default_value = "127.0.0.1")]
    bind: IpAddr,
    /// The HTTP API port.
    #[arg(long = "http-port", default_value_t = 4646)]
    http_port: u16,
    /// The port of Consul's HTTP API, on the same address (0: any free port).
    #[arg(long = "consul-port", default_value_t = 8500)]
    consul_port: u16,
    /// The port of the DNS interface (UDP and TCP), on the same address (0: any free port).
    #[arg(long = "dns-port", default_value_t = 8600)]
    dns_port: u16,
    /// Where allocation directories live (default: a new temporary directory).
    #[arg(long = "data-dir")]
    data_dir: Option<PathBuf>,
    /// The node's name (default: the host name).
    #[arg(long = "node")]
    node_name: Option<String>,
    #[arg(long, default_value = "dc1")]
    dc: String,
    #[arg(long, default_value = "global")]
    region: String,
    /// trace, debug, info, warn or error.
    #[arg(long = "log-level", default_value = "info")]
    log_level: tracing::Level,
    /// The bridge of `network { mode = "bridge" }` allocations (Nomad's
    /// `bridge_network_name`). Another name also gets its own nftables table and
    /// netns prefix (the name itself), so agents with different bridges never touch
    /// each other's networks.
    #[arg(long = "bridge-network-name", default_value = DEFAULT_BRIDGE)]
    bridge_network_name: String,
    /// The bridge's subnet (Nomad's `bridge_network_subnet`).
    #[arg(long = "bridge-network-subnet", default_value = "172.26.64.0/20")]
    bridge_network_subnet: Ipv4Subnet,
}

/// The default bridge, whose table and netns prefix are `caravan` and `caravan-`.
const DEFAULT_BRIDGE: &str = "caravan0";

/// The bridge configuration the flags describe.
fn bridge_config(name: &str, subnet: Ipv4Subnet) -> BridgeConfig {
    let defaults = BridgeConfig::default();
    if name == DEFAULT_BRIDGE {
        return BridgeConfig { subnet, ..defaults };
    }
    BridgeConfig {
        bridge: name.to_owned(),
        subnet,
        table: name.to_owned(),
        netns_prefix: format!("{name}-"),
        netns_dir: defaults.netns_dir,
    }
}

/// Bridge networking when this process may create namespaces (it runs as root);
/// `None` otherwise, and bridge-mode allocations then fail their setup.
fn bridge_networking(
    args: &AgentArgs,
    data_dir: &std::path::Path,
) -> anyhow::Result<Option<Arc<dyn NetOps>>> {
    if !nix::unistd::geteuid().is_root() {
        tracing::warn!("not running as root: bridge networking is off");
        return Ok(None);
    }
    let config = bridge_config(&args.bridge_network_name, args.bridge_network_subnet);
    let state_dir = data_dir.join("net");
    let ops = LinuxNetOps::new(config, &state_dir)
        .with_context(|| format!("setting up bridge networking in {}", state_dir.display()))?;
    Ok(Some(Arc::new(ops)))
}

pub(crate) fn main(args: Vec<OsString>) -> ExitCode {
    let mut args = caravan_cli::normalize_args(args);
    args.remove(0); // "caravan": clap sees "agent" as the program name.
    let args = match AgentArgs::try_parse_from(args) {
        Ok(args) => args,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 1 } else { 0 });
        }
    };
    tracing_subscriber::fmt()
        .with_max_level(args.log_level)
        .with_target(false)
        .with_ansi(false)
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("Error starting the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("Error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: AgentArgs) -> anyhow::Result<()> {
    if !args.dev {
        bail!("only dev mode is available so far: run `caravan agent -dev`");
    }
    let http_addr = SocketAddr::new(args.bind, args.http_port);
    let listener = tokio::net::TcpListener::bind(http_addr)
        .await
        .with_context(|| format!("binding the HTTP API to {http_addr}"))?;
    let http_addr = listener.local_addr().context("reading the HTTP address")?;
    let consul_addr = SocketAddr::new(args.bind, args.consul_port);
    let consul_listener = tokio::net::TcpListener::bind(consul_addr)
        .await
        .with_context(|| format!("binding Consul's HTTP API to {consul_addr}"))?;
    let consul_addr = consul_listener
        .local_addr()
        .context("reading the Consul HTTP address")?;
    let (dns_udp, dns_tcp) = bind_dns(SocketAddr::new(args.bind, args.dns_port)).await?;
    let dns_addr = dns_udp.local_addr().context("reading the DNS address")?;
    let data_dir = match args.data_dir.clone() {
        Some(dir) => dir,
        None => std::env::temp_dir().join(format!("caravan-dev-{}", std::process::id())),
    };
    let rpc_addr = SocketAddr::new(args.bind, 4647).to_string();

    let state = StateHandle::default();
    let server = Server::new(
        ServerConfig {
            region: args.region.clone(),
            datacenter: args.dc.clone(),
            rpc_addr: rpc_addr.clone(),
            ..ServerConfig::default()
        },
        state.clone(),
        Arc::new(LocalLog::new(state)),
        Arc::new(SystemClock),
    );
    server.start();

    // Docker labels containers with the node id: read (or made) before the client
    // starts, which then registers the same id.
    let node_id = ClientAgent::load_or_create_node_id(&data_dir)
        .with_context(|| format!("reading the node id in {}", data_dir.display()))?;
    let docker = Arc::new(DockerDriver::new(DockerOptions {
        node_id: Some(node_id),
        ..DockerOptions::default()
    }));
    let drivers: Vec<Arc<dyn TaskDriver>> = vec![Arc::new(RawExecDriver::new()), docker.clone()];
    let containers: Arc<dyn ContainerRuntime> = docker;
    let plugins = ClientPlugins {
        drivers,
        net: bridge_networking(&args, &data_dir)?,
        containers: Some(containers),
    };
    let client_config = ClientConfig {
        data_dir: data_dir.clone(),
        node_name: args.node_name.clone(),
        datacenter: args.dc.clone(),
        region: args.region.clone(),
        address: args.bind.to_string(),
        http_addr: http_addr.to_string(),
        ..ClientConfig::default()
    };
    let client = ClientAgent::start_with(
        client_config,
        Arc::new(LocalServer(server.clone())),
        plugins,
    )
    .await
    .with_context(|| format!("starting the client in {}", data_dir.display()))?;

    let agent = AgentInfo {
        name: client.node().name.clone(),
        region: args.region.clone(),
        datacenter: args.dc.clone(),
        http_addr: http_addr.to_string(),
        rpc_addr,
        serf_addr: SocketAddr::new(args.bind, 4648).to_string(),
        server: true,
        client: true,
        ..AgentInfo::default()
    };
    let api = Api::new(server.clone(), agent).with_client(Arc::new(LocalClient(client.clone())));

    let (stop_dns, mut dns_stopping) = tokio::sync::watch::channel(false);
    let dns_config = caravan_dns::DnsConfig {
        datacenter: args.dc.clone(),
        ..Default::default()
    };
    let dns_state = server.state().clone();
    let cache = caravan_dns::CatalogCache::default();
    let dns = tokio::spawn(caravan_dns::serve(
        dns_udp,
        dns_tcp,
        move || -> Arc<dyn caravan_dns::CatalogViewOwned> { cache.catalog(dns_state.snapshot()) },
        dns_config,
        async move {
            let _ = dns_stopping.changed().await;
        },
    ));

    eprintln!("==> Caravan agent configuration:\n");
    eprintln!("       Advertise Addrs: HTTP: {http_addr}");
    eprintln!("            Bind Addrs: HTTP: {http_addr}");
    eprintln!("           Consul HTTP: {consul_addr}");
    eprintln!("                   DNS: {dns_addr} (udp, tcp)");
    eprintln!("                Client: true");
    eprintln!("             Log Level: {}", args.log_level);
    eprintln!("                Region: {} (DC: {})", args.region, args.dc);
    eprintln!("                Server: true");
    eprintln!("               Node Id: {}", client.node_id());
    eprintln!("              Data Dir: {}", data_dir.display());
    eprintln!("\n==> Caravan agent started! Log data will stream in below:\n");

    let servers = vec![
        (listener, caravan_http::router(api.clone())),
        (consul_listener, caravan_http::consul_router(api)),
    ];
    caravan_http::serve_all(servers, shutdown_signal())
        .await
        .context("serving the HTTP APIs")?;
    let _ = stop_dns.send(true);
    match dns.await {
        Ok(Err(e)) => tracing::warn!(error = %e, "the DNS server failed"),
        Err(e) => tracing::warn!(error = %e, "the DNS server task failed"),
        Ok(Ok(())) => {}
    }
    tracing::info!("shutting down: stopping allocations");
    client.shutdown().await;
    if let Err(e) = std::fs::remove_dir_all(&data_dir) {
        tracing::debug!(error = %e, "could not remove the data dir");
    }
    Ok(())
}

/// Binds the DNS interface's UDP socket and TCP listener on one port. With port 0 the
/// kernel picks the UDP port and TCP takes the same one (retried if it is taken).
async fn bind_dns(
    addr: SocketAddr,
) -> anyhow::Result<(tokio::net::UdpSocket, tokio::net::TcpListener)> {
    for _ in 0..20 {
        let udp = tokio::net::UdpSocket::bind(addr)
            .await
            .with_context(|| format!("binding DNS (udp) to {addr}"))?;
        let bound = udp.local_addr().context("reading the DNS address")?;
        match tokio::net::TcpListener::bind(bound).await {
            Ok(tcp) => return Ok((udp, tcp)),
            Err(e) if addr.port() != 0 => {
                return Err(e).with_context(|| format!("binding DNS (tcp) to {bound}"));
            }
            Err(_) => continue,
        }
    }
    bail!(
        "no port was free for DNS on both udp and tcp at {}",
        addr.ip()
    )
}

/// Completes on SIGINT or SIGTERM.
async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut int), Ok(mut term)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        let _ = tokio::signal::ctrl_c().await;
        return;
    };
    tokio::select! {
        _ = int.recv() => {}
        _ = term.recv() => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bridge_of_another_name_gets_its_own_table_and_netns_prefix() {
        let subnet: Ipv4Subnet = "10.9.8.0/24".parse().expect("a subnet");
        let default = bridge_config(DEFAULT_BRIDGE, subnet);
        assert_eq!(
            (default.bridge.as_str(), default.table.as_str()),
            ("caravan0", "caravan")
        );
        assert_eq!(default.netns_prefix, "caravan-");
        assert_eq!(default.subnet, subnet);
        let other = bridge_config("cvtest1", subnet);
        assert_eq!(
            (other.bridge.as_str(), other.table.as_str()),
            ("cvtest1", "cvtest1")
        );
        assert_eq!(other.netns_prefix, "cvtest1-");
        other.validate().expect("valid");
    }
}
