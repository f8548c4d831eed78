//! The allocation runner's hooks: small steps run in order before the tasks start
//! (`prerun`), after they have all stopped (`postrun`) and when the allocation is
//! garbage collected (`destroy`). Each hook is idempotent, so an agent that restarts
//! can run the list again over what already exists.

mod allocdir;
mod network_bridge;
mod network_host;

use std::fmt::Debug;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;

use caravan_model::{AllocNetworkStatus, AllocatedPortMapping, Allocation, TaskGroup};

pub use allocdir::AllocDirHook;
pub use network_bridge::{NetworkBridgeHook, port_mappings};
pub use network_host::NetworkHostHook;

use crate::{AllocDir, AllocDirError, ClientContext, PortClaims};

/// A boxed, sendable future, so hooks can be held as `Box<dyn AllocHook>`.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What the hooks of one allocation read and fill in.
#[derive(Debug, Clone)]
pub struct AllocHookContext {
    pub alloc: Arc<Allocation>,
    pub group: Arc<TaskGroup>,
    pub alloc_dir: AllocDir,
    /// The group's ports as granted (set by the network hook).
    pub ports: Vec<AllocatedPortMapping>,
    /// The allocation's own namespace (bridge mode); `None` in host mode.
    pub network_status: Option<AllocNetworkStatus>,
    /// The namespace tasks join, for bridge mode.
    pub netns_path: Option<PathBuf>,
    /// The container holding that namespace (the pause container), which docker
    /// tasks join; bridge mode with docker tasks only.
    pub network_container: Option<String>,
    /// The host ports this node's allocations hold (shared by every runner).
    pub port_claims: Arc<PortClaims>,
}

/// Why a hook could not do its step.
#[derive(Debug, thiserror::Error)]
pub enum AllocHookError {
    #[error(transparent)]
    AllocDir(#[from] AllocDirError),
    #[error("network: {reason}")]
    Network { reason: String },
    /// The allocation's bridge network could not be set up or removed, or bridge
    /// networking is not available on this client; the reason is a whole sentence.
    #[error("{reason}")]
    Bridge { reason: String },
    /// A granted host port is bound by a process outside Caravan.
    #[error("port {port} ({label:?}) is already in use on {host_ip} by another process")]
    PortInUse {
        port: u16,
        label: String,
        host_ip: String,
    },
}

/// One step of an allocation's life outside its tasks.
pub trait AllocHook: Send + Sync + Debug {
    /// A short name for events and errors (`alloc_dir`, `network`).
    fn name(&self) -> &'static str;

    /// Before any task starts. Must be idempotent.
    fn prerun<'a>(
        &'a self,
        ctx: &'a mut AllocHookContext,
    ) -> BoxFuture<'a, Result<(), AllocHookError>>;

    /// Instead of `prerun`, for an allocation restored after an agent restart whose
    /// `prerun` of this hook had completed: re-attach to what `prerun` made (the
    /// context already holds the ports and network it recorded) rather than make it
    /// again. Defaults to `prerun`, which is idempotent.
    fn restore<'a>(
        &'a self,
        ctx: &'a mut AllocHookContext,
    ) -> BoxFuture<'a, Result<(), AllocHookError>> {
        self.prerun(ctx)
    }

    /// After every task has stopped, poststop tasks included.
    fn postrun<'a>(
        &'a self,
        _ctx: &'a mut AllocHookContext,
    ) -> BoxFuture<'a, Result<(), AllocHookError>> {
        Box::pin(async { Ok(()) })
    }

    /// When the allocation is removed from the node.
    fn destroy<'a>(
        &'a self,
        _ctx: &'a mut AllocHookContext,
    ) -> BoxFuture<'a, Result<(), AllocHookError>> {
        Box::pin(async { Ok(()) })
    }
}

/// The hooks every allocation runs, in order. Each network hook acts on its own
/// modes only: host and none, or bridge.
pub fn default_hooks(client: &ClientContext) -> Vec<Box<dyn AllocHook>> {
    vec![
        Box::new(AllocDirHook),
        Box::new(NetworkHostHook),
        Box::new(NetworkBridgeHook::new(
            client.net.clone(),
            client.containers.clone(),
        )),
    ]
}
