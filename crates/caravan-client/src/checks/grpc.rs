//! The grpc probe: one call of the standard health RPC
//! (`grpc.health.v1.Health/Check`) over HTTP/2 without TLS (h2c with prior
//! knowledge, as gRPC does), on a fresh TCP connection.
//!
//! Passing only when the call succeeds and says SERVING; NOT_SERVING,
//! SERVICE_UNKNOWN, UNKNOWN, a non-zero `grpc-status` and every error are failures,
//! with Consul's and Nomad's providers alike (a grpc check has no warning).
//!
//! The output follows Consul's, with the target (`host:port`, then `/service` when
//! the check names one) always in front: `gRPC check 10.0.0.1:9090/db: success`,
//! `gRPC check 10.0.0.1:9090/db: serving status: NOT_SERVING`,
//! `gRPC check 10.0.0.1:9090: rpc error: code = Unimplemented desc = ...`.

use std::pin::pin;
use std::time::Duration;

use bytes::Bytes;
use h2::client::SendRequest;
use http::header::{CONTENT_TYPE, TE, USER_AGENT};
use http::{HeaderMap, Method, Request, StatusCode};
use tokio::net::TcpStream;

use super::error::CheckError;
use super::grpc_wire::{self, GrpcCode, HEALTH_CHECK_PATH, MAX_BODY_BYTES, ServingStatus};
use super::probe_result::{ProbeResult, output_text};
use super::spec::{CheckAddress, CheckSpec};

/// Runs a grpc check once, within its timeout.
pub async fn probe_grpc(check: &CheckSpec) -> ProbeResult {
    if check.check.grpc_use_tls {
        return ProbeResult::failure("grpc checks with TLS are not supported yet");
    }
    let Some(address) = &check.address else {
        return ProbeResult::failure(format!("gRPC check: {}", CheckError::NoAddress));
    };
    let service = check.check.grpc_service.as_str();
    // Nomad's target for Consul: the address, and the service after a slash.
    let target = if service.is_empty() {
        address.to_string()
    } else {
        format!("{address}/{service}")
    };
    let prefix = format!("gRPC check {target}");
    let timeout = check.timeout();
    match tokio::time::timeout(timeout, exchange(address, service, timeout)).await {
        Err(_) => ProbeResult::failure(format!(
            "{prefix}: timeout after {}",
            caravan_model::Duration::from(timeout)
        )),
        Ok(Err(error)) => ProbeResult::failure(format!("{prefix}: {error}")),
        Ok(Ok(Answer::Status(status))) if status.is_serving() => {
            ProbeResult::ok(format!("{prefix}: success"))
        }
        Ok(Ok(Answer::Status(status))) => {
            ProbeResult::failure(format!("{prefix}: serving status: {status}"))
        }
        // grpc-go's wording, which is what Consul shows.
        Ok(Ok(Answer::Error { code, message })) => ProbeResult::failure(format!(
            "{prefix}: rpc error: code = {code} desc = {}",
            output_text(message.as_bytes())
        )),
    }
}

/// How the call ended, when it ended in gRPC terms.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Answer {
    /// `grpc-status` 0 and the service's status.
    Status(ServingStatus),
    /// A non-zero `grpc-status` (or an HTTP status that maps to one).
    Error { code: GrpcCode, message: String },
}

/// Connects, makes the call and drives the connection until the call ends. The
/// connection lives inside this future, so a timeout that drops it closes the
/// socket and leaves nothing running.
async fn exchange(
    address: &CheckAddress,
    service: &str,
    timeout: Duration,
) -> Result<Answer, CheckError> {
    let body = grpc_wire::frame(&grpc_wire::encode_health_request(service))?;
    let stream = TcpStream::connect((address.host.as_str(), address.port)).await?;
    // One small request: do not let Nagle hold it back.
    stream.set_nodelay(true)?;
    let (client, connection) = h2::client::handshake(stream).await?;
    let mut connection = pin!(connection);
    let authority = address.to_string();
    let mut call = pin!(call(client, &authority, body, timeout));
    tokio::select! {
        answer = &mut call => answer,
        // The connection ended first (closed or broken); the call ends too, with
        // what the server sent before or with the connection's error.
        _ = &mut connection => call.await,
    }
}

/// The health call on an established connection.
async fn call(
    client: SendRequest<Bytes>,
    authority: &str,
    body: Vec<u8>,
    timeout: Duration,
) -> Result<Answer, CheckError> {
    let mut client = client.ready().await?;
    let request = Request::builder()
        .method(Method::POST)
        .uri(format!("http://{authority}{HEALTH_CHECK_PATH}"))
        .header(CONTENT_TYPE, "application/grpc")
        .header(TE, "trailers")
        .header(USER_AGENT, "Caravan Health Check")
        .header("grpc-timeout", grpc_wire::timeout_header(timeout))
        .body(())
        .map_err(|error| CheckError::InvalidRequest(error.to_string()))?;
    let (response, mut send) = client.send_request(request, false)?;
    send.send_data(Bytes::from(body), true)?;
    let (head, mut body) = response.await?.into_parts();

    // As grpc-go: an HTTP error is reported as the gRPC code it maps to.
    if head.status != StatusCode::OK {
        return Ok(Answer::Error {
            code: code_for_http_status(head.status),
            message: format!(
                "unexpected HTTP status code received from server: {}",
                head.status
            ),
        });
    }
    let content_type = head
        .headers
        .get(CONTENT_TYPE)
        .map(|value| value.as_bytes())
        .unwrap_or_default();
    if !content_type.starts_with(b"application/grpc") {
        return Err(CheckError::MalformedResponse(format!(
            "content-type {:?} is not application/grpc",
            String::from_utf8_lossy(content_type)
        )));
    }

    let mut data = Vec::new();
    while let Some(chunk) = body.data().await {
        let chunk = chunk?;
        body.flow_control().release_capacity(chunk.len())?;
        if data.len() + chunk.len() > MAX_BODY_BYTES {
            return Err(CheckError::MalformedResponse(format!(
                "response body over {MAX_BODY_BYTES} bytes"
            )));
        }
        data.extend_from_slice(&chunk);
    }
    let trailers = body.trailers().await?;

    // A failed call may come "trailers-only": the status in the response headers.
    let status = trailers
        .as_ref()
        .and_then(grpc_status)
        .or_else(|| grpc_status(&head.headers));
    let Some((code, message)) = status else {
        return Err(CheckError::MalformedResponse(
            "no grpc-status in the response".to_owned(),
        ));
    };
    let code = code?;
    if code != GrpcCode::OK {
        return Ok(Answer::Error { code, message });
    }
    let message = grpc_wire::first_message(&data)?
        .ok_or_else(|| CheckError::MalformedResponse("no health response message".to_owned()))?;
    Ok(Answer::Status(grpc_wire::decode_health_response(message)?))
}

/// `grpc-status` (parsed) and `grpc-message` (decoded) from a header block, when it
/// has a status.
fn grpc_status(headers: &HeaderMap) -> Option<(Result<GrpcCode, CheckError>, String)> {
    let code = GrpcCode::parse(headers.get("grpc-status")?.as_bytes());
    let message = headers
        .get("grpc-message")
        .map(|value| grpc_wire::decode_grpc_message(value.as_bytes()))
        .unwrap_or_default();
    Some((code, message))
}

/// gRPC's mapping of HTTP status codes, for a response that is not a call's.
fn code_for_http_status(status: StatusCode) -> GrpcCode {
    match status.as_u16() {
        400 => GrpcCode(13),             // Internal
        401 => GrpcCode(16),             // Unauthenticated
        403 => GrpcCode(7),              // PermissionDenied
        404 => GrpcCode::UNIMPLEMENTED,  // Unimplemented
        429 | 502..=504 => GrpcCode(14), // Unavailable
        _ => GrpcCode::UNKNOWN,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::net::SocketAddr;

    use caravan_model::ServiceCheck;
    use h2::server::SendResponse;
    use http::Response;
    use tokio::io::AsyncWriteExt;
    use tokio::net::TcpListener;
    use tokio::sync::mpsc;

    use super::super::probe_result::ProbeOutcome;
    use super::super::spec::Provider;
    use super::*;

    /// How the test server answers every call.
    #[derive(Debug, Clone, Copy)]
    enum Mode {
        /// The health service: "" is SERVING, "db" NOT_SERVING, "batch"
        /// SERVICE_UNKNOWN, "quiet" an empty message (UNKNOWN), anything else the
        /// NOT_FOUND that grpc-go's health server answers, trailers-only.
        Health,
        /// A gRPC server without the health service: UNIMPLEMENTED, trailers-only.
        Unimplemented,
        /// Takes the call and never answers it.
        Silent,
    }

    /// What the server saw of one call.
    #[derive(Debug, PartialEq, Eq)]
    struct Seen {
        method: String,
        path: String,
        content_type: String,
        te: String,
        grpc_timeout: String,
        service: String,
    }

    /// An h2c server (HTTP/2 with prior knowledge) in a task, reporting each call.
    async fn grpc_server(mode: Mode) -> (SocketAddr, mpsc::UnboundedReceiver<Seen>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let tx = tx.clone();
                tokio::spawn(async move {
                    let mut connection = h2::server::handshake(stream).await.unwrap();
                    // Accepting also drives the connection, so calls are answered in
                    // tasks of their own.
                    while let Some(Ok((request, respond))) = connection.accept().await {
                        tokio::spawn(answer(mode, request, respond, tx.clone()));
                    }
                });
            }
        });
        (addr, rx)
    }

    async fn answer(
        mode: Mode,
        request: Request<h2::RecvStream>,
        mut respond: SendResponse<Bytes>,
        tx: mpsc::UnboundedSender<Seen>,
    ) {
        let (head, mut body) = request.into_parts();
        let mut data = Vec::new();
        while let Some(chunk) = body.data().await {
            data.extend_from_slice(&chunk.unwrap());
        }
        let header = |name: &str| {
            head.headers
                .get(name)
                .map(|v| v.to_str().unwrap().to_owned())
                .unwrap_or_default()
        };
        let service = decode_request(grpc_wire::first_message(&data).unwrap().unwrap());
        tx.send(Seen {
            method: head.method.to_string(),
            path: head.uri.path().to_owned(),
            content_type: header("content-type"),
            te: header("te"),
            grpc_timeout: header("grpc-timeout"),
            service: service.clone(),
        })
        .unwrap();
        match (mode, service.as_str()) {
            (Mode::Silent, _) => {
                // Hold the stream open (dropping `respond` would reset it).
                std::future::pending::<()>().await;
                drop(respond);
            }
            (Mode::Unimplemented, _) => {
                trailers_only(&mut respond, "12", "unknown service grpc.health.v1.Health")
            }
            (Mode::Health, "") => reply(&mut respond, b"\x08\x01"),
            (Mode::Health, "db") => reply(&mut respond, b"\x08\x02"),
            (Mode::Health, "batch") => reply(&mut respond, b"\x08\x03"),
            (Mode::Health, "quiet") => reply(&mut respond, b""),
            (Mode::Health, _) => trailers_only(&mut respond, "5", "unknown%20service"),
        }
    }

    /// The test's own reading of `HealthCheckRequest`, to check the client's bytes.
    fn decode_request(message: &[u8]) -> String {
        match message {
            [] => String::new(),
            [0x0a, len, rest @ ..] => {
                assert_eq!(usize::from(*len), rest.len(), "one-byte length");
                String::from_utf8(rest.to_vec()).unwrap()
            }
            other => panic!("unexpected request {other:?}"),
        }
    }

    fn grpc_response(extra: &[(&str, &str)]) -> Response<()> {
        let mut response = Response::builder()
            .status(200)
            .header("content-type", "application/grpc");
        for (name, value) in extra {
            response = response.header(*name, *value);
        }
        response.body(()).unwrap()
    }

    fn reply(respond: &mut SendResponse<Bytes>, message: &[u8]) {
        let mut send = respond.send_response(grpc_response(&[]), false).unwrap();
        let framed = grpc_wire::frame(message).unwrap();
        send.send_data(Bytes::from(framed), false).unwrap();
        let mut trailers = HeaderMap::new();
        trailers.insert("grpc-status", "0".parse().unwrap());
        send.send_trailers(trailers).unwrap();
    }

    fn trailers_only(respond: &mut SendResponse<Bytes>, code: &str, message: &str) {
        let response = grpc_response(&[("grpc-status", code), ("grpc-message", message)]);
        respond.send_response(response, true).unwrap();
    }

    fn check(addr: Option<SocketAddr>, service: &str, timeout: Duration) -> CheckSpec {
        CheckSpec {
            id: "g".into(),
            name: "g-check".into(),
            service: "api".into(),
            task: String::new(),
            provider: Provider::Consul,
            check: ServiceCheck {
                name: "g-check".into(),
                check_type: "grpc".into(),
                grpc_service: service.into(),
                timeout: timeout.into(),
                ..ServiceCheck::default()
            },
            address: addr.map(CheckAddress::from),
        }
    }

    const PATIENCE: Duration = Duration::from_secs(30);

    #[tokio::test]
    async fn serving_is_passing_and_every_other_status_is_critical() {
        let (addr, mut seen) = grpc_server(Mode::Health).await;

        // The server's overall health: an empty request, SERVING.
        let result = probe_grpc(&check(Some(addr), "", PATIENCE)).await;
        assert_eq!(
            result,
            ProbeResult::ok(format!("gRPC check {addr}: success"))
        );
        assert_eq!(
            seen.recv().await.unwrap(),
            Seen {
                method: "POST".into(),
                path: "/grpc.health.v1.Health/Check".into(),
                content_type: "application/grpc".into(),
                te: "trailers".into(),
                grpc_timeout: "30000m".into(),
                service: String::new(),
            }
        );

        // A named service that is down.
        let result = probe_grpc(&check(Some(addr), "db", PATIENCE)).await;
        assert_eq!(
            result,
            ProbeResult::failure(format!("gRPC check {addr}/db: serving status: NOT_SERVING"))
        );
        assert_eq!(seen.recv().await.unwrap().service, "db");

        // SERVICE_UNKNOWN and a message without a status (UNKNOWN) are not healthy.
        let result = probe_grpc(&check(Some(addr), "batch", PATIENCE)).await;
        assert_eq!(
            result.output,
            format!("gRPC check {addr}/batch: serving status: SERVICE_UNKNOWN")
        );
        assert_eq!(result.outcome, ProbeOutcome::Failure);
        let result = probe_grpc(&check(Some(addr), "quiet", PATIENCE)).await;
        assert_eq!(
            result,
            ProbeResult::failure(format!("gRPC check {addr}/quiet: serving status: UNKNOWN"))
        );

        // A service the server does not know: NOT_FOUND, trailers-only, the message
        // percent-decoded.
        let result = probe_grpc(&check(Some(addr), "nope", PATIENCE)).await;
        assert_eq!(
            result,
            ProbeResult::failure(format!(
                "gRPC check {addr}/nope: rpc error: code = NotFound desc = unknown service"
            ))
        );

        // Nomad's provider has the same two outcomes.
        let mut nomad = check(Some(addr), "db", PATIENCE);
        nomad.provider = Provider::Nomad;
        assert_eq!(probe_grpc(&nomad).await.outcome, ProbeOutcome::Failure);
        nomad.check.grpc_service = String::new();
        assert_eq!(probe_grpc(&nomad).await.outcome, ProbeOutcome::Ok);
    }

    #[tokio::test]
    async fn a_server_without_the_health_service_is_critical_with_its_message() {
        let (addr, _seen) = grpc_server(Mode::Unimplemented).await;
        let result = probe_grpc(&check(Some(addr), "", PATIENCE)).await;
        assert_eq!(
            result,
            ProbeResult::failure(format!(
                "gRPC check {addr}: rpc error: code = Unimplemented \
                 desc = unknown service grpc.health.v1.Health"
            ))
        );
    }

    #[tokio::test]
    async fn a_server_that_never_answers_times_out() {
        let (addr, mut seen) = grpc_server(Mode::Silent).await;
        let timeout = Duration::from_millis(300);
        let start = tokio::time::Instant::now();
        let result = probe_grpc(&check(Some(addr), "db", timeout)).await;
        assert_eq!(
            result,
            ProbeResult::failure(format!("gRPC check {addr}/db: timeout after 300ms"))
        );
        assert!(start.elapsed() >= timeout);
        // The call did reach the server: the timeout is the answer's, not the
        // connection's.
        assert_eq!(seen.recv().await.unwrap().grpc_timeout, "300m");
    }

    #[tokio::test]
    async fn errors_are_failures_saying_why() {
        // TLS is not written yet.
        let mut tls = check(Some("127.0.0.1:1".parse().unwrap()), "", PATIENCE);
        tls.check.grpc_use_tls = true;
        assert_eq!(
            probe_grpc(&tls).await,
            ProbeResult::failure("grpc checks with TLS are not supported yet")
        );

        assert_eq!(
            probe_grpc(&check(None, "", PATIENCE)).await,
            ProbeResult::failure("gRPC check: no address to check")
        );

        // Nobody listening.
        let closed = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let closed_addr = closed.local_addr().unwrap();
        drop(closed);
        let result = probe_grpc(&check(Some(closed_addr), "", PATIENCE)).await;
        assert_eq!(result.outcome, ProbeOutcome::Failure);
        assert!(
            result
                .output
                .starts_with(&format!("gRPC check {closed_addr}: ")),
            "{}",
            result.output
        );

        // An HTTP/1.1 server that does not speak h2c.
        let http1 = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let http1_addr = http1.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = http1.accept().await {
                let _ = stream
                    .write_all(b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n")
                    .await;
            }
        });
        let result = probe_grpc(&check(Some(http1_addr), "", PATIENCE)).await;
        assert_eq!(result.outcome, ProbeOutcome::Failure);
        assert!(
            result
                .output
                .starts_with(&format!("gRPC check {http1_addr}: http2: ")),
            "{}",
            result.output
        );
    }

    #[test]
    fn http_errors_map_to_grpc_codes() {
        let name =
            |code: u16| code_for_http_status(StatusCode::from_u16(code).unwrap()).to_string();
        assert_eq!(name(404), "Unimplemented");
        assert_eq!(name(503), "Unavailable");
        assert_eq!(name(401), "Unauthenticated");
        assert_eq!(name(500), "Unknown");
    }
}
