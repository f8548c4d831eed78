//! Writes per second through in-process Raft clusters: an in-memory transport (messages
//! go through serde_json as on a wire) and real redb stores (appends group-committed, an
//! fsync per group), in temp dirs. One server and three, with 1 and with 32 concurrent
//! writers of KvSet commands; for each server, how many log entries each fsync carried.
//! Run: `cargo run --release -p caravan-raft --example bench_raft`.

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::Instant;

use common::{Cluster, kv_set};

/// Writes per writer count, chosen so a run takes seconds, not minutes.
const WRITES: usize = 2_000;

async fn run(servers: u64, writers: usize) -> (f64, String) {
    let mut cluster = Cluster::start(servers, 10_000).await;
    let ids: Vec<u64> = (1..=servers).collect();
    let leader = cluster.wait_leader(&ids).await;
    let raft = cluster.node(leader).raft.clone();
    // Warm up: the first writes pay for table creation and caches.
    for i in 0..20 {
        raft.write(kv_set(&format!("warm{i}"), "x"))
            .await
            .expect("write");
    }
    let per_writer = WRITES / writers;
    let before: Vec<_> = ids
        .iter()
        .map(|id| cluster.node(*id).raft.log_flush_stats())
        .collect();
    let started = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..writers {
        let raft = raft.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..per_writer {
                raft.write(kv_set(&format!("w{w}/k{i}"), "value"))
                    .await
                    .expect("write");
            }
        }));
    }
    for task in tasks {
        task.await.expect("writer");
    }
    let rate = (per_writer * writers) as f64 / started.elapsed().as_secs_f64();
    let mut grouping = Vec::new();
    for (id, before) in ids.iter().zip(before) {
        let after = cluster.node(*id).raft.log_flush_stats();
        let (flushes, entries) = (
            after.flushes - before.flushes,
            after.entries - before.entries,
        );
        let role = if *id == leader { "leader" } else { "follower" };
        grouping.push(format!(
            "{role} {flushes} fsyncs, {:.1} entries each",
            entries as f64 / flushes.max(1) as f64
        ));
    }
    cluster.stop_all().await;
    (rate, grouping.join("; "))
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    println!("caravan-raft: acknowledged KvSet writes per second ({WRITES} per run)");
    for servers in [1, 3] {
        for writers in [1, 32] {
            let (rate, grouping) = run(servers, writers).await;
            println!(
                "  {servers} server(s), {writers:>2} writer(s): {rate:>8.0} writes/s ({grouping})"
            );
        }
    }
}
