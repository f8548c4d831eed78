//! `caravan job plan FILE`: a dry run through `PUT /v1/job/:id/plan`. Prints what would
//! change and whether everything would be placed. Exit codes as Nomad's: 0 no allocation
//! created or destroyed, 1 some would be, 255 error.

use std::process::ExitCode;

use anyhow::Context;
use serde_json::{Value, json};

use super::{job_json, load_job};
use crate::fields::{Fields, enc};
use crate::jobfile::JobFileArgs;
use crate::placement::{failed_groups, has_failures};
use crate::ui::Ctx;

const EXIT_ERROR: u8 = 255;

#[derive(Debug, clap::Args)]
pub(crate) struct PlanArgs {
    #[command(flatten)]
    job: JobFileArgs,
}

impl PlanArgs {
    pub(crate) fn run(self, ctx: &mut Ctx<'_>) -> ExitCode {
        match self.plan(ctx) {
            Ok(code) => code,
            Err(e) => {
                ctx.ui.err(format!("Error {e:#}"));
                ExitCode::from(EXIT_ERROR)
            }
        }
    }

    fn plan(&self, ctx: &mut Ctx<'_>) -> anyhow::Result<ExitCode> {
        let Ok(job) = load_job(&self.job, &mut ctx.ui) else {
            return Ok(ExitCode::from(EXIT_ERROR));
        };
        let id = job.id.as_str().to_owned();
        let job = job_json(&job).context("encoding the job")?;
        let client = ctx.client()?;
        let resp = client
            .put(
                &format!("/v1/job/{}/plan", enc(&id)),
                &json!({ "Job": job, "Diff": true }),
            )
            .context("during plan")?;
        let (lines, code) = render_plan(&resp, &id, &self.job.file);
        ctx.ui.outs(lines);
        Ok(ExitCode::from(code))
    }
}

/// The plan's output and exit code.
pub(crate) fn render_plan(resp: &Value, job_id: &str, file: &str) -> (Vec<String>, u8) {
    let updates = &resp["Annotations"]["DesiredTGUpdates"];
    let mut lines = match resp.get("Diff").filter(|d| d.is_object()) {
        Some(diff) => diff_lines(diff, job_id),
        None => annotation_lines(updates, job_id),
    };

    lines.push(String::new());
    lines.push("Scheduler dry-run:".to_owned());
    if has_failures(resp) {
        lines.push("- WARNING: Failed to place all allocations.".to_owned());
        lines.extend(failed_groups(&resp["FailedTGAllocs"], "  "));
    } else {
        lines.push("- All tasks successfully allocated.".to_owned());
    }
    let warnings = resp.str_at("Warnings").trim();
    if !warnings.is_empty() {
        lines.push(String::new());
        lines.push("Job Warnings:".to_owned());
        lines.push(warnings.to_owned());
    }

    let index = resp.u64_at("JobModifyIndex");
    lines.extend([
        String::new(),
        format!("Job Modify Index: {index}"),
        "To submit the job with version verification run:".to_owned(),
        String::new(),
        format!("caravan job run -check-index {index} {file}"),
        String::new(),
        "With -check-index, the job is registered only if its modify index on the agent is"
            .to_owned(),
        "still the one above; another index means the job changed since this plan, and the"
            .to_owned(),
        "plan's results may no longer hold.".to_owned(),
    ]);

    // A failed placement is an allocation the scheduler tried to create, whether or not
    // the agent counts it under Place.
    let changes = has_failures(resp)
        || updates.as_object().is_some_and(|groups| {
            groups.values().any(|u| {
                ["Place", "Stop", "Migrate", "DestructiveUpdate", "Canary"]
                    .iter()
                    .any(|k| u.u64_at(k) > 0)
            })
        });
    (lines, u8::from(changes))
}

fn marker(diff_type: &str) -> &'static str {
    match diff_type {
        "Added" => "+ ",
        "Deleted" => "- ",
        "Edited" => "+/- ",
        _ => "",
    }
}

/// Job, group and task lines from the server's diff, with changed fields of the job and
/// groups (nested objects are summarised by name).
fn diff_lines(diff: &Value, job_id: &str) -> Vec<String> {
    let mut lines = vec![format!("{}Job: {job_id:?}", marker(diff.str_at("Type")))];
    lines.extend(field_lines(diff, ""));
    for group in diff.arr_at("TaskGroups") {
        let updates = updates_suffix(&group["Updates"]);
        lines.push(format!(
            "{}Task Group: {:?}{updates}",
            marker(group.str_at("Type")),
            group.str_at("Name")
        ));
        lines.extend(field_lines(group, "  "));
        for task in group.arr_at("Tasks") {
            let notes: Vec<&str> = task
                .arr_at("Annotations")
                .iter()
                .filter_map(Value::as_str)
                .collect();
            let notes = if notes.is_empty() {
                String::new()
            } else {
                format!(" ({})", notes.join(", "))
            };
            lines.push(format!(
                "  {}Task: {:?}{notes}",
                marker(task.str_at("Type")),
                task.str_at("Name")
            ));
            lines.extend(field_lines(task, "    "));
        }
    }
    lines
}

/// The changed fields of an edited object. An added or deleted object is its header
/// alone: listing each of its fields would drown the change.
fn field_lines(diff: &Value, indent: &str) -> Vec<String> {
    let mut lines = Vec::new();
    if diff.str_at("Type") != "Edited" {
        return lines;
    }
    for field in diff.arr_at("Fields") {
        let (name, old, new) = (
            field.str_at("Name"),
            field.str_at("Old"),
            field.str_at("New"),
        );
        let line = match field.str_at("Type") {
            "Added" => format!("+ {name}: {new:?}"),
            "Deleted" => format!("- {name}: {old:?}"),
            "Edited" => format!("+/- {name}: {old:?} => {new:?}"),
            _ => continue,
        };
        lines.push(format!("{indent}{line}"));
    }
    for object in diff.arr_at("Objects") {
        let m = marker(object.str_at("Type"));
        if !m.is_empty() {
            lines.push(format!("{indent}{m}{} {{ ... }}", object.str_at("Name")));
        }
    }
    lines
}

/// Without a diff from the server, the same shape from `DesiredTGUpdates`.
fn annotation_lines(updates: &Value, job_id: &str) -> Vec<String> {
    let names: Vec<&str> = updates
        .as_object()
        .map(|m| {
            let mut k: Vec<&str> = m.keys().map(String::as_str).collect();
            k.sort_unstable();
            k
        })
        .unwrap_or_default();
    let kind = |u: &Value| {
        let adds = u.u64_at("Place") > 0;
        let removes = u.u64_at("Stop") > 0;
        let edits = ["Migrate", "InPlaceUpdate", "DestructiveUpdate", "Canary"]
            .iter()
            .any(|k| u.u64_at(k) > 0);
        match (adds, removes, edits) {
            (false, false, false) => "None",
            (true, false, false) => "Added",
            (false, true, false) => "Deleted",
            _ => "Edited",
        }
    };
    let kinds: Vec<&str> = names.iter().map(|g| kind(&updates[*g])).collect();
    let job_kind = if kinds.iter().all(|k| *k == "None") {
        "None"
    } else if kinds.iter().all(|k| *k == "Added") {
        "Added"
    } else {
        "Edited"
    };
    let mut lines = vec![format!("{}Job: {job_id:?}", marker(job_kind))];
    for (name, kind) in names.iter().zip(kinds) {
        let suffix = updates_suffix(&annotation_counts(&updates[*name]));
        lines.push(format!("{}Task Group: {name:?}{suffix}", marker(kind)));
    }
    lines
}

/// `DesiredTGUpdates` fields as the diff's update names.
fn annotation_counts(u: &Value) -> Value {
    let mut counts = serde_json::Map::new();
    for (field, name) in [
        ("Place", "create"),
        ("Stop", "destroy"),
        ("Migrate", "migrate"),
        ("InPlaceUpdate", "in-place update"),
        ("DestructiveUpdate", "create/destroy update"),
        ("Canary", "canary"),
        ("Ignore", "ignore"),
    ] {
        let n = u.u64_at(field);
        if n > 0 {
            counts.insert(name.to_owned(), json!(n));
        }
    }
    Value::Object(counts)
}

/// ` (1 create, 2 ignore)` in a fixed order, or "".
fn updates_suffix(updates: &Value) -> String {
    const ORDER: [&str; 8] = [
        "create",
        "destroy",
        "migrate",
        "in-place update",
        "create/destroy update",
        "canary",
        "preemption",
        "ignore",
    ];
    let Some(map) = updates.as_object() else {
        return String::new();
    };
    let mut keys: Vec<&String> = map.keys().collect();
    keys.sort_by_key(|k| {
        (
            ORDER.iter().position(|o| o == k).unwrap_or(ORDER.len()),
            (*k).clone(),
        )
    });
    let parts: Vec<String> = keys
        .into_iter()
        .filter(|k| updates.u64_at(k) > 0)
        .map(|k| format!("{} {k}", updates.u64_at(k)))
        .collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!(" ({})", parts.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_job_from_server_diff() {
        let resp = json!({
            "JobModifyIndex": 0,
            "Diff": {"Type": "Added", "ID": "example", "Objects": [],
                     "Fields": [{"Type": "Added", "Name": "Priority", "Old": "", "New": "50"}],
                     "TaskGroups": [{"Type": "Added", "Name": "cache", "Updates": {"create": 1},
                                     "Tasks": [{"Type": "Added", "Name": "redis", "Annotations": ["forces create"]}]}]},
            "Annotations": {"DesiredTGUpdates": {"cache": {"Place": 1}}},
            "FailedTGAllocs": null
        });
        let (lines, code) = render_plan(&resp, "example", "example.nomad.hcl");
        assert_eq!(code, 1);
        assert_eq!(
            lines[..6],
            [
                "+ Job: \"example\"",
                "+ Task Group: \"cache\" (1 create)",
                "  + Task: \"redis\" (forces create)",
                "",
                "Scheduler dry-run:",
                "- All tasks successfully allocated.",
            ]
        );
        assert!(lines.contains(&"caravan job run -check-index 0 example.nomad.hcl".to_owned()));
    }

    #[test]
    fn unchanged_job_exits_zero() {
        let resp = json!({
            "JobModifyIndex": 7,
            "Diff": {"Type": "None", "TaskGroups": [{"Type": "None", "Name": "cache", "Updates": {"ignore": 1}, "Tasks": []}]},
            "Annotations": {"DesiredTGUpdates": {"cache": {"Ignore": 1}}}
        });
        let (lines, code) = render_plan(&resp, "example", "x.hcl");
        assert_eq!(code, 0);
        assert_eq!(
            lines[..2],
            ["Job: \"example\"", "Task Group: \"cache\" (1 ignore)"]
        );
    }

    #[test]
    fn edited_fields_and_failures_without_diff() {
        let resp = json!({
            "Diff": {"Type": "Edited", "TaskGroups": [{"Type": "Edited", "Name": "cache",
                "Fields": [{"Type": "Edited", "Name": "Count", "Old": "1", "New": "3"}],
                "Updates": {"create": 2, "ignore": 1}, "Tasks": [{"Type": "Edited", "Name": "redis",
                    "Fields": [{"Type": "Added", "Name": "Env[A]", "Old": "", "New": "1"}]}]}]},
            "Annotations": {"DesiredTGUpdates": {"cache": {"Place": 2, "Ignore": 1}}},
            "FailedTGAllocs": {"cache": {"NodesEvaluated": 1, "NodesExhausted": 1, "DimensionExhausted": {"memory": 1}, "CoalescedFailures": 1}}
        });
        let (lines, code) = render_plan(&resp, "example", "x.hcl");
        assert_eq!(code, 1);
        assert_eq!(
            lines[..11],
            [
                "+/- Job: \"example\"",
                "+/- Task Group: \"cache\" (2 create, 1 ignore)",
                "  +/- Count: \"1\" => \"3\"",
                "  +/- Task: \"redis\"",
                "    + Env[A]: \"1\"",
                "",
                "Scheduler dry-run:",
                "- WARNING: Failed to place all allocations.",
                "  Task Group \"cache\" (failed to place 2 allocations):",
                "    * Resources exhausted on 1 nodes",
                "    * Dimension \"memory\" exhausted on 1 nodes",
            ]
        );
        let no_diff = json!({"Annotations": {"DesiredTGUpdates": {"cache": {"Place": 1}, "web": {"Ignore": 2}}}});
        let (lines, _) = render_plan(&no_diff, "example", "x.hcl");
        assert_eq!(
            lines[..3],
            [
                "+/- Job: \"example\"",
                "+ Task Group: \"cache\" (1 create)",
                "Task Group: \"web\" (2 ignore)"
            ]
        );
    }
}
