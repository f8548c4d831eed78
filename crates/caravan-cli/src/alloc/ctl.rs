//! `caravan alloc stop|restart|signal`: act on a placed allocation.

use std::process::ExitCode;

use anyhow::{Context, anyhow};
use serde_json::{Value, json};

use super::{alloc_tasks, choose_task};
use crate::client::Client;
use crate::fields::{Fields, enc};
use crate::monitor::monitor;
use crate::prefix::{Kind, resolve};
use crate::ui::Ctx;

#[derive(Debug, clap::Args)]
pub(crate) struct StopArgs {
    /// Print the evaluation's id and return instead of following it.
    #[arg(long)]
    detach: bool,
    /// The allocation's id, or a unique prefix of it.
    #[arg(value_name = "ID")]
    id: String,
}

impl StopArgs {
    pub(crate) fn run(self, ctx: &mut Ctx<'_>) -> anyhow::Result<ExitCode> {
        let client = ctx.client()?;
        let id = resolve(&client, Kind::Alloc, &self.id)?;
        let resp = client
            .post(&format!("/v1/allocation/{}/stop", enc(&id)), &json!({}))
            .with_context(|| format!("stopping allocation {id:?}"))?;
        let eval_id = resp.str_at("EvalID");
        if self.detach || eval_id.is_empty() {
            ctx.ui.out(eval_id);
            return Ok(ExitCode::SUCCESS);
        }
        monitor(&client, &mut ctx.ui, eval_id)
    }
}

#[derive(Debug, clap::Args)]
pub(crate) struct RestartArgs {
    /// Restart every task, including ones that have finished (prestart, poststop).
    #[arg(long = "all-tasks", conflicts_with_all = ["task", "task_flag"])]
    all_tasks: bool,
    /// The task (same as the TASK argument).
    #[arg(long = "task", value_name = "TASK")]
    task_flag: Option<String>,
    /// The allocation's id, or a unique prefix of it.
    #[arg(value_name = "ID")]
    id: String,
    /// Restart only this task (default: every running task).
    #[arg(value_name = "TASK")]
    task: Option<String>,
}

impl RestartArgs {
    pub(crate) fn run(self, ctx: &mut Ctx<'_>) -> anyhow::Result<ExitCode> {
        let client = ctx.client()?;
        let id = resolve(&client, Kind::Alloc, &self.id)?;
        let what = || format!("restarting allocation {id:?}");
        let task = checked_task(
            &client,
            &id,
            self.task.as_deref().or(self.task_flag.as_deref()),
        )
        .with_context(what)?;
        let body = json!({ "TaskName": task.unwrap_or_default(), "AllTasks": self.all_tasks });
        client
            .post(
                &format!("/v1/client/allocation/{}/restart", enc(&id)),
                &body,
            )
            .with_context(what)?;
        Ok(ExitCode::SUCCESS)
    }
}

#[derive(Debug, clap::Args)]
pub(crate) struct SignalArgs {
    /// The signal to send (SIGHUP, HUP, ...).
    #[arg(short = 's', value_name = "SIGNAL", default_value = "SIGKILL")]
    signal: String,
    /// The task (same as the TASK argument).
    #[arg(long = "task", value_name = "TASK")]
    task_flag: Option<String>,
    /// The allocation's id, or a unique prefix of it.
    #[arg(value_name = "ID")]
    id: String,
    /// Signal only this task (default: every task).
    #[arg(value_name = "TASK")]
    task: Option<String>,
}

impl SignalArgs {
    pub(crate) fn run(self, ctx: &mut Ctx<'_>) -> anyhow::Result<ExitCode> {
        let client = ctx.client()?;
        let id = resolve(&client, Kind::Alloc, &self.id)?;
        let what = || format!("signalling allocation {id:?}");
        let task = checked_task(
            &client,
            &id,
            self.task.as_deref().or(self.task_flag.as_deref()),
        )
        .with_context(what)?;
        let body = json!({ "Task": task.unwrap_or_default(), "Signal": signal_name(&self.signal) });
        client
            .post(&format!("/v1/client/allocation/{}/signal", enc(&id)), &body)
            .with_context(what)?;
        Ok(ExitCode::SUCCESS)
    }
}

/// Checks that a named task exists before asking the agent (for a clear message).
fn checked_task(client: &Client, id: &str, asked: Option<&str>) -> anyhow::Result<Option<String>> {
    let Some(asked) = asked else {
        return Ok(None);
    };
    let alloc: Value = client.get(&format!("/v1/allocation/{}", enc(id)))?;
    choose_task(id, &alloc_tasks(&alloc), Some(asked), "")
        .map(Some)
        .map_err(|e| anyhow!(e))
}

/// `hup` and `HUP` as `SIGHUP`.
pub(crate) fn signal_name(s: &str) -> String {
    let upper = s.trim().to_ascii_uppercase();
    if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signal_names() {
        assert_eq!(signal_name("hup"), "SIGHUP");
        assert_eq!(signal_name("SIGTERM"), "SIGTERM");
        assert_eq!(signal_name(" usr1 "), "SIGUSR1");
    }
}
