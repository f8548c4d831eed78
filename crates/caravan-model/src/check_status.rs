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
    // ---- Checks registered through the Consul API (left out of JSON when empty) ----
    /// Consul's `CheckID` (`service:<service id>` by default); empty for a job's
    /// checks, whose Consul id is derived from the registration.
    #[serde(rename = "CheckID", skip_serializing_if = "String::is_empty")]
    pub check_id: String,
    /// Consul's `Notes`: what the check is for, or why maintenance was enabled.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub notes: String,
    /// A TTL check's time to live in nanoseconds; 0 for other checks. Without an
    /// update (pass, warn or fail) for this long, the check turns critical.
    #[serde(rename = "TTL", skip_serializing_if = "is_zero_i64")]
    pub ttl: i64,
    /// Unix nanoseconds of a TTL check's last update (pass, warn or fail, each of
    /// which restarts the TTL, as in Consul); 0 before the first one.
    #[serde(rename = "TTLUpdated", skip_serializing_if = "is_zero_i64")]
    pub ttl_updated: i64,
    /// The URL an `http` check registered through the Consul API probes.
    #[serde(rename = "HTTP", skip_serializing_if = "String::is_empty")]
    pub http: String,
    /// The HTTP method of that probe (GET when empty).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub method: String,
    /// The `host:port` a `tcp` check registered through the Consul API connects to.
    #[serde(rename = "TCP", skip_serializing_if = "String::is_empty")]
    pub tcp: String,
    /// How often such a check runs, in nanoseconds.
    #[serde(skip_serializing_if = "is_zero_i64")]
    pub interval: i64,
    /// How long one run of such a check may take, in nanoseconds.
    #[serde(skip_serializing_if = "is_zero_i64")]
    pub timeout: i64,
}

impl CheckStatus {
    /// Whether the check has produced a result yet.
    pub fn is_pending(&self) -> bool {
        self.timestamp == 0
    }

    /// Whether this is a TTL check (its status comes from pass, warn and fail calls).
    pub fn is_ttl(&self) -> bool {
        self.ttl > 0
    }

    /// Whether a TTL check has gone without an update for longer than its TTL at
    /// `now` (unix nanoseconds) and is not critical yet: the moment it turns critical.
    pub fn ttl_expired(&self, now: i64) -> bool {
        self.is_ttl()
            && self.status != HealthStatus::Critical
            && now >= self.ttl_updated.saturating_add(self.ttl)
    }
}

fn is_zero(n: &u16) -> bool {
    *n == 0
}

fn is_zero_i64(n: &i64) -> bool {
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

    #[test]
    fn a_ttl_check_expires_after_its_ttl_unless_critical() {
        let mut check = CheckStatus {
            status: HealthStatus::Passing,
            ttl: 10,
            ttl_updated: 100,
            ..CheckStatus::default()
        };
        assert!(check.is_ttl());
        assert!(!check.ttl_expired(109));
        assert!(check.ttl_expired(110));
        check.status = HealthStatus::Warning;
        assert!(check.ttl_expired(200), "a warning expires too");
        check.status = HealthStatus::Critical;
        assert!(!check.ttl_expired(200), "critical already: nothing to do");
        let plain = CheckStatus::default();
        assert!(!plain.is_ttl() && !plain.ttl_expired(i64::MAX));
        // The Consul fields stay out of JSON when empty, and round-trip when set.
        check.check_id = "service:web".into();
        let value = serde_json::to_value(&check).expect("json");
        assert_eq!(value["CheckID"], "service:web");
        assert_eq!(value["TTL"], 10);
        assert!(value.get("HTTP").is_none());
        let back: CheckStatus = serde_json::from_value(value).expect("decode");
        assert_eq!(back, check);
    }
}
