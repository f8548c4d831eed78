//! The status a check reports: Consul's three, plus Nomad's "pending" before the
//! first result of a `provider = "nomad"` check.

use std::fmt;

use caravan_model::HealthStatus;

/// A check's reported status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CheckState {
    /// No result yet (Nomad provider only; Consul checks start at `initial_status`).
    Pending,
    Passing,
    Warning,
    Critical,
}

impl CheckState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Passing => "passing",
            Self::Warning => "warning",
            Self::Critical => "critical",
        }
    }

    /// The catalog's health for this status; `None` while pending (the catalog keeps
    /// a pending check out of the instance's health until it has a result).
    pub fn health(self) -> Option<HealthStatus> {
        match self {
            Self::Pending => None,
            Self::Passing => Some(HealthStatus::Passing),
            Self::Warning => Some(HealthStatus::Warning),
            Self::Critical => Some(HealthStatus::Critical),
        }
    }
}

impl fmt::Display for CheckState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_health() {
        let table = [
            (CheckState::Pending, "pending", None),
            (CheckState::Passing, "passing", Some(HealthStatus::Passing)),
            (CheckState::Warning, "warning", Some(HealthStatus::Warning)),
            (
                CheckState::Critical,
                "critical",
                Some(HealthStatus::Critical),
            ),
        ];
        for (state, name, health) in table {
            assert_eq!(state.to_string(), name);
            assert_eq!(state.health(), health);
        }
    }
}
