//! `job run` to task running on a dev agent, and `GET /v1/allocations` reads per second.
//!
//! Starts the release `caravan` binary as `caravan agent -dev -http-port 0` in a
//! temporary data dir, then 100 times: registers a distinct raw_exec job
//! (`/bin/sleep 600`) with `PUT /v1/jobs` on a fresh connection, as `caravan job run`
//! does, and follows `/v1/job/<id>/allocations` with blocking queries until the
//! allocation's `ClientStatus` is `running`; the time from the connect to that answer is
//! one sample. Each job is then purged and its task waited out, so runs do not overlap.
//! The ~100 dead allocations left in the state are what the read benchmark lists: two
//! threads on HTTP/1.1 keep-alive connections for three seconds, and `wrk` as the peer
//! when it is installed. Depends on std and serde_json only: it talks HTTP itself.
//!
//! `cargo build --release -p caravan && cargo run --release -p caravan --example bench_job_run`
//!
//! `BENCH_AGENT_LOG_LEVEL=debug` runs the agent at that level and keeps its log (the path
//! is printed), to see where the time goes.

#[path = "support/mod.rs"]
mod support;

use std::process::ExitCode;
use std::time::Duration;

use support::Res;
use support::agent::Agent;
use support::http::Http;
use support::load::{find_in_path, read_rate, wrk_rate};
use support::nomad::{STEP_COUNT, Started, sleep_job, start_job, stop_job, wait_for_ready_node};
use support::stats::{Samples, ms, percentile};

const RUNS: usize = 100;
const READ_THREADS: usize = 2;
const READ_FOR: Duration = Duration::from_secs(3);
/// How long one run may take before the bench gives up.
const RUN_DEADLINE: Duration = Duration::from_secs(30);
/// How long the agent gets to print its address, and to exit after SIGINT.
const AGENT_GRACE: Duration = Duration::from_secs(15);

fn main() -> ExitCode {
    support::agent::run("bench_job_run", AGENT_GRACE, bench)
}

fn bench(agent: &Agent) -> Res<()> {
    let mut http = Http::new(agent.addr);
    wait_for_ready_node(&mut http, AGENT_GRACE)?;

    let mut samples = Samples::default();
    for run in 0..RUNS {
        let id = format!("bench-run-{}-{run}", std::process::id());
        let run_result = job_run(&mut http, &id).map_err(|e| format!("run {run}: {e}"))?;
        samples.push(&run_result);
        stop_job(&mut http, &id, &run_result.alloc, RUN_DEADLINE)
            .map_err(|e| format!("run {run}: stopping: {e}"))?;
    }
    samples.sort();
    let took = &samples.took;
    println!(
        "job run -> running (raw_exec, dev agent): p50 {} ms, p99 {} ms, max {} ms over {RUNS} runs (target p50 <= 50 ms)",
        ms(percentile(took, 50)),
        ms(percentile(took, 99)),
        ms(took[took.len() - 1]),
    );
    println!(
        "  steps (p50 of each): {}",
        samples.breakdown(&STEPS, " ms")
    );

    let listed = http.get_json("/v1/allocations")?.1;
    let allocs = listed.as_array().map_or(0, Vec::len);
    let (_, rate) = read_rate(agent.addr, READ_THREADS, READ_FOR, |http, _, _| {
        http.request("GET", "/v1/allocations", None)?
            .expect_ok("GET /v1/allocations")?;
        Ok(())
    })?;
    println!(
        "GET /v1/allocations: {rate:.0} req/s ({allocs} allocations, {READ_THREADS} connections, {} s)",
        READ_FOR.as_secs()
    );
    match find_in_path("wrk") {
        Some(wrk) => {
            let rate = wrk_rate(&wrk, &format!("http://{}/v1/allocations", agent.addr))?;
            println!(
                "GET /v1/allocations, peer load generator wrk -t2 -c16 -d3s: {rate} req/s ({allocs} allocations)"
            );
        }
        None => println!("wrk is not installed: no peer figure (apt-get install wrk)"),
    }
    Ok(())
}

/// The names of a run's steps (see `support::start_job`).
const STEPS: [&str; STEP_COUNT] = [
    "register+eval+schedule+plan",
    "client watch wake-up",
    "alloc hooks+driver start",
    "status report (batched)",
    "blocking query answer",
];

/// Registers the job and follows its allocations until one runs; the time is from the
/// connect to the answer that showed it running.
fn job_run(http: &mut Http, id: &str) -> Res<Started> {
    let job = sleep_job(id);
    let body = serde_json::to_vec(&job).map_err(|e| format!("encoding the job: {e}"))?;
    // A fresh connection, as `caravan job run` makes one.
    http.close();
    start_job(http, id, &body, RUN_DEADLINE)
}
