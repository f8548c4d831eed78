//! `template` blocks: files rendered into a task's directory.

use serde::{Deserialize, Serialize};

use crate::Duration;

/// A template, in the shape of Nomad's `api.Template`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Template {
    pub source_path: Option<String>,
    pub dest_path: Option<String>,
    pub embedded_tmpl: Option<String>,
    pub change_mode: Option<String>,
    pub change_signal: Option<String>,
    pub change_script: Option<ChangeScript>,
    pub splay: Option<Duration>,
    pub perms: Option<String>,
    pub uid: Option<i64>,
    pub gid: Option<i64>,
    pub left_delim: Option<String>,
    pub right_delim: Option<String>,
    pub envvars: Option<bool>,
    pub vault_grace: Option<Duration>,
    pub wait: Option<WaitConfig>,
    pub err_missing_key: Option<bool>,
    pub once: Option<bool>,
}

/// `change_script { command args timeout fail_on_error }`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ChangeScript {
    pub command: Option<String>,
    pub args: Vec<String>,
    pub timeout: Option<Duration>,
    pub fail_on_error: Option<bool>,
}

/// `wait { min max }`: quiescence bounds before re-rendering.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct WaitConfig {
    pub min: Option<Duration>,
    pub max: Option<Duration>,
}
