//! The allocations table that `job status` and `node status` print.

use serde_json::Value;

use crate::fields::{Fields, id_len};
use crate::table::Table;
use crate::timefmt::relative;

/// `ID  Node ID  Task Group  Version  Desired  Status  Created  Modified`, newest first.
pub(crate) fn alloc_table(allocs: &[Value], now: i64, verbose: bool) -> Vec<String> {
    let mut sorted: Vec<&Value> = allocs.iter().collect();
    sorted.sort_by(|a, b| {
        b.u64_at("CreateIndex")
            .cmp(&a.u64_at("CreateIndex"))
            .then_with(|| a.str_at("ID").cmp(b.str_at("ID")))
    });
    let mut t = Table::new(&[
        "ID",
        "Node ID",
        "Task Group",
        "Version",
        "Desired",
        "Status",
        "Created",
        "Modified",
    ]);
    for a in sorted {
        t.row([
            id_len(a.str_at("ID"), verbose).to_owned(),
            id_len(a.str_at("NodeID"), verbose).to_owned(),
            a.str_at("TaskGroup").to_owned(),
            job_version(a).to_string(),
            a.str_at("DesiredStatus").to_owned(),
            a.str_at("ClientStatus").to_owned(),
            relative(a.i64_at("CreateTime"), now),
            relative(a.i64_at("ModifyTime"), now),
        ]);
    }
    t.lines()
}

/// The job version an allocation runs: `JobVersion` in list stubs, `Job.Version` in full
/// allocations.
pub(crate) fn job_version(alloc: &Value) -> u64 {
    match alloc.get("JobVersion") {
        Some(v) if !v.is_null() => v.as_u64().unwrap_or_default(),
        _ => alloc
            .get("Job")
            .map(|j| j.u64_at("Version"))
            .unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn newest_first_with_relative_times() {
        let s = 1_000_000_000i64;
        let now = 10_000 * s;
        let allocs = [
            json!({"ID": "aaaaaaaa-1", "NodeID": "nnnnnnnn-1", "TaskGroup": "cache", "JobVersion": 0,
                   "DesiredStatus": "stop", "ClientStatus": "complete", "CreateIndex": 5,
                   "CreateTime": now - 3_700 * s, "ModifyTime": now - 60 * s}),
            json!({"ID": "bbbbbbbb-2", "NodeID": "nnnnnnnn-1", "TaskGroup": "cache", "Job": {"Version": 1},
                   "DesiredStatus": "run", "ClientStatus": "running", "CreateIndex": 9,
                   "CreateTime": now - 12 * s, "ModifyTime": now - 12 * s}),
        ];
        assert_eq!(
            alloc_table(&allocs, now, false),
            [
                "ID        Node ID   Task Group  Version  Desired  Status    Created   Modified",
                "bbbbbbbb  nnnnnnnn  cache       1        run      running   12s ago   12s ago",
                "aaaaaaaa  nnnnnnnn  cache       0        stop     complete  1h1m ago  1m ago",
            ]
        );
    }
}
