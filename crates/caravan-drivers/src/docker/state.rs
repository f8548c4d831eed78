//! What the docker driver persists about a task (`TaskHandleState::driver_state`).

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::{DriverError, LogSpec, TaskHandleState};

/// The container of a task, and where its output goes, so that a restarted agent can
/// find both again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct DockerState {
    pub(crate) container_id: String,
    pub(crate) image: String,
    /// `None` when the task's logs are disabled.
    #[serde(default)]
    pub(crate) logs: Option<LogFiles>,
}

/// The persisted part of a [`LogSpec`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct LogFiles {
    stdout_base: PathBuf,
    stderr_base: PathBuf,
    max_files: u32,
    max_file_size_mb: u64,
}

impl DockerState {
    pub(crate) fn new(container_id: String, image: String, logs: &LogSpec) -> Self {
        Self {
            container_id,
            image,
            logs: (!logs.disabled).then(|| LogFiles {
                stdout_base: logs.stdout_base.clone(),
                stderr_base: logs.stderr_base.clone(),
                max_files: logs.max_files,
                max_file_size_mb: logs.max_file_size_mb,
            }),
        }
    }

    /// The entries of `driver_state`.
    pub(crate) fn to_driver_state(&self) -> BTreeMap<String, Value> {
        let mut map = BTreeMap::from([
            (
                "container_id".to_owned(),
                Value::String(self.container_id.clone()),
            ),
            ("image".to_owned(), Value::String(self.image.clone())),
        ]);
        if let Some(l) = &self.logs {
            map.insert(
                "logs".to_owned(),
                json!({
                    "stdout_base": l.stdout_base,
                    "stderr_base": l.stderr_base,
                    "max_files": l.max_files,
                    "max_file_size_mb": l.max_file_size_mb,
                }),
            );
        }
        map
    }

    /// Reads back what [`to_driver_state`](Self::to_driver_state) wrote.
    pub(crate) fn from_handle_state(state: &TaskHandleState) -> Result<Self, DriverError> {
        let object = Value::Object(
            state
                .driver_state
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        );
        let parsed: Self = serde_json::from_value(object).map_err(|e| DriverError::BadState {
            task: state.task_name.clone(),
            reason: format!("no container recorded: {e}"),
        })?;
        if parsed.container_id.is_empty() {
            return Err(DriverError::BadState {
                task: state.task_name.clone(),
                reason: "the recorded container id is empty".to_owned(),
            });
        }
        Ok(parsed)
    }
}

impl LogFiles {
    pub(crate) fn to_spec(&self) -> LogSpec {
        LogSpec {
            stdout_base: self.stdout_base.clone(),
            stderr_base: self.stderr_base.clone(),
            max_files: self.max_files,
            max_file_size_mb: self.max_file_size_mb,
            disabled: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn round_trips_through_the_handle_state() -> Result<(), DriverError> {
        let logs = LogSpec::new(Path::new("/a/alloc/logs"), "web", None);
        let s = DockerState::new("abc".into(), "redis:7".into(), &logs);
        let state = TaskHandleState {
            driver_state: s.to_driver_state(),
            ..TaskHandleState::default()
        };
        let json = serde_json::to_string(&state).map_err(|e| DriverError::BadState {
            task: String::new(),
            reason: e.to_string(),
        })?;
        let back: TaskHandleState =
            serde_json::from_str(&json).map_err(|e| DriverError::BadState {
                task: String::new(),
                reason: e.to_string(),
            })?;
        let again = DockerState::from_handle_state(&back)?;
        assert_eq!(again, s);
        assert_eq!(again.logs.map(|l| l.to_spec()), Some(logs));
        Ok(())
    }

    #[test]
    fn a_state_without_a_container_is_refused() {
        let state = TaskHandleState {
            task_name: "web".into(),
            ..TaskHandleState::default()
        };
        assert!(DockerState::from_handle_state(&state).is_err());
        let mut state = state;
        state.driver_state = DockerState {
            container_id: String::new(),
            image: "x".into(),
            logs: None,
        }
        .to_driver_state();
        assert!(DockerState::from_handle_state(&state).is_err());
    }
}
