//! The http probe: one HTTP/1.1 exchange over a fresh TCP connection (no TLS, no
//! redirects, no keep-alive), judged by its status code.
//!
//! The output follows Consul's: `HTTP GET http://10.0.0.1:8080/health: 503 Service
//! Unavailable Output: <the first 4 KiB of the body>`.

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::error::CheckError;
use super::http_wire::{self, BodyFraming, HttpRequest, MAX_HEAD_BYTES, ResponseHead};
use super::probe_result::{MAX_OUTPUT_BYTES, ProbeResult, output_text};
use super::spec::{CheckAddress, CheckSpec};

/// Runs an http check once, within its timeout.
pub async fn probe_http(check: &CheckSpec) -> ProbeResult {
    match check.check.protocol.as_str() {
        "" | "http" => {}
        "https" => return ProbeResult::failure("https checks are not supported yet"),
        other => return ProbeResult::failure(format!("unknown http check protocol {other:?}")),
    }
    let Some(address) = &check.address else {
        return ProbeResult::failure(format!("HTTP check: {}", CheckError::NoAddress));
    };
    let authority = address.to_string();
    let request = HttpRequest {
        method: &check.check.method,
        authority: &authority,
        path: &check.check.path,
        headers: &check.check.header,
        body: &check.check.body,
    };
    let prefix = format!(
        "HTTP {} http://{authority}{}",
        request.method(),
        request.target()
    );
    let timeout = check.timeout();
    match tokio::time::timeout(timeout, exchange(address, &request)).await {
        Err(_) => ProbeResult::failure(format!(
            "{prefix}: timeout after {}",
            caravan_model::Duration::from(timeout)
        )),
        Ok(Err(error)) => ProbeResult::failure(format!("{prefix}: {error}")),
        Ok(Ok((head, body))) => ProbeResult::new(
            http_wire::classify(head.code, check.provider),
            format!(
                "{prefix}: {} Output: {}",
                head.status_text(),
                output_text(&body)
            ),
        ),
    }
}

/// Sends the request and reads the head and up to [`MAX_OUTPUT_BYTES`] of the body.
async fn exchange(
    address: &CheckAddress,
    request: &HttpRequest<'_>,
) -> Result<(ResponseHead, Vec<u8>), CheckError> {
    let bytes = request.encode()?;
    let mut stream = TcpStream::connect((address.host.as_str(), address.port)).await?;
    stream.write_all(&bytes).await?;
    let mut buf = Vec::with_capacity(1024);
    let (head, used) = loop {
        if let Some(found) = http_wire::parse_head(&buf, request.method())? {
            break found;
        }
        if read_more(&mut stream, &mut buf).await? == 0 {
            return Err(CheckError::ConnectionClosed);
        }
    };
    let mut raw = buf.split_off(used);
    let body = match head.framing {
        BodyFraming::None => Vec::new(),
        BodyFraming::Length(length) => {
            let want = length.min(MAX_OUTPUT_BYTES);
            fill(&mut stream, &mut raw, want).await?;
            raw.truncate(want);
            raw
        }
        BodyFraming::UntilClose => {
            fill(&mut stream, &mut raw, MAX_OUTPUT_BYTES).await?;
            raw.truncate(MAX_OUTPUT_BYTES);
            raw
        }
        BodyFraming::Chunked => loop {
            let decoded = http_wire::decode_chunked(&raw, MAX_OUTPUT_BYTES)?;
            // Chunk framing is small; a server that sends much more of it than data
            // gets what it sent so far.
            if decoded.done || raw.len() > MAX_OUTPUT_BYTES + MAX_HEAD_BYTES {
                break decoded.body;
            }
            if read_more(&mut stream, &mut raw).await? == 0 {
                break decoded.body;
            }
        },
    };
    Ok((head, body))
}

/// Reads until `raw` holds `want` bytes or the server closes the connection.
async fn fill(stream: &mut TcpStream, raw: &mut Vec<u8>, want: usize) -> Result<(), CheckError> {
    while raw.len() < want {
        if read_more(stream, raw).await? == 0 {
            break;
        }
    }
    Ok(())
}

async fn read_more(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Result<usize, CheckError> {
    let mut chunk = [0u8; 4096];
    let n = stream.read(&mut chunk).await?;
    buf.extend_from_slice(&chunk[..n]);
    Ok(n)
}
