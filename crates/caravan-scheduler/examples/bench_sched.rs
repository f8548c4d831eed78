//! Scheduler throughput: 10,000 allocations, each with a dynamic port, over 5,000
//! simulated nodes, in process. Prints placements per second of `process()` (median of
//! five runs), and for reference the plan check and the state store commit.
//!
//! `cargo run --release -p caravan-scheduler --example bench_sched`

use std::time::{Duration, Instant};

use caravan_model::{
    DriverInfo, EvalId, Evaluation, Job, JobId, NetworkResource, Node, NodeId, NodeNetwork, Port,
    Resources, Task, TaskGroup,
};
use caravan_scheduler::{SchedContext, check_plan, process};
use caravan_state::{Command, PlanResult, StateStore};

const NODES: usize = 5_000;
const ALLOCS: i64 = 10_000;

fn node(i: usize) -> Node {
    let mut node = Node {
        id: NodeId::from(format!("{:08x}-0000-4000-8000-{:012x}", i, i)),
        name: format!("sim-{i}"),
        datacenter: format!("dc{}", i % 3 + 1),
        status: "ready".into(),
        scheduling_eligibility: "eligible".into(),
        ..Node::default()
    };
    node.node_resources.cpu.cpu_shares = 4000;
    node.node_resources.cpu.total_cpu_cores = 4;
    node.node_resources.memory.memory_mb = 8192;
    node.node_resources.networks = vec![NodeNetwork {
        ip: format!("10.{}.{}.{}", i / 65536, (i / 256) % 256, i % 256),
        ..NodeNetwork::default()
    }];
    node.drivers.insert(
        "raw_exec".into(),
        DriverInfo {
            detected: true,
            healthy: true,
            ..DriverInfo::default()
        },
    );
    node.attributes.insert("kernel.name".into(), "linux".into());
    node
}

fn job() -> Job {
    Job {
        id: JobId::from("bench"),
        name: "bench".into(),
        job_type: Some("service".into()),
        datacenters: vec!["dc*".into()],
        task_groups: vec![TaskGroup {
            name: "web".into(),
            count: Some(ALLOCS),
            networks: vec![NetworkResource {
                mode: "host".into(),
                dynamic_ports: vec![Port {
                    label: "http".into(),
                    ..Port::default()
                }],
                ..NetworkResource::default()
            }],
            tasks: vec![Task {
                name: "app".into(),
                driver: "raw_exec".into(),
                resources: Some(Resources {
                    cpu: Some(100),
                    memory_mb: Some(128),
                    ..Resources::default()
                }),
                ..Task::default()
            }],
            ..TaskGroup::default()
        }],
        ..Job::default()
    }
}

fn main() {
    let mut store = StateStore::new();
    let mut index = 0;
    for i in 0..NODES {
        index += 1;
        store
            .apply(
                index,
                Command::UpsertNode {
                    node: Box::new(node(i)),
                },
            )
            .expect("node");
    }
    let eval = Evaluation {
        id: EvalId::from("00000000-0000-4000-8000-000000000001"),
        job_id: JobId::from("bench"),
        eval_type: "service".into(),
        triggered_by: "job-register".into(),
        status: "pending".into(),
        priority: 50,
        ..Evaluation::default()
    };
    index += 1;
    store
        .apply(
            index,
            Command::RegisterJob {
                job: Box::new(job()),
                eval: Some(eval.clone()),
                submit_time: 1,
            },
        )
        .expect("job");
    let snap = store.snapshot();

    let mut times: Vec<Duration> = Vec::new();
    let mut outcome = None;
    for run in 0..5u64 {
        let ctx = SchedContext::new(1_700_000_000_000_000_000, 42 + run);
        let start = Instant::now();
        let out = process(&snap, &eval, &ctx);
        times.push(start.elapsed());
        outcome = Some(out);
    }
    let outcome = outcome.expect("ran");
    let placed: usize = outcome.plan.node_allocation.values().map(Vec::len).sum();
    assert_eq!(
        placed as i64, ALLOCS,
        "every allocation placed: {:?}",
        outcome.plan.failed_tg_allocs
    );
    times.sort();
    let median = times[times.len() / 2];
    let rate = placed as f64 / median.as_secs_f64();
    println!(
        "scheduler: {:.0} placements/s ({placed} allocs over {NODES} nodes, {:.1} ms)",
        rate,
        median.as_secs_f64() * 1e3
    );

    let start = Instant::now();
    let check = check_plan(&snap, &outcome.plan);
    let check_time = start.elapsed();
    assert!(check.is_ok(), "plan check: {:?}", check.rejected);
    let evals = outcome.evals();
    let start = Instant::now();
    index += 1;
    store
        .apply(
            index,
            Command::ApplyPlanResult(Box::new(PlanResult::from_plan(outcome.plan, evals, 2))),
        )
        .expect("commit");
    let commit_time = start.elapsed();
    let start = Instant::now();
    let _snapshot = store.snapshot();
    let snapshot_time = start.elapsed();
    println!(
        "plan check: {:.1} ms; state commit: {:.1} ms; snapshot after: {:?}",
        check_time.as_secs_f64() * 1e3,
        commit_time.as_secs_f64() * 1e3,
        snapshot_time
    );
}
