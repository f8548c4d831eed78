//! Why allocations could not be placed, from an evaluation's `FailedTGAllocs` (a map of
//! task group to AllocationMetric): the lines `job run`, `job status`, `job plan` and
//! `eval status` print.

use serde_json::Value;

use crate::fields::Fields;

/// The reasons in one AllocationMetric, each as `* ...`.
pub(crate) fn metric_lines(metric: &Value) -> Vec<String> {
    let mut lines = Vec::new();
    if metric.get("NodesEvaluated").is_some() && metric.u64_at("NodesEvaluated") == 0 {
        lines.push("* No nodes were eligible for evaluation".to_owned());
    }
    for dc in metric.keys_at("NodesAvailable") {
        if metric["NodesAvailable"].u64_at(dc) == 0 {
            lines.push(format!("* No nodes are available in datacenter {dc:?}"));
        }
    }
    for class in metric.keys_at("ClassFiltered") {
        let n = metric["ClassFiltered"].u64_at(class);
        lines.push(format!("* Class {class:?}: {n} nodes excluded by filter"));
    }
    for constraint in metric.keys_at("ConstraintFiltered") {
        let n = metric["ConstraintFiltered"].u64_at(constraint);
        lines.push(format!(
            "* Constraint {constraint:?}: {n} nodes excluded by filter"
        ));
    }
    let exhausted = metric.u64_at("NodesExhausted");
    if exhausted > 0 {
        lines.push(format!("* Resources exhausted on {exhausted} nodes"));
    }
    for class in metric.keys_at("ClassExhausted") {
        let n = metric["ClassExhausted"].u64_at(class);
        lines.push(format!("* Class {class:?} exhausted on {n} nodes"));
    }
    // Dimensions include the port ledger's reasons, e.g.
    // "network: reserved port collision redis=6379".
    for dim in metric.keys_at("DimensionExhausted") {
        let n = metric["DimensionExhausted"].u64_at(dim);
        lines.push(format!("* Dimension {dim:?} exhausted on {n} nodes"));
    }
    for quota in metric.arr_at("QuotaExhausted") {
        if let Some(q) = quota.as_str() {
            lines.push(format!("* Quota limit hit {q:?}"));
        }
    }
    lines
}

/// `Task Group "g" (failed to place N allocations):` followed by its reasons, for every
/// group of a `FailedTGAllocs` map in name order. `indent` goes before the heading and
/// `indent` plus two spaces before each reason.
pub(crate) fn failed_groups(failed: &Value, indent: &str) -> Vec<String> {
    let mut lines = Vec::new();
    for group in failed
        .as_object()
        .map(|m| {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            keys
        })
        .unwrap_or_default()
    {
        let metric = &failed[group.as_str()];
        let count = metric.u64_at("CoalescedFailures") + 1;
        let plural = if count == 1 { "" } else { "s" };
        lines.push(format!(
            "{indent}Task Group {group:?} (failed to place {count} allocation{plural}):"
        ));
        lines.extend(
            metric_lines(metric)
                .into_iter()
                .map(|l| format!("{indent}  {l}")),
        );
    }
    lines
}

/// Whether an evaluation has failed placements.
pub(crate) fn has_failures(eval: &Value) -> bool {
    eval.get("FailedTGAllocs")
        .and_then(Value::as_object)
        .is_some_and(|m| !m.is_empty())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn renders_every_kind_of_reason() {
        let metric = json!({
            "NodesEvaluated": 3,
            "NodesAvailable": {"dc1": 3, "dc2": 0},
            "ConstraintFiltered": {"${attr.kernel.name} = windows": 2},
            "ClassFiltered": {},
            "NodesExhausted": 1,
            "DimensionExhausted": {"memory": 1, "network: reserved port collision redis=6379": 1},
            "CoalescedFailures": 2
        });
        assert_eq!(
            metric_lines(&metric),
            [
                "* No nodes are available in datacenter \"dc2\"",
                "* Constraint \"${attr.kernel.name} = windows\": 2 nodes excluded by filter",
                "* Resources exhausted on 1 nodes",
                "* Dimension \"memory\" exhausted on 1 nodes",
                "* Dimension \"network: reserved port collision redis=6379\" exhausted on 1 nodes",
            ]
        );
    }

    #[test]
    fn no_eligible_nodes() {
        let metric = json!({"NodesEvaluated": 0, "NodesFiltered": 0});
        assert_eq!(
            metric_lines(&metric),
            ["* No nodes were eligible for evaluation"]
        );
    }

    #[test]
    fn groups_are_sorted_and_counted() {
        let failed = json!({
            "web": {"NodesEvaluated": 1, "NodesExhausted": 1, "DimensionExhausted": {"cpu": 1}, "CoalescedFailures": 2},
            "cache": {"NodesEvaluated": 1, "NodesExhausted": 1, "DimensionExhausted": {"memory": 1}}
        });
        assert_eq!(
            failed_groups(&failed, "  "),
            [
                "  Task Group \"cache\" (failed to place 1 allocation):",
                "    * Resources exhausted on 1 nodes",
                "    * Dimension \"memory\" exhausted on 1 nodes",
                "  Task Group \"web\" (failed to place 3 allocations):",
                "    * Resources exhausted on 1 nodes",
                "    * Dimension \"cpu\" exhausted on 1 nodes",
            ]
        );
        assert!(has_failures(&json!({"FailedTGAllocs": failed})));
        assert!(!has_failures(&json!({"FailedTGAllocs": {}})));
        assert!(!has_failures(&json!({"FailedTGAllocs": null})));
    }
}
