//! `caravan job history ID`: a job's versions, newest first.

use std::process::ExitCode;

use anyhow::{Context, anyhow};
use serde_json::Value;

use super::inspect::find_version;
use crate::fields::{Fields, enc};
use crate::prefix::{Kind, resolve};
use crate::table::kv;
use crate::timefmt::rfc3339_or_na;
use crate::ui::Ctx;

#[derive(Debug, clap::Args)]
pub(crate) struct HistoryArgs {
    /// Print the agent's JSON.
    #[arg(long)]
    json: bool,
    /// Show only this version.
    #[arg(long, value_name = "N")]
    version: Option<u64>,
    /// The job's id, or a unique prefix of it.
    #[arg(value_name = "ID")]
    id: String,
}

impl HistoryArgs {
    pub(crate) fn run(self, ctx: &mut Ctx<'_>) -> anyhow::Result<ExitCode> {
        let client = ctx.client()?;
        let id = resolve(&client, Kind::Job, &self.id)?;
        let what = || format!("reading the versions of job {id:?}");
        let versions = client
            .get(&format!("/v1/job/{}/versions", enc(&id)))
            .with_context(what)?;
        let shown: Vec<Value> = match self.version {
            Some(v) => vec![
                find_version(&versions, v)
                    .ok_or_else(|| anyhow!("no version {v}"))
                    .with_context(what)?,
            ],
            None => versions.arr_at("Versions").to_vec(),
        };
        if self.json {
            ctx.ui.out(serde_json::to_string_pretty(&shown)?);
        } else {
            ctx.ui.outs(render_history(&shown));
        }
        Ok(ExitCode::SUCCESS)
    }
}

/// One `Version / Stable / Submit Date` block per version, newest first.
pub(crate) fn render_history(versions: &[Value]) -> Vec<String> {
    let mut sorted: Vec<&Value> = versions.iter().collect();
    sorted.sort_by_key(|j| std::cmp::Reverse(j.u64_at("Version")));
    let mut lines = Vec::new();
    for (i, job) in sorted.into_iter().enumerate() {
        if i > 0 {
            lines.push(String::new());
        }
        lines.extend(kv(&[
            ("Version", job.u64_at("Version").to_string()),
            ("Stable", job.bool_at("Stable").to_string()),
            ("Submit Date", rfc3339_or_na(job.i64_at("SubmitTime"))),
        ]));
    }
    lines
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn newest_version_first() {
        let versions = [
            json!({"Version": 0, "Stable": true, "SubmitTime": 1_714_557_600_000_000_000i64}),
            json!({"Version": 1, "Stable": false, "SubmitTime": 1_714_557_660_000_000_000i64}),
        ];
        assert_eq!(
            render_history(&versions),
            [
                "Version     = 1",
                "Stable      = false",
                "Submit Date = 2024-05-01T10:01:00Z",
                "",
                "Version     = 0",
                "Stable      = true",
                "Submit Date = 2024-05-01T10:00:00Z",
            ]
        );
    }
}
