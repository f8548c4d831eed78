//! `caravan node ...`: status, drain, eligibility.

mod ctl;
mod status;

use std::process::ExitCode;

use anyhow::{Context, anyhow, bail};

use crate::client::Client;
use crate::fields::Fields;
use crate::prefix::{Kind, resolve};
use crate::ui::Ctx;

#[derive(Debug, clap::Subcommand)]
pub(crate) enum NodeCommand {
    /// List client nodes, or show one node with its resources and allocations.
    Status(status::StatusArgs),
    /// Start or stop moving allocations off a node.
    Drain(ctl::DrainArgs),
    /// Allow or forbid placing new allocations on a node.
    Eligibility(ctl::EligibilityArgs),
}

impl NodeCommand {
    pub(crate) fn run(self, ctx: &mut Ctx<'_>) -> anyhow::Result<ExitCode> {
        match self {
            NodeCommand::Status(args) => args.run(ctx),
            NodeCommand::Drain(args) => args.run(ctx),
            NodeCommand::Eligibility(args) => args.run(ctx),
        }
    }
}

/// The node an id prefix names, or with `self_`, the node of the agent the CLI talks to.
pub(crate) fn node_id(
    client: &Client,
    prefix: Option<&str>,
    self_: bool,
) -> anyhow::Result<String> {
    match (prefix, self_) {
        (Some(_), true) => bail!("give a node id or -self, not both"),
        (Some(prefix), false) => resolve(client, Kind::Node, prefix),
        (None, true) => {
            let agent = client
                .get("/v1/agent/self")
                .context("asking the agent for its node")?;
            let id = agent["stats"]["client"].str_at("node_id");
            if id.is_empty() {
                Err(anyhow!("the agent at {} runs no client", client.address()))
                    .context("finding the local node")
            } else {
                Ok(id.to_owned())
            }
        }
        (None, false) => bail!("give a node id, or -self for the agent's own node"),
    }
}
