//! Mutual TLS for the RPC port: loading an agent's CA, certificate and key into rustls
//! configurations, and creating certificates (`certs`).
//!
//! An agent's certificate serves both ways, as in Nomad: the server presents it and
//! requires peers to present one chaining to the same CA; the client presents it and
//! checks the server's against the CA, and, with `verify_server_hostname`, that it
//! names `server.<region>.nomad`.

mod certs;
mod verifier;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use rustls_pki_types::pem::{self, PemObject};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};

pub use certs::{CertKind, create_ca, create_cert};

/// Failures loading or creating TLS material. Each names the file or step.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A PEM file could not be read or held nothing usable.
    #[error("reading {what} {path}: {reason}")]
    Read {
        /// "CA certificate", "certificate" or "private key".
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// Why, in lowercase words.
        reason: String,
    },
    /// The material was read but rustls refused it (a key not matching the certificate,
    /// an unusable CA...).
    #[error("building tls configuration: {0}")]
    Config(String),
    /// A name that is not a valid DNS name for a certificate or a server name.
    #[error("invalid name {name:?}: {reason}")]
    InvalidName {
        /// The offending name.
        name: String,
        /// Why it is refused.
        reason: String,
    },
    /// Certificate creation failed.
    #[error("{step}: {reason}")]
    Create {
        /// What was being done, e.g. "reading the CA key".
        step: &'static str,
        /// The underlying failure.
        reason: String,
    },
}

/// The three files of an agent's `tls` block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// The CA certificate(s) peers must chain to.
    pub ca_file: PathBuf,
    /// This agent's certificate (and intermediates), presented both as server and client.
    pub cert_file: PathBuf,
    /// This agent's private key.
    pub key_file: PathBuf,
    /// Check that a server's certificate names `server.<region>.nomad`.
    pub verify_server_hostname: bool,
}

/// What a client needs to open TLS connections: the rustls configuration and the
/// server name to ask for (and, with hostname verification, to check).
#[derive(Clone)]
pub struct ClientTls {
    config: Arc<ClientConfig>,
    server_name: ServerName<'static>,
}

impl fmt::Debug for ClientTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientTls")
            .field("server_name", &self.server_name)
            .finish_non_exhaustive()
    }
}

impl ClientTls {
    /// A client identity from an existing configuration; `server_name` is a DNS name
    /// or an IP address.
    pub fn new(config: Arc<ClientConfig>, server_name: &str) -> Result<Self, TlsError> {
        let server_name =
            ServerName::try_from(server_name.to_string()).map_err(|e| TlsError::InvalidName {
                name: server_name.to_string(),
                reason: e.to_string(),
            })?;
        Ok(Self {
            config,
            server_name,
        })
    }

    /// The rustls configuration.
    pub fn config(&self) -> &Arc<ClientConfig> {
        &self.config
    }

    /// The name sent in SNI and, with hostname verification, checked.
    pub fn server_name(&self) -> &ServerName<'static> {
        &self.server_name
    }
}

/// The name every server certificate of `region` carries.
pub fn server_name_for(region: &str) -> String {
    format!("server.{region}.nomad")
}

/// The crypto provider used everywhere in this crate, chosen explicitly so a process
/// that links another provider does not make rustls' default ambiguous.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Loads an agent's TLS files into a server configuration (client certificates
/// required, chaining to the CA) and a client identity for `region`.
pub fn load(files: &TlsFiles, region: &str) -> Result<(Arc<ServerConfig>, ClientTls), TlsError> {
    let roots = Arc::new(read_roots(&files.ca_file)?);
    let chain = read_chain(&files.cert_file)?;
    let key = read_key(&files.key_file)?;
    let provider = provider();

    let client_verifier =
        WebPkiClientVerifier::builder_with_provider(roots.clone(), provider.clone())
            .build()
            .map_err(|e| TlsError::Config(format!("client certificate verifier: {e}")))?;
    let server = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config(e.to_string()))?
        .with_client_cert_verifier(client_verifier)
        .with_single_cert(chain.clone(), key.clone_key())
        .map_err(|e| TlsError::Config(format!("server certificate: {e}")))?;

    let server_verifier =
        rustls::client::WebPkiServerVerifier::builder_with_provider(roots, provider.clone())
            .build()
            .map_err(|e| TlsError::Config(format!("server certificate verifier: {e}")))?;
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config(e.to_string()))?;
    let builder = if files.verify_server_hostname {
        builder.with_webpki_verifier(server_verifier)
    } else {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier::ChainOnly::new(server_verifier)))
    };
    let client = builder
        .with_client_auth_cert(chain, key)
        .map_err(|e| TlsError::Config(format!("client certificate: {e}")))?;

    let client = ClientTls::new(Arc::new(client), &server_name_for(region))?;
    Ok((Arc::new(server), client))
}

fn read_error(what: &'static str, path: &Path, e: pem::Error) -> TlsError {
    let reason = match e {
        pem::Error::NoItemsFound => match what {
            "private key" => "no private key found".to_string(),
            _ => "no certificate found".to_string(),
        },
        pem::Error::Io(io) => io.to_string(),
        other => format!("invalid pem: {other}"),
    };
    TlsError::Read {
        what,
        path: path.to_path_buf(),
        reason,
    }
}

fn read_certs(what: &'static str, path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| read_error(what, path, e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| read_error(what, path, e))?;
    if certs.is_empty() {
        return Err(read_error(what, path, pem::Error::NoItemsFound));
    }
    Ok(certs)
}

fn read_roots(path: &Path) -> Result<RootCertStore, TlsError> {
    const WHAT: &str = "CA certificate";
    let mut roots = RootCertStore::empty();
    for cert in read_certs(WHAT, path)? {
        roots.add(cert).map_err(|e| TlsError::Read {
            what: WHAT,
            path: path.to_path_buf(),
            reason: format!("unusable certificate: {e}"),
        })?;
    }
    Ok(roots)
}

fn read_chain(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    read_certs("certificate", path)
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| read_error("private key", path, e))
}

/// The valid DNS names in a certificate's SAN; empty if it does not parse (it was
/// already verified by then, so that does not happen in practice).
pub(crate) fn dns_names(cert: &CertificateDer<'_>) -> Vec<String> {
    match webpki::EndEntityCert::try_from(cert) {
        Ok(ee) => ee.valid_dns_names().map(str::to_string).collect(),
        Err(_) => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ca = dir.path().join("ca.pem");
        std::fs::write(&ca, "not a pem\n").expect("write");
        let files = TlsFiles {
            ca_file: ca.clone(),
            cert_file: dir.path().join("missing.pem"),
            key_file: dir.path().join("key.pem"),
            verify_server_hostname: true,
        };
        let err = load(&files, "global").expect_err("empty ca");
        assert_eq!(
            err.to_string(),
            format!(
                "reading CA certificate {}: no certificate found",
                ca.display()
            )
        );

        let (ca_pem, _) = create_ca("test ca", 1).expect("ca");
        std::fs::write(&ca, ca_pem).expect("write");
        let err = load(&files, "global").expect_err("missing cert");
        assert!(
            err.to_string().starts_with(&format!(
                "reading certificate {}:",
                files.cert_file.display()
            )),
            "{err}"
        );
    }

    #[test]
    fn a_key_file_without_a_key_is_named() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (ca_pem, ca_key) = create_ca("test ca", 1).expect("ca");
        let (cert, _) =
            create_cert(&ca_pem, &ca_key, CertKind::Server, "global", &[], &[], 1).expect("cert");
        let files = TlsFiles {
            ca_file: dir.path().join("ca.pem"),
            cert_file: dir.path().join("cert.pem"),
            key_file: dir.path().join("key.pem"),
            verify_server_hostname: true,
        };
        std::fs::write(&files.ca_file, &ca_pem).expect("write");
        std::fs::write(&files.cert_file, &cert).expect("write");
        // The certificate where the key should be.
        std::fs::write(&files.key_file, &cert).expect("write");
        let err = load(&files, "global").expect_err("no key");
        assert_eq!(
            err.to_string(),
            format!(
                "reading private key {}: no private key found",
                files.key_file.display()
            )
        );
    }
}
