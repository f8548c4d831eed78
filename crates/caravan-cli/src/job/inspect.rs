//! `caravan job inspect ID`: the job as the agent stores it, as `{"Job": ...}` JSON that
//! `PUT /v1/jobs` takes back.

use std::process::ExitCode;

use anyhow::{Context, anyhow};
use serde_json::{Value, json};

use crate::fields::{Fields, enc};
use crate::prefix::{Kind, resolve};
use crate::ui::Ctx;

#[derive(Debug, clap::Args)]
pub(crate) struct InspectArgs {
    /// Show this version of the job instead of the latest.
    #[arg(long, value_name = "N")]
    version: Option<u64>,
    /// The job's id, or a unique prefix of it.
    #[arg(value_name = "ID")]
    id: String,
}

impl InspectArgs {
    pub(crate) fn run(self, ctx: &mut Ctx<'_>) -> anyhow::Result<ExitCode> {
        let client = ctx.client()?;
        let id = resolve(&client, Kind::Job, &self.id)?;
        let what = || format!("inspecting job {id:?}");
        let job = match self.version {
            None => client
                .get(&format!("/v1/job/{}", enc(&id)))
                .with_context(what)?,
            Some(v) => {
                let versions = client
                    .get(&format!("/v1/job/{}/versions", enc(&id)))
                    .with_context(what)?;
                find_version(&versions, v)
                    .ok_or_else(|| anyhow!("job {id:?} has no version {v}"))
                    .with_context(what)?
            }
        };
        ctx.ui
            .out(serde_json::to_string_pretty(&json!({ "Job": job }))?);
        Ok(ExitCode::SUCCESS)
    }
}

/// One version from `/v1/job/:id/versions` (`{"Versions": [...]}`).
pub(crate) fn find_version(versions: &Value, version: u64) -> Option<Value> {
    versions
        .arr_at("Versions")
        .iter()
        .find(|j| j.u64_at("Version") == version)
        .cloned()
}
