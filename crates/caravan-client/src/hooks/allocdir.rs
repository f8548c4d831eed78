//! Creates the allocation directory before tasks start; removes it on destroy.

use super::{AllocHook, AllocHookContext, AllocHookError, BoxFuture};

/// `prerun`: builds `alloc/` and each task's `local/`, `secrets/`, `tmp/`.
/// `destroy`: removes the whole tree.
#[derive(Debug, Clone, Copy, Default)]
pub struct AllocDirHook;

impl AllocHook for AllocDirHook {
    fn name(&self) -> &'static str {
        "alloc_dir"
    }

    fn prerun<'a>(
        &'a self,
        ctx: &'a mut AllocHookContext,
    ) -> BoxFuture<'a, Result<(), AllocHookError>> {
        Box::pin(async move {
            let tasks = ctx.group.tasks.iter().map(|t| t.name.as_str());
            ctx.alloc_dir.build(tasks)?;
            Ok(())
        })
    }

    fn destroy<'a>(
        &'a self,
        ctx: &'a mut AllocHookContext,
    ) -> BoxFuture<'a, Result<(), AllocHookError>> {
        Box::pin(async move {
            ctx.alloc_dir.destroy()?;
            Ok(())
        })
    }
}
