//! Placement rules: constraints, affinities and spreads.

use serde::{Deserialize, Serialize};

/// `constraint { attribute operator value }`. The HCL shorthands (`distinct_hosts = true`,
/// `regexp = "..."`) are turned into an operand by the job file parser.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Constraint {
    #[serde(rename = "LTarget")]
    pub l_target: String,
    #[serde(rename = "RTarget")]
    pub r_target: String,
    pub operand: String,
}

/// The operands a constraint may use.
pub const CONSTRAINT_OPERANDS: &[&str] = &[
    "=",
    "==",
    "is",
    "!=",
    "not",
    ">",
    ">=",
    "<",
    "<=",
    "distinct_hosts",
    "distinct_property",
    "regexp",
    "set_contains",
    "set_contains_all",
    "set_contains_any",
    "version",
    "semver",
    "is_set",
    "is_not_set",
];

/// `affinity { attribute operator value weight }`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Affinity {
    #[serde(rename = "LTarget")]
    pub l_target: String,
    #[serde(rename = "RTarget")]
    pub r_target: String,
    pub operand: String,
    /// -100..=100, default 50.
    pub weight: Option<i64>,
}

/// `spread { attribute weight target "value" { percent } }`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Spread {
    pub attribute: String,
    pub weight: Option<i64>,
    pub spread_target: Vec<SpreadTarget>,
}

/// One target of a spread.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct SpreadTarget {
    pub value: String,
    pub percent: u8,
}
