//! Streamed response bodies: a producer task sends chunks down a channel and the body
//! yields them as they come. When the caller hangs up, the body is dropped, the channel
//! closes and the producer stops at its next send (or sooner, if it waits on
//! [`mpsc::Sender::closed`]).

use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::{Body, Bytes};
use http_body::Frame;
use tokio::sync::mpsc;

/// Chunks in flight between a producer and a slow reader.
const CHANNEL_DEPTH: usize = 8;

/// A chunk, or the I/O error that cuts the response short (the connection is reset,
/// so the caller sees a truncated body rather than a silently shortened one).
pub(crate) type Chunk = Result<Bytes, std::io::Error>;

#[derive(Debug)]
struct ChannelBody {
    rx: mpsc::Receiver<Chunk>,
}

impl http_body::Body for ChannelBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        self.rx
            .poll_recv(cx)
            .map(|chunk| chunk.map(|c| c.map(Frame::data)))
    }
}

/// A body fed through the returned sender; it ends when every sender is dropped.
pub(crate) fn channel() -> (mpsc::Sender<Chunk>, Body) {
    let (tx, rx) = mpsc::channel(CHANNEL_DEPTH);
    (tx, Body::new(ChannelBody { rx }))
}
