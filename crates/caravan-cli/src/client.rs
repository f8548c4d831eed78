//! The agent's HTTP API as the CLI sees it: where the agent is (`-address`,
//! `CARAVAN_ADDR`, `NOMAD_ADDR`, then `http://127.0.0.1:4646`), JSON requests, blocking
//! queries (`?index=&wait=` with `X-Nomad-Index`), and errors that name the address.

use std::fmt;
use std::io::{self, BufReader};
use std::net::TcpStream;
use std::time::Duration;

use serde_json::Value;

use crate::http1::{self, Request, Response, SendError};

/// Where the CLI looks when nothing says otherwise.
pub(crate) const DEFAULT_ADDRESS: &str = "http://127.0.0.1:4646";
/// Largest JSON body accepted.
const MAX_JSON: u64 = 256 * 1024 * 1024;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long an ordinary (non-blocking) request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// Picks the agent address: the flag, then `CARAVAN_ADDR`, then `NOMAD_ADDR`, then the
/// default. `env` is the environment lookup (injected for tests).
pub(crate) fn resolve_address(flag: Option<&str>, env: impl Fn(&str) -> Option<String>) -> String {
    let nonempty = |s: String| (!s.trim().is_empty()).then_some(s);
    flag.map(str::to_owned)
        .and_then(nonempty)
        .or_else(|| env("CARAVAN_ADDR").and_then(nonempty))
        .or_else(|| env("NOMAD_ADDR").and_then(nonempty))
        .unwrap_or_else(|| DEFAULT_ADDRESS.to_owned())
}

/// A parsed `http://host:port[/prefix]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Address {
    /// As the user gave it, for messages.
    pub url: String,
    host: String,
    port: u16,
    /// A path prefix to put before `/v1/...` (for agents behind a path-routing proxy).
    prefix: String,
}

impl Address {
    pub(crate) fn parse(url: &str) -> Result<Self, ClientError> {
        let bad = |reason: &str| ClientError::BadAddress {
            addr: url.to_owned(),
            reason: reason.to_owned(),
        };
        let trimmed = url.trim();
        let rest = if let Some(rest) = trimmed.strip_prefix("http://") {
            rest
        } else if trimmed.starts_with("https://") {
            return Err(bad(
                "TLS is not supported by this CLI; use an http:// address",
            ));
        } else if trimmed.contains("://") {
            return Err(bad("only http:// addresses are supported"));
        } else {
            trimmed
        };
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], rest[i..].trim_end_matches('/')),
            None => (rest, ""),
        };
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (host, after) = v6
                .split_once(']')
                .ok_or_else(|| bad("unclosed [ in the host"))?;
            let port = match after.strip_prefix(':') {
                Some(p) => Some(p),
                None if after.is_empty() => None,
                None => return Err(bad("unexpected text after the host")),
            };
            (host, port)
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (authority, None),
            }
        };
        if host.is_empty() {
            return Err(bad("no host"));
        }
        let port = match port {
            Some(p) => p
                .parse::<u16>()
                .map_err(|_| bad("the port is not a number from 1 to 65535"))?,
            None => 80,
        };
        Ok(Self {
            url: trimmed.to_owned(),
            host: host.to_owned(),
            port,
            prefix: path.to_owned(),
        })
    }
}

/// A request that failed.
#[derive(Debug)]
pub(crate) enum ClientError {
    BadAddress {
        addr: String,
        reason: String,
    },
    /// Nothing answered at the address.
    Unreachable {
        addr: String,
        source: io::Error,
    },
    /// The connection broke, timed out, or did not speak HTTP.
    Transport {
        addr: String,
        source: io::Error,
    },
    /// The agent answered 4xx or 5xx; `body` is its message.
    Status {
        status: u16,
        body: String,
    },
    /// The body was not the JSON expected.
    Decode {
        path: String,
        source: serde_json::Error,
    },
}

impl ClientError {
    /// The HTTP status, when the agent answered with an error.
    pub(crate) fn status(&self) -> Option<u16> {
        match self {
            ClientError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::BadAddress { addr, reason } => {
                write!(f, "invalid agent address {addr:?}: {reason}")
            }
            ClientError::Unreachable { addr, source }
                if source.kind() == io::ErrorKind::ConnectionRefused =>
            {
                write!(
                    f,
                    "no agent is listening at {addr} (connection refused); start one with `caravan agent -dev`, \
                     or point -address or CARAVAN_ADDR at a running agent"
                )
            }
            ClientError::Unreachable { addr, source } => {
                write!(f, "cannot reach the agent at {addr}: {source}")
            }
            ClientError::Transport { addr, source } => {
                write!(f, "talking to the agent at {addr}: {source}")
            }
            ClientError::Status { status, body } => {
                let body = body.trim();
                if body.is_empty() {
                    write!(f, "unexpected response code {status}")
                } else {
                    f.write_str(body)
                }
            }
            ClientError::Decode { path, source } => write!(
                f,
                "the agent's answer to {path} is not the JSON expected: {source}"
            ),
        }
    }
}

/// The messages are whole: each names its cause, so no `source` is chained (anyhow's
/// `{:#}` would print it twice).
impl std::error::Error for ClientError {}

/// Options of a blocking query.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Blocking {
    /// Return once the resource's index is past this one.
    pub index: u64,
    /// The longest the agent should hold the request.
    pub wait: Duration,
}

/// Who the CLI talks to, and as whom.
#[derive(Debug, Clone)]
pub(crate) struct Client {
    addr: Address,
    token: Option<String>,
    namespace: Option<String>,
    region: Option<String>,
}

/// A streamed response body (logs, file contents).
pub(crate) type Stream = Response<BufReader<TcpStream>>;

impl Client {
    pub(crate) fn new(
        addr: Address,
        token: Option<String>,
        namespace: Option<String>,
        region: Option<String>,
    ) -> Self {
        Self {
            addr,
            token,
            namespace,
            region,
        }
    }

    /// The agent's address as given.
    pub(crate) fn address(&self) -> &str {
        &self.addr.url
    }

    /// The namespace the user chose (`-namespace` or the environment), if any.
    pub(crate) fn namespace(&self) -> Option<&str> {
        self.namespace.as_deref()
    }

    /// `GET path` as JSON.
    pub(crate) fn get(&self, path: &str) -> Result<Value, ClientError> {
        self.get_indexed(path, None).map(|(v, _)| v)
    }

    /// `GET path`, optionally blocking until the index moves past `block.index`; returns
    /// the JSON and the `X-Nomad-Index` (0 when the agent sends none).
    pub(crate) fn get_indexed(
        &self,
        path: &str,
        block: Option<Blocking>,
    ) -> Result<(Value, u64), ClientError> {
        let (path, timeout) = match block {
            Some(b) if b.index > 0 => {
                let secs = b.wait.as_secs().max(1);
                let path = with_param(path, "index", &b.index.to_string());
                // The agent may add up to wait/16 of jitter; allow for it and the network.
                (
                    with_param(&path, "wait", &format!("{secs}s")),
                    b.wait + b.wait / 8 + REQUEST_TIMEOUT,
                )
            }
            _ => (path.to_owned(), REQUEST_TIMEOUT),
        };
        let mut resp = self.send("GET", &path, None, Some(timeout))?;
        let index = resp
            .header("X-Nomad-Index")
            .and_then(|i| i.parse().ok())
            .unwrap_or(0);
        Ok((self.json_body(&path, &mut resp)?, index))
    }

    pub(crate) fn put(&self, path: &str, body: &Value) -> Result<Value, ClientError> {
        self.write("PUT", path, Some(body))
    }

    pub(crate) fn post(&self, path: &str, body: &Value) -> Result<Value, ClientError> {
        self.write("POST", path, Some(body))
    }

    pub(crate) fn delete(&self, path: &str) -> Result<Value, ClientError> {
        self.write("DELETE", path, None)
    }

    /// `GET path` as raw bytes, up to `limit` (a snapshot).
    pub(crate) fn get_bytes(&self, path: &str, limit: u64) -> Result<Vec<u8>, ClientError> {
        let mut resp = self.send("GET", path, None, Some(REQUEST_TIMEOUT))?;
        resp.body.read_all(limit).map_err(|e| self.transport(e))
    }

    /// `PUT path` with a raw body; the answer as JSON.
    pub(crate) fn put_bytes(&self, path: &str, body: &[u8]) -> Result<Value, ClientError> {
        let mut resp = self.send("PUT", path, Some(body), Some(REQUEST_TIMEOUT))?;
        self.json_body(path, &mut resp)
    }

    /// `GET path`, returning the open response to read as it streams. `timeout` bounds
    /// each read (`None` for a followed stream).
    pub(crate) fn stream(
        &self,
        path: &str,
        timeout: Option<Duration>,
    ) -> Result<Stream, ClientError> {
        self.send("GET", path, None, timeout)
    }

    fn write(&self, method: &str, path: &str, body: Option<&Value>) -> Result<Value, ClientError> {
        let bytes =
            body.map(serde_json::to_vec)
                .transpose()
                .map_err(|source| ClientError::Decode {
                    path: path.to_owned(),
                    source,
                })?;
        let mut resp = self.send(method, path, bytes.as_deref(), Some(REQUEST_TIMEOUT))?;
        self.json_body(path, &mut resp)
    }

    fn json_body(&self, path: &str, resp: &mut Stream) -> Result<Value, ClientError> {
        let bytes = resp
            .body
            .read_all(MAX_JSON)
            .map_err(|e| self.transport(e))?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Value::Null);
        }
        serde_json::from_slice(&bytes).map_err(|source| ClientError::Decode {
            path: strip_query(path),
            source,
        })
    }

    /// Sends one request; a 4xx/5xx answer becomes [`ClientError::Status`].
    fn send(
        &self,
        method: &str,
        path: &str,
        body: Option<&[u8]>,
        timeout: Option<Duration>,
    ) -> Result<Stream, ClientError> {
        let target = format!("{}{}", self.addr.prefix, self.scoped(path));
        let mut headers: Vec<(&str, &str)> = Vec::new();
        if let Some(token) = &self.token {
            headers.push(("X-Nomad-Token", token));
        }
        let req = Request {
            method,
            target: &target,
            headers: &headers,
            body,
            read_timeout: timeout,
        };
        let mut resp = http1::send(&self.addr.host, self.addr.port, CONNECT_TIMEOUT, &req)
            .map_err(|e| match e {
                SendError::Connect(source) => ClientError::Unreachable {
                    addr: self.addr.url.clone(),
                    source,
                },
                SendError::Io(source) => self.transport(source),
            })?;
        if resp.status >= 400 {
            let body = resp.body.read_all(64 * 1024).unwrap_or_default();
            return Err(ClientError::Status {
                status: resp.status,
                body: String::from_utf8_lossy(&body).into_owned(),
            });
        }
        Ok(resp)
    }

    fn transport(&self, source: io::Error) -> ClientError {
        ClientError::Transport {
            addr: self.addr.url.clone(),
            source,
        }
    }

    /// Adds `namespace` and `region` when the user chose them; a path that names its
    /// namespace already (one found through `namespace=*`) keeps it.
    fn scoped(&self, path: &str) -> String {
        let mut path = path.to_owned();
        let names_namespace = path
            .split_once('?')
            .is_some_and(|(_, query)| query.split('&').any(|p| p.starts_with("namespace=")));
        if let Some(ns) = self.namespace.as_ref().filter(|_| !names_namespace) {
            path = with_param(&path, "namespace", ns);
        }
        if let Some(region) = &self.region {
            path = with_param(&path, "region", region);
        }
        path
    }
}

/// Appends `key=value` (value encoded) to a path that may already have a query.
pub(crate) fn with_param(path: &str, key: &str, value: &str) -> String {
    let sep = if path.contains('?') { '&' } else { '?' };
    format!("{path}{sep}{key}={}", crate::fields::enc(value))
}

fn strip_query(path: &str) -> String {
    path.split('?').next().unwrap_or(path).to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |k| {
            vars.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    #[test]
    fn address_precedence() {
        let both = [("CARAVAN_ADDR", "http://c:1"), ("NOMAD_ADDR", "http://n:2")];
        assert_eq!(
            resolve_address(Some("http://f:3"), env(&both)),
            "http://f:3"
        );
        assert_eq!(resolve_address(None, env(&both)), "http://c:1");
        assert_eq!(
            resolve_address(None, env(&[("NOMAD_ADDR", "http://n:2")])),
            "http://n:2"
        );
        assert_eq!(
            resolve_address(None, env(&[("CARAVAN_ADDR", "")])),
            DEFAULT_ADDRESS
        );
        assert_eq!(resolve_address(Some(""), env(&[])), DEFAULT_ADDRESS);
    }

    #[test]
    fn parses_addresses() {
        let a = Address::parse("http://127.0.0.1:4646").expect("plain");
        assert_eq!(
            (a.host.as_str(), a.port, a.prefix.as_str()),
            ("127.0.0.1", 4646, "")
        );
        let a = Address::parse("localhost:8080/nomad/").expect("no scheme, prefix");
        assert_eq!(
            (a.host.as_str(), a.port, a.prefix.as_str()),
            ("localhost", 8080, "/nomad")
        );
        let a = Address::parse("http://[::1]:4646").expect("v6");
        assert_eq!((a.host.as_str(), a.port), ("::1", 4646));
        assert_eq!(
            Address::parse("http://example").expect("default port").port,
            80
        );
        for bad in [
            "https://x:1",
            "ftp://x",
            "http://:1",
            "http://x:port",
            "http://[::1",
        ] {
            assert!(Address::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn errors_name_the_address_and_suggest_an_agent() {
        let refused = ClientError::Unreachable {
            addr: "http://127.0.0.1:1".into(),
            source: io::Error::from(io::ErrorKind::ConnectionRefused),
        };
        let text = refused.to_string();
        assert!(
            text.contains("http://127.0.0.1:1") && text.contains("caravan agent -dev"),
            "{text}"
        );
        let status = ClientError::Status {
            status: 404,
            body: "job not found\n".into(),
        };
        assert_eq!(status.to_string(), "job not found");
        assert_eq!(status.status(), Some(404));
        assert_eq!(
            ClientError::Status {
                status: 500,
                body: String::new()
            }
            .to_string(),
            "unexpected response code 500"
        );
    }

    #[test]
    fn query_params() {
        assert_eq!(
            with_param("/v1/jobs", "prefix", "a b"),
            "/v1/jobs?prefix=a%20b"
        );
        assert_eq!(
            with_param("/v1/jobs?prefix=a", "index", "5"),
            "/v1/jobs?prefix=a&index=5"
        );
        let c = Client::new(
            Address::parse("http://h:1").expect("addr"),
            None,
            Some("prod".into()),
            None,
        );
        assert_eq!(c.scoped("/v1/jobs"), "/v1/jobs?namespace=prod");
        assert_eq!(
            c.scoped("/v1/service/redis?namespace=dev"),
            "/v1/service/redis?namespace=dev"
        );
        assert_eq!(c.namespace(), Some("prod"));
    }
}
