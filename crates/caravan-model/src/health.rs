//! The health of a service instance or of one of its checks, as the catalog stores it.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Consul's three check states, ordered from best to worst so that the health of an
/// instance is the `max` of its checks'.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum HealthStatus {
    /// Serving; also the health of an instance without checks.
    #[default]
    Passing,
    /// Serving, degraded (Consul's `warning`; Nomad's own checks never produce it).
    Warning,
    /// Not serving.
    Critical,
}

impl HealthStatus {
    pub const ALL: [HealthStatus; 3] = [Self::Passing, Self::Warning, Self::Critical];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Passing => "passing",
            Self::Warning => "warning",
            Self::Critical => "critical",
        }
    }

    /// The worst of `statuses`; passing when there are none.
    pub fn worst(statuses: impl IntoIterator<Item = HealthStatus>) -> HealthStatus {
        statuses.into_iter().max().unwrap_or_default()
    }
}

impl fmt::Display for HealthStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A word that is not a health status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown health status {0:?}: expected passing, warning or critical")]
pub struct ParseHealthError(pub String);

impl FromStr for HealthStatus {
    type Err = ParseHealthError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "passing" => Ok(Self::Passing),
            "warning" => Ok(Self::Warning),
            "critical" => Ok(Self::Critical),
            other => Err(ParseHealthError(other.to_owned())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worst_wins_and_none_is_passing() {
        use HealthStatus::*;
        assert_eq!(HealthStatus::worst([]), Passing);
        assert_eq!(HealthStatus::worst([Passing, Warning]), Warning);
        assert_eq!(HealthStatus::worst([Critical, Passing, Warning]), Critical);
    }

    #[test]
    fn text_and_json() {
        for h in HealthStatus::ALL {
            assert_eq!(h.as_str().parse::<HealthStatus>(), Ok(h));
            assert_eq!(serde_json::to_string(&h).expect("json"), format!("\"{h}\""));
        }
        assert!("ok".parse::<HealthStatus>().is_err());
    }
}
