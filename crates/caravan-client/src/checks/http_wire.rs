//! The HTTP/1.1 an http check needs, without I/O: the request's bytes, the response
//! head, the body's framing (length, chunked or until close) and how a status code
//! maps to an outcome.

use std::collections::BTreeMap;

use super::error::CheckError;
use super::probe_result::ProbeOutcome;
use super::spec::Provider;

/// The largest response head read before giving up on the server.
pub const MAX_HEAD_BYTES: usize = 64 * 1024;

/// Headers the client always sets itself; the job's values for them are dropped.
const OWN_HEADERS: [&str; 3] = ["connection", "content-length", "transfer-encoding"];

/// An http check's request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRequest<'a> {
    /// Empty means GET.
    pub method: &'a str,
    /// `host:port`, the default `Host` header.
    pub authority: &'a str,
    /// Path and query; a missing leading `/` is added.
    pub path: &'a str,
    pub headers: &'a BTreeMap<String, Vec<String>>,
    pub body: &'a str,
}

impl HttpRequest<'_> {
    /// The method, with Consul's default.
    pub fn method(&self) -> &str {
        if self.method.is_empty() {
            "GET"
        } else {
            self.method
        }
    }

    /// The request target: the path with a leading `/`.
    pub fn target(&self) -> String {
        if self.path.starts_with('/') {
            self.path.to_owned()
        } else {
            format!("/{}", self.path)
        }
    }

    /// The request's bytes. Consul's defaults (`User-Agent`, `Accept`) apply unless
    /// the job sets them; the connection is closed after one exchange.
    pub fn encode(&self) -> Result<Vec<u8>, CheckError> {
        let method = self.method();
        if !method.bytes().all(|b| b.is_ascii_alphabetic() || b == b'-') {
            return Err(CheckError::InvalidRequest(format!("method {method:?}")));
        }
        let target = self.target();
        if target
            .bytes()
            .any(|b| b.is_ascii_whitespace() || b.is_ascii_control())
        {
            return Err(CheckError::InvalidRequest(format!("path {:?}", self.path)));
        }
        let mut head = format!("{method} {target} HTTP/1.1\r\n");
        let has = |name: &str| self.headers.keys().any(|k| k.eq_ignore_ascii_case(name));
        if !has("host") {
            head.push_str(&format!("Host: {}\r\n", self.authority));
        }
        if !has("user-agent") {
            head.push_str("User-Agent: Caravan Health Check\r\n");
        }
        if !has("accept") {
            head.push_str("Accept: text/plain, text/*, */*\r\n");
        }
        for (name, values) in self.headers {
            if OWN_HEADERS.iter().any(|own| name.eq_ignore_ascii_case(own)) {
                continue;
            }
            if name.is_empty() || !name.bytes().all(is_token_byte) {
                return Err(CheckError::InvalidRequest(format!("header name {name:?}")));
            }
            for value in values {
                if value.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0) {
                    return Err(CheckError::InvalidRequest(format!(
                        "header {name:?} value {value:?}"
                    )));
                }
                head.push_str(&format!("{name}: {value}\r\n"));
            }
        }
        // As Go's client: a body, or a method that carries one, gets a length.
        if !self.body.is_empty() || matches!(method, "POST" | "PUT" | "PATCH") {
            head.push_str(&format!("Content-Length: {}\r\n", self.body.len()));
        }
        head.push_str("Connection: close\r\n\r\n");
        let mut bytes = head.into_bytes();
        bytes.extend_from_slice(self.body.as_bytes());
        Ok(bytes)
    }
}

/// RFC 9110 `tchar`.
fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// How the response body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFraming {
    /// No body (HEAD, 1xx, 204, 304).
    None,
    Length(usize),
    Chunked,
    /// Read until the server closes the connection.
    UntilClose,
}

/// A response's status line and the headers that frame its body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseHead {
    pub code: u16,
    /// The reason phrase as the server sent it (may be empty).
    pub reason: String,
    pub framing: BodyFraming,
}

impl ResponseHead {
    /// `503 Service Unavailable`, as Go's `resp.Status` (which Consul's output uses).
    pub fn status_text(&self) -> String {
        if self.reason.is_empty() {
            self.code.to_string()
        } else {
            format!("{} {}", self.code, self.reason)
        }
    }
}

/// Parses the head at the start of `buf` if it is complete: the head and the length
/// it takes (the body starts there). `Ok(None)` means more bytes are needed.
pub fn parse_head(buf: &[u8], method: &str) -> Result<Option<(ResponseHead, usize)>, CheckError> {
    let Some(end) = find(buf, b"\r\n\r\n").map(|i| i + 4) else {
        if buf.len() > MAX_HEAD_BYTES {
            return Err(malformed("response head too large"));
        }
        return Ok(None);
    };
    let text =
        std::str::from_utf8(&buf[..end]).map_err(|_| malformed("response head is not UTF-8"))?;
    let mut lines = text.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or_default();
    if !version.starts_with("HTTP/1.") {
        return Err(malformed(&format!("status line {status_line:?}")));
    }
    let code: u16 = parts
        .next()
        .and_then(|c| c.parse().ok())
        .filter(|c| (100..1000).contains(c))
        .ok_or_else(|| malformed(&format!("status line {status_line:?}")))?;
    let reason = parts.next().unwrap_or_default().trim().to_owned();
    let mut length = None;
    let mut chunked = false;
    for line in lines.filter(|l| !l.is_empty()) {
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| malformed(&format!("header line {line:?}")))?;
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            length = Some(
                value
                    .parse::<usize>()
                    .map_err(|_| malformed(&format!("content-length {value:?}")))?,
            );
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = value
                .rsplit(',')
                .next()
                .is_some_and(|last| last.trim().eq_ignore_ascii_case("chunked"));
        }
    }
    let framing = if method.eq_ignore_ascii_case("HEAD")
        || (100..200).contains(&code)
        || code == 204
        || code == 304
    {
        BodyFraming::None
    } else if chunked {
        BodyFraming::Chunked
    } else if let Some(n) = length {
        BodyFraming::Length(n)
    } else {
        BodyFraming::UntilClose
    };
    Ok(Some((
        ResponseHead {
            code,
            reason,
            framing,
        },
        end,
    )))
}

/// A chunked body decoded from the start of `raw`, up to `limit` bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dechunked {
    pub body: Vec<u8>,
    /// The last chunk was seen, or `limit` bytes were decoded: stop reading.
    pub done: bool,
}

/// Decodes as much of a chunked body as `raw` holds (chunk extensions and trailers
/// are ignored).
pub fn decode_chunked(raw: &[u8], limit: usize) -> Result<Dechunked, CheckError> {
    let mut body = Vec::new();
    let mut pos = 0;
    loop {
        if body.len() >= limit {
            body.truncate(limit);
            return Ok(Dechunked { body, done: true });
        }
        let Some(line_len) = find(&raw[pos..], b"\r\n") else {
            return Ok(Dechunked { body, done: false });
        };
        let line = std::str::from_utf8(&raw[pos..pos + line_len])
            .map_err(|_| malformed("chunk size is not text"))?;
        let size_text = line.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_text, 16)
            .map_err(|_| malformed(&format!("chunk size {size_text:?}")))?;
        if size == 0 {
            return Ok(Dechunked { body, done: true });
        }
        let data = pos + line_len + 2;
        let available = raw.len().saturating_sub(data).min(size);
        body.extend_from_slice(&raw[data..data + available]);
        if available < size || raw.len() < data + size + 2 {
            body.truncate(limit);
            let done = body.len() >= limit;
            return Ok(Dechunked { body, done });
        }
        if &raw[data + size..data + size + 2] != b"\r\n" {
            return Err(malformed("chunk not followed by CRLF"));
        }
        pos = data + size + 2;
    }
}

/// The outcome of an answer with `code`: Consul passes 2xx and warns on 429 (Too
/// Many Requests); Nomad's own checks pass anything below 400 and never warn.
pub fn classify(code: u16, provider: Provider) -> ProbeOutcome {
    match provider {
        Provider::Consul => match code {
            200..=299 => ProbeOutcome::Ok,
            429 => ProbeOutcome::Warning,
            _ => ProbeOutcome::Failure,
        },
        Provider::Nomad => {
            if code < 400 {
                ProbeOutcome::Ok
            } else {
                ProbeOutcome::Failure
            }
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn malformed(what: &str) -> CheckError {
    CheckError::MalformedResponse(what.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request<'a>(
        method: &'a str,
        path: &'a str,
        headers: &'a BTreeMap<String, Vec<String>>,
        body: &'a str,
    ) -> HttpRequest<'a> {
        HttpRequest {
            method,
            authority: "10.0.0.1:8080",
            path,
            headers,
            body,
        }
    }

    fn text(bytes: Vec<u8>) -> String {
        String::from_utf8(bytes).expect("utf-8")
    }

    #[test]
    fn get_request_with_defaults() {
        let none = BTreeMap::new();
        let bytes = request("", "health?full=1", &none, "")
            .encode()
            .expect("encode");
        assert_eq!(
            text(bytes),
            "GET /health?full=1 HTTP/1.1\r\nHost: 10.0.0.1:8080\r\n\
             User-Agent: Caravan Health Check\r\nAccept: text/plain, text/*, */*\r\n\
             Connection: close\r\n\r\n"
        );
    }

    #[test]
    fn post_with_headers_and_body() {
        let headers = BTreeMap::from([
            ("Host".to_owned(), vec!["app.local".to_owned()]),
            ("X-Token".to_owned(), vec!["a".to_owned(), "b".to_owned()]),
            ("Content-Length".to_owned(), vec!["999".to_owned()]),
        ]);
        let bytes = request("POST", "/", &headers, "{}")
            .encode()
            .expect("encode");
        assert_eq!(
            text(bytes),
            "POST / HTTP/1.1\r\nUser-Agent: Caravan Health Check\r\n\
             Accept: text/plain, text/*, */*\r\nHost: app.local\r\nX-Token: a\r\nX-Token: b\r\n\
             Content-Length: 2\r\nConnection: close\r\n\r\n{}"
        );
        let none = BTreeMap::new();
        let empty_put = text(request("PUT", "/", &none, "").encode().expect("encode"));
        assert!(empty_put.contains("Content-Length: 0\r\n"), "{empty_put}");
    }

    #[test]
    fn injection_is_refused() {
        let none = BTreeMap::new();
        let bad_value = BTreeMap::from([("X".to_owned(), vec!["a\r\nEvil: 1".to_owned()])]);
        let bad_name = BTreeMap::from([("X Y".to_owned(), vec!["a".to_owned()])]);
        for req in [
            request("GET", "/a b", &none, ""),
            request("GE T", "/", &none, ""),
            request("GET", "/", &bad_value, ""),
            request("GET", "/", &bad_name, ""),
        ] {
            assert!(
                matches!(req.encode(), Err(CheckError::InvalidRequest(_))),
                "{req:?}"
            );
        }
    }

    #[test]
    fn response_heads() {
        let table: &[(&str, &str, u16, &str, BodyFraming)] = &[
            (
                "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
                "GET",
                200,
                "200 OK",
                BodyFraming::Length(5),
            ),
            (
                "HTTP/1.1 503 Service Unavailable\r\ntransfer-encoding: gzip, chunked\r\n\r\n",
                "GET",
                503,
                "503 Service Unavailable",
                BodyFraming::Chunked,
            ),
            (
                "HTTP/1.0 404\r\n\r\n",
                "GET",
                404,
                "404",
                BodyFraming::UntilClose,
            ),
            (
                "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n",
                "HEAD",
                200,
                "200 OK",
                BodyFraming::None,
            ),
            (
                "HTTP/1.1 204 No Content\r\n\r\n",
                "GET",
                204,
                "204 No Content",
                BodyFraming::None,
            ),
        ];
        for (raw, method, code, status, framing) in table {
            let (head, used) = parse_head(raw.as_bytes(), method)
                .expect("parse")
                .expect("complete");
            assert_eq!(head.code, *code, "{raw:?}");
            assert_eq!(head.status_text(), *status, "{raw:?}");
            assert_eq!(head.framing, *framing, "{raw:?}");
            assert_eq!(&raw[used..], raw.split("\r\n\r\n").nth(1).expect("body"));
        }
        assert_eq!(
            parse_head(b"HTTP/1.1 200 OK\r\nA: b\r\n", "GET").expect("ok"),
            None
        );
        for bad in [
            "SSH-2.0-OpenSSH\r\n\r\n",
            "HTTP/1.1 abc OK\r\n\r\n",
            "HTTP/1.1 200 OK\r\nno colon\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n",
        ] {
            assert!(parse_head(bad.as_bytes(), "GET").is_err(), "{bad:?}");
        }
        let huge = vec![b'a'; MAX_HEAD_BYTES + 1];
        assert!(parse_head(&huge, "GET").is_err());
    }

    #[test]
    fn chunked_bodies() {
        let raw = b"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\n\r\n";
        assert_eq!(
            decode_chunked(raw, 100).expect("decode"),
            Dechunked {
                body: b"hello world".to_vec(),
                done: true
            }
        );
        // Cut inside the second chunk: what is there, not done.
        assert_eq!(
            decode_chunked(&raw[..22], 100).expect("decode"),
            Dechunked {
                body: b"hello wo".to_vec(),
                done: false
            }
        );
        // The limit ends the body early.
        assert_eq!(
            decode_chunked(raw, 7).expect("decode"),
            Dechunked {
                body: b"hello w".to_vec(),
                done: true
            }
        );
        assert!(decode_chunked(b"zz\r\n", 100).is_err());
        assert!(decode_chunked(b"2\r\nabXY", 100).is_err());
    }

    #[test]
    fn status_codes_by_provider() {
        let table = [
            (200, ProbeOutcome::Ok, ProbeOutcome::Ok),
            (204, ProbeOutcome::Ok, ProbeOutcome::Ok),
            (301, ProbeOutcome::Failure, ProbeOutcome::Ok),
            (404, ProbeOutcome::Failure, ProbeOutcome::Failure),
            (429, ProbeOutcome::Warning, ProbeOutcome::Failure),
            (500, ProbeOutcome::Failure, ProbeOutcome::Failure),
            (503, ProbeOutcome::Failure, ProbeOutcome::Failure),
        ];
        for (code, consul, nomad) in table {
            assert_eq!(classify(code, Provider::Consul), consul, "{code}");
            assert_eq!(classify(code, Provider::Nomad), nomad, "{code}");
        }
    }
}
