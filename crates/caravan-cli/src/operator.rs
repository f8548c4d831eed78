//! `caravan operator raft list-peers`: the Raft peers, from
//! `/v1/operator/raft/configuration`, or where an agent lacks it, from
//! `/v1/status/peers` and `/v1/status/leader`.

use std::process::ExitCode;

use anyhow::Context;
use serde_json::Value;

use crate::fields::Fields;
use crate::table::Table;
use crate::ui::Ctx;

#[derive(Debug, clap::Subcommand)]
pub(crate) enum OperatorCommand {
    /// Raft: the servers' consensus group.
    #[command(subcommand)]
    Raft(RaftCommand),
}

#[derive(Debug, clap::Subcommand)]
pub(crate) enum RaftCommand {
    /// List the Raft peers and which one leads.
    #[command(name = "list-peers")]
    ListPeers,
}

impl OperatorCommand {
    pub(crate) fn run(self, ctx: &mut Ctx<'_>) -> anyhow::Result<ExitCode> {
        match self {
            OperatorCommand::Raft(RaftCommand::ListPeers) => list_peers(ctx),
        }
    }
}

fn list_peers(ctx: &mut Ctx<'_>) -> anyhow::Result<ExitCode> {
    let client = ctx.client()?;
    match client.get("/v1/operator/raft/configuration") {
        Ok(config) => {
            ctx.ui.outs(configuration_table(&config));
            return Ok(ExitCode::SUCCESS);
        }
        Err(e) if matches!(e.status(), Some(404 | 405 | 501)) => {}
        Err(e) => return Err(e).context("reading the Raft configuration"),
    }
    let peers = client
        .get("/v1/status/peers")
        .context("listing Raft peers")?;
    let leader = client
        .get("/v1/status/leader")
        .context("finding the Raft leader")?;
    let members = client.get("/v1/agent/members").ok();
    ctx.ui.outs(peers_table(
        &peers,
        leader.as_str().unwrap_or_default(),
        members.as_ref(),
    ));
    Ok(ExitCode::SUCCESS)
}

/// `Node  ID  Address  State  Voter  RaftProtocol` from `{"Servers": [...]}`.
pub(crate) fn configuration_table(config: &Value) -> Vec<String> {
    let mut t = Table::new(&["Node", "ID", "Address", "State", "Voter", "RaftProtocol"]);
    for s in config.arr_at("Servers") {
        t.row([
            s.str_at("Node").to_owned(),
            s.str_at("ID").to_owned(),
            s.str_at("Address").to_owned(),
            if s.bool_at("Leader") {
                "leader"
            } else {
                "follower"
            }
            .to_owned(),
            s.bool_at("Voter").to_string(),
            s.str_at("RaftProtocol").to_owned(),
        ]);
    }
    t.lines()
}

/// The same table from the peer addresses alone; node names come from the members
/// list when its addresses match, and the address stands in for the id.
pub(crate) fn peers_table(peers: &Value, leader: &str, members: Option<&Value>) -> Vec<String> {
    let members = members.map(|m| m.arr_at("Members")).unwrap_or_default();
    let mut t = Table::new(&["Node", "ID", "Address", "State", "Voter"]);
    for peer in peers.as_array().map(Vec::as_slice).unwrap_or_default() {
        let addr = peer.as_str().unwrap_or_default();
        let host = addr.rsplit_once(':').map_or(addr, |(h, _)| h);
        let name = members
            .iter()
            .find(|m| m.str_at("Addr") == host)
            .map_or_else(|| host.to_owned(), |m| m.str_at("Name").to_owned());
        let state = if addr == leader { "leader" } else { "follower" };
        t.row([
            name,
            addr.to_owned(),
            addr.to_owned(),
            state.to_owned(),
            "true".to_owned(),
        ]);
    }
    t.lines()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn tables_from_configuration_and_peers() {
        let config = json!({"Servers": [{"Node": "dev.global", "ID": "abc", "Address": "127.0.0.1:4647",
                                         "Leader": true, "Voter": true, "RaftProtocol": "3"}]});
        assert_eq!(
            configuration_table(&config),
            [
                "Node        ID   Address         State   Voter  RaftProtocol",
                "dev.global  abc  127.0.0.1:4647  leader  true   3",
            ]
        );
        let peers = json!(["127.0.0.1:4647", "127.0.0.2:4647"]);
        let members = json!({"Members": [{"Name": "dev.global", "Addr": "127.0.0.1"}]});
        assert_eq!(
            peers_table(&peers, "127.0.0.1:4647", Some(&members)),
            [
                "Node        ID              Address         State     Voter",
                "dev.global  127.0.0.1:4647  127.0.0.1:4647  leader    true",
                "127.0.0.2   127.0.0.2:4647  127.0.0.2:4647  follower  true",
            ]
        );
    }
}
