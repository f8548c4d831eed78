//! Id prefixes: `caravan alloc status 8ba8` finds the one allocation whose id starts with
//! `8ba8`, through the list endpoints' `?prefix=`. An exact id wins; several matches are an
//! error that lists them; no match is an error that says what was looked for.

use std::fmt;

use anyhow::Context;
use serde_json::Value;

use crate::client::{Client, with_param};
use crate::fields::{Fields, short};
use crate::table::Table;

/// The kinds of object looked up by prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Job,
    Alloc,
    Node,
    Eval,
}

impl Kind {
    pub(crate) fn noun(self) -> &'static str {
        match self {
            Kind::Job => "job",
            Kind::Alloc => "allocation",
            Kind::Node => "node",
            Kind::Eval => "evaluation",
        }
    }

    fn list_path(self) -> &'static str {
        match self {
            Kind::Job => "/v1/jobs",
            Kind::Alloc => "/v1/allocations",
            Kind::Node => "/v1/nodes",
            Kind::Eval => "/v1/evaluations",
        }
    }

    /// Allocation, node and evaluation ids are UUIDs; job ids are names.
    fn is_uuid(self) -> bool {
        self != Kind::Job
    }
}

/// Why a prefix did not name exactly one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PrefixError {
    TooShort,
    NotFound {
        kind: Kind,
        prefix: String,
    },
    /// The matches, as table lines.
    Ambiguous {
        kind: Kind,
        matches: Vec<String>,
    },
}

impl fmt::Display for PrefixError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PrefixError::TooShort => f.write_str("an id prefix must have at least two characters"),
            PrefixError::NotFound { kind, prefix } => {
                write!(f, "no {} with id or prefix {prefix:?} found", kind.noun())
            }
            PrefixError::Ambiguous { kind, matches } => {
                write!(
                    f,
                    "the prefix matches {} {}s:\n\n{}",
                    matches.len() - 1,
                    kind.noun(),
                    matches.join("\n")
                )
            }
        }
    }
}

impl std::error::Error for PrefixError {}

/// Chooses the object `prefix` names among `listed` (the answer of a `?prefix=` list,
/// which may hold more than the prefix matches when an agent ignores the parameter).
pub(crate) fn pick<'a>(
    kind: Kind,
    prefix: &str,
    listed: &'a [Value],
) -> Result<&'a Value, PrefixError> {
    if kind.is_uuid() && prefix.len() < 2 {
        return Err(PrefixError::TooShort);
    }
    let matches: Vec<&Value> = listed
        .iter()
        .filter(|v| v.str_at("ID").starts_with(prefix))
        .collect();
    if let Some(exact) = matches.iter().find(|v| v.str_at("ID") == prefix) {
        return Ok(exact);
    }
    match matches.as_slice() {
        [] => Err(PrefixError::NotFound {
            kind,
            prefix: prefix.to_owned(),
        }),
        [one] => Ok(one),
        many => Err(PrefixError::Ambiguous {
            kind,
            matches: match_table(kind, many),
        }),
    }
}

fn match_table(kind: Kind, matches: &[&Value]) -> Vec<String> {
    let mut t = match kind {
        Kind::Job => Table::new(&["ID", "Type", "Priority", "Status"]),
        Kind::Alloc => Table::new(&["ID", "Eval ID", "Job ID", "Task Group", "Desired", "Status"]),
        Kind::Node => Table::new(&["ID", "DC", "Name", "Status"]),
        Kind::Eval => Table::new(&["ID", "Job ID", "Triggered By", "Status"]),
    };
    let mut sorted = matches.to_vec();
    sorted.sort_by(|a, b| a.str_at("ID").cmp(b.str_at("ID")));
    for v in sorted {
        let id = v.str_at("ID");
        let row: Vec<String> = match kind {
            Kind::Job => vec![
                id.to_owned(),
                v.str_at("Type").to_owned(),
                v.i64_at("Priority").to_string(),
                v.str_at("Status").to_owned(),
            ],
            Kind::Alloc => vec![
                id.to_owned(),
                short(v.str_at("EvalID")).to_owned(),
                v.str_at("JobID").to_owned(),
                v.str_at("TaskGroup").to_owned(),
                v.str_at("DesiredStatus").to_owned(),
                v.str_at("ClientStatus").to_owned(),
            ],
            Kind::Node => vec![
                id.to_owned(),
                v.str_at("Datacenter").to_owned(),
                v.str_at("Name").to_owned(),
                v.str_at("Status").to_owned(),
            ],
            Kind::Eval => vec![
                id.to_owned(),
                v.str_at("JobID").to_owned(),
                v.str_at("TriggeredBy").to_owned(),
                v.str_at("Status").to_owned(),
            ],
        };
        t.row(row);
    }
    t.lines()
}

/// Finds the full id for `prefix`, asking the agent's list endpoint.
pub(crate) fn resolve(client: &Client, kind: Kind, prefix: &str) -> anyhow::Result<String> {
    let what = || format!("looking up {} {prefix:?}", kind.noun());
    if kind.is_uuid() && prefix.len() == 36 {
        return Ok(prefix.to_owned());
    }
    if kind.is_uuid() && prefix.len() < 2 {
        return Err(PrefixError::TooShort).with_context(what);
    }
    // UUID prefixes are looked up in whole bytes (an even number of hex digits);
    // the odd digit is matched here.
    let query = if kind.is_uuid() {
        &prefix[..prefix.len() & !1]
    } else {
        prefix
    };
    let listed = client
        .get(&with_param(kind.list_path(), "prefix", query))
        .with_context(what)?;
    let listed = listed.as_array().map(Vec::as_slice).unwrap_or_default();
    let found = pick(kind, prefix, listed).with_context(what)?;
    Ok(found.str_at("ID").to_owned())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn jobs() -> Vec<Value> {
        vec![
            json!({"ID": "web", "Type": "service", "Priority": 50, "Status": "running"}),
            json!({"ID": "web-canary", "Type": "service", "Priority": 50, "Status": "pending"}),
            json!({"ID": "worker", "Type": "batch", "Priority": 40, "Status": "dead"}),
        ]
    }

    #[test]
    fn exact_id_wins_over_longer_matches() {
        let list = jobs();
        assert_eq!(
            pick(Kind::Job, "web", &list).expect("exact").str_at("ID"),
            "web"
        );
        assert_eq!(
            pick(Kind::Job, "wo", &list).expect("unique").str_at("ID"),
            "worker"
        );
    }

    #[test]
    fn ambiguous_prefix_lists_the_matches() {
        let list = jobs();
        let err = pick(Kind::Job, "w", &list).expect_err("ambiguous");
        let text = err.to_string();
        assert!(
            text.starts_with("the prefix matches 3 jobs:\n\nID"),
            "{text}"
        );
        assert!(
            text.contains("web-canary  service  50        pending"),
            "{text}"
        );
    }

    #[test]
    fn missing_and_too_short() {
        let list = jobs();
        assert_eq!(
            pick(Kind::Job, "db", &list).expect_err("none").to_string(),
            "no job with id or prefix \"db\" found"
        );
        let allocs = vec![
            json!({"ID": "8ba85cef-0000"}),
            json!({"ID": "8bb00000-0000"}),
        ];
        assert_eq!(pick(Kind::Alloc, "8", &allocs), Err(PrefixError::TooShort));
        assert_eq!(
            pick(Kind::Alloc, "8ba", &allocs)
                .expect("odd length")
                .str_at("ID"),
            "8ba85cef-0000"
        );
        assert!(matches!(
            pick(Kind::Alloc, "8b", &allocs),
            Err(PrefixError::Ambiguous { .. })
        ));
    }
}
