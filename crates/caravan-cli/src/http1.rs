//! A minimal HTTP/1.1 client over `std::net::TcpStream`: one request per connection
//! (`Connection: close`), bodies by `Content-Length`, `chunked` or read-to-close, read
//! incrementally so that followed logs stream as they come.
//!
//! Plain HTTP only: the agent's API is reached on loopback or a private network. This is
//! leaner than a client crate for the handful of calls the CLI makes.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

/// Longest status or header line accepted.
const MAX_LINE: u64 = 16 * 1024;
/// Most header lines accepted.
const MAX_HEADERS: usize = 128;

/// What to send.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Request<'a> {
    pub method: &'a str,
    /// Path and query, already encoded: `/v1/jobs?prefix=web`.
    pub target: &'a str,
    pub headers: &'a [(&'a str, &'a str)],
    pub body: Option<&'a [u8]>,
    /// Limit on each read; `None` waits for ever (followed streams).
    pub read_timeout: Option<Duration>,
}

/// Why a request failed before a response arrived.
#[derive(Debug)]
pub(crate) enum SendError {
    /// No connection could be opened.
    Connect(io::Error),
    /// The connection broke or the response was not HTTP.
    Io(io::Error),
}

/// A response whose body is read on demand.
#[derive(Debug)]
pub(crate) struct Response<R> {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Body<R>,
}

impl<R> Response<R> {
    /// A header's value, matched without regard to case.
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// The response body, framed as the headers said.
#[derive(Debug)]
pub(crate) enum Body<R> {
    Empty,
    Length(io::Take<R>),
    Chunked(Chunked<R>),
    UntilClose(R),
}

impl<R: BufRead> Read for Body<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Body::Empty => Ok(0),
            Body::Length(r) => {
                let n = r.read(buf)?;
                if n == 0 && !buf.is_empty() && r.limit() > 0 {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the connection closed before the whole body arrived",
                    ));
                }
                Ok(n)
            }
            Body::Chunked(r) => r.read(buf),
            Body::UntilClose(r) => r.read(buf),
        }
    }
}

impl<R: BufRead> Body<R> {
    /// Reads the whole body, failing past `limit` bytes.
    pub(crate) fn read_all(&mut self, limit: u64) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        self.take(limit + 1).read_to_end(&mut out)?;
        if out.len() as u64 > limit {
            return Err(io::Error::other(format!(
                "the response is larger than {limit} bytes"
            )));
        }
        Ok(out)
    }
}

/// Decodes `Transfer-Encoding: chunked`.
#[derive(Debug)]
pub(crate) struct Chunked<R> {
    inner: R,
    /// Bytes left in the current chunk.
    remaining: u64,
    done: bool,
}

impl<R: BufRead> Chunked<R> {
    pub(crate) fn new(inner: R) -> Self {
        Self {
            inner,
            remaining: 0,
            done: false,
        }
    }
}

impl<R: BufRead> Read for Chunked<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.done || buf.is_empty() {
            return Ok(0);
        }
        if self.remaining == 0 {
            let line = read_line(&mut self.inner)?;
            let size = line.split(';').next().unwrap_or_default().trim();
            self.remaining = u64::from_str_radix(size, 16).map_err(|_| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("bad chunk size {size:?}"),
                )
            })?;
            if self.remaining == 0 {
                // The last chunk; skip any trailers up to the blank line.
                while !read_line(&mut self.inner)?.is_empty() {}
                self.done = true;
                return Ok(0);
            }
        }
        let want = buf
            .len()
            .min(usize::try_from(self.remaining).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..want])?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the connection closed mid-chunk",
            ));
        }
        self.remaining -= n as u64;
        if self.remaining == 0 && !read_line(&mut self.inner)?.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "chunk not followed by CRLF",
            ));
        }
        Ok(n)
    }
}

/// Connects, sends `req` and reads the status line and headers.
pub(crate) fn send(
    host: &str,
    port: u16,
    connect_timeout: Duration,
    req: &Request<'_>,
) -> Result<Response<BufReader<TcpStream>>, SendError> {
    let stream = connect(host, port, connect_timeout).map_err(SendError::Connect)?;
    stream
        .set_read_timeout(req.read_timeout)
        .map_err(SendError::Io)?;
    stream
        .set_write_timeout(Some(connect_timeout.max(Duration::from_secs(30))))
        .map_err(SendError::Io)?;
    stream.set_nodelay(true).map_err(SendError::Io)?;
    let head = request_head(host, port, req);
    let mut writer = &stream;
    writer.write_all(head.as_bytes()).map_err(SendError::Io)?;
    if let Some(body) = req.body {
        writer.write_all(body).map_err(SendError::Io)?;
    }
    writer.flush().map_err(SendError::Io)?;
    read_response(BufReader::new(stream), req.method).map_err(SendError::Io)
}

fn connect(host: &str, port: u16, timeout: Duration) -> io::Result<TcpStream> {
    let mut last = None;
    for addr in (host, port).to_socket_addrs()? {
        match TcpStream::connect_timeout(&addr, timeout) {
            Ok(stream) => return Ok(stream),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| {
        io::Error::new(
            io::ErrorKind::NotFound,
            format!("{host} resolves to no address"),
        )
    }))
}

/// The request line and headers, ending with the blank line.
pub(crate) fn request_head(host: &str, port: u16, req: &Request<'_>) -> String {
    let host_header = if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    let mut head = format!(
        "{} {} HTTP/1.1\r\nHost: {host_header}\r\nUser-Agent: caravan/{}\r\nAccept: application/json\r\nConnection: close\r\n",
        req.method,
        req.target,
        crate::VERSION
    );
    for (name, value) in req.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    if let Some(body) = req.body {
        head.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        ));
    } else if matches!(req.method, "PUT" | "POST") {
        head.push_str("Content-Length: 0\r\n");
    }
    head.push_str("\r\n");
    head
}

/// Parses the status line and headers and sets up the body reader.
pub(crate) fn read_response<R: BufRead>(mut r: R, method: &str) -> io::Result<Response<R>> {
    let status_line = read_line(&mut r)?;
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or_default();
    let status = parts.next().and_then(|s| s.parse::<u16>().ok());
    let Some(status) = status.filter(|_| version.starts_with("HTTP/1.")) else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("not an HTTP response: {:?}", truncate(&status_line, 60)),
        ));
    };
    let mut headers = Vec::new();
    loop {
        let line = read_line(&mut r)?;
        if line.is_empty() {
            break;
        }
        if headers.len() == MAX_HEADERS {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "too many response headers",
            ));
        }
        if let Some((k, v)) = line.split_once(':') {
            headers.push((k.trim().to_owned(), v.trim().to_owned()));
        }
    }
    let find = |name: &str| {
        headers
            .iter()
            .find(|(k, _): &&(String, String)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    };
    let no_body =
        method == "HEAD" || status == 204 || status == 304 || (100..200).contains(&status);
    let body = if no_body {
        Body::Empty
    } else if find("Transfer-Encoding")
        .is_some_and(|te| te.to_ascii_lowercase().contains("chunked"))
    {
        Body::Chunked(Chunked::new(r))
    } else if let Some(len) = find("Content-Length") {
        let len = len.parse::<u64>().map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("bad Content-Length {len:?}"),
            )
        })?;
        Body::Length(r.take(len))
    } else {
        Body::UntilClose(r)
    };
    Ok(Response {
        status,
        headers,
        body,
    })
}

/// One CRLF- or LF-terminated line without its terminator; "" at a blank line.
fn read_line<R: BufRead>(r: &mut R) -> io::Result<String> {
    let mut buf = Vec::new();
    let n = r.by_ref().take(MAX_LINE).read_until(b'\n', &mut buf)?;
    if n == 0 {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "the connection closed early",
        ));
    }
    if buf.last() != Some(&b'\n') {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "line too long or cut short",
        ));
    }
    buf.pop();
    if buf.last() == Some(&b'\r') {
        buf.pop();
    }
    String::from_utf8(buf)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "a header line is not UTF-8"))
}

fn truncate(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use super::*;

    fn parse(raw: &str) -> Response<Cursor<Vec<u8>>> {
        read_response(Cursor::new(raw.as_bytes().to_vec()), "GET").expect("response")
    }

    #[test]
    fn content_length_body() {
        let mut resp = parse(
            "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-Nomad-Index: 42\r\n\r\nhello trailing",
        );
        assert_eq!(resp.status, 200);
        assert_eq!(resp.header("x-nomad-index"), Some("42"));
        assert_eq!(resp.body.read_all(1024).expect("body"), b"hello");
    }

    #[test]
    fn chunked_body_with_extensions_and_trailers() {
        let raw = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;x=y\r\nhello\r\n1\r\n \r\n5\r\nworld\r\n0\r\nX-T: 1\r\n\r\n";
        let mut resp = parse(raw);
        assert_eq!(resp.body.read_all(1024).expect("body"), b"hello world");
    }

    #[test]
    fn body_until_close_and_empty_statuses() {
        let mut resp = parse("HTTP/1.0 404 Not Found\nContent-Type: text/plain\n\njob not found");
        assert_eq!(resp.status, 404);
        assert_eq!(resp.body.read_all(1024).expect("body"), b"job not found");
        let mut resp = parse("HTTP/1.1 204 No Content\r\n\r\nignored");
        assert_eq!(resp.body.read_all(1024).expect("body"), b"");
    }

    #[test]
    fn rejects_bad_responses() {
        assert!(read_response(Cursor::new(b"SSH-2.0-OpenSSH\r\n".to_vec()), "GET").is_err());
        let mut resp = parse("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort");
        assert!(resp.body.read_all(1024).is_err());
        let mut resp = parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n");
        assert!(resp.body.read_all(1024).is_err());
        let mut resp = parse("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456789");
        assert!(resp.body.read_all(4).is_err());
    }

    #[test]
    fn request_head_has_length_and_host() {
        let req = Request {
            method: "PUT",
            target: "/v1/jobs",
            headers: &[("X-Nomad-Token", "t")],
            body: Some(b"{}"),
            read_timeout: None,
        };
        let head = request_head("::1", 4646, &req);
        assert!(
            head.starts_with("PUT /v1/jobs HTTP/1.1\r\nHost: [::1]:4646\r\n"),
            "{head}"
        );
        assert!(head.contains("X-Nomad-Token: t\r\n"));
        assert!(head.ends_with("Content-Length: 2\r\n\r\n"));
    }
}
