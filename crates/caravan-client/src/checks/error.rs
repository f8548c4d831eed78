//! Why a probe could not get an answer. Probes turn these into a failure's output;
//! they cross no other boundary.

/// A probe's error.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The job's check cannot be turned into a request (e.g. a header with a newline).
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// The HTTP/2 exchange of a grpc check failed (a server that does not speak
    /// HTTP/2 without TLS ends up here).
    #[error("http2: {0}")]
    Http2(#[from] h2::Error),
    /// The server answered something that is not HTTP/1.x, or not the gRPC health
    /// protocol.
    #[error("malformed response: {0}")]
    MalformedResponse(String),
    /// The server closed the connection before the end of the response head.
    #[error("connection closed before a response")]
    ConnectionClosed,
    /// An http, tcp or grpc check without an address to connect to.
    #[error("no address to check")]
    NoAddress,
    /// A script check in a task with no way to run commands in it.
    #[error("no script executor for task {task:?}")]
    NoExecutor { task: String },
    /// A script that was still running at its timeout (and was killed).
    #[error("timed out")]
    TimedOut,
    /// The executor could not run the script at all.
    #[error("cannot run {command:?}: {reason}")]
    Exec { command: String, reason: String },
}
