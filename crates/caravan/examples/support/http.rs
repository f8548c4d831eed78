//! A minimal HTTP/1.1 client over `std::net::TcpStream`: the benches measure the agent,
//! so the client is blocking, keeps its connection alive and does nothing else.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};

use serde_json::Value;

use super::Res;

/// A minimal HTTP/1.1 client on one keep-alive connection, opened again when the server
/// has closed it.
pub struct Http {
    addr: SocketAddr,
    conn: Option<BufReader<TcpStream>>,
}

pub struct Response {
    pub status: u16,
    /// `X-Nomad-Index`, or 0 when the answer has none.
    pub index: u64,
    pub body: Vec<u8>,
}

impl Response {
    pub fn expect_ok(&self, what: &str) -> Res<&Self> {
        if self.status == 200 {
            Ok(self)
        } else {
            Err(format!(
                "{what}: HTTP {}: {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            ))
        }
    }
}

impl Http {
    pub fn new(addr: SocketAddr) -> Self {
        Self { addr, conn: None }
    }

    /// Drops the connection, so the next request opens a fresh one.
    pub fn close(&mut self) {
        self.conn = None;
    }

    /// `GET path`, expecting 200 and JSON: `X-Nomad-Index` and the body.
    pub fn get_json(&mut self, path: &str) -> Res<(u64, Value)> {
        let response = self.request("GET", path, None)?;
        response.expect_ok(&format!("GET {path}"))?;
        let body = serde_json::from_slice(&response.body)
            .map_err(|e| format!("GET {path}: decoding the body: {e}"))?;
        Ok((response.index, body))
    }

    /// One request; any method but `GET` carries a `Content-Length`, even of an empty
    /// body.
    pub fn request(&mut self, method: &str, path: &str, body: Option<&[u8]>) -> Res<Response> {
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nUser-Agent: caravan-bench\r\nAccept: */*\r\n",
            self.addr
        );
        let body = body.unwrap_or_default();
        if !body.is_empty() || method != "GET" {
            head.push_str("Content-Type: application/json\r\n");
            head.push_str(&format!("Content-Length: {}\r\n", body.len()));
        }
        head.push_str("\r\n");
        let mut message = head.into_bytes();
        message.extend_from_slice(body);
        let reused = self.conn.is_some();
        match self.exchange(&message) {
            Ok(response) => Ok(response),
            // The server closed an idle keep-alive connection before reading this
            // request: send it again on a new one.
            Err(Exchange::Closed) if reused => {
                self.conn = None;
                self.exchange(&message)
                    .map_err(|e| e.describe(method, path))
            }
            Err(e) => {
                self.conn = None;
                Err(e.describe(method, path))
            }
        }
    }

    fn exchange(&mut self, message: &[u8]) -> Result<Response, Exchange> {
        let conn = match &mut self.conn {
            Some(conn) => conn,
            None => {
                let stream = TcpStream::connect(self.addr).map_err(Exchange::Io)?;
                stream.set_nodelay(true).map_err(Exchange::Io)?;
                self.conn.insert(BufReader::new(stream))
            }
        };
        if conn.get_mut().write_all(message).is_err() {
            return Err(Exchange::Closed);
        }
        let mut status_line = String::new();
        match conn.read_line(&mut status_line) {
            Ok(0) | Err(_) => return Err(Exchange::Closed),
            Ok(_) => {}
        }
        let mut parts = status_line.split_whitespace();
        let version = parts.next().unwrap_or_default().to_owned();
        let status: u16 = parts
            .next()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| Exchange::Protocol(format!("bad status line {status_line:?}")))?;
        let mut keep_alive = version == "HTTP/1.1";
        let mut length = None;
        let mut chunked = false;
        let mut index = 0;
        loop {
            let mut line = String::new();
            if conn.read_line(&mut line).map_err(Exchange::Io)? == 0 {
                return Err(Exchange::Protocol(
                    "connection closed in the headers".into(),
                ));
            }
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            let Some((name, value)) = line.split_once(':') else {
                return Err(Exchange::Protocol(format!("bad header {line:?}")));
            };
            let value = value.trim();
            match name.to_ascii_lowercase().as_str() {
                "content-length" => length = value.parse::<usize>().ok(),
                "transfer-encoding" => chunked = value.eq_ignore_ascii_case("chunked"),
                "connection" => keep_alive = !value.eq_ignore_ascii_case("close"),
                "x-nomad-index" => index = value.parse().unwrap_or(0),
                _ => {}
            }
        }
        let mut body = Vec::new();
        if chunked {
            read_chunked(conn, &mut body)?;
        } else if let Some(length) = length {
            body.resize(length, 0);
            conn.read_exact(&mut body).map_err(Exchange::Io)?;
        } else {
            conn.read_to_end(&mut body).map_err(Exchange::Io)?;
            keep_alive = false;
        }
        if !keep_alive {
            self.conn = None;
        }
        Ok(Response {
            status,
            index,
            body,
        })
    }
}

fn read_chunked(conn: &mut BufReader<TcpStream>, body: &mut Vec<u8>) -> Result<(), Exchange> {
    loop {
        let mut size = String::new();
        conn.read_line(&mut size).map_err(Exchange::Io)?;
        let size = size.trim_end().split(';').next().unwrap_or_default();
        let size = usize::from_str_radix(size.trim(), 16)
            .map_err(|_| Exchange::Protocol(format!("bad chunk size {size:?}")))?;
        if size == 0 {
            // Trailers, up to the empty line.
            loop {
                let mut line = String::new();
                if conn.read_line(&mut line).map_err(Exchange::Io)? == 0
                    || line.trim_end().is_empty()
                {
                    return Ok(());
                }
            }
        }
        let start = body.len();
        body.resize(start + size, 0);
        conn.read_exact(&mut body[start..]).map_err(Exchange::Io)?;
        let mut crlf = [0u8; 2];
        conn.read_exact(&mut crlf).map_err(Exchange::Io)?;
    }
}

/// Why one request/response exchange failed.
enum Exchange {
    /// The connection was closed before any of the response arrived.
    Closed,
    Io(std::io::Error),
    Protocol(String),
}

impl Exchange {
    fn describe(self, method: &str, path: &str) -> String {
        match self {
            Self::Closed => format!("{method} {path}: the server closed the connection"),
            Self::Io(e) => format!("{method} {path}: {e}"),
            Self::Protocol(e) => format!("{method} {path}: {e}"),
        }
    }
}
