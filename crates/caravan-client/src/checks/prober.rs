//! The seam between the check runner and the world: one run of one check.

use std::fmt::Debug;

use super::probe_result::ProbeResult;
use super::spec::CheckSpec;
use crate::BoxFuture;

/// Runs a check once. An implementation honours `check.timeout()` (the runner also
/// gives up on a run that takes longer) and reports every error as a failure with an
/// output saying why, so a probe never fails to produce a result.
pub trait Prober: Send + Sync + Debug {
    fn probe<'a>(&'a self, check: &'a CheckSpec) -> BoxFuture<'a, ProbeResult>;
}
