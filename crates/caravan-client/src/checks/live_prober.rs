//! The [`Prober`] that really probes: http, tcp and grpc over the network, script checks
//! through the task's [`ScriptExecutor`].

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use super::error::CheckError;
use super::grpc::probe_grpc;
use super::http::probe_http;
use super::probe_result::ProbeResult;
use super::prober::Prober;
use super::script::{ScriptExecutor, probe_script};
use super::spec::CheckSpec;
use super::tcp::probe_tcp;
use crate::BoxFuture;

/// Probes checks for real. Script checks need an executor for their task, given
/// with [`LiveProber::with_script_executor`] (one per task, per driver).
#[derive(Default, Clone)]
pub struct LiveProber {
    scripts: BTreeMap<String, Arc<dyn ScriptExecutor>>,
}

impl LiveProber {
    pub fn new() -> Self {
        Self::default()
    }

    /// Script checks of `task` run through `executor`.
    pub fn with_script_executor(
        mut self,
        task: impl Into<String>,
        executor: Arc<dyn ScriptExecutor>,
    ) -> Self {
        self.scripts.insert(task.into(), executor);
        self
    }

    async fn run(&self, check: &CheckSpec) -> ProbeResult {
        match check.check.check_type.as_str() {
            "http" => probe_http(check).await,
            "tcp" => probe_tcp(check).await,
            "script" => match self.scripts.get(&check.task) {
                Some(executor) => probe_script(check, executor.as_ref()).await,
                None => ProbeResult::failure(
                    CheckError::NoExecutor {
                        task: check.task.clone(),
                    }
                    .to_string(),
                ),
            },
            "grpc" => probe_grpc(check).await,
            other => ProbeResult::failure(format!("unknown check type {other:?}")),
        }
    }
}

impl fmt::Debug for LiveProber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LiveProber")
            .field("script_tasks", &self.scripts.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Prober for LiveProber {
    fn probe<'a>(&'a self, check: &'a CheckSpec) -> BoxFuture<'a, ProbeResult> {
        Box::pin(self.run(check))
    }
}
