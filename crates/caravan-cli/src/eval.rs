//! `caravan eval status ID`: one evaluation, with its placement failures.

use std::process::ExitCode;

use anyhow::Context;
use serde_json::Value;

use crate::fields::{Fields, enc, id_len, short};
use crate::placement::{failed_groups, has_failures};
use crate::prefix::{Kind, resolve};
use crate::table::kv;
use crate::timefmt::{now_ns, relative};
use crate::ui::Ctx;

#[derive(Debug, clap::Subcommand)]
pub(crate) enum EvalCommand {
    /// Show an evaluation: its status, trigger and placement failures.
    Status(StatusArgs),
}

impl EvalCommand {
    pub(crate) fn run(self, ctx: &mut Ctx<'_>) -> anyhow::Result<ExitCode> {
        match self {
            EvalCommand::Status(args) => args.run(ctx),
        }
    }
}

#[derive(Debug, clap::Args)]
pub(crate) struct StatusArgs {
    /// Print the agent's JSON.
    #[arg(long)]
    json: bool,
    /// Show full ids.
    #[arg(long)]
    verbose: bool,
    /// The evaluation's id, or a unique prefix of it.
    #[arg(value_name = "ID")]
    id: String,
}

impl StatusArgs {
    fn run(self, ctx: &mut Ctx<'_>) -> anyhow::Result<ExitCode> {
        let client = ctx.client()?;
        let id = resolve(&client, Kind::Eval, &self.id)?;
        let eval = client
            .get(&format!("/v1/evaluation/{}", enc(&id)))
            .with_context(|| format!("reading evaluation {id:?}"))?;
        if self.json {
            ctx.ui.out(serde_json::to_string_pretty(&eval)?);
        } else {
            ctx.ui.outs(render_eval(&eval, now_ns(), self.verbose));
        }
        Ok(ExitCode::SUCCESS)
    }
}

/// Everything `eval status` prints.
pub(crate) fn render_eval(eval: &Value, now: i64, verbose: bool) -> Vec<String> {
    let id = |key: &str| id_len(eval.str_at(key), verbose).to_owned();
    let mut pairs = vec![
        ("ID", id("ID")),
        ("Create Time", relative(eval.i64_at("CreateTime"), now)),
        ("Modify Time", relative(eval.i64_at("ModifyTime"), now)),
        ("Status", eval.str_at("Status").to_owned()),
        (
            "Status Description",
            eval.str_at("StatusDescription").to_owned(),
        ),
        ("Type", eval.str_at("Type").to_owned()),
        ("TriggeredBy", eval.str_at("TriggeredBy").to_owned()),
        ("Job ID", eval.str_at("JobID").to_owned()),
    ];
    if !eval.str_at("NodeID").is_empty() {
        pairs.push(("Node ID", id("NodeID")));
    }
    for (label, key) in [
        ("Previous Eval", "PreviousEval"),
        ("Next Eval", "NextEval"),
        ("Blocked Eval", "BlockedEval"),
    ] {
        if !eval.str_at(key).is_empty() {
            pairs.push((label, id(key)));
        }
    }
    pairs.extend([
        ("Namespace", eval.str_at("Namespace").to_owned()),
        ("Priority", eval.i64_at("Priority").to_string()),
        ("Placement Failures", has_failures(eval).to_string()),
    ]);
    let mut lines = kv(&pairs);
    if has_failures(eval) {
        lines.push(String::new());
        lines.push("Failed Placements".to_owned());
        lines.extend(failed_groups(&eval["FailedTGAllocs"], ""));
        let blocked = eval.str_at("BlockedEval");
        if !blocked.is_empty() {
            lines.push(String::new());
            lines.push(format!(
                "Evaluation {:?} waiting for additional capacity to place remainder",
                short(blocked)
            ));
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn eval_with_failures() {
        let s = 1_000_000_000i64;
        let eval = json!({
            "ID": "3b6a4e7e-1111", "CreateTime": 100 * s, "ModifyTime": 105 * s, "Status": "complete",
            "StatusDescription": "", "Type": "service", "TriggeredBy": "job-register", "JobID": "example",
            "Namespace": "default", "Priority": 50, "BlockedEval": "9c1d3f00-2222",
            "FailedTGAllocs": {"cache": {"NodesEvaluated": 1, "NodesExhausted": 1}}
        });
        let lines = render_eval(&eval, 110 * s, false);
        assert_eq!(lines[0], "ID                 = 3b6a4e7e");
        assert!(lines.contains(&"Create Time        = 10s ago".to_owned()));
        assert!(lines.contains(&"Blocked Eval       = 9c1d3f00".to_owned()));
        assert!(lines.contains(&"Placement Failures = true".to_owned()));
        assert_eq!(
            lines[lines.len() - 5..],
            [
                "Failed Placements",
                "Task Group \"cache\" (failed to place 1 allocation):",
                "  * Resources exhausted on 1 nodes",
                "",
                "Evaluation \"9c1d3f00\" waiting for additional capacity to place remainder",
            ]
        );
    }
}
