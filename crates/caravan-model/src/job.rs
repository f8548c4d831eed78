//! The job: the unit a user submits.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{
    Affinity, Constraint, JobId, MigrateStrategy, ReschedulePolicy, Spread, TaskGroup,
    UpdateStrategy,
};

/// What kind of scheduling a job gets.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobType {
    #[default]
    Service,
    Batch,
    System,
    Sysbatch,
}

impl JobType {
    pub const ALL: [JobType; 4] = [Self::Service, Self::Batch, Self::System, Self::Sysbatch];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Service => "service",
            Self::Batch => "batch",
            Self::System => "system",
            Self::Sysbatch => "sysbatch",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }

    /// Batch-like jobs run to completion.
    pub fn is_batch_like(self) -> bool {
        matches!(self, Self::Batch | Self::Sysbatch)
    }
}

impl std::fmt::Display for JobType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A job, in the shape of Nomad's `api.Job`.
///
/// Fields Nomad leaves as nil pointers until canonicalization are `Option`s here;
/// [`Job::canonicalize`](crate::Job::canonicalize) fills them the way Nomad does.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Job {
    #[serde(rename = "ID")]
    pub id: JobId,
    pub name: String,
    pub namespace: Option<String>,
    pub region: Option<String>,
    /// A string, not [`JobType`], so that an unknown type is a validation error with
    /// a path rather than a deserialization failure.
    #[serde(rename = "Type")]
    pub job_type: Option<String>,
    pub priority: Option<i64>,
    pub all_at_once: Option<bool>,
    pub datacenters: Vec<String>,
    pub node_pool: Option<String>,
    pub constraints: Vec<Constraint>,
    pub affinities: Vec<Affinity>,
    pub spreads: Vec<Spread>,
    pub task_groups: Vec<TaskGroup>,
    pub update: Option<UpdateStrategy>,
    /// Job-level defaults merged into each group by canonicalization.
    pub reschedule: Option<ReschedulePolicy>,
    pub migrate: Option<MigrateStrategy>,
    pub periodic: Option<PeriodicConfig>,
    #[serde(rename = "ParameterizedJob")]
    pub parameterized: Option<ParameterizedJobConfig>,
    pub meta: BTreeMap<String, String>,
    /// Accepted and carried, not acted on.
    pub multiregion: Option<serde_json::Value>,
    pub vault_token: Option<String>,
    pub consul_token: Option<String>,
    pub ui: Option<serde_json::Value>,

    // Server-managed fields.
    #[serde(rename = "ParentID")]
    pub parent_id: Option<String>,
    pub dispatched: bool,
    pub payload: Option<String>,
    pub stop: Option<bool>,
    pub status: Option<String>,
    pub status_description: Option<String>,
    pub stable: Option<bool>,
    pub version: Option<u64>,
    pub submit_time: Option<i64>,
    pub create_index: Option<u64>,
    pub modify_index: Option<u64>,
    pub job_modify_index: Option<u64>,
}

impl Job {
    /// The job's type; an unknown string is reported by validation and reads as `service`.
    pub fn kind(&self) -> JobType {
        self.job_type
            .as_deref()
            .and_then(JobType::parse)
            .unwrap_or_default()
    }

    pub fn group(&self, name: &str) -> Option<&TaskGroup> {
        self.task_groups.iter().find(|g| g.name == name)
    }

    pub fn is_periodic(&self) -> bool {
        self.periodic
            .as_ref()
            .is_some_and(|p| p.enabled.unwrap_or(true))
    }

    pub fn is_parameterized(&self) -> bool {
        self.parameterized.is_some() && !self.dispatched
    }
}

/// `periodic { crons = [...] }`: launches child jobs on a schedule.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct PeriodicConfig {
    pub enabled: Option<bool>,
    /// The first of `specs`; kept for clients that read the single form.
    pub spec: Option<String>,
    pub specs: Vec<String>,
    pub spec_type: Option<String>,
    pub prohibit_overlap: Option<bool>,
    pub time_zone: Option<String>,
}

/// `parameterized { ... }`: a job that runs when dispatched.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ParameterizedJobConfig {
    /// "optional" (default), "required" or "forbidden".
    pub payload: String,
    pub meta_required: Vec<String>,
    pub meta_optional: Vec<String>,
}
