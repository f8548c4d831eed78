//! The DNS server's errors. The resolver has none: every query gets a reply or is
//! dropped.

/// Why [`crate::serve`] stopped before its shutdown, or did not start.
#[derive(Debug, thiserror::Error)]
pub enum DnsError {
    #[error("invalid DNS config: {0}")]
    Config(String),
    #[error("a DNS server task ended: {0}")]
    Task(#[from] tokio::task::JoinError),
    #[error("a DNS UDP socket could not be set up: {0}")]
    Socket(#[source] std::io::Error),
    #[error("a DNS UDP worker thread panicked")]
    UdpWorker,
}
