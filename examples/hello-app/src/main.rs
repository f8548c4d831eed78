//! hello-app: the demo workload of Caravan's examples (scenario 2 of the seeds).
//!
//! A tiny HTTP server that counts its visits in redis. `GET /` sends
//! `INCR hello:visits` to the redis at `DEMO_REDIS_ADDR` and answers with the count;
//! `GET /health` answers `ok` without touching redis. It listens on
//! `$HELLO_BIND:$NOMAD_PORT_app` (then `PORT`, then 8080; `HELLO_BIND` defaults to
//! 0.0.0.0), serves each connection on its own thread and logs one line per request.
//!
//! std only, so it builds without a registry: the RESP client below speaks just
//! enough of the protocol for one command and its reply, and the HTTP side reads
//! the request line, skips the headers and closes the connection after answering.

use std::env;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream, ToSocketAddrs};
use std::process::ExitCode;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

const REDIS_TIMEOUT: Duration = Duration::from_secs(2);
const CLIENT_TIMEOUT: Duration = Duration::from_secs(10);
const VISITS_KEY: &str = "hello:visits";
const DEFAULT_REDIS_ADDR: &str = "127.0.0.1:6379";
/// Bytes of request head (request line and headers) read at most; the rest is ignored.
const MAX_REQUEST_HEAD: u64 = 64 * 1024;
/// The longest bulk string accepted from redis; a count is a few digits.
const MAX_BULK: usize = 1024 * 1024;

// ---- RESP (redis serialization protocol), the subset INCR needs ----

/// One RESP value. Arrays appear in requests; the fake server in the tests decodes them.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Reply {
    Simple(String),
    Error(String),
    Integer(i64),
    Bulk(Option<Vec<u8>>),
    Array(Vec<Reply>),
}

/// A command as a RESP array of bulk strings.
fn encode_command(args: &[&str]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for arg in args {
        out.extend_from_slice(format!("${}\r\n{arg}\r\n", arg.len()).as_bytes());
    }
    out
}

fn protocol_error(what: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.into())
}

fn read_reply(r: &mut impl BufRead) -> io::Result<Reply> {
    let mut line = String::new();
    if r.read_line(&mut line)? == 0 {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "connection closed",
        ));
    }
    let Some(line) = line.strip_suffix("\r\n") else {
        return Err(protocol_error(format!("line without CRLF: {line:?}")));
    };
    let (kind, rest) = line.split_at_checked(1).unwrap_or(("", ""));
    let number = || {
        rest.parse::<i64>()
            .map_err(|_| protocol_error(format!("bad number {rest:?}")))
    };
    match kind {
        "+" => Ok(Reply::Simple(rest.to_owned())),
        "-" => Ok(Reply::Error(rest.to_owned())),
        ":" => Ok(Reply::Integer(number()?)),
        "$" => match usize::try_from(number()?) {
            Err(_) => Ok(Reply::Bulk(None)), // `$-1`: the null bulk string
            Ok(len) if len > MAX_BULK => Err(protocol_error(format!("bulk string of {len} bytes"))),
            Ok(len) => {
                let mut data = vec![0; len + 2];
                r.read_exact(&mut data)?;
                if !data.ends_with(b"\r\n") {
                    return Err(protocol_error("bulk string without CRLF"));
                }
                data.truncate(len);
                Ok(Reply::Bulk(Some(data)))
            }
        },
        "*" => {
            let len = usize::try_from(number()?).unwrap_or(0);
            (0..len)
                .map(|_| read_reply(r))
                .collect::<io::Result<_>>()
                .map(Reply::Array)
        }
        _ => Err(protocol_error(format!("unknown reply type in {line:?}"))),
    }
}

/// Why a visit could not be counted.
#[derive(Debug)]
enum RedisError {
    /// No connection, or it broke or timed out: redis is not there (503).
    Unreachable(io::Error),
    /// Redis answered, but not with a count (502).
    BadReply(String),
}

/// The count INCR returned. Redis sends an integer; a bulk string of digits is accepted
/// too, as some proxies in front of redis answer that way.
fn reply_to_count(reply: Reply) -> Result<i64, RedisError> {
    match reply {
        Reply::Integer(n) => Ok(n),
        Reply::Bulk(Some(data)) => String::from_utf8_lossy(&data)
            .parse()
            .map_err(|_| RedisError::BadReply(format!("not a count: {data:?}"))),
        Reply::Error(msg) => Err(RedisError::BadReply(msg)),
        other => Err(RedisError::BadReply(format!("unexpected reply {other:?}"))),
    }
}

/// Connects to `addr` (host:port), sends `INCR hello:visits` and returns the new count.
fn incr_visits(addr: &str) -> Result<i64, RedisError> {
    let mut last = io::Error::new(io::ErrorKind::NotFound, "address resolved to nothing");
    for sock in addr.to_socket_addrs().map_err(RedisError::Unreachable)? {
        match TcpStream::connect_timeout(&sock, REDIS_TIMEOUT) {
            Ok(stream) => return incr_on(&stream),
            Err(e) => last = e,
        }
    }
    Err(RedisError::Unreachable(last))
}

fn incr_on(stream: &TcpStream) -> Result<i64, RedisError> {
    let exchange = || -> io::Result<Reply> {
        stream.set_read_timeout(Some(REDIS_TIMEOUT))?;
        stream.set_write_timeout(Some(REDIS_TIMEOUT))?;
        let mut writer = stream;
        writer.write_all(&encode_command(&["INCR", VISITS_KEY]))?;
        read_reply(&mut BufReader::new(stream))
    };
    match exchange() {
        Ok(reply) => reply_to_count(reply),
        Err(e) if e.kind() == io::ErrorKind::InvalidData => {
            Err(RedisError::BadReply(e.to_string()))
        }
        Err(e) => Err(RedisError::Unreachable(e)),
    }
}

// ---- HTTP ----

/// Splits `GET /path?query HTTP/1.1` into method and path (the query dropped).
fn parse_request_line(line: &str) -> Option<(&str, &str)> {
    let mut parts = line.split_whitespace();
    let (method, target, version) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || !version.starts_with("HTTP/") || !target.starts_with('/') {
        return None;
    }
    Some((method, target.split('?').next().unwrap_or(target)))
}

/// The status, reason and plain-text body for one request.
fn route(method: &str, path: &str, redis_addr: &str) -> (u16, &'static str, String) {
    match (method, path) {
        ("GET", "/") => match incr_visits(redis_addr) {
            Ok(n) => (
                200,
                "OK",
                format!("Hello! This page has been visited {n} times.\n"),
            ),
            Err(RedisError::Unreachable(e)) => (
                503,
                "Service Unavailable",
                format!("redis at {redis_addr} is unreachable: {e}\n"),
            ),
            Err(RedisError::BadReply(msg)) => (
                502,
                "Bad Gateway",
                format!("redis at {redis_addr} answered: {msg}\n"),
            ),
        },
        ("GET", "/health") => (200, "OK", "ok\n".to_owned()),
        (_, "/" | "/health") => (405, "Method Not Allowed", "only GET is served\n".to_owned()),
        _ => (404, "Not Found", format!("no page at {path}\n")),
    }
}

fn handle(stream: TcpStream, redis_addr: &str) -> io::Result<()> {
    let started = Instant::now();
    let peer = stream.peer_addr()?;
    stream.set_read_timeout(Some(CLIENT_TIMEOUT))?;
    let mut reader = BufReader::new((&stream).take(MAX_REQUEST_HEAD));
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    let mut header = String::new();
    loop {
        header.clear();
        if reader.read_line(&mut header)? == 0 || header.trim_end().is_empty() {
            break;
        }
    }
    let request_line = request_line.trim_end();
    let (status, reason, body) = match parse_request_line(request_line) {
        Some((method, path)) => route(method, path, redis_addr),
        None => (400, "Bad Request", "malformed request line\n".to_owned()),
    };
    let mut out = &stream;
    write!(
        out,
        "HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain; charset=utf-8\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    out.flush()?;
    println!(
        "{peer} {request_line:?} {status} {}ms", // Debug-quoted: no control chars in logs
        started.elapsed().as_millis()
    );
    Ok(())
}

/// Accepts connections forever, each served on its own thread.
fn serve(listener: TcpListener, redis_addr: Arc<str>) {
    for conn in listener.incoming() {
        let stream = match conn {
            Ok(stream) => stream,
            Err(e) => {
                eprintln!("accept failed: {e}");
                thread::sleep(Duration::from_millis(50)); // e.g. out of file descriptors
                continue;
            }
        };
        let redis_addr = Arc::clone(&redis_addr);
        let spawned = thread::Builder::new().name("conn".into()).spawn(move || {
            if let Err(e) = handle(stream, &redis_addr) {
                eprintln!("connection failed: {e}");
            }
        });
        if let Err(e) = spawned {
            eprintln!("cannot start a connection thread: {e}");
        }
    }
}

fn main() -> ExitCode {
    let var = |name: &str| env::var(name).ok().filter(|v| !v.is_empty());
    let port = match var("NOMAD_PORT_app")
        .or_else(|| var("PORT"))
        .map(|p| p.parse::<u16>())
    {
        None => 8080,
        Some(Ok(port)) => port,
        Some(Err(e)) => {
            eprintln!("hello-app: the port (NOMAD_PORT_app or PORT) is not a port number: {e}");
            return ExitCode::from(2);
        }
    };
    let bind = var("HELLO_BIND").unwrap_or_else(|| "0.0.0.0".to_owned());
    let redis_addr: Arc<str> = var("DEMO_REDIS_ADDR")
        .unwrap_or_else(|| DEFAULT_REDIS_ADDR.into())
        .into();
    let listener = match TcpListener::bind((bind.as_str(), port)) {
        Ok(listener) => listener,
        Err(e) => {
            eprintln!("hello-app: cannot listen on {bind}:{port}: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!("hello-app listening on {bind}:{port}, counting visits in redis at {redis_addr}");
    serve(listener, redis_addr);
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(bytes: &[u8]) -> io::Result<Reply> {
        read_reply(&mut BufReader::new(bytes))
    }

    #[test]
    fn encodes_incr_as_an_array_of_bulk_strings() {
        let bytes = encode_command(&["INCR", "hello:visits"]);
        assert_eq!(bytes, b"*2\r\n$4\r\nINCR\r\n$12\r\nhello:visits\r\n");
        let expected = ["INCR", "hello:visits"].map(|s| Reply::Bulk(Some(s.into())));
        assert_eq!(
            decode(&bytes).expect("decodes"),
            Reply::Array(expected.to_vec())
        );
    }

    #[test]
    fn decodes_incr_replies() {
        let count = |bytes: &[u8]| reply_to_count(decode(bytes).expect("decodes"));
        assert_eq!(count(b":7\r\n").expect("integer"), 7);
        assert_eq!(count(b"$2\r\n42\r\n").expect("bulk digits"), 42);
        let err = count(b"-ERR value is not an integer\r\n").expect_err("error reply");
        assert!(matches!(err, RedisError::BadReply(m) if m == "ERR value is not an integer"));
        assert!(matches!(count(b"$-1\r\n"), Err(RedisError::BadReply(_))));
        assert!(decode(b":7\n").is_err(), "a line must end in CRLF");
        assert!(
            decode(b"$5\r\nab\r\n").is_err(),
            "a short bulk string is an error"
        );
        assert!(decode(b"?x\r\n").is_err());
    }

    #[test]
    fn parses_request_lines() {
        assert_eq!(parse_request_line("GET / HTTP/1.1"), Some(("GET", "/")));
        assert_eq!(
            parse_request_line("GET /health?x=1 HTTP/1.0"),
            Some(("GET", "/health"))
        );
        assert_eq!(parse_request_line("POST / HTTP/1.1"), Some(("POST", "/")));
        assert_eq!(parse_request_line("GET /"), None);
        assert_eq!(parse_request_line("GET / HTTP/1.1 extra"), None);
        assert_eq!(parse_request_line("GET / SPDY/3"), None);
        assert_eq!(parse_request_line(""), None);
    }

    /// A redis stand-in that answers every INCR with the next integer.
    fn fake_redis() -> String {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind fake redis");
        let addr = listener.local_addr().expect("local addr").to_string();
        thread::spawn(move || {
            let mut visits = 0;
            for stream in listener.incoming().flatten() {
                let incr = decode(&encode_command(&["INCR", VISITS_KEY])).expect("decodes");
                let mut reader = BufReader::new(&stream);
                while let Ok(command) = read_reply(&mut reader) {
                    let reply = if command == incr {
                        visits += 1;
                        format!(":{visits}\r\n")
                    } else {
                        format!("-ERR unexpected command {command:?}\r\n")
                    };
                    let _ = (&stream).write_all(reply.as_bytes());
                }
            }
        });
        addr
    }

    fn start_app(redis_addr: &str) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind app");
        let addr = listener.local_addr().expect("local addr").to_string();
        let redis_addr: Arc<str> = redis_addr.into();
        thread::spawn(move || serve(listener, redis_addr));
        addr
    }

    fn get(addr: &str, path: &str) -> String {
        let mut stream = TcpStream::connect(addr).expect("connect to app");
        write!(stream, "GET {path} HTTP/1.1\r\nHost: test\r\n\r\n").expect("send request");
        let mut response = String::new();
        stream.read_to_string(&mut response).expect("read response");
        response
    }

    #[test]
    fn counts_visits_in_redis_end_to_end() {
        let app = start_app(&fake_redis());
        let first = get(&app, "/");
        assert!(first.starts_with("HTTP/1.1 200 OK\r\n"), "{first}");
        assert!(
            first.ends_with("\r\n\r\nHello! This page has been visited 1 times.\n"),
            "{first}"
        );
        assert!(get(&app, "/").ends_with("visited 2 times.\n"));
        // The health check does not count as a visit.
        assert!(get(&app, "/health").ends_with("\r\n\r\nok\n"));
        assert!(get(&app, "/").ends_with("visited 3 times.\n"));
        assert!(get(&app, "/nope").starts_with("HTTP/1.1 404 "));
    }

    #[test]
    fn answers_503_naming_redis_when_it_is_unreachable() {
        // A port that was free a moment ago: nothing listens there now.
        let gone = TcpListener::bind("127.0.0.1:0")
            .expect("bind")
            .local_addr()
            .expect("addr");
        let response = get(&start_app(&gone.to_string()), "/");
        assert!(response.starts_with("HTTP/1.1 503 "), "{response}");
        assert!(
            response.contains(&format!("redis at {gone} is unreachable")),
            "{response}"
        );
    }
}
