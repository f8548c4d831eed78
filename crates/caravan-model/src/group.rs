//! The task group: tasks placed together on one node, as one allocation.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{
    Affinity, Constraint, Duration, MigrateStrategy, NetworkResource, ReschedulePolicy,
    RestartPolicy, Service, Spread, Task, UpdateStrategy,
};

/// A group of tasks, in the shape of Nomad's `api.TaskGroup`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct TaskGroup {
    pub name: String,
    pub count: Option<i64>,
    pub constraints: Vec<Constraint>,
    pub affinities: Vec<Affinity>,
    pub spreads: Vec<Spread>,
    pub tasks: Vec<Task>,
    pub volumes: BTreeMap<String, VolumeRequest>,
    pub restart_policy: Option<RestartPolicy>,
    pub reschedule_policy: Option<ReschedulePolicy>,
    pub ephemeral_disk: Option<EphemeralDisk>,
    pub update: Option<UpdateStrategy>,
    pub migrate: Option<MigrateStrategy>,
    /// At most one network per group.
    pub networks: Vec<NetworkResource>,
    pub meta: BTreeMap<String, String>,
    pub services: Vec<Service>,
    pub shutdown_delay: Option<Duration>,
    pub stop_after_client_disconnect: Option<Duration>,
    pub max_client_disconnect: Option<Duration>,
    pub prevent_reschedule_on_lost: Option<bool>,
    pub scaling: Option<ScalingPolicy>,
    /// Accepted and carried, not acted on.
    pub consul: Option<serde_json::Value>,
    pub disconnect: Option<serde_json::Value>,
}

impl TaskGroup {
    pub fn task(&self, name: &str) -> Option<&Task> {
        self.tasks.iter().find(|t| t.name == name)
    }

    /// The group's network, if it declares one.
    pub fn network(&self) -> Option<&NetworkResource> {
        self.networks.first()
    }
}

/// `ephemeral_disk { size sticky migrate }`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct EphemeralDisk {
    pub sticky: Option<bool>,
    pub migrate: Option<bool>,
    #[serde(rename = "SizeMB")]
    pub size_mb: Option<i64>,
}

/// `volume "name" { type source read_only ... }` at group level.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct VolumeRequest {
    pub name: String,
    #[serde(rename = "Type")]
    pub volume_type: String,
    pub source: String,
    pub read_only: bool,
    pub access_mode: String,
    pub attachment_mode: String,
    pub per_alloc: bool,
}

/// `scaling { min max enabled policy }`: the group's count bounds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ScalingPolicy {
    pub min: Option<i64>,
    pub max: Option<i64>,
    pub enabled: Option<bool>,
    /// The autoscaler's policy: opaque to the orchestrator.
    pub policy: BTreeMap<String, serde_json::Value>,
}
