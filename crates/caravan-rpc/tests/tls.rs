//! Mutual TLS end to end, with certificates from `create_ca` / `create_cert`.

mod common;

use std::path::Path;
use std::sync::Arc;

use caravan_rpc::tls::{self, CertKind, ClientTls, TlsFiles, create_ca, create_cert};
use caravan_rpc::{ErrorKind, RpcClient, RpcError};
use common::{LONG, TestHandler, start};
use rustls_pki_types::pem::PemObject as _;
use serde_json::{Value, json};

/// A CA's PEM pair.
struct Ca {
    cert: String,
    key: String,
}

impl Ca {
    fn new(name: &str) -> Self {
        let (cert, key) = create_ca(name, 30).expect("create ca");
        Self { cert, key }
    }

    /// Writes the CA plus a `kind` certificate into `dir` and returns the files.
    fn files(&self, dir: &Path, kind: CertKind, verify_server_hostname: bool) -> TlsFiles {
        let (cert, key) =
            create_cert(&self.cert, &self.key, kind, "global", &[], &[], 30).expect("create cert");
        self.files_with(dir, &cert, &key, verify_server_hostname)
    }

    fn files_with(&self, dir: &Path, cert: &str, key: &str, verify: bool) -> TlsFiles {
        std::fs::create_dir_all(dir).expect("mkdir");
        let files = TlsFiles {
            ca_file: dir.join("ca.pem"),
            cert_file: dir.join("cert.pem"),
            key_file: dir.join("key.pem"),
            verify_server_hostname: verify,
        };
        std::fs::write(&files.ca_file, &self.cert).expect("write ca");
        std::fs::write(&files.cert_file, cert).expect("write cert");
        std::fs::write(&files.key_file, key).expect("write key");
        files
    }
}

async fn call_whoami(client: &RpcClient, addr: &str) -> Result<Value, RpcError> {
    client.call(addr, "whoami", json!({}), LONG).await
}

fn assert_refused(result: Result<Value, RpcError>, handler: &TestHandler) {
    let err = result.expect_err("the handshake must fail");
    assert!(
        matches!(err.kind, ErrorKind::Tls | ErrorKind::Transport),
        "{err}"
    );
    assert_eq!(handler.calls(), 0, "no request may reach the handler");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agents_with_certificates_from_one_ca_talk() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = Ca::new("Caravan Agent CA");
    let (server_tls, _) = tls::load(
        &ca.files(&dir.path().join("server"), CertKind::Server, true),
        "global",
    )
    .expect("load server");
    let (_, client_tls) = tls::load(
        &ca.files(&dir.path().join("client"), CertKind::Client, true),
        "global",
    )
    .expect("load client");
    let handler = TestHandler::new();
    let server = start(Some(server_tls), handler.clone()).await;
    let client = RpcClient::new(Some(client_tls));

    // The handler sees the verified client certificate's names.
    assert_eq!(
        call_whoami(&client, &server.addr).await,
        Ok(json!(["client.global.nomad", "localhost"]))
    );
    let sum: i64 = client
        .call_typed(&server.addr, "sum", &vec![40, 2], LONG)
        .await
        .expect("sum");
    assert_eq!(sum, 42);

    // A cli certificate (client auth only) may call too.
    let (_, cli_tls) = tls::load(
        &ca.files(&dir.path().join("cli"), CertKind::Cli, true),
        "global",
    )
    .expect("load cli");
    assert_eq!(
        call_whoami(&RpcClient::new(Some(cli_tls)), &server.addr).await,
        Ok(json!(["cli.global.nomad"]))
    );

    // Plain TCP to a TLS port gets nowhere.
    let plain = RpcClient::new(None);
    let err = plain
        .call(&server.addr, "echo", json!(1), LONG)
        .await
        .expect_err("plain to tls");
    assert_eq!(err.kind, ErrorKind::Transport);
    assert_eq!(handler.calls(), 3);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_without_a_certificate_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = Ca::new("ca");
    let (server_tls, _) = tls::load(
        &ca.files(&dir.path().join("server"), CertKind::Server, true),
        "global",
    )
    .expect("load server");
    let handler = TestHandler::new();
    let server = start(Some(server_tls), handler.clone()).await;

    // Trusts the CA but presents nothing.
    let mut roots = rustls::RootCertStore::empty();
    let ca_der =
        rustls_pki_types::CertificateDer::from_pem_slice(ca.cert.as_bytes()).expect("ca der");
    roots.add(ca_der).expect("add root");
    let config = rustls::ClientConfig::builder_with_provider(tls::provider())
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    let anonymous = ClientTls::new(Arc::new(config), "server.global.nomad").expect("client tls");
    assert_refused(
        call_whoami(&RpcClient::new(Some(anonymous)), &server.addr).await,
        &handler,
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_from_another_ca_is_refused_both_ways() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ours = Ca::new("ours");
    let theirs = Ca::new("theirs");
    let (server_tls, _) = tls::load(
        &ours.files(&dir.path().join("server"), CertKind::Server, true),
        "global",
    )
    .expect("load server");
    let handler = TestHandler::new();
    let server = start(Some(server_tls), handler.clone()).await;

    // The client trusts our CA but its own certificate is from theirs: the server
    // refuses it.
    let (cert, key) = create_cert(
        &theirs.cert,
        &theirs.key,
        CertKind::Client,
        "global",
        &[],
        &[],
        30,
    )
    .expect("foreign cert");
    let (_, foreign_client) = tls::load(
        &ours.files_with(&dir.path().join("foreign-client"), &cert, &key, true),
        "global",
    )
    .expect("load foreign client");
    assert_refused(
        call_whoami(&RpcClient::new(Some(foreign_client)), &server.addr).await,
        &handler,
    );

    // The client trusts only their CA: it refuses our server.
    let (_, their_client) = tls::load(
        &theirs.files(&dir.path().join("their-client"), CertKind::Client, true),
        "global",
    )
    .expect("load their client");
    let err = call_whoami(&RpcClient::new(Some(their_client)), &server.addr)
        .await
        .expect_err("unknown issuer");
    assert_eq!(err.kind, ErrorKind::Tls, "{err}");
    assert!(!err.retry);
    assert_eq!(handler.calls(), 0);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_hostname_verification_refuses_a_client_certificate_as_server() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = Ca::new("ca");
    // The "server" presents a client certificate: client.global.nomad.
    let (impostor_tls, _) = tls::load(
        &ca.files(&dir.path().join("impostor"), CertKind::Client, true),
        "global",
    )
    .expect("load impostor");
    let handler = TestHandler::new();
    let server = start(Some(impostor_tls), handler.clone()).await;

    let (_, strict) = tls::load(
        &ca.files(&dir.path().join("strict"), CertKind::Client, true),
        "global",
    )
    .expect("load strict");
    let err = call_whoami(&RpcClient::new(Some(strict)), &server.addr)
        .await
        .expect_err("wrong name");
    assert_eq!(err.kind, ErrorKind::Tls, "{err}");
    assert_eq!(handler.calls(), 0);

    // Without hostname verification the chain is enough.
    let (_, lenient) = tls::load(
        &ca.files(&dir.path().join("lenient"), CertKind::Client, false),
        "global",
    )
    .expect("load lenient");
    assert_eq!(
        call_whoami(&RpcClient::new(Some(lenient)), &server.addr).await,
        Ok(json!(["client.global.nomad", "localhost"]))
    );
    server.stop().await;

    // ...but only the chain: a lenient client still refuses a foreign CA's server.
    let foreign = Ca::new("foreign");
    let (foreign_tls, _) = tls::load(
        &foreign.files(&dir.path().join("foreign"), CertKind::Server, true),
        "global",
    )
    .expect("load foreign");
    let handler = TestHandler::new();
    let server = start(Some(foreign_tls), handler.clone()).await;
    let (_, lenient) = tls::load(
        &ca.files(&dir.path().join("lenient2"), CertKind::Client, false),
        "global",
    )
    .expect("load lenient");
    let err = call_whoami(&RpcClient::new(Some(lenient)), &server.addr)
        .await
        .expect_err("foreign chain");
    assert_eq!(err.kind, ErrorKind::Tls, "{err}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_certificate_for_another_region_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = Ca::new("ca");
    let (cert, key) =
        create_cert(&ca.cert, &ca.key, CertKind::Server, "eu", &[], &[], 30).expect("eu server");
    let (server_tls, _) = tls::load(
        &ca.files_with(&dir.path().join("eu"), &cert, &key, true),
        "eu",
    )
    .expect("load eu");
    let handler = TestHandler::new();
    let server = start(Some(server_tls), handler.clone()).await;
    let (_, global_client) = tls::load(
        &ca.files(&dir.path().join("global"), CertKind::Client, true),
        "global",
    )
    .expect("load global client");
    let err = call_whoami(&RpcClient::new(Some(global_client)), &server.addr)
        .await
        .expect_err("other region");
    assert_eq!(err.kind, ErrorKind::Tls, "{err}");
    server.stop().await;
}
