//! Restart, reschedule, update and migrate policies.

use serde::{Deserialize, Serialize};

use crate::Duration;

/// `restart { attempts interval delay mode render_templates }`: what the client does
/// when a task exits.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct RestartPolicy {
    pub attempts: Option<i64>,
    pub interval: Option<Duration>,
    pub delay: Option<Duration>,
    /// "fail" or "delay".
    pub mode: Option<String>,
    pub render_templates: Option<bool>,
}

/// `reschedule { ... }`: what the server does when an allocation fails.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ReschedulePolicy {
    pub attempts: Option<i64>,
    pub interval: Option<Duration>,
    pub delay: Option<Duration>,
    /// "constant", "exponential" or "fibonacci".
    pub delay_function: Option<String>,
    pub max_delay: Option<Duration>,
    pub unlimited: Option<bool>,
}

/// `update { ... }`: how a job change rolls out.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct UpdateStrategy {
    pub stagger: Option<Duration>,
    pub max_parallel: Option<i64>,
    /// "checks", "task_states" or "manual".
    pub health_check: Option<String>,
    pub min_healthy_time: Option<Duration>,
    pub healthy_deadline: Option<Duration>,
    pub progress_deadline: Option<Duration>,
    pub canary: Option<i64>,
    pub auto_revert: Option<bool>,
    pub auto_promote: Option<bool>,
}

/// `migrate { ... }`: how allocations leave a draining node.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct MigrateStrategy {
    pub max_parallel: Option<i64>,
    pub health_check: Option<String>,
    pub min_healthy_time: Option<Duration>,
    pub healthy_deadline: Option<Duration>,
}
