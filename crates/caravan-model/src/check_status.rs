//! The latest result of one check of a service instance, as the client reports it.

use serde::{Deserialize, Serialize};

use crate::HealthStatus;

/// What a check is for: Nomad's `healthiness` (deployments wait on it) or `readiness`
/// (`on_update = "ignore"`: reported, not waited on).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckMode {
    #[default]
    Healthiness,
    Readiness,
}

impl CheckMode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Healthiness => "healthiness",
            Self::Readiness => "readiness",
        }
    }
}

/// One check's state, stored with its registration (our extension of Nomad's shape).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct CheckStatus {
    /// The check's name (`service: "<svc>" check` when the job leaves it out).
    pub name: String,
    /// "http", "tcp", "script" or "grpc".
    #[serde(rename = "Type")]
    pub check_type: String,
    /// The check's initial status until it has run once (see `timestamp`).
    pub status: HealthStatus,
    /// What the check said: a response body, an error, a script's output.
    pub output: String,
    /// Unix nanoseconds of the result; 0 while the check has not run yet ("pending").
    pub timestamp: i64,
    /// The HTTP status of an http check's last answer.
    #[serde(skip_serializing_if = "is_zero")]
    pub status_code: u16,
    /// The task the check runs in or for; empty for a group service's network checks.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub task: String,
    pub mode: CheckMode,
}

impl CheckStatus {
    /// Whether the check has produced a result yet.
    pub fn is_pending(&self) -> bool {
        self.timestamp == 0
    }
}

fn is_zero(n: &u16) -> bool {
    *n == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_shape_leaves_out_empty_code_and_task() {
        let check = CheckStatus {
            name: "alive".into(),
            check_type: "tcp".into(),
            status: HealthStatus::Critical,
            output: "connection refused".into(),
            timestamp: 5,
            ..CheckStatus::default()
        };
        assert_eq!(
            serde_json::to_value(&check).expect("json"),
            serde_json::json!({"Name": "alive", "Type": "tcp", "Status": "critical",
                               "Output": "connection refused", "Timestamp": 5, "Mode": "healthiness"})
        );
        let back: CheckStatus =
            serde_json::from_value(serde_json::json!({"Name": "x", "StatusCode": 200}))
                .expect("decode");
        assert_eq!(back.status_code, 200);
        assert!(back.is_pending());
        assert_eq!(back.status, HealthStatus::Passing);
    }
}
