//! `caravan agent-info`: the agent's statistics from `/v1/agent/self`, one section per
//! subsystem.

use std::process::ExitCode;

use anyhow::Context;
use serde_json::Value;

use crate::table::kv;
use crate::ui::Ctx;

#[derive(Debug, clap::Args)]
pub(crate) struct AgentInfoArgs {
    /// Print the agent's JSON.
    #[arg(long)]
    json: bool,
}

impl AgentInfoArgs {
    pub(crate) fn run(self, ctx: &mut Ctx<'_>) -> anyhow::Result<ExitCode> {
        let client = ctx.client()?;
        let info = client
            .get("/v1/agent/self")
            .context("querying agent info")?;
        if self.json {
            ctx.ui.out(serde_json::to_string_pretty(&info)?);
        } else {
            ctx.ui.outs(render_stats(&info["stats"]));
        }
        Ok(ExitCode::SUCCESS)
    }
}

/// `section` then `  key = value` lines, sections and keys sorted.
pub(crate) fn render_stats(stats: &Value) -> Vec<String> {
    let Some(sections) = stats.as_object() else {
        return Vec::new();
    };
    let mut names: Vec<&String> = sections.keys().collect();
    names.sort();
    let mut lines = Vec::new();
    for name in names {
        lines.push(name.clone());
        let Some(entries) = sections[name.as_str()].as_object() else {
            continue;
        };
        let mut pairs: Vec<(&str, String)> = entries
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str(),
                    v.as_str().map_or_else(|| v.to_string(), str::to_owned),
                )
            })
            .collect();
        pairs.sort_by(|a, b| a.0.cmp(b.0));
        lines.extend(kv(&pairs).into_iter().map(|l| format!("  {l}")));
    }
    lines
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn sections_and_keys_sorted() {
        let stats = json!({"nomad": {"leader": "true", "bootstrap": "false"}, "client": {"node_id": "n1", "known_servers": 1}});
        assert_eq!(
            render_stats(&stats),
            [
                "client",
                "  known_servers = 1",
                "  node_id       = n1",
                "nomad",
                "  bootstrap = false",
                "  leader    = true"
            ]
        );
    }
}
