//! Decoding the framed stream of `/v1/client/fs/logs` and `/v1/client/fs/stream`: a
//! sequence of concatenated JSON objects, `{"File","Offset","Data"}` with base64 data,
//! `{"FileEvent":"file truncated"}`, or `{}` heartbeats while following.
//!
//! Frames arrive split at arbitrary byte boundaries, so the decoder buffers until an
//! object is complete.

use serde_json::Value;

use crate::base64;
use crate::fields::Fields;

/// One decoded frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Frame {
    /// Bytes of `file` starting at `offset`.
    Data {
        file: String,
        offset: i64,
        data: Vec<u8>,
    },
    /// "file deleted", "file truncated", ...
    FileEvent(String),
    /// An empty frame sent to keep the connection alive.
    Heartbeat,
}

/// Turns a byte stream into frames.
#[derive(Debug, Default)]
pub(crate) struct FrameDecoder {
    pending: Vec<u8>,
}

impl FrameDecoder {
    /// Adds bytes and returns every frame they complete.
    pub(crate) fn push(&mut self, bytes: &[u8]) -> Result<Vec<Frame>, String> {
        self.pending.extend_from_slice(bytes);
        let mut frames = Vec::new();
        let mut consumed = 0;
        let mut values = serde_json::Deserializer::from_slice(&self.pending).into_iter::<Value>();
        loop {
            match values.next() {
                Some(Ok(value)) => {
                    consumed = values.byte_offset();
                    frames.push(frame_from(&value)?);
                }
                // An object cut short: wait for more bytes.
                Some(Err(e)) if e.is_eof() => break,
                Some(Err(e)) => return Err(format!("malformed log frame: {e}")),
                None => {
                    consumed = self.pending.len();
                    break;
                }
            }
        }
        self.pending.drain(..consumed);
        Ok(frames)
    }

    /// Checks that the stream did not end inside a frame.
    pub(crate) fn finish(&self) -> Result<(), String> {
        if self.pending.iter().all(u8::is_ascii_whitespace) {
            Ok(())
        } else {
            Err(format!(
                "the log stream ended inside a frame ({} bytes left)",
                self.pending.len()
            ))
        }
    }
}

fn frame_from(value: &Value) -> Result<Frame, String> {
    if !value.is_object() {
        return Err(format!("a log frame must be a JSON object, got {value}"));
    }
    let event = value.str_at("FileEvent");
    if !event.is_empty() {
        return Ok(Frame::FileEvent(event.to_owned()));
    }
    match value.get("Data") {
        Some(Value::String(data)) => Ok(Frame::Data {
            file: value.str_at("File").to_owned(),
            offset: value.i64_at("Offset"),
            data: base64::decode(data)?,
        }),
        Some(Value::Null) | None => Ok(Frame::Heartbeat),
        Some(other) => Err(format!(
            "a log frame's Data must be base64 text, got {other}"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(s: &str, offset: i64) -> Frame {
        Frame::Data {
            file: "alloc/logs/redis.stdout.0".into(),
            offset,
            data: s.as_bytes().to_vec(),
        }
    }

    const STREAM: &str = concat!(
        r#"{"File":"alloc/logs/redis.stdout.0","Offset":6,"Data":"aGVsbG8K"}"#,
        "{}",
        r#"{"FileEvent":"file truncated"}"#,
        "\n",
        r#"{"File":"alloc/logs/redis.stdout.0","Offset":12,"Data":"d29ybGQK"}"#,
    );

    #[test]
    fn decodes_concatenated_frames() {
        let mut dec = FrameDecoder::default();
        let frames = dec.push(STREAM.as_bytes()).expect("frames");
        assert_eq!(
            frames,
            [
                data("hello\n", 6),
                Frame::Heartbeat,
                Frame::FileEvent("file truncated".into()),
                data("world\n", 12),
            ]
        );
        dec.finish().expect("complete");
    }

    #[test]
    fn frames_split_at_every_byte_decode_the_same() {
        let mut dec = FrameDecoder::default();
        let mut frames = Vec::new();
        for b in STREAM.as_bytes() {
            frames.extend(dec.push(std::slice::from_ref(b)).expect("partial ok"));
        }
        assert_eq!(frames.len(), 4);
        assert_eq!(frames[3], data("world\n", 12));
        dec.finish().expect("complete");
    }

    #[test]
    fn reports_truncation_and_garbage() {
        let mut dec = FrameDecoder::default();
        assert!(dec.push(br#"{"File":"x","Da"#).expect("partial").is_empty());
        assert!(dec.finish().is_err());
        assert!(FrameDecoder::default().push(b"[1,2]").is_err());
        assert!(FrameDecoder::default().push(br#"{"Data":"***"}"#).is_err());
        assert!(FrameDecoder::default().push(b"}{").is_err());
    }
}
