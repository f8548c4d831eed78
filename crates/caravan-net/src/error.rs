//! The crate's one error type.

use std::io;
use std::path::PathBuf;

/// What went wrong while building or removing an allocation's network.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    /// The bridge configuration cannot be used (bad name, subnet too small...).
    #[error("invalid network configuration: {0}")]
    Config(String),

    /// An allocation id that cannot name a netns, a veth or an nftables chain.
    #[error("allocation id {0:?} is not usable in interface, netns or chain names")]
    InvalidAllocId(String),

    /// Every address of the subnet is taken.
    #[error("no free address left in {subnet}")]
    SubnetExhausted { subnet: String },

    /// A netlink socket could not be opened.
    #[error("cannot open a netlink socket: {0}")]
    NetlinkSocket(#[source] io::Error),

    /// A netlink request failed.
    #[error("netlink: {op}: {source}")]
    Netlink {
        op: String,
        #[source]
        source: rtnetlink::Error,
    },

    /// A namespace or mount system call failed.
    #[error("{op} {}: {source}", path.display())]
    Sys {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: nix::Error,
    },

    /// A file (state, sysctl, netns directory, resolv.conf) could not be read or written.
    #[error("{op} {}: {source}", path.display())]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    /// The allocator's state file is not what this crate writes.
    #[error("state file {}: {source}", path.display())]
    State {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },

    /// `nft` could not be started.
    #[error("cannot run {binary}: {source}")]
    NftSpawn {
        binary: String,
        #[source]
        source: io::Error,
    },

    /// `nft` refused a script or a listing.
    #[error("nft {what} failed: {stderr}")]
    Nft { what: String, stderr: String },

    /// `nft -j` printed something this crate does not understand.
    #[error("cannot read nft's JSON: {0}")]
    NftJson(String),

    /// The worker thread that does namespace work could not start or panicked.
    #[error("network worker thread: {0}")]
    Worker(String),

    /// A failure injected into [`FakeNetOps`](crate::FakeNetOps) by a test.
    #[error("injected failure: {0}")]
    Injected(String),
}

impl NetError {
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        Self::Io {
            op,
            path: path.into(),
            source,
        }
    }

    pub(crate) fn sys(op: &'static str, path: impl Into<PathBuf>, source: nix::Error) -> Self {
        Self::Sys {
            op,
            path: path.into(),
            source,
        }
    }

    pub(crate) fn netlink(op: impl Into<String>, source: rtnetlink::Error) -> Self {
        Self::Netlink {
            op: op.into(),
            source,
        }
    }
}
