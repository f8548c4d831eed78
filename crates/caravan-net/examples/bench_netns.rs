//! The cost bridge mode adds to an allocation's start: one allocation's namespace,
//! veth pair, addresses, routes and two port mappings set up, then torn down, 50
//! times on a private bridge (never `caravan0`). Root only.
//!
//! `cargo run --release -p caravan-net --example bench_netns`

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use caravan_model::AllocId;
use caravan_net::{
    AllocNetSpec, BridgeConfig, Ipv4Subnet, LinuxNetOps, NetOps, NetnsTarget, PortMapping,
};

const RUNS: usize = 50;

fn main() {
    if !nix::unistd::geteuid().is_root() {
        println!("bench_netns: skipped (needs root)");
        return;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    if let Err(e) = runtime.block_on(bench()) {
        eprintln!("bench_netns failed: {e}");
        std::process::exit(1);
    }
}

async fn bench() -> Result<(), caravan_net::NetError> {
    let id = std::process::id() % 0x10000;
    let config = BridgeConfig {
        bridge: format!("cvb{id:x}"),
        subnet: Ipv4Subnet::new(Ipv4Addr::new(10, 249, 250, 0), 24)?,
        table: format!("cvb{id:x}"),
        netns_prefix: format!("cvb{id:x}-"),
        ..BridgeConfig::default()
    };
    let state = std::env::temp_dir().join(format!("caravan-net-bench-{id}"));
    let ops = LinuxNetOps::new(config, &state)?;
    // Once per agent start, not per allocation.
    let started = Instant::now();
    ops.ensure_bridge().await?;
    let ensure = started.elapsed();

    let mut setups = Vec::with_capacity(RUNS);
    let mut teardowns = Vec::with_capacity(RUNS);
    let mut result = Ok(());
    for run in 0..RUNS {
        let alloc = AllocId::new(format!("{run:08x}-bench-{id:x}"));
        let spec = AllocNetSpec {
            alloc_id: alloc.clone(),
            netns: NetnsTarget::Create,
            ports: vec![
                PortMapping::new("http", 24000, 8080),
                PortMapping::new("db", 24001, 6379),
            ],
            dns: None,
        };
        let started = Instant::now();
        if let Err(e) = ops.setup(spec).await {
            result = Err(e);
            break;
        }
        setups.push(started.elapsed());
        let started = Instant::now();
        if let Err(e) = ops.teardown(&alloc).await {
            result = Err(e);
            break;
        }
        teardowns.push(started.elapsed());
    }
    let _ = ops.reconcile(&[]).await;
    let _ = ops.remove_bridge().await;
    let _ = std::fs::remove_dir_all(&state);
    result?;

    println!("ensure bridge (once per agent start): {:.2} ms", ms(ensure));
    println!(
        "bridge setup: p50 {:.2} ms, p99 {:.2} ms (target: <= 10 ms added)",
        ms(percentile(&mut setups, 50)),
        ms(percentile(&mut setups, 99))
    );
    println!(
        "bridge teardown: p50 {:.2} ms, p99 {:.2} ms",
        ms(percentile(&mut teardowns, 50)),
        ms(percentile(&mut teardowns, 99))
    );
    Ok(())
}

fn percentile(samples: &mut [Duration], p: usize) -> Duration {
    samples.sort();
    let rank = (samples.len() * p).div_ceil(100).max(1) - 1;
    samples.get(rank).copied().unwrap_or_default()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
