//! Frames and the JSON messages inside them.
//!
//! A frame is a big-endian `u32` length followed by that many bytes of JSON. Requests
//! are `{"id", "method", "body"}`; responses are `{"id", "ok"}` or `{"id", "err"}`.

use std::io;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufWriter};
use tokio::sync::mpsc;

use crate::error::RpcError;

/// The largest payload a frame may carry (64 MiB). A larger length prefix closes the
/// connection: the stream cannot be resynchronised without reading the payload.
pub const MAX_FRAME_LEN: usize = 64 << 20;

/// Frames up to this size are read into a buffer allocated at once.
const INITIAL_READ_CAPACITY: usize = 64 * 1024;

/// Reads one frame's payload. `Ok(None)` is a clean end of stream between frames.
pub(crate) async fn read_frame<R: AsyncRead + Unpin>(r: &mut R) -> io::Result<Option<Vec<u8>>> {
    let mut len = [0u8; 4];
    // Read the first byte on its own so that EOF here is a clean close, while EOF inside
    // the prefix is an error.
    if r.read(&mut len[..1]).await? == 0 {
        return Ok(None);
    }
    r.read_exact(&mut len[1..]).await?;
    let len = u32::from_be_bytes(len) as usize;
    if len > MAX_FRAME_LEN {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("frame of {len} bytes exceeds the {MAX_FRAME_LEN}-byte limit"),
        ));
    }
    // Grow with the data rather than trusting the prefix: a peer announcing 64 MiB and
    // sending nothing must not cost 64 MiB.
    let mut buf = Vec::with_capacity(len.min(INITIAL_READ_CAPACITY));
    r.take(len as u64).read_to_end(&mut buf).await?;
    if buf.len() != len {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            format!("frame ended after {} of {len} bytes", buf.len()),
        ));
    }
    Ok(Some(buf))
}

/// Writes every payload that arrives on `rx` as a frame, flushing when the queue runs
/// dry so bursts of small responses share a syscall. Returns when `rx` closes or a write
/// fails.
pub(crate) async fn write_loop<W: AsyncWrite + Unpin>(
    w: W,
    mut rx: mpsc::Receiver<Vec<u8>>,
) -> io::Result<()> {
    let mut w = BufWriter::with_capacity(64 * 1024, w);
    while let Some(payload) = rx.recv().await {
        write_frame(&mut w, &payload).await?;
        while let Ok(more) = rx.try_recv() {
            write_frame(&mut w, &more).await?;
        }
        w.flush().await?;
    }
    w.shutdown().await
}

async fn write_frame<W: AsyncWrite + Unpin>(w: &mut W, payload: &[u8]) -> io::Result<()> {
    let len = u32::try_from(payload.len())
        .ok()
        .filter(|l| *l as usize <= MAX_FRAME_LEN)
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("frame of {} bytes exceeds the limit", payload.len()),
            )
        })?;
    w.write_all(&len.to_be_bytes()).await?;
    w.write_all(payload).await
}

/// A request as it is decoded by the server.
#[derive(Debug, Deserialize)]
pub(crate) struct Request {
    pub id: u64,
    pub method: String,
    #[serde(default)]
    pub body: Value,
}

/// A request as the client encodes it (borrowing, to avoid copying the body).
#[derive(Debug, Serialize)]
pub(crate) struct RequestRef<'a> {
    pub id: u64,
    pub method: &'a str,
    pub body: &'a Value,
}

/// Just the id, to answer a request whose other fields do not decode.
#[derive(Debug, Deserialize)]
pub(crate) struct IdOnly {
    pub id: u64,
}

/// A response as it is decoded by the client.
///
/// `ok` is an `Option` only to tell it apart from `err`; a JSON `null` result decodes
/// as `None` and is read back as `Value::Null`.
#[derive(Debug, Deserialize)]
pub(crate) struct Response {
    pub id: u64,
    #[serde(default)]
    pub ok: Option<Value>,
    #[serde(default)]
    pub err: Option<RpcError>,
}

impl Response {
    pub fn into_result(self) -> Result<Value, RpcError> {
        match self.err {
            Some(e) => Err(e),
            None => Ok(self.ok.unwrap_or(Value::Null)),
        }
    }
}

#[derive(Serialize)]
#[serde(untagged)]
enum ResponseRef<'a> {
    Ok { id: u64, ok: &'a Value },
    Err { id: u64, err: &'a RpcError },
}

/// Encodes a response; a result too large for a frame becomes an `internal` error so
/// the caller hears about it instead of waiting for its timeout.
pub(crate) fn encode_response(id: u64, result: &Result<Value, RpcError>) -> Vec<u8> {
    let encoded = match result {
        Ok(ok) => serde_json::to_vec(&ResponseRef::Ok { id, ok }),
        Err(err) => serde_json::to_vec(&ResponseRef::Err { id, err }),
    };
    let err = match encoded {
        Ok(bytes) if bytes.len() <= MAX_FRAME_LEN => return bytes,
        Ok(bytes) => RpcError::internal(format!(
            "response of {} bytes exceeds the {MAX_FRAME_LEN}-byte frame limit",
            bytes.len()
        )),
        Err(e) => RpcError::internal(format!("encoding response: {e}")),
    };
    serde_json::to_vec(&ResponseRef::Err { id, err: &err })
        .expect("invariant: an RpcError always serializes")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    #[tokio::test]
    async fn frames_round_trip_and_eof_is_clean() {
        let (a, mut b) = tokio::io::duplex(1024);
        let (tx, rx) = mpsc::channel(4);
        let writer = tokio::spawn(write_loop(a, rx));
        tx.send(b"hello".to_vec()).await.expect("send");
        tx.send(Vec::new()).await.expect("send");
        drop(tx);
        assert_eq!(
            read_frame(&mut b).await.expect("read"),
            Some(b"hello".to_vec())
        );
        assert_eq!(read_frame(&mut b).await.expect("read"), Some(Vec::new()));
        assert_eq!(read_frame(&mut b).await.expect("read"), None);
        writer.await.expect("join").expect("write");
    }

    #[tokio::test]
    async fn oversized_length_prefix_is_an_error() {
        let (mut a, mut b) = tokio::io::duplex(64);
        a.write_all(&((MAX_FRAME_LEN as u32) + 1).to_be_bytes())
            .await
            .expect("write");
        let err = read_frame(&mut b).await.expect_err("too large");
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
    }

    #[tokio::test]
    async fn truncated_prefix_is_an_error() {
        let (mut a, mut b) = tokio::io::duplex(64);
        a.write_all(&[0, 0]).await.expect("write");
        drop(a);
        assert!(read_frame(&mut b).await.is_err());
    }

    #[tokio::test]
    async fn truncated_payload_is_an_error() {
        let (mut a, mut b) = tokio::io::duplex(64);
        a.write_all(&10u32.to_be_bytes()).await.expect("write");
        a.write_all(b"short").await.expect("write");
        drop(a);
        let err = read_frame(&mut b).await.expect_err("truncated");
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
    }

    #[test]
    fn responses_encode_ok_null_and_err() {
        let ok: Response =
            serde_json::from_slice(&encode_response(7, &Ok(Value::Null))).expect("decode");
        assert_eq!(ok.id, 7);
        assert_eq!(ok.into_result(), Ok(Value::Null));

        let bytes = encode_response(8, &Err(RpcError::not_found("no such job")));
        let raw: Value = serde_json::from_slice(&bytes).expect("json");
        assert_eq!(raw["err"]["kind"], "not_found");
        assert!(raw.get("ok").is_none());
        let err: Response = serde_json::from_slice(&bytes).expect("decode");
        assert_eq!(
            err.into_result().expect_err("err").kind,
            ErrorKind::NotFound
        );
    }
}
