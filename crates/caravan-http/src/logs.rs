//! `GET /v1/client/fs/logs/:alloc?task=&type=stdout|stderr&follow=&offset=&origin=&plain=`:
//! a task's output, from the rotated files `alloc/logs/<task>.<type>.<N>`.
//!
//! By default the body is Nomad's stream of concatenated JSON frames,
//! `{"File":"alloc/logs/web.stdout.0","Offset":n,"Data":"<base64>"}`, where `Offset` is
//! where the frame's data ends in its file; `{"File":..,"FileEvent":"file truncated"}`
//! when a file shrinks; and `{}` heartbeats while following an idle task. With
//! `plain=true` it is the raw bytes. With `follow=true` the stream goes on as the task
//! writes, from one rotated file to the next, until the caller hangs up.

use std::path::{Path, PathBuf};
use std::time::Duration;

use axum::Extension;
use axum::body::Bytes;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderValue, header};
use axum::response::Response;
use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::fs::{CHUNK_BYTES, alloc_root};
use crate::query::QueryOptions;
use crate::shutdown::{self, ShutdownSignal};
use crate::stream::{self, Chunk};
use crate::{Api, ApiError, base64};

/// How often a follower looks for new output.
const POLL: Duration = Duration::from_millis(100);
/// How long a follower stays silent before sending a `{}` heartbeat.
const HEARTBEAT: Duration = Duration::from_secs(10);

/// Where the requested offset counts from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Origin {
    Start,
    End,
}

/// A parsed logs request.
#[derive(Debug, Clone, PartialEq, Eq)]
struct LogRequest {
    task: String,
    /// `stdout` or `stderr`.
    kind: &'static str,
    follow: bool,
    plain: bool,
    offset: u64,
    origin: Origin,
}

impl LogRequest {
    fn from_query(q: &QueryOptions) -> Result<Self, ApiError> {
        let task = q.get("task").unwrap_or("");
        if task.is_empty() {
            return Err(ApiError::bad_request("must include task name"));
        }
        if task.contains('/') || task == "." || task == ".." {
            return Err(ApiError::bad_request(format!("invalid task name {task:?}")));
        }
        let kind = match q.get("type") {
            Some("stdout") => "stdout",
            Some("stderr") => "stderr",
            _ => {
                return Err(ApiError::bad_request(
                    "log type must be \"stdout\" or \"stderr\"",
                ));
            }
        };
        let origin = match q.get("origin") {
            None | Some("" | "start") => Origin::Start,
            Some("end") => Origin::End,
            Some(other) => {
                return Err(ApiError::bad_request(format!(
                    "origin must be \"start\" or \"end\", not {other:?}"
                )));
            }
        };
        Ok(Self {
            task: task.to_owned(),
            kind,
            follow: q.flag("follow")?,
            plain: q.flag("plain")?,
            offset: q.number("offset")?.unwrap_or(0),
            origin,
        })
    }

    fn prefix(&self) -> String {
        format!("{}.{}.", self.task, self.kind)
    }
}

pub(crate) async fn logs(
    State(api): State<Api>,
    UrlPath(id): UrlPath<String>,
    shutdown: Option<Extension<ShutdownSignal>>,
    q: QueryOptions,
) -> Result<Response, ApiError> {
    let request = LogRequest::from_query(&q)?;
    let dir = alloc_root(&api, &id)?.join("alloc").join("logs");
    let files = log_files(&dir, &request.prefix()).await;
    if files.is_empty() && !request.follow {
        return Err(ApiError::NotFound(format!(
            "log entry for task {:?} and log type {:?} not found",
            request.task, request.kind
        )));
    }
    let start = start_position(&files, request.origin, request.offset);
    let plain = request.plain;
    let (tx, body) = stream::channel();
    let shutdown = shutdown.map(|Extension(signal)| signal);
    let pump = Pump {
        dir,
        request,
        tx,
        shutdown,
        last_sent: Instant::now(),
    };
    tokio::spawn(pump.run(start));
    let mut response = Response::new(body);
    let kind = if plain {
        "text/plain; charset=utf-8"
    } else {
        "application/json"
    };
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    Ok(response)
}

/// The indexes and sizes of the files named `<prefix><N>`, oldest first.
async fn log_files(dir: &Path, prefix: &str) -> Vec<(u64, u64)> {
    let mut files = Vec::new();
    let Ok(mut entries) = tokio::fs::read_dir(dir).await else {
        return files;
    };
    while let Ok(Some(entry)) = entries.next_entry().await {
        let name = entry.file_name();
        let Some(index) = name
            .to_str()
            .and_then(|n| n.strip_prefix(prefix))
            .and_then(|n| n.parse::<u64>().ok())
        else {
            continue;
        };
        if let Ok(meta) = entry.metadata().await {
            files.push((index, meta.len()));
        }
    }
    files.sort_unstable();
    files
}

/// The file and offset to start at: `offset` bytes into the concatenated files from
/// the start, or back from the end; clamped to what exists.
fn start_position(files: &[(u64, u64)], origin: Origin, offset: u64) -> Option<(u64, u64)> {
    let total: u64 = files.iter().map(|(_, size)| size).sum();
    let mut skip = match origin {
        Origin::Start => offset.min(total),
        Origin::End => total.saturating_sub(offset),
    };
    let last = files.len().checked_sub(1)?;
    for (i, &(index, size)) in files.iter().enumerate() {
        if skip < size || i == last {
            return Some((index, skip.min(size)));
        }
        skip -= size;
    }
    None
}

/// One frame of Nomad's log stream; empty members are left out, so a heartbeat is `{}`.
#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
struct StreamFrame<'a> {
    #[serde(skip_serializing_if = "str::is_empty")]
    file: &'a str,
    #[serde(skip_serializing_if = "is_zero")]
    offset: u64,
    #[serde(skip_serializing_if = "String::is_empty")]
    data: String,
    #[serde(skip_serializing_if = "str::is_empty")]
    file_event: &'a str,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// The producer behind one logs response.
#[derive(Debug)]
struct Pump {
    dir: PathBuf,
    request: LogRequest,
    tx: mpsc::Sender<Chunk>,
    /// Followers end when the server shuts down.
    shutdown: Option<ShutdownSignal>,
    last_sent: Instant,
}

/// Where the pump reads: which file, how far in, and the open handle.
#[derive(Debug)]
struct Cursor {
    index: u64,
    pos: u64,
    file: Option<tokio::fs::File>,
    /// A newer file seen at this file's end: drain this one, then move there.
    next: Option<u64>,
}

impl Pump {
    fn path(&self, index: u64) -> PathBuf {
        self.dir.join(format!("{}{index}", self.request.prefix()))
    }

    /// The name frames carry: relative to the allocation directory.
    fn frame_name(&self, index: u64) -> String {
        format!("alloc/logs/{}{index}", self.request.prefix())
    }

    /// The oldest file after `index` (any file with `None`).
    async fn file_after(&self, index: Option<u64>) -> Option<u64> {
        log_files(&self.dir, &self.request.prefix())
            .await
            .into_iter()
            .map(|(i, _)| i)
            .find(|i| index.is_none_or(|index| *i > index))
    }

    /// Sends a chunk; false when the caller has gone.
    async fn send(&mut self, chunk: Chunk) -> bool {
        self.last_sent = Instant::now();
        self.tx.send(chunk).await.is_ok()
    }

    async fn send_frame(&mut self, frame: &StreamFrame<'_>) -> bool {
        match serde_json::to_vec(frame) {
            Ok(bytes) => self.send(Ok(Bytes::from(bytes))).await,
            Err(e) => self.send(Err(std::io::Error::other(e))).await,
        }
    }

    async fn send_data(&mut self, index: u64, end: u64, data: &[u8]) -> bool {
        if self.request.plain {
            return self.send(Ok(Bytes::copy_from_slice(data))).await;
        }
        let name = self.frame_name(index);
        let frame = StreamFrame {
            file: &name,
            offset: end,
            data: base64::encode(data),
            file_event: "",
        };
        self.send_frame(&frame).await
    }

    /// Waits one poll interval, heartbeating when idle; false when the caller has gone
    /// or the server is shutting down.
    async fn idle(&mut self) -> bool {
        let Self { tx, shutdown, .. } = self;
        tokio::select! {
            () = tx.closed() => return false,
            () = shutdown::fired(shutdown) => return false,
            () = tokio::time::sleep(POLL) => {}
        }
        if !self.request.plain && self.last_sent.elapsed() >= HEARTBEAT {
            return self.send_frame(&StreamFrame::default()).await;
        }
        true
    }

    async fn run(mut self, start: Option<(u64, u64)>) {
        let mut cursor = start.map(|(index, pos)| Cursor {
            index,
            pos,
            file: None,
            next: None,
        });
        loop {
            let Some(c) = cursor.as_mut() else {
                // Following a task that has written nothing yet.
                if let Some(index) = self.file_after(None).await {
                    cursor = Some(Cursor {
                        index,
                        pos: 0,
                        file: None,
                        next: None,
                    });
                } else if !self.idle().await {
                    return;
                }
                continue;
            };
            if c.file.is_none() {
                match open_at(&self.path(c.index), c.pos).await {
                    Ok(file) => c.file = Some(file),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                        // Rotated away before we got to it: go on with the next one.
                        let index = c.index;
                        match self.file_after(Some(index)).await {
                            Some(next) => {
                                cursor = Some(Cursor {
                                    index: next,
                                    pos: 0,
                                    file: None,
                                    next: None,
                                })
                            }
                            None if !self.request.follow => return,
                            None => {
                                if !self.idle().await {
                                    return;
                                }
                            }
                        }
                        continue;
                    }
                    Err(e) => {
                        let _ = self.send(Err(e)).await;
                        return;
                    }
                }
            }
            let mut buf = vec![0; CHUNK_BYTES];
            let read = match c.file.as_mut() {
                Some(file) => file.read(&mut buf).await,
                None => continue,
            };
            let n = match read {
                Ok(n) => n,
                Err(e) => {
                    let _ = self.send(Err(e)).await;
                    return;
                }
            };
            if n > 0 {
                c.pos += n as u64;
                let (index, end) = (c.index, c.pos);
                if !self.send_data(index, end, &buf[..n]).await {
                    return;
                }
                continue;
            }
            // At the end of this file.
            if let Some(next) = c.next {
                // Drained after the newer file appeared: the writer is done with it.
                *c = Cursor {
                    index: next,
                    pos: 0,
                    file: None,
                    next: None,
                };
                continue;
            }
            let (index, pos) = (c.index, c.pos);
            if let Some(next) = self.file_after(Some(index)).await {
                // Read once more: bytes written just before the rotation.
                c.next = Some(next);
                continue;
            }
            if !self.request.follow {
                return;
            }
            let shrunk = tokio::fs::metadata(self.path(index))
                .await
                .is_ok_and(|m| m.len() < pos);
            if shrunk {
                if !self.request.plain {
                    let name = self.frame_name(index);
                    let event = StreamFrame {
                        file: &name,
                        file_event: "file truncated",
                        ..StreamFrame::default()
                    };
                    if !self.send_frame(&event).await {
                        return;
                    }
                }
                cursor = Some(Cursor {
                    index,
                    pos: 0,
                    file: None,
                    next: None,
                });
                continue;
            }
            if !self.idle().await {
                return;
            }
        }
    }
}

async fn open_at(path: &Path, pos: u64) -> std::io::Result<tokio::fs::File> {
    let mut file = tokio::fs::File::open(path).await?;
    file.seek(std::io::SeekFrom::Start(pos)).await?;
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_positions() {
        let files = [(0, 10), (1, 5), (2, 3)];
        assert_eq!(start_position(&files, Origin::Start, 0), Some((0, 0)));
        assert_eq!(start_position(&files, Origin::Start, 12), Some((1, 2)));
        assert_eq!(start_position(&files, Origin::Start, 10), Some((1, 0)));
        assert_eq!(start_position(&files, Origin::Start, 99), Some((2, 3)));
        assert_eq!(start_position(&files, Origin::End, 0), Some((2, 3)));
        assert_eq!(start_position(&files, Origin::End, 4), Some((1, 4)));
        assert_eq!(start_position(&files, Origin::End, 99), Some((0, 0)));
        assert_eq!(start_position(&[], Origin::End, 5), None);
    }

    #[test]
    fn heartbeat_is_an_empty_object() {
        assert_eq!(
            serde_json::to_string(&StreamFrame::default())
                .ok()
                .as_deref(),
            Some("{}")
        );
    }

    fn query(pairs: &[(&str, &str)]) -> QueryOptions {
        QueryOptions::from_params(
            pairs
                .iter()
                .map(|(k, v)| ((*k).into(), (*v).into()))
                .collect(),
        )
        .expect("valid query")
    }

    #[test]
    fn requests_are_checked() {
        let ok = LogRequest::from_query(&query(&[
            ("task", "web"),
            ("type", "stderr"),
            ("origin", "end"),
        ]))
        .expect("valid");
        assert_eq!(
            (ok.kind, ok.origin, ok.follow),
            ("stderr", Origin::End, false)
        );
        for bad in [
            vec![("type", "stdout")],
            vec![("task", "web")],
            vec![("task", "web"), ("type", "stdin")],
            vec![("task", ".."), ("type", "stdout")],
            vec![("task", "web"), ("type", "stdout"), ("origin", "middle")],
        ] {
            assert!(LogRequest::from_query(&query(&bad)).is_err(), "{bad:?}");
        }
    }
}
