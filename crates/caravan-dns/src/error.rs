//! The DNS server's errors. The resolver has none: every query gets a reply or is
//! dropped.

/// Why [`crate::serve`] stopped before its shutdown, or did not start.
#[derive(Debug, thiserror::Error)]
pub enum DnsError {
    #[error("invalid DNS config: {0}")]
    Config(String),
    #[error("a DNS server task ended: {0}")]
    Task(#[from] tokio::task::JoinError),
}
