//! raw_exec's driver `config { command args }`.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::DriverError;

/// The keys raw_exec reads from a task's driver config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawExecConfig {
    /// A program on the task's `PATH`, an absolute path, or a path relative to the
    /// task directory (e.g. `local/app`).
    pub command: String,
    pub args: Vec<String>,
}

impl RawExecConfig {
    /// Reads the config of `task`; unknown keys are ignored, as Nomad does.
    pub fn parse(task: &str, config: &BTreeMap<String, Value>) -> Result<Self, DriverError> {
        let invalid = |key: &str, reason: &str| DriverError::InvalidConfig {
            task: task.to_owned(),
            key: key.to_owned(),
            reason: reason.to_owned(),
        };
        let command = match config.get("command") {
            None | Some(Value::Null) => {
                return Err(DriverError::MissingConfig {
                    task: task.to_owned(),
                    key: "command",
                });
            }
            Some(Value::String(s)) if s.trim().is_empty() => {
                return Err(invalid("command", "must not be empty"));
            }
            Some(Value::String(s)) => s.clone(),
            Some(_) => return Err(invalid("command", "must be a string")),
        };
        let args = match config.get("args") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(items)) => items
                .iter()
                .map(|item| match item {
                    Value::String(s) => Ok(s.clone()),
                    // HCL numbers and booleans in args are written as the user wrote them.
                    Value::Number(n) => Ok(n.to_string()),
                    Value::Bool(b) => Ok(b.to_string()),
                    _ => Err(invalid("args", "must be a list of strings")),
                })
                .collect::<Result<_, _>>()?,
            Some(_) => return Err(invalid("args", "must be a list of strings")),
        };
        Ok(Self { command, args })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn config(v: Value) -> BTreeMap<String, Value> {
        serde_json::from_value(v).expect("config object")
    }

    #[test]
    fn reads_command_and_args() -> Result<(), DriverError> {
        let c = RawExecConfig::parse(
            "t",
            &config(json!({"command": "sh", "args": ["-c", 1, true]})),
        )?;
        assert_eq!(c.command, "sh");
        assert_eq!(c.args, ["-c", "1", "true"]);
        Ok(())
    }

    #[test]
    fn a_missing_command_names_the_task() {
        let err = RawExecConfig::parse("web", &config(json!({"args": []}))).err();
        assert_eq!(
            err.map(|e| e.to_string()).as_deref(),
            Some("task \"web\": driver config is missing the required key `command`")
        );
    }

    #[test]
    fn wrong_shapes_are_rejected() {
        assert!(RawExecConfig::parse("t", &config(json!({"command": 3}))).is_err());
        assert!(RawExecConfig::parse("t", &config(json!({"command": " "}))).is_err());
        assert!(RawExecConfig::parse("t", &config(json!({"command": "x", "args": "-c"}))).is_err());
        assert!(RawExecConfig::parse("t", &config(json!({"command": "x", "args": [{}]}))).is_err());
    }
}
