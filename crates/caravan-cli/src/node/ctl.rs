//! `caravan node drain` and `caravan node eligibility`.

use std::process::ExitCode;

use anyhow::{Context, bail};
use serde_json::{Value, json};

use super::node_id;
use crate::fields::enc;
use crate::timefmt::parse_duration;
use crate::ui::Ctx;

/// Nomad's default drain deadline.
const DEFAULT_DEADLINE: &str = "1h";

#[derive(Debug, clap::Args)]
pub(crate) struct DrainArgs {
    /// Start draining.
    #[arg(long, conflicts_with = "disable", required_unless_present = "disable")]
    enable: bool,
    /// Stop draining.
    #[arg(long)]
    disable: bool,
    /// How long allocations may take to move before they are stopped (e.g. 30m).
    #[arg(long, value_name = "DURATION", conflicts_with_all = ["force", "no_deadline"])]
    deadline: Option<String>,
    /// Stop every allocation at once.
    #[arg(long, conflicts_with = "no_deadline")]
    force: bool,
    /// Wait as long as it takes for allocations to move.
    #[arg(long = "no-deadline")]
    no_deadline: bool,
    /// Leave system jobs' allocations in place.
    #[arg(long = "ignore-system")]
    ignore_system: bool,
    /// With -disable, keep the node ineligible for new allocations.
    #[arg(long = "keep-ineligible")]
    keep_ineligible: bool,
    /// Return once the drain is set (the only behaviour at present).
    #[arg(long)]
    detach: bool,
    /// Do not ask for confirmation (never asks).
    #[arg(long)]
    yes: bool,
    /// Act on the agent's own node.
    #[arg(long = "self")]
    self_: bool,
    /// The node's id, or a unique prefix of it.
    #[arg(value_name = "ID")]
    id: Option<String>,
}

impl DrainArgs {
    pub(crate) fn run(self, ctx: &mut Ctx<'_>) -> anyhow::Result<ExitCode> {
        let client = ctx.client()?;
        let id = node_id(&client, self.id.as_deref(), self.self_)?;
        let body = drain_body(&id, &self).context("setting the drain")?;
        client
            .post(&format!("/v1/node/{}/drain", enc(&id)), &body)
            .with_context(|| format!("updating the drain of node {id:?}"))?;
        let verb = if self.enable { "set" } else { "unset" };
        ctx.ui.out(format!("Node {id:?} drain strategy {verb}"));
        Ok(ExitCode::SUCCESS)
    }
}

fn drain_body(id: &str, args: &DrainArgs) -> anyhow::Result<Value> {
    if !args.enable {
        return Ok(
            json!({ "NodeID": id, "DrainSpec": null, "MarkEligible": !args.keep_ineligible }),
        );
    }
    let deadline = if args.force {
        -1
    } else if args.no_deadline {
        0
    } else {
        let text = args.deadline.as_deref().unwrap_or(DEFAULT_DEADLINE);
        match parse_duration(text) {
            Some(ns) if ns > 0 => ns,
            _ => bail!("-deadline {text:?} is not a positive duration such as 30m or 1h"),
        }
    };
    Ok(json!({
        "NodeID": id,
        "DrainSpec": { "Deadline": deadline, "IgnoreSystemJobs": args.ignore_system },
        "MarkEligible": false,
    }))
}

#[derive(Debug, clap::Args)]
pub(crate) struct EligibilityArgs {
    /// Let the scheduler place allocations on the node.
    #[arg(long, conflicts_with = "disable", required_unless_present = "disable")]
    enable: bool,
    /// Keep new allocations off the node (running ones stay).
    #[arg(long)]
    disable: bool,
    /// Act on the agent's own node.
    #[arg(long = "self")]
    self_: bool,
    /// The node's id, or a unique prefix of it.
    #[arg(value_name = "ID")]
    id: Option<String>,
}

impl EligibilityArgs {
    pub(crate) fn run(self, ctx: &mut Ctx<'_>) -> anyhow::Result<ExitCode> {
        let client = ctx.client()?;
        let id = node_id(&client, self.id.as_deref(), self.self_)?;
        let eligibility = if self.enable {
            "eligible"
        } else {
            "ineligible"
        };
        client
            .post(
                &format!("/v1/node/{}/eligibility", enc(&id)),
                &json!({ "NodeID": id, "Eligibility": eligibility }),
            )
            .with_context(|| format!("updating the eligibility of node {id:?}"))?;
        ctx.ui.out(format!(
            "Node {id:?} scheduling eligibility set: {eligibility} for scheduling"
        ));
        Ok(ExitCode::SUCCESS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(enable: bool) -> DrainArgs {
        DrainArgs {
            enable,
            disable: !enable,
            deadline: None,
            force: false,
            no_deadline: false,
            ignore_system: false,
            keep_ineligible: false,
            detach: false,
            yes: false,
            self_: false,
            id: None,
        }
    }

    #[test]
    fn drain_bodies() {
        let body = drain_body("n1", &args(true)).expect("enable");
        assert_eq!(body["DrainSpec"]["Deadline"], json!(3_600_000_000_000i64));
        let mut a = args(true);
        a.force = true;
        assert_eq!(
            drain_body("n1", &a).expect("force")["DrainSpec"]["Deadline"],
            json!(-1)
        );
        a.force = false;
        a.deadline = Some("soon".into());
        assert!(drain_body("n1", &a).is_err());
        let body = drain_body("n1", &args(false)).expect("disable");
        assert_eq!(
            body,
            json!({"NodeID": "n1", "DrainSpec": null, "MarkEligible": true})
        );
    }
}
