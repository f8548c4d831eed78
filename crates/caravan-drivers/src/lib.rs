//! Caravan's task drivers: the [`TaskDriver`] trait through which the client starts,
//! watches, signals, stops and recovers tasks, the raw_exec driver (host processes),
//! the docker driver (containers of the local Docker Engine), the log collector
//! process raw_exec can hand tasks' output to ([`logmon_main`]), a recording
//! [`FakeDriver`] for the client's fast tests, and the test battery
//! ([`testing::run_battery`]) every driver must pass.
//!
//! Drivers act on the host only as told by a fully resolved [`TaskSpec`]: they
//! interpolate nothing, decide no policy (restarts belong to the client) and do not
//! set up networking (they only join a namespace that `caravan-net` made).

pub mod docker;
mod driver;
mod error;
mod exit;
mod fake;
mod fingerprint;
mod handle;
mod log_pump;
mod log_spec;
mod logmon;
mod proc_stat;
pub mod raw_exec;
mod rotating_log;
mod signal;
mod spec;
mod task_dirs;
pub mod testing;

pub use docker::{DockerDriver, DockerOptions};
pub use driver::{BoxFuture, TaskDriver};
pub use error::DriverError;
pub use exit::ExitResult;
pub use fake::{FakeCall, FakeDriver, FakeScript};
pub use fingerprint::DriverFingerprint;
pub use handle::{TaskHandle, TaskHandleState};
pub use log_pump::pump_log;
pub use log_spec::{DEFAULT_MAX_FILE_SIZE_MB, DEFAULT_MAX_FILES, LogSpec, MB};
pub use logmon::{LogmonArgs, LogmonError, logmon_main};
pub use proc_stat::ProcStat;
pub use raw_exec::RawExecDriver;
pub use rotating_log::{RotatingLog, log_files};
pub use signal::{parse_signal, terminates_by_default};
pub use spec::{TaskResources, TaskSpec};
pub use task_dirs::TaskDirs;
