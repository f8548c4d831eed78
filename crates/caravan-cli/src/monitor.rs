//! Following an evaluation to its end, as `job run`, `job stop`, `job eval` and
//! `alloc stop` do: what triggered it, the allocations it created, its status changes,
//! and why placements failed, ending with an exit code (0 done, 2 placement failure,
//! 1 evaluation failed).
//!
//! The rendering is a pure function of two snapshots `{"Eval": {...}, "Allocs": [...]}`
//! (before and after an update), so it is tested from JSON fixtures; [`monitor`] only
//! fetches snapshots and stamps lines with the time.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use serde_json::{Value, json};

use crate::client::{Blocking, Client};
use crate::fields::{Fields, enc, short};
use crate::placement::{failed_groups, has_failures};
use crate::timefmt::{now_ns, rfc3339};
use crate::ui::Ui;

/// How long each blocking query on the evaluation may wait.
const BLOCK_WAIT: Duration = Duration::from_secs(30);
/// The pause between polls when the agent sends no `X-Nomad-Index`.
const POLL_INTERVAL: Duration = Duration::from_millis(100);

/// Statuses after which an evaluation changes no more.
fn is_terminal(status: &str) -> bool {
    matches!(
        status,
        "complete" | "failed" | "canceled" | "cancelled" | "blocked"
    )
}

/// The lines an update of a monitored evaluation prints. `prev` is the last snapshot
/// (`Value::Null` before the first), `cur` the new one.
///
/// Headlines start with `==> ` and events with four spaces; the caller puts the time
/// after that marker (see [`stamp`]). Detail lines start with six spaces.
pub(crate) fn render_eval_update(prev: &Value, cur: &Value) -> Vec<String> {
    let first = prev.get("Eval").is_none_or(Value::is_null);
    let (before, eval) = (&prev["Eval"], &cur["Eval"]);
    let eval_id = short(eval.str_at("ID"));
    let mut lines = Vec::new();

    if first {
        lines.push(format!("    {}", triggered_by(eval)));
    }
    let deployment = eval.str_at("DeploymentID");
    if !deployment.is_empty() && before.str_at("DeploymentID").is_empty() {
        lines.push(format!(
            "    Evaluation within deployment: {:?}",
            short(deployment)
        ));
    }

    let known: BTreeMap<&str, &Value> = prev
        .arr_at("Allocs")
        .iter()
        .map(|a| (a.str_at("ID"), a))
        .collect();
    let mut allocs: Vec<&Value> = cur.arr_at("Allocs").iter().collect();
    allocs.sort_by_key(|a| (a.u64_at("CreateIndex"), a.str_at("ID").to_owned()));
    for alloc in allocs {
        let id = short(alloc.str_at("ID"));
        let where_ = format!(
            "node {:?}, group {:?}",
            short(alloc.str_at("NodeID")),
            alloc.str_at("TaskGroup")
        );
        match known.get(alloc.str_at("ID")) {
            None if alloc.u64_at("CreateIndex") < eval.u64_at("CreateIndex") => {
                lines.push(format!("    Allocation {id:?} modified: {where_}"));
            }
            None if matches!(alloc.str_at("DesiredStatus"), "run" | "") => {
                lines.push(format!("    Allocation {id:?} created: {where_}"));
            }
            None => {}
            Some(old) => {
                let (was, now) = (old.str_at("ClientStatus"), alloc.str_at("ClientStatus"));
                if was != now {
                    let why = alloc.str_at("ClientDescription");
                    let why = if why.is_empty() {
                        String::new()
                    } else {
                        format!(" ({why})")
                    };
                    lines.push(format!(
                        "    Allocation {id:?} status changed: {was:?} -> {now:?}{why}"
                    ));
                }
            }
        }
    }

    // Every evaluation starts out pending, including one first seen already finished.
    let was = if first {
        "pending"
    } else {
        before.str_at("Status")
    };
    let status = eval.str_at("Status");
    if !status.is_empty() && status != "pending" && status != was {
        lines.push(format!(
            "    Evaluation status changed: {was:?} -> {status:?}"
        ));
    }

    if is_terminal(status) && (first || !is_terminal(was)) {
        lines.extend(finish_lines(eval_id, eval));
    }
    lines
}

fn triggered_by(eval: &Value) -> String {
    let node = eval.str_at("NodeID");
    match eval.str_at("TriggeredBy") {
        "node-update" | "node-drain" if !node.is_empty() => {
            format!("Evaluation triggered by node {:?}", short(node))
        }
        _ => format!("Evaluation triggered by job {:?}", eval.str_at("JobID")),
    }
}

fn finish_lines(eval_id: &str, eval: &Value) -> Vec<String> {
    let status = eval.str_at("Status");
    let mut lines = Vec::new();
    if has_failures(eval) {
        lines.push(format!(
            "==> Evaluation {eval_id:?} finished with status {status:?} but failed to place all allocations:"
        ));
        // Headings become timestamped events, their `  * reason` lines details.
        lines.extend(failed_groups(&eval["FailedTGAllocs"], "    "));
        let blocked = match eval.str_at("BlockedEval") {
            "" if status == "blocked" => eval_id,
            b => short(b),
        };
        if !blocked.is_empty() {
            lines.push(format!(
                "    Evaluation {blocked:?} waiting for additional capacity to place remainder"
            ));
        }
    } else {
        let why = eval.str_at("StatusDescription");
        if status == "failed" && !why.is_empty() {
            lines.push(format!(
                "==> Evaluation {eval_id:?} finished with status {status:?}: {why}"
            ));
        } else {
            lines.push(format!(
                "==> Evaluation {eval_id:?} finished with status {status:?}"
            ));
        }
    }
    lines
}

/// Puts `time` after a line's `==> ` or four-space marker; detail lines (more indented)
/// are left as they are.
pub(crate) fn stamp(line: &str, time: &str) -> String {
    for marker in ["==> ", "    "] {
        if let Some(rest) = line.strip_prefix(marker)
            && !rest.starts_with(' ')
        {
            return format!("{marker}{time}: {rest}");
        }
    }
    line.to_owned()
}

/// The exit code an evaluation that has finished earns.
pub(crate) fn exit_code(eval: &Value, placement_failed: bool) -> u8 {
    if placement_failed {
        2
    } else if eval.str_at("Status") == "failed" {
        1
    } else {
        0
    }
}

/// Follows `eval_id` (and any `NextEval` after it) until it finishes, printing as it goes.
pub(crate) fn monitor(client: &Client, ui: &mut Ui<'_>, eval_id: &str) -> anyhow::Result<ExitCode> {
    let now = || rfc3339(now_ns());
    ui.out(stamp(
        &format!("==> Monitoring evaluation {:?}", short(eval_id)),
        &now(),
    ));
    let mut eval_id = eval_id.to_owned();
    let mut prev = Value::Null;
    let mut index = 0u64;
    let mut placement_failed = false;
    loop {
        let path = format!("/v1/evaluation/{}", enc(&eval_id));
        let (eval, new_index) = client
            .get_indexed(
                &path,
                Some(Blocking {
                    index,
                    wait: BLOCK_WAIT,
                }),
            )
            .with_context(|| format!("reading evaluation {:?}", short(&eval_id)))?;
        let allocs = client
            .get(&format!("{path}/allocations"))
            .with_context(|| {
                format!(
                    "reading the allocations of evaluation {:?}",
                    short(&eval_id)
                )
            })?;
        let cur = json!({ "Eval": eval, "Allocs": allocs });
        let time = now();
        for line in render_eval_update(&prev, &cur) {
            ui.out(stamp(&line, &time));
        }
        ui.flush();
        let eval = &cur["Eval"];
        placement_failed |= has_failures(eval);
        if is_terminal(eval.str_at("Status")) {
            let next = eval.str_at("NextEval");
            if !next.is_empty() && eval.str_at("Status") != "blocked" {
                ui.out(stamp(
                    &format!("==> Monitoring next evaluation {:?}", short(next)),
                    &now(),
                ));
                eval_id = next.to_owned();
                prev = Value::Null;
                index = 0;
                continue;
            }
            return Ok(ExitCode::from(exit_code(eval, placement_failed)));
        }
        if new_index == 0 || new_index == index {
            // No blocking support, or a wait that timed out: do not spin.
            std::thread::sleep(POLL_INTERVAL);
        }
        index = new_index;
        prev = cur;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eval(status: &str) -> Value {
        json!({
            "ID": "3b6a4e7e-1111-2222-3333-444455556666",
            "JobID": "example",
            "TriggeredBy": "job-register",
            "Status": status,
            "CreateIndex": 10,
            "FailedTGAllocs": null
        })
    }

    fn alloc(id: &str, create_index: u64, client_status: &str) -> Value {
        json!({
            "ID": id,
            "NodeID": "171a583b-aaaa-bbbb-cccc-ddddeeeeffff",
            "TaskGroup": "cache",
            "DesiredStatus": "run",
            "ClientStatus": client_status,
            "CreateIndex": create_index
        })
    }

    #[test]
    fn first_update_of_a_finished_eval() {
        let cur =
            json!({"Eval": eval("complete"), "Allocs": [alloc("5f8e1e2a-0000", 12, "pending")]});
        assert_eq!(
            render_eval_update(&Value::Null, &cur),
            [
                "    Evaluation triggered by job \"example\"",
                "    Allocation \"5f8e1e2a\" created: node \"171a583b\", group \"cache\"",
                "    Evaluation status changed: \"pending\" -> \"complete\"",
                "==> Evaluation \"3b6a4e7e\" finished with status \"complete\"",
            ]
        );
    }

    #[test]
    fn later_updates_report_only_what_changed() {
        let prev = json!({"Eval": eval("pending"), "Allocs": []});
        assert_eq!(
            render_eval_update(&Value::Null, &prev),
            ["    Evaluation triggered by job \"example\""]
        );
        assert!(render_eval_update(&prev, &prev).is_empty());
        let cur = json!({"Eval": eval("complete"), "Allocs": [alloc("aaaaaaaa-1", 12, "pending"), alloc("bbbbbbbb-1", 3, "running")]});
        let lines = render_eval_update(&prev, &cur);
        assert_eq!(
            lines[..3],
            [
                "    Allocation \"bbbbbbbb\" modified: node \"171a583b\", group \"cache\"",
                "    Allocation \"aaaaaaaa\" created: node \"171a583b\", group \"cache\"",
                "    Evaluation status changed: \"pending\" -> \"complete\"",
            ]
        );
        let later = json!({"Eval": eval("complete"), "Allocs": [alloc("aaaaaaaa-1", 12, "running"), alloc("bbbbbbbb-1", 3, "running")]});
        assert_eq!(
            render_eval_update(&cur, &later),
            ["    Allocation \"aaaaaaaa\" status changed: \"pending\" -> \"running\""]
        );
    }

    #[test]
    fn failed_placement_with_blocked_eval() {
        let mut e = eval("complete");
        e["BlockedEval"] = json!("9c1d3f00-0000-0000-0000-000000000000");
        e["FailedTGAllocs"] = json!({"cache": {
            "NodesEvaluated": 1,
            "NodesExhausted": 1,
            "DimensionExhausted": {"memory": 1},
            "ConstraintFiltered": {"${attr.kernel.name} = windows": 1}
        }});
        let lines = render_eval_update(&Value::Null, &json!({"Eval": e, "Allocs": []}));
        assert_eq!(
            lines,
            [
                "    Evaluation triggered by job \"example\"",
                "    Evaluation status changed: \"pending\" -> \"complete\"",
                "==> Evaluation \"3b6a4e7e\" finished with status \"complete\" but failed to place all allocations:",
                "    Task Group \"cache\" (failed to place 1 allocation):",
                "      * Constraint \"${attr.kernel.name} = windows\": 1 nodes excluded by filter",
                "      * Resources exhausted on 1 nodes",
                "      * Dimension \"memory\" exhausted on 1 nodes",
                "    Evaluation \"9c1d3f00\" waiting for additional capacity to place remainder",
            ]
        );
        assert_eq!(exit_code(&json!({"Status": "complete"}), true), 2);
    }

    #[test]
    fn node_trigger_deployment_and_failed_status() {
        let mut e = eval("failed");
        e["TriggeredBy"] = json!("node-update");
        e["NodeID"] = json!("171a583b-aaaa");
        e["DeploymentID"] = json!("d00d0000-1");
        e["StatusDescription"] = json!("maximum attempts reached (5)");
        let lines = render_eval_update(&Value::Null, &json!({"Eval": e, "Allocs": []}));
        assert_eq!(
            lines,
            [
                "    Evaluation triggered by node \"171a583b\"",
                "    Evaluation within deployment: \"d00d0000\"",
                "    Evaluation status changed: \"pending\" -> \"failed\"",
                "==> Evaluation \"3b6a4e7e\" finished with status \"failed\": maximum attempts reached (5)",
            ]
        );
        assert_eq!(exit_code(&e, false), 1);
        assert_eq!(exit_code(&eval("complete"), false), 0);
    }

    #[test]
    fn stamps_markers_not_details() {
        let t = "2024-05-01T10:00:00Z";
        assert_eq!(
            stamp("==> Monitoring evaluation \"x\"", t),
            "==> 2024-05-01T10:00:00Z: Monitoring evaluation \"x\""
        );
        assert_eq!(
            stamp("    Evaluation triggered", t),
            "    2024-05-01T10:00:00Z: Evaluation triggered"
        );
        assert_eq!(
            stamp("      * Resources exhausted", t),
            "      * Resources exhausted"
        );
    }
}
