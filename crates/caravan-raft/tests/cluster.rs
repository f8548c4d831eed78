//! Three in-process servers over an in-memory transport, with real redb stores: election,
//! replication, leader failover, partitions, restarts, snapshots, membership and
//! operator restore.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use caravan_raft::WriteError;
use caravan_state::Command;
use common::{Cluster, DEADLINE, addr, kv_set, wait_until};

const ALL: [u64; 3] = [1, 2, 3];

fn others(of: u64, among: &[u64]) -> Vec<u64> {
    among.iter().copied().filter(|id| *id != of).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_servers_elect_a_leader_and_replicate() {
    let cluster = Cluster::start(3, 10_000).await;
    let leader = cluster.wait_leader(&ALL).await;
    let lead = &cluster.node(leader).raft;

    // Membership: three voters with their addresses.
    let members = lead.members();
    assert_eq!(members.len(), 3);
    assert!(members.iter().all(|p| p.voter && p.addr == addr(p.id)));
    assert!(cluster.nodes.values().all(|n| n.raft.is_initialized()));
    assert_eq!(*lead.leader_changes().borrow(), Some(leader));

    // Writes on the leader answer once applied, and apply everywhere.
    for i in 0..10 {
        let outcome = lead
            .write(kv_set(&format!("k{i}"), &format!("v{i}")))
            .await
            .expect("write");
        assert!(outcome.kv_applied);
        assert!(outcome.index > 0);
    }
    assert_eq!(cluster.node(leader).sm.get("k9").as_deref(), Some("v9"));
    cluster.wait_value(&ALL, "k9", Some("v9")).await;
    cluster.wait_value(&ALL, "k0", Some("v0")).await;

    // A follower refuses writes and names the leader.
    let follower = others(leader, &ALL)[0];
    match cluster.node(follower).raft.write(kv_set("x", "y")).await {
        Err(WriteError::NotLeader {
            leader: Some((id, a)),
        }) => {
            assert_eq!((id, a), (leader, addr(leader)));
        }
        other => panic!("expected NotLeader, got {other:?}"),
    }
    assert!(!cluster.node(follower).raft.is_leader());

    // A command the state refuses is committed and answers the refusal.
    let refused = lead
        .write(Command::KvSet {
            key: String::new(),
            value: vec![],
            flags: 0,
            cas: None,
        })
        .await;
    assert!(
        matches!(&refused, Err(WriteError::Apply(m)) if m.contains("key")),
        "{refused:?}"
    );
    assert!(!refused.expect_err("refused").is_retryable());

    // A linearizable read point is at least what was applied.
    let read = lead.read_index().await.expect("read index");
    assert!(read >= 11 && lead.applied_index() >= read);
    assert!(matches!(
        cluster.node(follower).raft.read_index().await,
        Err(WriteError::NotLeader { .. })
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leader_cut_off_another_takes_over_and_nothing_acknowledged_is_lost() {
    let cluster = Cluster::start(3, 10_000).await;
    let first = cluster.wait_leader(&ALL).await;
    let mut changes = cluster.node(first).raft.leader_changes();
    for i in 0..20 {
        cluster
            .write(&ALL, kv_set(&format!("before{i}"), "1"))
            .await;
    }

    // Why: a leader that vanishes must be replaced, and every acknowledged write kept.
    cluster.router.cut(&addr(first));
    let rest = others(first, &ALL);
    let second = cluster.wait_leader(&rest).await;
    assert_ne!(second, first);
    for i in 0..20 {
        cluster
            .write(&rest, kv_set(&format!("after{i}"), "2"))
            .await;
    }
    for id in &rest {
        let sm = &cluster.node(*id).sm;
        for i in 0..20 {
            assert_eq!(
                sm.get(&format!("before{i}")).as_deref(),
                Some("1"),
                "server {id}"
            );
        }
    }
    cluster.wait_value(&rest, "after19", Some("2")).await;

    // Healed, the old leader follows the new one and catches up.
    cluster.router.heal(&addr(first));
    cluster.wait_value(&[first], "after19", Some("2")).await;
    wait_until("the old leader to see the new one", || {
        (cluster.node(first).raft.leader().map(|(l, _)| l) == Some(second)).then_some(())
    })
    .await;
    // Its own watch saw the change.
    tokio::time::timeout(DEADLINE, changes.wait_for(|l| *l == Some(second)))
        .await
        .expect("leader change seen")
        .expect("watch open");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_off_server_cannot_commit_and_catches_up_when_healed() {
    let cluster = Cluster::start(3, 10_000).await;
    let leader = cluster.wait_leader(&ALL).await;
    cluster.write(&ALL, kv_set("a", "1")).await;

    // A cut-off follower misses writes; the majority goes on without it.
    let follower = others(leader, &ALL)[0];
    cluster.router.cut(&addr(follower));
    for i in 0..10 {
        cluster.write(&ALL, kv_set(&format!("f{i}"), "1")).await;
    }
    assert_eq!(cluster.node(follower).sm.get("f9"), None);
    cluster.router.heal(&addr(follower));
    cluster.wait_value(&[follower], "f9", Some("1")).await;

    // A cut-off leader is a minority: what it is asked to write does not commit.
    let leader = cluster.wait_leader(&ALL).await;
    cluster.router.cut(&addr(leader));
    let stranded = cluster.node(leader).raft.clone();
    let pending = tokio::spawn(async move { stranded.write(kv_set("lost", "1")).await });
    let rest = others(leader, &ALL);
    cluster.wait_leader(&rest).await;
    cluster.write(&rest, kv_set("majority", "1")).await;
    // Give the stranded write every chance to (wrongly) commit before healing.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(cluster.node(leader).sm.get("lost"), None);
    cluster.router.heal(&addr(leader));
    cluster.wait_value(&ALL, "majority", Some("1")).await;
    if let Ok(joined) = tokio::time::timeout(DEADLINE, pending).await {
        let result = joined.expect("write task");
        assert!(
            result.is_err(),
            "a minority write was acknowledged: {result:?}"
        );
    }
    for id in ALL {
        assert_eq!(cluster.node(id).sm.get("lost"), None, "server {id}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn all_servers_restart_from_their_data_dirs_with_state_intact() {
    let mut cluster = Cluster::start(3, 10_000).await;
    for i in 0..30 {
        cluster
            .write(&ALL, kv_set(&format!("k{i}"), &i.to_string()))
            .await;
    }
    cluster.wait_value(&ALL, "k29", Some("29")).await;
    cluster.stop_all().await;

    // Why: nothing acknowledged may be lost across a full restart.
    for id in ALL {
        cluster.open(id).await;
    }
    for id in ALL {
        assert!(
            cluster.node(id).raft.is_initialized(),
            "membership kept on disk"
        );
    }
    cluster.wait_leader(&ALL).await;
    cluster.wait_value(&ALL, "k29", Some("29")).await;
    cluster.wait_value(&ALL, "k0", Some("0")).await;
    for id in ALL {
        assert_eq!(cluster.node(id).sm.keys(), 30, "server {id}");
    }
    cluster.write(&ALL, kv_set("k30", "30")).await;
    cluster.wait_value(&ALL, "k30", Some("30")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshots_purge_the_log_and_a_restart_loads_the_snapshot() {
    let mut cluster = Cluster::start(3, 20).await;
    for i in 0..80 {
        cluster
            .write(&ALL, kv_set(&format!("k{i}"), &i.to_string()))
            .await;
    }
    cluster.wait_value(&ALL, "k79", Some("79")).await;
    for id in ALL {
        let raft = &cluster.node(id).raft;
        wait_until(&format!("server {id} to snapshot and purge"), || {
            (raft.snapshot_index().is_some() && raft.purged_index().is_some()).then_some(())
        })
        .await;
    }

    // A restarted server starts from its snapshot (a restore at open), then the log.
    let id = 2;
    cluster.stop(id).await;
    let node = cluster.open(id).await;
    assert!(node.sm.restores() >= 1, "snapshot loaded at open");
    cluster.wait_value(&[id], "k79", Some("79")).await;
    cluster.wait_value(&[id], "k0", Some("0")).await;
    assert_eq!(cluster.node(id).sm.keys(), 80);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_voter_catches_up_through_a_snapshot_and_can_be_removed() {
    let mut cluster = Cluster::start(3, 20).await;
    for i in 0..80 {
        cluster
            .write(&ALL, kv_set(&format!("k{i}"), &i.to_string()))
            .await;
    }
    let leader = cluster.wait_leader(&ALL).await;
    let raft = cluster.node(leader).raft.clone();
    wait_until("the leader to purge its log", || {
        raft.purged_index().filter(|p| *p > 1)
    })
    .await;

    // Server 4 starts empty and unbootstrapped; the leader adds it.
    let new = cluster.open(4).await;
    assert!(!new.raft.is_initialized());
    raft.add_voter(4, addr(4)).await.expect("add voter");
    cluster.wait_value(&[4], "k79", Some("79")).await;
    assert!(
        cluster.node(4).sm.restores() >= 1,
        "caught up through a snapshot"
    );
    assert_eq!(cluster.node(4).sm.keys(), 80);
    let voters: BTreeSet<u64> = raft
        .members()
        .iter()
        .filter(|p| p.voter)
        .map(|p| p.id)
        .collect();
    assert_eq!(voters, BTreeSet::from([1, 2, 3, 4]));
    // Adding it again is a no-op.
    raft.add_voter(4, addr(4)).await.expect("idempotent");

    // The new voter takes part in commits.
    let four = [1, 2, 3, 4];
    cluster.write(&four, kv_set("with4", "1")).await;
    cluster.wait_value(&[4], "with4", Some("1")).await;

    // Removed, it is out of the membership.
    let leader = cluster.wait_leader(&four).await;
    cluster
        .node(leader)
        .raft
        .remove_peer(4)
        .await
        .expect("remove");
    let ids: Vec<u64> = cluster
        .node(leader)
        .raft
        .members()
        .iter()
        .map(|p| p.id)
        .collect();
    assert_eq!(ids, [1, 2, 3]);
    cluster
        .node(leader)
        .raft
        .remove_peer(4)
        .await
        .expect("removing again is a no-op");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_restore_replaces_the_state_on_every_server() {
    let cluster = Cluster::start(3, 10_000).await;
    cluster.write(&ALL, kv_set("a", "1")).await;
    cluster.write(&ALL, kv_set("keep", "yes")).await;
    let leader = cluster.wait_leader(&ALL).await;
    let raft = &cluster.node(leader).raft;
    let saved = raft.save_snapshot().await.expect("save");

    cluster.write(&ALL, kv_set("a", "2")).await;
    cluster.write(&ALL, kv_set("b", "2")).await;
    cluster.wait_value(&ALL, "b", Some("2")).await;

    // Garbage is refused before it reaches the log.
    let bad = raft.restore_snapshot(b"not a snapshot".to_vec()).await;
    assert!(matches!(bad, Err(WriteError::Apply(_))), "{bad:?}");

    // A state from further along than this log is refused too: its indexes would make
    // every later command stale.
    let mut ahead = caravan_state::StateStore::new();
    ahead.apply(1_000_000, kv_set("far", "1")).expect("apply");
    let far = raft.restore_snapshot(ahead.snapshot().encode()).await;
    assert!(
        matches!(&far, Err(WriteError::Apply(m)) if m.contains("1000000")),
        "{far:?}"
    );

    let leader = cluster.wait_leader(&ALL).await;
    let index = cluster
        .node(leader)
        .raft
        .restore_snapshot(saved)
        .await
        .expect("restore");
    assert!(index > 0);
    cluster.wait_value(&ALL, "a", Some("1")).await;
    cluster.wait_value(&ALL, "b", None).await;
    cluster.wait_value(&ALL, "keep", Some("yes")).await;

    // Writes go on after the restore.
    cluster.write(&ALL, kv_set("c", "3")).await;
    cluster.wait_value(&ALL, "c", Some("3")).await;
}
