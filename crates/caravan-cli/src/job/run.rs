//! `caravan job run FILE` (and `caravan run`): parse locally, register with
//! `PUT /v1/jobs`, then follow the evaluation.

use std::process::ExitCode;

use anyhow::Context;
use serde_json::{Value, json};

use super::{job_json, load_job};
use crate::fields::Fields;
use crate::jobfile::JobFileArgs;
use crate::monitor::monitor;
use crate::ui::Ctx;

#[derive(Debug, clap::Args)]
pub(crate) struct RunArgs {
    /// Print the job as Nomad-shaped JSON ({"Job": {...}}) and exit without submitting.
    #[arg(long)]
    output: bool,
    /// Return once the job is registered instead of following its evaluation.
    #[arg(long)]
    detach: bool,
    /// Register only if the job's modify index is this one (0: only if the job is new).
    #[arg(long = "check-index", value_name = "INDEX")]
    check_index: Option<u64>,
    #[command(flatten)]
    job: JobFileArgs,
}

impl RunArgs {
    pub(crate) fn run(self, ctx: &mut Ctx<'_>) -> anyhow::Result<ExitCode> {
        let Ok(job) = load_job(&self.job, &mut ctx.ui) else {
            return Ok(ExitCode::FAILURE);
        };
        let job = job_json(&job).context("encoding the job")?;
        if self.output {
            let text =
                serde_json::to_string_pretty(&json!({ "Job": job })).context("encoding the job")?;
            ctx.ui.out(text);
            return Ok(ExitCode::SUCCESS);
        }
        let client = ctx.client()?;
        let body = register_body(job.clone(), self.check_index);
        let resp = client.put("/v1/jobs", &body).context("submitting job")?;
        let warnings = resp.str_at("Warnings").trim();
        if !warnings.is_empty() {
            ctx.ui.out("Job Warnings:");
            ctx.ui.out(warnings);
            ctx.ui.out("");
        }
        let eval_id = resp.str_at("EvalID");
        let launches_later = is_set(&job, "Periodic") || is_set(&job, "ParameterizedJob");
        if eval_id.is_empty() || launches_later {
            // Periodic and parameterized jobs only run when launched or dispatched.
            ctx.ui.out("Job registration successful");
            return Ok(ExitCode::SUCCESS);
        }
        if self.detach {
            ctx.ui.out("Job registration successful");
            ctx.ui.out(format!("Evaluation ID: {eval_id}"));
            return Ok(ExitCode::SUCCESS);
        }
        monitor(&client, &mut ctx.ui, eval_id)
    }
}

/// `{"Job": ..., "EnforceIndex", "JobModifyIndex"}` as `PUT /v1/jobs` takes it.
pub(crate) fn register_body(job: Value, check_index: Option<u64>) -> Value {
    let mut body = json!({ "Job": job });
    if let Some(index) = check_index {
        body["EnforceIndex"] = json!(true);
        body["JobModifyIndex"] = json!(index);
    }
    body
}

/// Whether a job block (periodic, parameterized) is present and not disabled.
fn is_set(job: &Value, key: &str) -> bool {
    match job.get(key) {
        None | Some(Value::Null) => false,
        Some(block) => block
            .get("Enabled")
            .and_then(Value::as_bool)
            .unwrap_or(true),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_index_enforces() {
        let body = register_body(json!({"ID": "web"}), Some(0));
        assert_eq!(
            body,
            json!({"Job": {"ID": "web"}, "EnforceIndex": true, "JobModifyIndex": 0})
        );
        assert_eq!(register_body(json!({}), None), json!({"Job": {}}));
    }

    #[test]
    fn periodic_and_parameterized_blocks() {
        assert!(is_set(
            &json!({"Periodic": {"Spec": "* * * * *"}}),
            "Periodic"
        ));
        assert!(!is_set(
            &json!({"Periodic": {"Enabled": false}}),
            "Periodic"
        ));
        assert!(!is_set(&json!({"Periodic": null}), "Periodic"));
        assert!(is_set(
            &json!({"ParameterizedJob": {"Payload": "optional"}}),
            "ParameterizedJob"
        ));
    }
}
