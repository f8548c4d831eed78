//! `caravan tls ca create` and `caravan tls cert create`: a private CA and the
//! certificates servers, clients and the CLI present on the RPC port (mutual TLS).
//! Files are written to the current directory with Nomad's naming, our prefix.

use std::ffi::OsString;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use caravan_rpc::tls::{CertKind, create_ca, create_cert};
use clap::Parser;

const CA_CERT: &str = "caravan-agent-ca.pem";
const CA_KEY: &str = "caravan-agent-ca-key.pem";

#[derive(Debug, Parser)]
#[command(
    name = "caravan tls",
    about = "Create a CA and certificates for mutual TLS."
)]
enum TlsArgs {
    /// Certificate authority commands.
    #[command(subcommand)]
    Ca(CaCommand),
    /// Certificate commands.
    #[command(subcommand)]
    Cert(CertCommand),
}

#[derive(Debug, clap::Subcommand)]
enum CaCommand {
    /// Create a CA: caravan-agent-ca.pem and caravan-agent-ca-key.pem.
    Create {
        /// Days the CA is valid.
        #[arg(long, default_value_t = 1825)]
        days: u32,
        #[arg(long = "common-name", default_value = "Caravan Agent CA")]
        common_name: String,
    },
}

#[derive(Debug, clap::Subcommand)]
enum CertCommand {
    /// Create a certificate signed by the CA: <region>-<kind>-caravan.pem and its key.
    Create {
        /// A server certificate (server.<region>.nomad).
        #[arg(long)]
        server: bool,
        /// A client certificate (client.<region>.nomad).
        #[arg(long)]
        client: bool,
        /// A certificate for the CLI (cli.<region>.nomad).
        #[arg(long)]
        cli: bool,
        #[arg(long, default_value = "global")]
        region: String,
        #[arg(long, default_value = CA_CERT)]
        ca: PathBuf,
        #[arg(long, default_value = CA_KEY)]
        key: PathBuf,
        /// Days the certificate is valid.
        #[arg(long, default_value_t = 365)]
        days: u32,
        /// Another DNS name to include (repeatable).
        #[arg(long = "additional-dnsname")]
        dns: Vec<String>,
        /// Another IP address to include (repeatable).
        #[arg(long = "additional-ipaddress")]
        ips: Vec<IpAddr>,
    },
}

pub(crate) fn main(args: Vec<OsString>) -> ExitCode {
    let mut args = caravan_cli::normalize_args(args);
    args.remove(0);
    let args = match TlsArgs::try_parse_from(args) {
        Ok(a) => a,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 1 } else { 0 });
        }
    };
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("Error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: TlsArgs) -> anyhow::Result<()> {
    match args {
        TlsArgs::Ca(CaCommand::Create { days, common_name }) => {
            let (cert, key) = create_ca(&common_name, days)
                .map_err(|e| anyhow::anyhow!("creating the CA: {e}"))?;
            write_new(Path::new(CA_CERT), &cert)?;
            write_new(Path::new(CA_KEY), &key)?;
            println!("==> CA certificate saved to: {CA_CERT}");
            println!("==> CA certificate key saved to: {CA_KEY}");
        }
        TlsArgs::Cert(CertCommand::Create {
            server,
            client,
            cli,
            region,
            ca,
            key,
            days,
            dns,
            ips,
        }) => {
            let (kind, name) = match (server, client, cli) {
                (true, false, false) => (CertKind::Server, "server"),
                (false, true, false) => (CertKind::Client, "client"),
                (false, false, true) => (CertKind::Cli, "cli"),
                _ => bail!("give exactly one of -server, -client and -cli"),
            };
            let ca_pem = std::fs::read_to_string(&ca)
                .with_context(|| format!("reading the CA certificate {}", ca.display()))?;
            let key_pem = std::fs::read_to_string(&key)
                .with_context(|| format!("reading the CA key {}", key.display()))?;
            let (cert, cert_key) = create_cert(&ca_pem, &key_pem, kind, &region, &dns, &ips, days)
                .map_err(|e| anyhow::anyhow!("creating the certificate: {e}"))?;
            let cert_file = format!("{region}-{name}-caravan.pem");
            let key_file = format!("{region}-{name}-caravan-key.pem");
            write_new(Path::new(&cert_file), &cert)?;
            write_new(Path::new(&key_file), &cert_key)?;
            println!("==> Certificate saved to: {cert_file}");
            println!("==> Certificate key saved to: {key_file}");
        }
    }
    Ok(())
}

/// Writes a file that must not exist yet (keys are never overwritten), private to
/// its owner.
fn write_new(path: &Path, text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("creating {} (it must not exist yet)", path.display()))?;
    file.write_all(text.as_bytes())
        .with_context(|| format!("writing {}", path.display()))
}
