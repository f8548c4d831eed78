//! How servers find each other: `bootstrap_expect` and `server_join { retry_join }`.
//!
//! A server with Raft state on disk is already a member and does nothing here. A new
//! one asks every `retry_join` address who it is; when one of them belongs to a
//! cluster, it asks that cluster's leader to add it; when none does and it has seen
//! `bootstrap_expect` servers (itself included), the one with the lowest Raft id
//! creates the cluster with all of them, and the others become members when the new
//! leader reaches them.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use caravan_raft::{Raft, RaftId};
use caravan_rpc::RpcClient;

use super::rpc_api::{JOIN_METHOD, JoinRequest, PEER_METHOD, PeerStatus};

/// What a server needs to join or create its cluster.
#[derive(Debug, Clone)]
pub(crate) struct JoinPlan {
    pub id: RaftId,
    pub addr: String,
    pub bootstrap_expect: u32,
    /// `host[:port]` entries; a name may resolve to several servers.
    pub retry_join: Vec<String>,
    pub retry_interval: Duration,
    /// 0: try forever.
    pub retry_max: u32,
}

/// Server names by RPC address, learned while joining (for `operator raft list-peers`).
pub(crate) type PeerNames = Arc<Mutex<BTreeMap<String, String>>>;

/// The default RPC port of a `retry_join` entry without one.
const RPC_PORT: u16 = 4647;
const ASK_TIMEOUT: Duration = Duration::from_secs(2);

pub(crate) async fn run(raft: Raft, rpc: RpcClient, plan: JoinPlan, names: PeerNames) {
    join(&raft, &rpc, &plan, &names).await;
    learn_names(&raft, &rpc, &names).await;
}

/// Asks each member whose name is not known yet for it, now and then (servers that
/// joined after this one, or before it restarted).
async fn learn_names(raft: &Raft, rpc: &RpcClient, names: &PeerNames) {
    loop {
        let unknown: Vec<String> = {
            let known = names.lock().unwrap_or_else(|e| e.into_inner());
            raft.members()
                .into_iter()
                .map(|m| m.addr)
                .filter(|addr| !known.contains_key(addr))
                .collect()
        };
        for addr in unknown {
            if let Ok(peer) = rpc
                .call_typed::<_, PeerStatus>(&addr, PEER_METHOD, &(), ASK_TIMEOUT)
                .await
            {
                names
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(addr, peer.name);
            }
        }
        tokio::time::sleep(Duration::from_secs(5)).await;
    }
}

async fn join(raft: &Raft, rpc: &RpcClient, plan: &JoinPlan, names: &PeerNames) {
    if raft.is_initialized() {
        tracing::info!("raft state found on disk: rejoining the cluster as a member");
        return;
    }
    if plan.bootstrap_expect <= 1 && plan.retry_join.is_empty() {
        bootstrap(raft, BTreeMap::from([(plan.id, plan.addr.clone())])).await;
        return;
    }
    let mut attempts = 0u32;
    loop {
        if raft.is_initialized() {
            tracing::info!("joined the cluster");
            return;
        }
        let mut seen = BTreeMap::from([(plan.id, plan.addr.clone())]);
        let mut leader = None;
        for target in resolve(&plan.retry_join).await {
            if target == plan.addr {
                continue;
            }
            match rpc
                .call_typed::<_, PeerStatus>(&target, PEER_METHOD, &(), ASK_TIMEOUT)
                .await
            {
                Ok(peer) => {
                    names
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .insert(peer.addr.clone(), peer.name.clone());
                    if peer.initialized {
                        leader = leader.or(peer.leader);
                    } else {
                        seen.insert(peer.id, peer.addr);
                    }
                }
                Err(e) => tracing::debug!(server = %target, error = %e, "no answer while joining"),
            }
        }
        if let Some(leader) = leader {
            let req = JoinRequest {
                id: plan.id,
                addr: plan.addr.clone(),
            };
            match rpc
                .call_typed::<_, ()>(&leader, JOIN_METHOD, &req, Duration::from_secs(30))
                .await
            {
                Ok(()) => tracing::info!(leader = %leader, "asked the leader to add this server"),
                Err(e) => {
                    tracing::warn!(leader = %leader, error = %e, "could not join the cluster yet")
                }
            }
        } else if seen.len() >= plan.bootstrap_expect as usize
            && seen.keys().next() == Some(&plan.id)
        {
            bootstrap(raft, seen).await;
        } else {
            tracing::info!(
                seen = seen.len(),
                expect = plan.bootstrap_expect,
                "waiting for servers to bootstrap the cluster"
            );
        }
        attempts += 1;
        if plan.retry_max > 0 && attempts >= plan.retry_max && !raft.is_initialized() {
            tracing::error!(
                attempts,
                "could not join or bootstrap a cluster; giving up (retry_max)"
            );
            return;
        }
        tokio::time::sleep(plan.retry_interval).await;
    }
}

async fn bootstrap(raft: &Raft, members: BTreeMap<RaftId, String>) {
    tracing::info!(servers = members.len(), "bootstrapping the cluster");
    if let Err(e) = raft.bootstrap(members).await {
        tracing::warn!(error = %e, "bootstrap failed");
    }
}

/// Every address of every `host[:port]` entry (a DNS name may give several).
async fn resolve(entries: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    for entry in entries {
        let (host, port) = match super::config::parse_host_port(entry, RPC_PORT) {
            Ok(hp) => hp,
            Err(e) => {
                tracing::warn!(entry = %entry, error = %e, "bad retry_join entry");
                continue;
            }
        };
        match tokio::net::lookup_host((host.as_str(), port)).await {
            Ok(addrs) => out.extend(addrs.map(|a| a.to_string())),
            Err(e) => {
                tracing::debug!(entry = %entry, error = %e, "retry_join entry did not resolve")
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn retry_join_entries_resolve_to_every_address_with_the_default_port() {
        let addrs = resolve(&[
            "127.0.0.1".to_owned(),
            "127.0.0.2:5000".to_owned(),
            "localhost".to_owned(),
            "127.0.0.1:4647".to_owned(),
        ])
        .await;
        assert!(addrs.contains(&"127.0.0.1:4647".to_owned()), "{addrs:?}");
        assert!(addrs.contains(&"127.0.0.2:5000".to_owned()), "{addrs:?}");
        assert_eq!(
            addrs.iter().filter(|a| *a == "127.0.0.1:4647").count(),
            1,
            "a name and an address for one server count once: {addrs:?}"
        );
    }

    #[tokio::test]
    async fn a_bad_entry_is_skipped() {
        assert!(
            resolve(&["[::1".to_owned(), "no.such.host.invalid".to_owned()])
                .await
                .is_empty()
        );
    }
}
