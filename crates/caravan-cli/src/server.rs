//! `caravan server members`: the servers of the region, from `/v1/agent/members`.

use std::process::ExitCode;

use anyhow::Context;
use serde_json::Value;

use crate::fields::Fields;
use crate::table::Table;
use crate::ui::Ctx;

#[derive(Debug, clap::Subcommand)]
pub(crate) enum ServerCommand {
    /// List the servers the agent knows, and which one leads.
    Members(MembersArgs),
}

impl ServerCommand {
    pub(crate) fn run(self, ctx: &mut Ctx<'_>) -> anyhow::Result<ExitCode> {
        match self {
            ServerCommand::Members(args) => args.run(ctx),
        }
    }
}

#[derive(Debug, clap::Args)]
pub(crate) struct MembersArgs {
    /// Print the agent's JSON.
    #[arg(long)]
    json: bool,
}

impl MembersArgs {
    fn run(self, ctx: &mut Ctx<'_>) -> anyhow::Result<ExitCode> {
        let client = ctx.client()?;
        let members = client
            .get("/v1/agent/members")
            .context("listing server members")?;
        if self.json {
            ctx.ui.out(serde_json::to_string_pretty(&members)?);
            return Ok(ExitCode::SUCCESS);
        }
        // Without a leader the table still shows; "Leader" is then false everywhere.
        let leader = client.get("/v1/status/leader").ok();
        let leader = leader.as_ref().and_then(Value::as_str).unwrap_or_default();
        ctx.ui.outs(members_table(&members, leader));
        Ok(ExitCode::SUCCESS)
    }
}

/// The members list (`{"Members": [...]}`, or a bare array) as a table.
pub(crate) fn members_table(members: &Value, leader: &str) -> Vec<String> {
    let list = match members {
        Value::Array(list) => list.as_slice(),
        other => other.arr_at("Members"),
    };
    let mut sorted: Vec<&Value> = list.iter().collect();
    sorted.sort_by(|a, b| a.str_at("Name").cmp(b.str_at("Name")));
    let mut t = Table::new(&[
        "Name",
        "Address",
        "Port",
        "Status",
        "Leader",
        "Raft Version",
        "Build",
        "Datacenter",
        "Region",
    ]);
    for m in sorted {
        let tags = &m["Tags"];
        let addr = m.str_at("Addr");
        let rpc = format!("{addr}:{}", tags.str_at("port"));
        let is_leader = !leader.is_empty()
            && (leader == rpc
                || (tags.str_at("port").is_empty() && leader.starts_with(&format!("{addr}:"))));
        t.row([
            m.str_at("Name").to_owned(),
            addr.to_owned(),
            m.u64_at("Port").to_string(),
            m.str_at("Status").to_owned(),
            is_leader.to_string(),
            tags.str_at("raft_vsn").to_owned(),
            tags.str_at("build").to_owned(),
            tags.str_at("dc").to_owned(),
            tags.str_at("region").to_owned(),
        ]);
    }
    t.lines()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn marks_the_leader() {
        let members = json!({"ServerName": "dev", "Members": [
            {"Name": "dev.global", "Addr": "127.0.0.1", "Port": 4648, "Status": "alive",
             "Tags": {"port": "4647", "raft_vsn": "3", "build": "0.1.0", "dc": "dc1", "region": "global"}}]});
        assert_eq!(
            members_table(&members, "127.0.0.1:4647"),
            [
                "Name        Address    Port  Status  Leader  Raft Version  Build  Datacenter  Region",
                "dev.global  127.0.0.1  4648  alive   true    3             0.1.0  dc1         global",
            ]
        );
        assert!(members_table(&members, "")[1].contains("alive   false"));
    }
}
