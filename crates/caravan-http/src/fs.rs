//! The allocation file system, as the client node sees it: `ls`, `stat`, `cat` and
//! `readat` under `/v1/client/fs/`, every path confined to the allocation directory.

use std::io::SeekFrom;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};

use axum::body::Bytes;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderValue, header};
use axum::response::Response;
use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncSeekExt};

use crate::client::local_alloc;
use crate::query::QueryOptions;
use crate::stream;
use crate::{Api, ApiError, blocking, time};

/// How much of a file is read per chunk sent.
pub(crate) const CHUNK_BYTES: usize = 64 * 1024;
/// How much of a file content sniffing looks at (as Go's `http.DetectContentType`).
const SNIFF_BYTES: usize = 512;

/// A file or directory, in Nomad's `AllocFileInfo` shape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct FileInfo {
    pub name: String,
    pub is_dir: bool,
    pub size: u64,
    /// As Go's `os.FileMode.String()`: `-rw-r--r--`, `drwxr-xr-x`.
    pub file_mode: String,
    pub mod_time: String,
    pub content_type: String,
}

impl FileInfo {
    fn new(name: String, meta: &std::fs::Metadata, content_type: String) -> Self {
        Self {
            name,
            is_dir: meta.is_dir(),
            size: meta.len(),
            file_mode: file_mode(meta),
            mod_time: meta.modified().map(time::system_time).unwrap_or_default(),
            content_type,
        }
    }
}

/// Go's `os.FileMode.String()` for a file's type and permission bits.
fn file_mode(meta: &std::fs::Metadata) -> String {
    let ft = meta.file_type();
    let mode = meta.permissions().mode();
    let mut out = String::new();
    if ft.is_dir() {
        out.push('d');
    }
    if ft.is_symlink() {
        out.push('L');
    }
    if ft.is_block_device() {
        out.push('D');
    }
    if ft.is_char_device() {
        out.push_str("Dc");
    }
    if ft.is_fifo() {
        out.push('p');
    }
    if ft.is_socket() {
        out.push('S');
    }
    for (bit, letter) in [(0o4000, 'u'), (0o2000, 'g'), (0o1000, 't')] {
        if mode & bit != 0 {
            out.push(letter);
        }
    }
    if out.is_empty() {
        out.push('-');
    }
    for (i, letter) in "rwxrwxrwx".chars().enumerate() {
        out.push(if mode & (1 << (8 - i)) != 0 {
            letter
        } else {
            '-'
        });
    }
    out
}

/// Joins a client path (`/alloc/logs`) to the allocation directory, resolving `.` and
/// `..` lexically; a path that climbs out of the directory is refused.
pub(crate) fn confine(root: &Path, requested: &str) -> Result<PathBuf, ApiError> {
    if requested.contains('\0') {
        return Err(ApiError::bad_request("path contains a NUL byte"));
    }
    let mut parts: Vec<&str> = Vec::new();
    for part in requested.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.pop().is_none() {
                    return Err(escape_error(requested));
                }
            }
            part => parts.push(part),
        }
    }
    let mut path = root.to_path_buf();
    path.extend(parts);
    Ok(path)
}

fn escape_error(requested: &str) -> ApiError {
    ApiError::bad_request(format!(
        "path {requested:?} escapes the allocation directory"
    ))
}

fn io_error(requested: &str, e: &std::io::Error) -> ApiError {
    if e.kind() == std::io::ErrorKind::NotFound {
        ApiError::NotFound(format!("no such file or directory: {requested}"))
    } else {
        ApiError::Internal(format!("{requested}: {e}"))
    }
}

/// The allocation directory of the allocation named in the URL, on this client.
pub(crate) fn alloc_root(api: &Api, id: &str) -> Result<PathBuf, ApiError> {
    let snap = api.server.state().snapshot();
    let (alloc, client) = local_alloc(api, &snap, id)?;
    client.alloc_dir(&alloc.id).ok_or_else(|| {
        ApiError::NotFound(format!(
            "allocation {} has no directory on this node",
            alloc.id
        ))
    })
}

/// A requested path, confined lexically and then again after following symlinks, so a
/// link inside the directory cannot lead out of it.
pub(crate) async fn resolve(root: &Path, requested: &str) -> Result<PathBuf, ApiError> {
    let joined = confine(root, requested)?;
    let real_root = tokio::fs::canonicalize(root)
        .await
        .map_err(|e| io_error("allocation directory", &e))?;
    let real = tokio::fs::canonicalize(&joined)
        .await
        .map_err(|e| io_error(requested, &e))?;
    if !real.starts_with(&real_root) {
        return Err(escape_error(requested));
    }
    Ok(real)
}

fn requested_path(q: &QueryOptions) -> &str {
    q.get("path").filter(|p| !p.is_empty()).unwrap_or("/")
}

/// `GET /v1/client/fs/ls/:alloc?path=`: a directory's entries, by name.
pub(crate) async fn ls(
    State(api): State<Api>,
    UrlPath(id): UrlPath<String>,
    q: QueryOptions,
) -> Result<Response, ApiError> {
    let requested = requested_path(&q);
    let dir = resolve(&alloc_root(&api, &id)?, requested).await?;
    let meta = tokio::fs::metadata(&dir)
        .await
        .map_err(|e| io_error(requested, &e))?;
    if !meta.is_dir() {
        return Err(ApiError::bad_request(format!(
            "{requested} is not a directory"
        )));
    }
    let mut entries = tokio::fs::read_dir(&dir)
        .await
        .map_err(|e| io_error(requested, &e))?;
    let mut infos = Vec::new();
    while let Some(entry) = entries
        .next_entry()
        .await
        .map_err(|e| io_error(requested, &e))?
    {
        let Ok(meta) = entry.metadata().await else {
            continue;
        };
        infos.push(FileInfo::new(
            entry.file_name().to_string_lossy().into_owned(),
            &meta,
            String::new(),
        ));
    }
    infos.sort_by(|a, b| a.name.cmp(&b.name));
    blocking::json(&api, 0, &infos, &q)
}

/// `GET /v1/client/fs/stat/:alloc?path=`.
pub(crate) async fn stat(
    State(api): State<Api>,
    UrlPath(id): UrlPath<String>,
    q: QueryOptions,
) -> Result<Response, ApiError> {
    let requested = requested_path(&q);
    let path = resolve(&alloc_root(&api, &id)?, requested).await?;
    let meta = tokio::fs::metadata(&path)
        .await
        .map_err(|e| io_error(requested, &e))?;
    let content_type = if meta.is_file() {
        let mut head = Vec::with_capacity(SNIFF_BYTES);
        if let Ok(file) = tokio::fs::File::open(&path).await {
            let _ = file.take(SNIFF_BYTES as u64).read_to_end(&mut head).await;
        }
        content_type(&head).to_owned()
    } else {
        String::new()
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "/".into());
    blocking::json(&api, 0, &FileInfo::new(name, &meta, content_type), &q)
}

/// Go's sniffing, reduced to what matters for logs and configs: text or not.
fn content_type(head: &[u8]) -> &'static str {
    let text = match std::str::from_utf8(head) {
        Ok(_) => true,
        // A character cut at the end of the sample is still text.
        Err(e) => e.error_len().is_none(),
    };
    if text && !head.contains(&0) {
        "text/plain; charset=utf-8"
    } else {
        "application/octet-stream"
    }
}

/// `GET /v1/client/fs/cat/:alloc?path=`: a whole file, streamed.
pub(crate) async fn cat(
    State(api): State<Api>,
    UrlPath(id): UrlPath<String>,
    q: QueryOptions,
) -> Result<Response, ApiError> {
    let requested = requested_path(&q);
    let path = resolve(&alloc_root(&api, &id)?, requested).await?;
    read_range(&path, requested, 0, None).await
}

/// `GET /v1/client/fs/readat/:alloc?path=&offset=&limit=`: part of a file.
pub(crate) async fn readat(
    State(api): State<Api>,
    UrlPath(id): UrlPath<String>,
    q: QueryOptions,
) -> Result<Response, ApiError> {
    let requested = requested_path(&q);
    let offset = q.number("offset")?.unwrap_or(0);
    let limit = q.number("limit")?;
    let path = resolve(&alloc_root(&api, &id)?, requested).await?;
    read_range(&path, requested, offset, limit).await
}

/// Streams `limit` bytes (all, with `None`) of a regular file from `offset`.
async fn read_range(
    path: &Path,
    requested: &str,
    offset: u64,
    limit: Option<u64>,
) -> Result<Response, ApiError> {
    let meta = tokio::fs::metadata(path)
        .await
        .map_err(|e| io_error(requested, &e))?;
    if meta.is_dir() {
        return Err(ApiError::bad_request(format!("{requested} is a directory")));
    }
    let mut file = tokio::fs::File::open(path)
        .await
        .map_err(|e| io_error(requested, &e))?;
    file.seek(SeekFrom::Start(offset))
        .await
        .map_err(|e| io_error(requested, &e))?;
    let mut remaining = limit.unwrap_or(u64::MAX);
    let first = read_chunk(&mut file, &mut remaining)
        .await
        .map_err(|e| io_error(requested, &e))?;
    let kind = content_type(&first[..first.len().min(SNIFF_BYTES)]);
    let (tx, body) = stream::channel();
    tokio::spawn(async move {
        let mut chunk = Ok(first);
        loop {
            match chunk {
                Ok(c) if c.is_empty() => return,
                Ok(c) => {
                    if tx.send(Ok(c)).await.is_err() {
                        return;
                    }
                }
                Err(e) => {
                    let _ = tx.send(Err(e)).await;
                    return;
                }
            }
            chunk = read_chunk(&mut file, &mut remaining).await;
        }
    });
    let mut response = Response::new(body);
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    Ok(response)
}

/// Up to one chunk, never more than `remaining`; empty at the end.
async fn read_chunk(file: &mut tokio::fs::File, remaining: &mut u64) -> std::io::Result<Bytes> {
    let want = usize::try_from(*remaining)
        .unwrap_or(usize::MAX)
        .min(CHUNK_BYTES);
    let mut buf = vec![0; want];
    let n = if want == 0 {
        0
    } else {
        file.read(&mut buf).await?
    };
    buf.truncate(n);
    *remaining -= n as u64;
    Ok(Bytes::from(buf))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn confine_resolves_dots_inside_the_root() {
        let root = Path::new("/data/alloc/1234");
        let ok = |p: &str| confine(root, p).expect("inside");
        assert_eq!(ok("/"), root);
        assert_eq!(ok(""), root);
        assert_eq!(ok("/alloc/logs"), root.join("alloc/logs"));
        assert_eq!(ok("alloc/../web/local/./x"), root.join("web/local/x"));
        assert_eq!(ok("/alloc/.."), root);
    }

    #[test]
    fn confine_refuses_escapes() {
        let root = Path::new("/data/alloc/1234");
        for bad in [
            "..",
            "/..",
            "/alloc/../../etc/passwd",
            "../1234",
            "a/../../b",
        ] {
            let e = confine(root, bad).expect_err(bad);
            assert_eq!(e.status(), axum::http::StatusCode::BAD_REQUEST, "{bad}");
        }
    }

    #[test]
    fn modes_print_like_go() {
        let dir = std::env::temp_dir();
        let meta = std::fs::metadata(&dir).expect("temp dir");
        let mode = file_mode(&meta);
        assert!(mode.starts_with("dt") || mode.starts_with('d'), "{mode}");
        assert_eq!(mode.len(), if mode.starts_with("dt") { 11 } else { 10 });
    }

    #[test]
    fn sniffs_text() {
        assert_eq!(content_type(b"hello\n"), "text/plain; charset=utf-8");
        assert_eq!(
            content_type("h\u{e9}".as_bytes()),
            "text/plain; charset=utf-8"
        );
        assert_eq!(
            content_type(&"h\u{e9}".as_bytes()[..2]),
            "text/plain; charset=utf-8"
        );
        assert_eq!(content_type(b"\x7fELF\x00\x01"), "application/octet-stream");
        assert_eq!(content_type(b"\xff\xfe"), "application/octet-stream");
    }
}
