//! `caravan agent`: a server, a client, or both, with the HTTP APIs (Nomad's, and
//! Consul's plus DNS on servers).
//!
//! `-dev` runs both in one process with the state in memory, everything bound to
//! 127.0.0.1 unless `-bind` says otherwise. Otherwise the agent reads its
//! configuration files (`-config`, Nomad's shape, see [`config`]) and flags: a server
//! keeps its state in Raft under `data_dir` and talks to the other servers and to
//! clients on the RPC port; a client reaches the servers over that port. The client
//! runs raw_exec and docker tasks; bridge-mode groups get their network from
//! caravan-net when the agent runs as root.

mod config;
mod consistent;
mod http_forward;
mod join;
mod local;
mod replicated;
mod rpc_api;
mod settings;

use std::ffi::OsString;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, OnceLock};

use anyhow::{Context, bail};
use caravan_client::{ClientAgent, ClientConfig, ClientPlugins, ContainerRuntime, ServerApi};
use caravan_drivers::{DockerDriver, DockerOptions, RawExecDriver, TaskDriver};
use caravan_http::{AgentInfo, Api};
use caravan_net::{BridgeConfig, Ipv4Subnet, LinuxNetOps, NetOps};
use caravan_raft::{Raft, RaftConfig};
use caravan_rpc::RpcClient;
use caravan_server::{LocalLog, Server, ServerConfig, StateHandle, SystemClock};
use clap::Parser;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use self::local::{LocalClient, LocalServer};
use self::replicated::{RaftCluster, RaftLog, ReplicatedState, RpcTransport};
use self::rpc_api::{RpcServerApi, ServerRpc};
use self::settings::Settings;

/// `caravan agent` flags (Nomad's names). Flags win over configuration files.
#[derive(Debug, Parser)]
#[command(
    name = "caravan agent",
    about = "Run a Caravan agent (server, client and HTTP API)."
)]
struct AgentArgs {
    /// Dev mode: a server and a client in this process, state in memory.
    #[arg(long)]
    dev: bool,
    /// A configuration file or directory (repeatable; later ones win).
    #[arg(long = "config")]
    config: Vec<PathBuf>,
    /// Run a server.
    #[arg(long)]
    server: bool,
    /// Run a client.
    #[arg(long)]
    client: bool,
    /// How many servers to wait for before creating the cluster.
    #[arg(long = "bootstrap-expect")]
    bootstrap_expect: Option<u32>,
    /// A server to join, `host[:port]` (repeatable).
    #[arg(long = "retry-join")]
    retry_join: Vec<String>,
    /// The servers a client reaches, `host[:port]` (repeatable, or comma separated).
    #[arg(long = "servers", value_delimiter = ',')]
    servers: Vec<String>,
    /// The address to bind every listener to, and to publish task ports on.
    #[arg(long)]
    bind: Option<IpAddr>,
    /// The HTTP API port.
    #[arg(long = "http-port")]
    http_port: Option<u16>,
    /// The RPC port (servers and clients; Raft).
    #[arg(long = "rpc-port")]
    rpc_port: Option<u16>,
    /// The port of Consul's HTTP API, on the same address (0: any free port).
    #[arg(long = "consul-port")]
    consul_port: Option<u16>,
    /// The port of the DNS interface (UDP and TCP), on the same address (0: any free port).
    #[arg(long = "dns-port")]
    dns_port: Option<u16>,
    /// Where state, allocation directories and Raft's log live (dev: a new temporary
    /// directory).
    #[arg(long = "data-dir")]
    data_dir: Option<PathBuf>,
    /// The node's name (default: the host name).
    #[arg(long = "node")]
    node_name: Option<String>,
    #[arg(long)]
    dc: Option<String>,
    #[arg(long)]
    region: Option<String>,
    /// trace, debug, info, warn or error.
    #[arg(long = "log-level")]
    log_level: Option<tracing::Level>,
    /// The bridge of `network { mode = "bridge" }` allocations (Nomad's
    /// `bridge_network_name`). Another name also gets its own nftables table and
    /// netns prefix (the name itself), so agents with different bridges never touch
    /// each other's networks.
    #[arg(long = "bridge-network-name")]
    bridge_network_name: Option<String>,
    /// The bridge's subnet (Nomad's `bridge_network_subnet`).
    #[arg(long = "bridge-network-subnet")]
    bridge_network_subnet: Option<Ipv4Subnet>,
}

/// The bridge configuration the settings describe.
fn bridge_config(name: &str, subnet: Ipv4Subnet) -> BridgeConfig {
    let defaults = BridgeConfig::default();
    if name == settings::DEFAULT_BRIDGE {
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
    settings: &Settings,
    data_dir: &std::path::Path,
) -> anyhow::Result<Option<Arc<dyn NetOps>>> {
    if !nix::unistd::geteuid().is_root() {
        tracing::warn!("not running as root: bridge networking is off");
        return Ok(None);
    }
    let config = bridge_config(
        &settings.bridge_network_name,
        settings.bridge_network_subnet,
    );
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
    let settings = match Settings::resolve(&args) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("Error: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    // openraft narrates every election at info: only its warnings unless debugging.
    let filter = tracing_subscriber::filter::Targets::new()
        .with_default(settings.log_level)
        .with_target("openraft", settings.log_level.min(tracing::Level::WARN));
    tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_target(false)
                .with_ansi(false)
                .with_writer(std::io::stderr),
        )
        .with(filter)
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
    match runtime.block_on(run(settings)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("Error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The host's name, the default node name.
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_owned())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

/// A server of this agent: what the client, the HTTP API and the RPC port use.
struct ServerParts {
    server: Arc<Server>,
    /// `None` in dev mode (no Raft, no RPC port).
    rpc: Option<Arc<ServerRpc>>,
    raft: Option<Raft>,
}

async fn run(settings: Settings) -> anyhow::Result<()> {
    let bind = settings.bind;
    let http_addr = SocketAddr::new(bind, settings.http_port);
    let listener = tokio::net::TcpListener::bind(http_addr)
        .await
        .with_context(|| format!("binding the HTTP API to {http_addr}"))?;
    let http_addr = listener.local_addr().context("reading the HTTP address")?;
    let data_dir = match (&settings.data_dir, settings.dev) {
        (Some(dir), _) => dir.clone(),
        (None, true) => std::env::temp_dir().join(format!("caravan-dev-{}", std::process::id())),
        (None, false) => bail!("data_dir is required outside dev mode (`data_dir` or `-data-dir`)"),
    };
    std::fs::create_dir_all(&data_dir)
        .with_context(|| format!("creating the data dir {}", data_dir.display()))?;
    let tls = match &settings.tls {
        Some(files) => Some(
            caravan_rpc::tls::load(files, &settings.region)
                .map_err(|e| anyhow::anyhow!("loading the TLS files: {e}"))?,
        ),
        None => None,
    };
    let rpc_client = RpcClient::new(tls.as_ref().map(|(_, client)| client.clone()));
    let (rpc_listener, rpc_addr) = if settings.server && !settings.dev {
        let addr = SocketAddr::new(bind, settings.rpc_port);
        let l = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("binding the RPC port to {addr}"))?;
        let bound = l.local_addr().context("reading the RPC address")?;
        (Some(l), settings.rpc_advertise(bound)?)
    } else {
        (None, SocketAddr::new(bind, settings.rpc_port).to_string())
    };
    let (stop, stopping) = tokio::sync::watch::channel(false);
    let stopped = move || {
        let mut stopping = stopping.clone();
        async move {
            let _ = stopping.wait_for(|s| *s).await;
        }
    };

    let node_name = settings.name.clone().unwrap_or_else(host_name);
    let parts = if settings.server {
        Some(
            start_server(
                &settings,
                &data_dir,
                &rpc_addr,
                &node_name,
                rpc_client.clone(),
            )
            .await?,
        )
    } else {
        None
    };
    if let (Some(listener), Some(parts)) = (rpc_listener, &parts) {
        let handler = parts
            .rpc
            .clone()
            .context("invariant: a clustered server has an RPC handler")?;
        let server_tls = tls.as_ref().map(|(server, _)| server.clone());
        let done = stopped();
        tokio::spawn(async move {
            if let Err(e) = caravan_rpc::serve(listener, server_tls, handler, done).await {
                tracing::error!(error = %e, "the RPC server failed");
            }
        });
    }

    let net = if settings.client {
        bridge_networking(&settings, &data_dir)?
    } else {
        None
    };
    let client = if settings.client {
        let server_api: Arc<dyn ServerApi> = match &parts {
            Some(ServerParts { rpc: Some(rpc), .. }) => {
                Arc::new(RpcServerApi::in_process(rpc.clone()))
            }
            Some(ServerParts { server, .. }) => Arc::new(LocalServer(server.clone())),
            None => Arc::new(RpcServerApi::remote(
                rpc_client.clone(),
                settings.servers.clone(),
            )),
        };
        Some(
            start_client(
                &settings,
                &data_dir,
                &node_name,
                http_addr,
                server_api,
                net.clone(),
            )
            .await?,
        )
    } else {
        None
    };

    let agent = AgentInfo {
        name: node_name.clone(),
        region: settings.region.clone(),
        datacenter: settings.datacenter.clone(),
        http_addr: http_addr.to_string(),
        rpc_addr: rpc_addr.clone(),
        serf_addr: SocketAddr::new(bind, 4648).to_string(),
        server: settings.server,
        client: settings.client,
        ..AgentInfo::default()
    };

    let mut servers = Vec::new();
    let mut banner = vec![
        format!(
            "       Advertise Addrs: HTTP: {}; RPC: {rpc_addr}",
            settings
                .advertise_http
                .as_deref()
                .unwrap_or(&http_addr.to_string())
        ),
        format!("            Bind Addrs: HTTP: {http_addr}"),
    ];
    let mut dns_tasks = Vec::new();
    match &parts {
        Some(parts) => {
            let mut api = Api::new(parts.server.clone(), agent);
            if let Some(client) = &client {
                api = api.with_client(Arc::new(LocalClient(client.clone())));
            }
            let mut router = caravan_http::router(api.clone());
            if let Some(rpc) = &parts.rpc {
                let consistency = Arc::new(consistent::Consistency {
                    raft: rpc.raft.clone(),
                    rpc: rpc_client.clone(),
                    state: parts.server.state().clone(),
                });
                router = router.layer(axum::middleware::from_fn_with_state(
                    consistency,
                    consistent::layer,
                ));
                let _ = rpc.router.set(router.clone());
            }
            servers.push((listener, router));
            if let Some(port) = settings.consul_port {
                let addr = SocketAddr::new(bind, port);
                let consul_listener = tokio::net::TcpListener::bind(addr)
                    .await
                    .with_context(|| format!("binding Consul's HTTP API to {addr}"))?;
                let addr = consul_listener
                    .local_addr()
                    .context("reading the Consul HTTP address")?;
                banner.push(format!("           Consul HTTP: {addr}"));
                servers.push((consul_listener, caravan_http::consul_router(api)));
            }
            if let Some(port) = settings.dns_port {
                let (udp, tcp) = bind_dns(SocketAddr::new(bind, port)).await?;
                let addr = udp.local_addr().context("reading the DNS address")?;
                banner.push(format!("                   DNS: {addr} (udp, tcp)"));
                let mut sockets = vec![(udp, tcp)];
                // Allocations on the bridge reach DNS on its gateway's port 53, the only
                // port a resolv.conf can name: `dns { servers = ["<gateway>"] }`.
                if let Some(net) = &net {
                    match bridge_dns(net.as_ref(), &settings).await {
                        Ok((udp, tcp)) => {
                            if let Ok(addr) = udp.local_addr() {
                                banner.push(format!("      DNS (allocations): {addr} (udp, tcp)"));
                            }
                            sockets.push((udp, tcp));
                        }
                        Err(e) => tracing::warn!(
                            error = %e,
                            "no DNS on the bridge's gateway: allocations must name another server"
                        ),
                    }
                }
                for (udp, tcp) in sockets {
                    let dns_state = parts.server.state().clone();
                    let cache = caravan_dns::CatalogCache::default();
                    dns_tasks.push(tokio::spawn(caravan_dns::serve(
                        udp,
                        tcp,
                        move || -> Arc<dyn caravan_dns::CatalogViewOwned> {
                            cache.catalog(dns_state.snapshot())
                        },
                        dns_config(&settings),
                        stopped(),
                    )));
                }
            }
        }
        None => {
            let forward = RpcServerApi::remote(rpc_client.clone(), settings.servers.clone());
            servers.push((listener, http_forward::router(forward)));
        }
    }

    eprintln!("==> Caravan agent configuration:\n");
    for line in &banner {
        eprintln!("{line}");
    }
    eprintln!("                Client: {}", settings.client);
    eprintln!("             Log Level: {}", settings.log_level);
    eprintln!(
        "                Region: {} (DC: {})",
        settings.region, settings.datacenter
    );
    eprintln!("                Server: {}", settings.server);
    if let Some(client) = &client {
        eprintln!("               Node Id: {}", client.node_id());
    }
    eprintln!("              Data Dir: {}", data_dir.display());
    eprintln!("\n==> Caravan agent started! Log data will stream in below:\n");

    caravan_http::serve_all(servers, shutdown_signal())
        .await
        .context("serving the HTTP APIs")?;
    let _ = stop.send(true);
    for dns in dns_tasks {
        match dns.await {
            Ok(Err(e)) => tracing::warn!(error = %e, "the DNS server failed"),
            Err(e) => tracing::warn!(error = %e, "the DNS server task failed"),
            Ok(Ok(())) => {}
        }
    }
    if let Some(client) = client {
        if settings.dev {
            tracing::info!("shutting down: stopping allocations");
            client.shutdown().await;
        } else {
            tracing::info!("shutting down: allocations keep running");
            client.shutdown_leave_running().await;
        }
    }
    if let Some(raft) = parts.and_then(|p| p.raft) {
        raft.shutdown().await;
    }
    if settings.dev
        && settings.data_dir.is_none()
        && let Err(e) = std::fs::remove_dir_all(&data_dir)
    {
        tracing::debug!(error = %e, "could not remove the data dir");
    }
    Ok(())
}

fn dns_config(settings: &Settings) -> caravan_dns::DnsConfig {
    // One UDP worker thread per core, at most four: each answers a batch of
    // queries per system call.
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    let mut config = caravan_dns::DnsConfig {
        datacenter: settings.datacenter.clone(),
        recursors: settings.dns_recursors.clone(),
        udp_workers: cores.clamp(1, 4),
        ..Default::default()
    };
    if let Some(ttl) = settings.dns_service_ttl {
        config.service_ttl.insert("*".into(), ttl);
    }
    if let Some(ttl) = settings.dns_node_ttl {
        config.node_ttl = ttl;
    }
    if let Some(only) = settings.dns_only_passing {
        config.only_passing = only;
    }
    if let Some(domain) = &settings.dns_domain {
        config.domain = domain.trim_matches('.').to_owned();
    }
    config
}

fn server_config(settings: &Settings, rpc_addr: &str) -> ServerConfig {
    let defaults = ServerConfig::default();
    ServerConfig {
        region: settings.region.clone(),
        datacenter: settings.datacenter.clone(),
        rpc_addr: rpc_addr.to_owned(),
        num_workers: settings.num_schedulers.unwrap_or(defaults.num_workers),
        heartbeat_ttl: settings.min_heartbeat_ttl.unwrap_or(defaults.heartbeat_ttl),
        heartbeat_grace: settings.heartbeat_grace.unwrap_or(defaults.heartbeat_grace),
        ..defaults
    }
}

/// The server: in memory in dev mode; otherwise Raft under `data_dir/server`, the
/// RPC handler, the leadership watch and the join loop.
async fn start_server(
    settings: &Settings,
    data_dir: &std::path::Path,
    rpc_addr: &str,
    node_name: &str,
    rpc_client: RpcClient,
) -> anyhow::Result<ServerParts> {
    let config = server_config(settings, rpc_addr);
    let state = StateHandle::default();
    if settings.dev {
        let server = Server::new(
            config,
            state.clone(),
            Arc::new(LocalLog::new(state)),
            Arc::new(SystemClock),
        );
        server.start();
        return Ok(ServerParts {
            server,
            rpc: None,
            raft: None,
        });
    }
    let raft_dir = data_dir.join("server");
    let id = raft_id(&raft_dir)?;
    let raft = Raft::open(
        RaftConfig {
            id,
            addr: rpc_addr.to_owned(),
            data_dir: raft_dir.clone(),
            ..RaftConfig::default()
        },
        Arc::new(ReplicatedState(state.clone())),
        Arc::new(RpcTransport(rpc_client.clone())),
    )
    .await
    .map_err(|e| anyhow::anyhow!("opening the raft log in {}: {e}", raft_dir.display()))?;
    let names: join::PeerNames = Arc::default();
    names
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(rpc_addr.to_owned(), node_name.to_owned());
    let server = Server::with_cluster(
        config,
        state.clone(),
        Arc::new(RaftLog {
            raft: raft.clone(),
            rpc: rpc_client.clone(),
            state,
        }),
        Arc::new(SystemClock),
        Arc::new(RaftCluster {
            raft: raft.clone(),
            rpc: rpc_client.clone(),
            names: names.clone(),
        }),
    );
    // Leadership follows Raft: the leader alone schedules and keeps the timers.
    let mut leaders = raft.leader_changes();
    let (watch_raft, watch_server) = (raft.clone(), server.clone());
    tokio::spawn(async move {
        loop {
            watch_server.set_leader(watch_raft.is_leader());
            if leaders.changed().await.is_err() {
                watch_server.set_leader(false);
                return;
            }
        }
    });
    let rpc = Arc::new(ServerRpc {
        server: server.clone(),
        router: Arc::new(OnceLock::new()),
        raft: raft.clone(),
        rpc: rpc_client.clone(),
        id,
        addr: rpc_addr.to_owned(),
        name: node_name.to_owned(),
    });
    let plan = join::JoinPlan {
        id,
        addr: rpc_addr.to_owned(),
        bootstrap_expect: settings.bootstrap_expect,
        retry_join: settings.retry_join.clone(),
        retry_interval: settings.retry_interval,
        retry_max: settings.retry_max,
    };
    tokio::spawn(join::run(raft.clone(), rpc_client, plan, names));
    Ok(ServerParts {
        server,
        rpc: Some(rpc),
        raft: Some(raft),
    })
}

/// This server's Raft id: random once, then kept in the data dir.
fn raft_id(dir: &std::path::Path) -> anyhow::Result<u64> {
    let path = dir.join("raft-id");
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    match std::fs::read_to_string(&path) {
        Ok(text) => text
            .trim()
            .parse()
            .with_context(|| format!("{} does not hold a raft id", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let (hi, lo) = uuid::Uuid::new_v4().as_u64_pair();
            let id = (hi ^ lo) >> 1; // positive as an i64 too, for tools that read it so
            let tmp = path.with_extension("tmp");
            std::fs::write(&tmp, id.to_string())
                .and_then(|()| std::fs::rename(&tmp, &path))
                .with_context(|| format!("writing {}", path.display()))?;
            Ok(id)
        }
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

async fn start_client(
    settings: &Settings,
    data_dir: &std::path::Path,
    node_name: &str,
    http_addr: SocketAddr,
    server_api: Arc<dyn ServerApi>,
    net: Option<Arc<dyn NetOps>>,
) -> anyhow::Result<Arc<ClientAgent>> {
    // Docker labels containers with the node id: read (or made) before the client
    // starts, which then registers the same id.
    if settings.dev {
        // Dev mode keeps the servers' state in memory: a restarted dev agent starts a
        // new cluster, so the client has nothing to restore; what a killed one left
        // running is removed as leftovers.
        let saved = data_dir.join("client");
        if let Err(e) = std::fs::remove_dir_all(&saved)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            return Err(e).with_context(|| format!("removing {}", saved.display()));
        }
    }
    let node_id = ClientAgent::load_or_create_node_id(data_dir)
        .with_context(|| format!("reading the node id in {}", data_dir.display()))?;
    let docker = Arc::new(DockerDriver::new(DockerOptions {
        node_id: Some(node_id),
        ..DockerOptions::default()
    }));
    // raw_exec output goes through `caravan logmon` processes, which outlive this
    // agent: a task restored after a restart keeps writing its logs.
    let exe = std::env::current_exe().context("locating the caravan binary")?;
    let raw_exec =
        RawExecDriver::new().with_log_collector(vec![exe.into_os_string(), "logmon".into()]);
    let drivers: Vec<Arc<dyn TaskDriver>> = vec![Arc::new(raw_exec), docker.clone()];
    let containers: Arc<dyn ContainerRuntime> = docker;
    let plugins = ClientPlugins {
        drivers,
        net,
        containers: Some(containers),
    };
    let address = if settings.bind.is_unspecified() {
        settings
            .advertise_rpc
            .as_deref()
            .and_then(|a| config::parse_host_port(a, 0).ok())
            .map(|(host, _)| host)
            .unwrap_or_else(|| "127.0.0.1".into())
    } else {
        settings.bind.to_string()
    };
    let client_config = ClientConfig {
        data_dir: data_dir.to_path_buf(),
        node_name: Some(node_name.to_owned()),
        datacenter: settings.datacenter.clone(),
        region: settings.region.clone(),
        node_class: settings.node_class.clone(),
        meta: settings.meta.clone(),
        address,
        http_addr: http_addr.to_string(),
        reserved_cpu: settings.reserved_cpu,
        reserved_memory_mb: settings.reserved_memory_mb,
        reserved_ports: settings.reserved_ports.clone(),
        ..ClientConfig::default()
    };
    ClientAgent::start_with(client_config, server_api, plugins)
        .await
        .with_context(|| format!("starting the client in {}", data_dir.display()))
}

/// The DNS listener for allocations on the bridge: its gateway, port 53 (the bridge
/// is made first if no allocation has needed it yet).
async fn bridge_dns(
    net: &dyn NetOps,
    settings: &Settings,
) -> anyhow::Result<(tokio::net::UdpSocket, tokio::net::TcpListener)> {
    net.ensure_bridge()
        .await
        .map_err(|e| anyhow::anyhow!("setting up the bridge: {e}"))?;
    let gateway = bridge_config(
        &settings.bridge_network_name,
        settings.bridge_network_subnet,
    )
    .gateway();
    let addr = SocketAddr::new(gateway.into(), 53);
    let udp = tokio::net::UdpSocket::bind(addr)
        .await
        .with_context(|| format!("binding DNS (udp) to {addr}"))?;
    let tcp = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding DNS (tcp) to {addr}"))?;
    Ok((udp, tcp))
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
        let default = bridge_config(settings::DEFAULT_BRIDGE, subnet);
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
