//! Finding an allocation, evaluation or node by its id or a unique prefix of it, as
//! Nomad's CLI users type them (`alloc status 3f2a`).

use caravan_model::{AllocId, Allocation, EvalId, Evaluation, Node, NodeId};
use caravan_state::Snapshot;

use crate::ApiError;

/// How many matches an ambiguous-prefix error names.
const NAMED_MATCHES: usize = 8;

pub(crate) fn alloc<'a>(snap: &'a Snapshot, id: &str) -> Result<&'a Allocation, ApiError> {
    let exact = snap.alloc(&AllocId::from(id));
    // The prefix scans tie their rows to the prefix's lifetime: collect ids, look up again.
    let ids: Vec<AllocId> = snap
        .allocs_by_prefix(id)
        .take(NAMED_MATCHES + 1)
        .map(|a| a.id.clone())
        .collect();
    unique(
        "alloc",
        id,
        exact,
        ids.iter().filter_map(|i| snap.alloc(i)),
        |a| a.id.as_str(),
    )
}

pub(crate) fn eval<'a>(snap: &'a Snapshot, id: &str) -> Result<&'a Evaluation, ApiError> {
    let exact = snap.eval(&EvalId::from(id));
    let ids: Vec<EvalId> = snap
        .evals_by_prefix(id)
        .take(NAMED_MATCHES + 1)
        .map(|e| e.id.clone())
        .collect();
    unique(
        "eval",
        id,
        exact,
        ids.iter().filter_map(|i| snap.eval(i)),
        |e| e.id.as_str(),
    )
}

pub(crate) fn node<'a>(snap: &'a Snapshot, id: &str) -> Result<&'a Node, ApiError> {
    let exact = snap.node(&NodeId::from(id));
    let ids: Vec<NodeId> = snap
        .nodes_by_prefix(id)
        .take(NAMED_MATCHES + 1)
        .map(|n| n.id.clone())
        .collect();
    unique(
        "node",
        id,
        exact,
        ids.iter().filter_map(|i| snap.node(i)),
        |n| n.id.as_str(),
    )
}

/// The exact match, else the one row whose id starts with `prefix`.
fn unique<'a, T>(
    kind: &str,
    prefix: &str,
    exact: Option<&'a T>,
    matches: impl Iterator<Item = &'a T>,
    id_of: impl Fn(&T) -> &str,
) -> Result<&'a T, ApiError> {
    if let Some(row) = exact {
        return Ok(row);
    }
    if prefix.is_empty() {
        return Err(ApiError::bad_request(format!("missing {kind} id")));
    }
    let mut found: Vec<&T> = matches.take(NAMED_MATCHES + 1).collect();
    match found.len() {
        0 => Err(ApiError::not_found(kind)),
        1 => Ok(found.remove(0)),
        n => {
            let mut names: Vec<&str> = found.iter().take(NAMED_MATCHES).map(|r| id_of(r)).collect();
            if n > NAMED_MATCHES {
                names.push("...");
            }
            Err(ApiError::bad_request(format!(
                "{kind} id prefix {prefix:?} is ambiguous: it matches {}",
                names.join(", ")
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_wins_then_unique_prefix() {
        let rows = ["abc", "abcd", "abd"];
        let find = |p: &str| {
            let exact = rows.iter().find(|r| **r == p);
            unique(
                "alloc",
                p,
                exact,
                rows.iter().filter(|r| r.starts_with(p)),
                |r| r,
            )
            .copied()
        };
        assert_eq!(find("abc"), Ok("abc"));
        assert_eq!(find("abd"), Ok("abd"));
        assert_eq!(find("abcd"), Ok("abcd"));
        assert_eq!(find("x"), Err(ApiError::NotFound("alloc not found".into())));
        let e = find("ab").expect_err("ambiguous");
        assert_eq!(e.status(), axum::http::StatusCode::BAD_REQUEST);
        assert!(e.to_string().contains("abc, abcd, abd"), "{e}");
    }
}
