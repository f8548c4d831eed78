//! `caravan agent`: a server, a client and the HTTP API in one process.
//!
//! Only dev mode exists so far: state in memory, one node, everything bound to
//! 127.0.0.1 unless `-bind` says otherwise.

mod local;

use std::ffi::OsString;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, bail};
use caravan_client::{ClientAgent, ClientConfig};
use caravan_drivers::{RawExecDriver, TaskDriver};
use caravan_http::{AgentInfo, Api};
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
    let data_dir = match args.data_dir {
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

    let drivers: Vec<Arc<dyn TaskDriver>> = vec![Arc::new(RawExecDriver::new())];
    let client_config = ClientConfig {
        data_dir: data_dir.clone(),
        node_name: args.node_name.clone(),
        datacenter: args.dc.clone(),
        region: args.region.clone(),
        address: args.bind.to_string(),
        http_addr: http_addr.to_string(),
        ..ClientConfig::default()
    };
    let client = ClientAgent::start(
        client_config,
        Arc::new(LocalServer(server.clone())),
        drivers,
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
    let api = Api::new(server, agent).with_client(Arc::new(LocalClient(client.clone())));

    eprintln!("==> Caravan agent configuration:\n");
    eprintln!("       Advertise Addrs: HTTP: {http_addr}");
    eprintln!("            Bind Addrs: HTTP: {http_addr}");
    eprintln!("                Client: true");
    eprintln!("             Log Level: {}", args.log_level);
    eprintln!("                Region: {} (DC: {})", args.region, args.dc);
    eprintln!("                Server: true");
    eprintln!("               Node Id: {}", client.node_id());
    eprintln!("              Data Dir: {}", data_dir.display());
    eprintln!("\n==> Caravan agent started! Log data will stream in below:\n");

    caravan_http::serve(listener, caravan_http::router(api), shutdown_signal())
        .await
        .context("serving the HTTP API")?;
    tracing::info!("shutting down: stopping allocations");
    client.shutdown().await;
    if let Err(e) = std::fs::remove_dir_all(&data_dir) {
        tracing::debug!(error = %e, "could not remove the data dir");
    }
    Ok(())
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
