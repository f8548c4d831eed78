//! Which transport a query came over: it decides how large a reply may be.

/// The transport of a query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// At most 512 bytes and `udp_answer_limit` answers without EDNS; the EDNS payload
    /// size with it. Whatever is left out sets TC so that the client retries over TCP.
    Udp,
    /// Everything that fits in a message (64 KiB).
    Tcp,
}
