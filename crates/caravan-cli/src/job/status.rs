//! `caravan job status [ID]` (and `caravan status`): the job list, or one job's header,
//! group summary, placement failures and allocations.

use std::process::ExitCode;

use anyhow::Context;
use serde_json::Value;

use crate::alloc_list::alloc_table;
use crate::fields::{Fields, enc};
use crate::placement::{failed_groups, has_failures};
use crate::prefix::{Kind, resolve};
use crate::table::{Table, kv};
use crate::timefmt::{now_ns, rfc3339_or_na};
use crate::ui::Ctx;

#[derive(Debug, clap::Args)]
pub(crate) struct StatusArgs {
    /// Print the agent's JSON instead of tables.
    #[arg(long)]
    json: bool,
    /// Show full ids.
    #[arg(long)]
    verbose: bool,
    /// The job's id, or a unique prefix of it; without it, list every job.
    #[arg(value_name = "ID")]
    id: Option<String>,
}

impl StatusArgs {
    pub(crate) fn run(self, ctx: &mut Ctx<'_>) -> anyhow::Result<ExitCode> {
        let client = ctx.client()?;
        let Some(prefix) = self.id else {
            let jobs = client.get("/v1/jobs").context("listing jobs")?;
            if self.json {
                ctx.ui.out(serde_json::to_string_pretty(&jobs)?);
            } else {
                ctx.ui.outs(job_list(
                    jobs.as_array().map(Vec::as_slice).unwrap_or_default(),
                ));
            }
            return Ok(ExitCode::SUCCESS);
        };
        let id = resolve(&client, Kind::Job, &prefix)?;
        let path = format!("/v1/job/{}", enc(&id));
        let what = || format!("reading job {id:?}");
        let job = client.get(&path).with_context(what)?;
        if self.json {
            ctx.ui.out(serde_json::to_string_pretty(&job)?);
            return Ok(ExitCode::SUCCESS);
        }
        let summary = client.get(&format!("{path}/summary")).with_context(what)?;
        let evals = client
            .get(&format!("{path}/evaluations"))
            .with_context(what)?;
        let allocs = client
            .get(&format!("{path}/allocations"))
            .with_context(what)?;
        let view = JobView {
            job: &job,
            summary: &summary,
            evals: &evals,
            allocs: &allocs,
        };
        ctx.ui.outs(view.render(now_ns(), self.verbose));
        Ok(ExitCode::SUCCESS)
    }
}

/// `ID  Type  Priority  Status  Submit Date`, or `No running jobs`.
pub(crate) fn job_list(jobs: &[Value]) -> Vec<String> {
    if jobs.is_empty() {
        return vec!["No running jobs".to_owned()];
    }
    let mut sorted: Vec<&Value> = jobs.iter().collect();
    sorted.sort_by(|a, b| a.str_at("ID").cmp(b.str_at("ID")));
    let mut t = Table::new(&["ID", "Type", "Priority", "Status", "Submit Date"]);
    for j in sorted {
        t.row([
            j.str_at("ID").to_owned(),
            j.str_at("Type").to_owned(),
            j.i64_at("Priority").to_string(),
            job_status(j),
            rfc3339_or_na(j.i64_at("SubmitTime")),
        ]);
    }
    t.lines()
}

fn job_status(job: &Value) -> String {
    let status = job.str_at("Status");
    if job.bool_at("Stop") {
        format!("{status} (stopped)")
    } else {
        status.to_owned()
    }
}

/// Everything `job status ID` prints, from the agent's answers.
#[derive(Debug)]
pub(crate) struct JobView<'a> {
    pub job: &'a Value,
    pub summary: &'a Value,
    pub evals: &'a Value,
    pub allocs: &'a Value,
}

impl JobView<'_> {
    pub(crate) fn render(&self, now: i64, verbose: bool) -> Vec<String> {
        let job = self.job;
        let present = |key: &str| job.get(key).is_some_and(|v| !v.is_null());
        let datacenters: Vec<&str> = job
            .arr_at("Datacenters")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        let mut lines = kv(&[
            ("ID", job.str_at("ID").to_owned()),
            ("Name", job.str_at("Name").to_owned()),
            ("Submit Date", rfc3339_or_na(job.i64_at("SubmitTime"))),
            ("Type", job.str_at("Type").to_owned()),
            ("Priority", job.i64_at("Priority").to_string()),
            ("Datacenters", datacenters.join(",")),
            ("Namespace", job.str_at("Namespace").to_owned()),
            ("Node Pool", job.str_at("NodePool").to_owned()),
            ("Status", job_status(job)),
            ("Periodic", present("Periodic").to_string()),
            ("Parameterized", present("ParameterizedJob").to_string()),
        ]);

        lines.push(String::new());
        lines.push("Summary".to_owned());
        let mut t = Table::new(&[
            "Task Group",
            "Queued",
            "Starting",
            "Running",
            "Failed",
            "Complete",
            "Lost",
            "Unknown",
        ]);
        let groups = &self.summary["Summary"];
        for group in self.summary.keys_at("Summary") {
            let g = &groups[group];
            t.row(
                std::iter::once(group.to_owned()).chain(
                    [
                        "Queued", "Starting", "Running", "Failed", "Complete", "Lost", "Unknown",
                    ]
                    .iter()
                    .map(|k| g.u64_at(k).to_string()),
                ),
            );
        }
        lines.extend(t.lines());

        let children = &self.summary["Children"];
        if (present("Periodic") || present("ParameterizedJob")) && children.is_object() {
            lines.push(String::new());
            lines.push("Children Job Summary".to_owned());
            let mut t = Table::new(&["Pending", "Running", "Dead"]);
            t.row(
                ["Pending", "Running", "Dead"]
                    .iter()
                    .map(|k| children.u64_at(k).to_string()),
            );
            lines.extend(t.lines());
        }

        if let Some(failed) =
            placement_failure(self.evals.as_array().map(Vec::as_slice).unwrap_or_default())
        {
            lines.push(String::new());
            lines.push("Placement Failure".to_owned());
            lines.extend(failed_groups(&failed["FailedTGAllocs"], ""));
        }

        lines.push(String::new());
        lines.push("Allocations".to_owned());
        let allocs = self
            .allocs
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default();
        if allocs.is_empty() {
            lines.push("No allocations placed".to_owned());
        } else {
            lines.extend(alloc_table(allocs, now, verbose));
        }
        lines
    }
}

/// The evaluation whose failures are still current: when the job has a blocked
/// evaluation, or its latest evaluation failed to place, the latest one with failures.
fn placement_failure(evals: &[Value]) -> Option<&Value> {
    let latest = evals.iter().max_by_key(|e| e.u64_at("CreateIndex"))?;
    let blocked = evals.iter().any(|e| e.str_at("Status") == "blocked");
    if !blocked && !has_failures(latest) {
        return None;
    }
    evals
        .iter()
        .filter(|e| has_failures(e))
        .max_by_key(|e| e.u64_at("CreateIndex"))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const S: i64 = 1_000_000_000;

    #[test]
    fn job_list_table() {
        let jobs = [
            json!({"ID": "web", "Type": "service", "Priority": 50, "Status": "running", "SubmitTime": 1_714_557_600 * S}),
            json!({"ID": "backup", "Type": "batch", "Priority": 70, "Status": "dead", "Stop": true, "SubmitTime": 0}),
        ];
        assert_eq!(
            job_list(&jobs),
            [
                "ID      Type     Priority  Status          Submit Date",
                "backup  batch    70        dead (stopped)  N/A",
                "web     service  50        running         2024-05-01T10:00:00Z",
            ]
        );
        assert_eq!(job_list(&[]), ["No running jobs"]);
    }

    #[test]
    fn full_status_with_placement_failure() {
        let now = 1_714_557_600 * S;
        let job = json!({
            "ID": "example", "Name": "example", "SubmitTime": now - 30 * S, "Type": "service",
            "Priority": 50, "Datacenters": ["dc1", "dc2"], "Namespace": "default", "NodePool": "default",
            "Status": "pending", "Periodic": null, "ParameterizedJob": null
        });
        let summary =
            json!({"JobID": "example", "Summary": {"cache": {"Queued": 1, "Running": 2}}});
        let evals = json!([
            {"ID": "e1", "Status": "complete", "CreateIndex": 10, "FailedTGAllocs": {
                "cache": {"NodesEvaluated": 1, "NodesExhausted": 1, "DimensionExhausted": {"memory": 1}}}},
            {"ID": "e2", "Status": "blocked", "CreateIndex": 11, "FailedTGAllocs": null}
        ]);
        let allocs = json!([{"ID": "aaaaaaaa-1", "NodeID": "nnnnnnnn-1", "TaskGroup": "cache", "JobVersion": 0,
                             "DesiredStatus": "run", "ClientStatus": "running", "CreateTime": now - 12 * S,
                             "ModifyTime": now - 12 * S}]);
        let view = JobView {
            job: &job,
            summary: &summary,
            evals: &evals,
            allocs: &allocs,
        };
        let text = view.render(now, false).join("\n");
        let expected = "\
ID            = example
Name          = example
Submit Date   = 2024-05-01T09:59:30Z
Type          = service
Priority      = 50
Datacenters   = dc1,dc2
Namespace     = default
Node Pool     = default
Status        = pending
Periodic      = false
Parameterized = false

Summary
Task Group  Queued  Starting  Running  Failed  Complete  Lost  Unknown
cache       1       0         2        0       0         0     0

Placement Failure
Task Group \"cache\" (failed to place 1 allocation):
  * Resources exhausted on 1 nodes
  * Dimension \"memory\" exhausted on 1 nodes

Allocations
ID        Node ID   Task Group  Version  Desired  Status   Created  Modified
aaaaaaaa  nnnnnnnn  cache       0        run      running  12s ago  12s ago";
        assert_eq!(text, expected);
    }

    #[test]
    fn old_failures_are_not_shown_once_placed() {
        let evals = [
            json!({"Status": "complete", "CreateIndex": 10, "FailedTGAllocs": {"cache": {}}}),
            json!({"Status": "complete", "CreateIndex": 12, "FailedTGAllocs": {}}),
        ];
        assert!(placement_failure(&evals).is_none());
        assert!(placement_failure(&evals[..1]).is_some());
    }
}
