//! Service checks, run by the client: http, tcp, script and grpc probes on each check's
//! interval, Consul's status semantics (initial status, thresholds, warnings) and
//! `check_restart`.
//!
//! Decide purely, act at the edge: [`CheckTracker`] (probe results to reported
//! status) and [`CheckRestartTracker`] (statuses to "restart the task now") read no
//! clock and do no I/O. The probes are the edge, behind [`Prober`] ([`LiveProber`]
//! for real, [`FakeProber`] for tests); a script runs inside its task through the
//! driver's [`ScriptExecutor`] ([`HostScriptExecutor`] for host processes,
//! [`FakeScriptExecutor`] for tests). [`CheckRunner`] is the loop that connects them
//! and sends [`CheckEvent`]s to the allocation runner.
//!
//! Not here: resolving a check's address and port (the caller does it), TLS for
//! HTTPS and gRPC probes (reported as failures saying so), following HTTP redirects.

mod error;
mod event;
mod fake_prober;
mod fake_script;
mod grpc;
mod grpc_wire;
mod handle;
mod host_script;
mod http;
mod http_wire;
mod live_prober;
mod probe_result;
mod prober;
mod restart;
mod runner;
mod script;
mod spec;
mod state;
mod status;
mod tcp;

pub use error::CheckError;
pub use event::{CheckEvent, CheckUpdate, RestartRequest};
pub use fake_prober::{FakeProber, ProbeCall};
pub use fake_script::{FakeScriptExecutor, ScriptCall};
pub use grpc::probe_grpc;
pub use handle::CheckRunnerHandle;
pub use host_script::HostScriptExecutor;
pub use http::probe_http;
pub use live_prober::LiveProber;
pub use probe_result::{MAX_OUTPUT_BYTES, ProbeOutcome, ProbeResult};
pub use prober::Prober;
pub use restart::{CheckRestartTracker, DEFAULT_GRACE};
pub use runner::{CheckRunner, MAX_FIRST_DELAY, first_delay};
pub use script::{KILL_GRACE, ScriptExecutor, ScriptOutput, probe_script};
pub use spec::{CheckAddress, CheckSpec, DEFAULT_TIMEOUT, MIN_INTERVAL, Provider};
pub use state::CheckState;
pub use status::{CheckTracker, OUTPUT_SYNC_INTERVAL, StatusChange, initial_state};
pub use tcp::probe_tcp;
