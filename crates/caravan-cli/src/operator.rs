//! `caravan operator raft list-peers`: the Raft peers, from
//! `/v1/operator/raft/configuration`, or where an agent lacks it, from
//! `/v1/status/peers` and `/v1/status/leader`; `operator raft remove-peer`;
//! `operator snapshot save|restore`.

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
    /// Save or restore the servers' whole state.
    #[command(subcommand)]
    Snapshot(SnapshotCommand),
}

#[derive(Debug, clap::Subcommand)]
pub(crate) enum SnapshotCommand {
    /// Write the state to a file.
    Save {
        /// The file to write.
        file: std::path::PathBuf,
    },
    /// Replace the state on every server with a saved one.
    Restore {
        /// The file to read.
        file: std::path::PathBuf,
    },
}

/// The largest snapshot read back from an agent.
const MAX_SNAPSHOT: u64 = 1024 * 1024 * 1024;

#[derive(Debug, clap::Subcommand)]
pub(crate) enum RaftCommand {
    /// List the Raft peers and which one leads.
    #[command(name = "list-peers")]
    ListPeers,
    /// Remove a server from the Raft configuration.
    #[command(name = "remove-peer")]
    RemovePeer {
        /// The server's RPC address (`ip:port`).
        #[arg(long = "peer-address")]
        peer_address: Option<String>,
        /// The server's Raft id.
        #[arg(long = "peer-id")]
        peer_id: Option<String>,
    },
}

impl OperatorCommand {
    pub(crate) fn run(self, ctx: &mut Ctx<'_>) -> anyhow::Result<ExitCode> {
        match self {
            OperatorCommand::Raft(RaftCommand::ListPeers) => list_peers(ctx),
            OperatorCommand::Raft(RaftCommand::RemovePeer {
                peer_address,
                peer_id,
            }) => remove_peer(ctx, peer_address, peer_id),
            OperatorCommand::Snapshot(SnapshotCommand::Save { file }) => save_snapshot(ctx, &file),
            OperatorCommand::Snapshot(SnapshotCommand::Restore { file }) => {
                restore_snapshot(ctx, &file)
            }
        }
    }
}

fn remove_peer(
    ctx: &mut Ctx<'_>,
    address: Option<String>,
    id: Option<String>,
) -> anyhow::Result<ExitCode> {
    let path = match (address, id) {
        (Some(a), None) => crate::client::with_param("/v1/operator/raft/peer", "address", &a),
        (None, Some(i)) => crate::client::with_param("/v1/operator/raft/peer", "id", &i),
        _ => anyhow::bail!("give exactly one of -peer-address and -peer-id"),
    };
    ctx.client()?
        .delete(&path)
        .context("removing the Raft peer")?;
    ctx.ui.out("Removed peer");
    Ok(ExitCode::SUCCESS)
}

fn save_snapshot(ctx: &mut Ctx<'_>, file: &std::path::Path) -> anyhow::Result<ExitCode> {
    let bytes = ctx
        .client()?
        .get_bytes("/v1/operator/snapshot", MAX_SNAPSHOT)
        .context("reading the snapshot")?;
    let tmp = file.with_extension("tmp");
    std::fs::write(&tmp, &bytes)
        .and_then(|()| std::fs::rename(&tmp, file))
        .with_context(|| format!("writing {}", file.display()))?;
    ctx.ui.out(format!(
        "State file written to {} ({} bytes)",
        file.display(),
        bytes.len()
    ));
    Ok(ExitCode::SUCCESS)
}

fn restore_snapshot(ctx: &mut Ctx<'_>, file: &std::path::Path) -> anyhow::Result<ExitCode> {
    let bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    let answer = ctx
        .client()?
        .put_bytes("/v1/operator/snapshot", &bytes)
        .context("restoring the snapshot")?;
    ctx.ui.out(format!(
        "Snapshot restored at index {}",
        answer.get("Index").and_then(Value::as_u64).unwrap_or(0)
    ));
    Ok(ExitCode::SUCCESS)
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
