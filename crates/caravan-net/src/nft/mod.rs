//! nftables through the `nft` binary: scripts fed to `nft -f -` (one atomic
//! transaction each) and listings read from `nft -j`.
//!
//! Why not the `nftables` crate: it is the same `nft -j` underneath, with a typed
//! schema that costs compile time, while the rules here are a handful of fixed
//! lines; a script is also what an operator reads in `nft list table ip caravan`.

mod listing;
mod runner;
mod script;

pub(crate) use listing::{MapElement, TableListing};
pub(crate) use runner::Nft;
pub(crate) use script::{
    COMPAT_TABLE, alloc_script, base_script, compat_chain, compat_comment, compat_insert_script,
    delete_allocs_script, delete_rules_script,
};
