//! The one error type that crosses the wire.

use std::fmt;

use serde::{Deserialize, Serialize};

/// What went wrong, coarsely enough for a caller to decide what to do next.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The object asked for does not exist.
    NotFound,
    /// The request was malformed or refused by validation.
    BadRequest,
    /// The server is not the leader; `leader` says who is, when known.
    NotLeader,
    /// The server cannot serve now (no leader, shutting down...).
    Unavailable,
    /// A bug or an unexpected failure on the server.
    Internal,
    /// The connection failed: resolving, connecting, or dying under the call.
    Transport,
    /// The TLS handshake failed or the peer's certificate was refused.
    Tls,
    /// The call did not complete within its timeout.
    Timeout,
    /// The server does not know the method.
    UnknownMethod,
}

impl ErrorKind {
    /// The snake_case name, as on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NotFound => "not_found",
            Self::BadRequest => "bad_request",
            Self::NotLeader => "not_leader",
            Self::Unavailable => "unavailable",
            Self::Internal => "internal",
            Self::Transport => "transport",
            Self::Tls => "tls",
            Self::Timeout => "timeout",
            Self::UnknownMethod => "unknown_method",
        }
    }

    /// Whether an error of this kind is worth retrying unless the sender says otherwise.
    ///
    /// A `Timeout` is not: the request may have been applied, and only the caller knows
    /// whether repeating it is safe.
    pub fn retry_by_default(self) -> bool {
        matches!(self, Self::NotLeader | Self::Unavailable | Self::Transport)
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An RPC failure, from the handler or from the transport.
///
/// It says whether a retry is allowed and, for `NotLeader`, who the leader is, so a
/// caller can forward without another round trip.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{kind}: {message}")]
pub struct RpcError {
    /// The class of failure.
    pub kind: ErrorKind,
    /// A lowercase human-readable explanation.
    pub message: String,
    /// Whether the caller may retry (possibly elsewhere).
    #[serde(default)]
    pub retry: bool,
    /// The leader's RPC address, when the error is `NotLeader` and it is known.
    #[serde(default)]
    pub leader: Option<String>,
}

impl RpcError {
    /// An error of `kind`, retryable as [`ErrorKind::retry_by_default`] says.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            retry: kind.retry_by_default(),
            leader: None,
        }
    }

    /// This server is not the leader; `leader` is the leader's RPC address, if known.
    pub fn not_leader(leader: Option<String>) -> Self {
        let message = match &leader {
            Some(l) => format!("not the leader; the leader is {l}"),
            None => "not the leader; no leader is known".to_string(),
        };
        Self {
            leader,
            ..Self::new(ErrorKind::NotLeader, message)
        }
    }

    /// The object does not exist.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotFound, message)
    }

    /// The request is malformed or invalid.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::BadRequest, message)
    }

    /// The server cannot serve now; retryable.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unavailable, message)
    }

    /// An unexpected failure.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Internal, message)
    }

    /// The connection failed; retryable.
    pub fn transport(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Transport, message)
    }

    /// A TLS failure; not retryable (the same certificates fail the same way).
    pub fn tls(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Tls, message)
    }

    /// The call timed out.
    pub fn timeout(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Timeout, message)
    }

    /// The server has no such method.
    pub fn unknown_method(method: &str) -> Self {
        Self::new(
            ErrorKind::UnknownMethod,
            format!("unknown method {method:?}"),
        )
    }

    /// The same error with `retry` set explicitly.
    pub fn with_retry(mut self, retry: bool) -> Self {
        self.retry = retry;
        self
    }

    /// The same error naming the leader.
    pub fn with_leader(mut self, leader: impl Into<String>) -> Self {
        self.leader = Some(leader.into());
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_serialize_snake_case_and_match_display() {
        for kind in [
            ErrorKind::NotFound,
            ErrorKind::BadRequest,
            ErrorKind::NotLeader,
            ErrorKind::Unavailable,
            ErrorKind::Internal,
            ErrorKind::Transport,
            ErrorKind::Tls,
            ErrorKind::Timeout,
            ErrorKind::UnknownMethod,
        ] {
            let json = serde_json::to_value(kind).expect("serialize");
            assert_eq!(json, serde_json::Value::String(kind.to_string()));
        }
    }

    #[test]
    fn error_shape_on_the_wire() {
        let err = RpcError::not_leader(Some("10.0.0.2:4647".into()));
        let json = serde_json::to_value(&err).expect("serialize");
        assert_eq!(json["kind"], "not_leader");
        assert_eq!(json["retry"], true);
        assert_eq!(json["leader"], "10.0.0.2:4647");
        let back: RpcError = serde_json::from_value(json).expect("deserialize");
        assert_eq!(back, err);
        // A minimal error from another implementation still decodes.
        let min: RpcError =
            serde_json::from_str(r#"{"kind":"not_found","message":"no job"}"#).expect("decode");
        assert_eq!(min.kind, ErrorKind::NotFound);
        assert!(!min.retry);
        assert_eq!(min.to_string(), "not_found: no job");
    }
}
