//! Nomad API steps the benches share: blocking queries that wait for a node, a running
//! allocation or a stopped one, and one timed job start split into steps.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::http::Http;
use super::{Res, string, unix_nanos};

/// What a blocking query asks the server to wait at most.
pub const BLOCK_WAIT: &str = "5s";

/// Waits until the agent's client node is registered and ready.
pub fn wait_for_ready_node(http: &mut Http, grace: Duration) -> Res<()> {
    let deadline = Instant::now() + grace;
    let mut index = 0;
    loop {
        let (next, nodes) = http.get_json(&format!("/v1/nodes?index={index}&wait=1s"))?;
        let ready = nodes
            .as_array()
            .is_some_and(|nodes| nodes.iter().any(|n| n["Status"] == "ready"));
        if ready {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!("no ready node after {grace:?}: {nodes}"));
        }
        index = next;
    }
}

/// Follows `/v1/job/<job>/allocations` from `index` until one of them runs: that
/// allocation. An allocation that failed or was lost, or `deadline` passing, is an
/// error.
pub fn wait_running(http: &mut Http, job: &str, mut index: u64, deadline: Duration) -> Res<Value> {
    let start = Instant::now();
    loop {
        let path = format!("/v1/job/{job}/allocations?index={index}&wait={BLOCK_WAIT}");
        let (next, allocs) = http.get_json(&path)?;
        let mut allocs = match allocs {
            Value::Array(allocs) => allocs,
            _ => Vec::new(),
        };
        if let Some(at) = allocs.iter().position(|a| a["ClientStatus"] == "running") {
            return Ok(allocs.swap_remove(at));
        }
        if let Some(failed) = allocs
            .iter()
            .find(|a| matches!(a["ClientStatus"].as_str(), Some("failed" | "lost")))
        {
            return Err(format!(
                "allocation {}: {} {}",
                failed["ClientStatus"], failed["ClientDescription"], failed["TaskStates"]
            ));
        }
        if start.elapsed() > deadline {
            return Err(format!(
                "not running after {deadline:?}: {}",
                Value::Array(allocs)
            ));
        }
        index = index.max(next);
    }
}

/// Purges the job and waits until its allocation `alloc` has stopped, so the next run
/// starts on an idle agent.
pub fn stop_job(http: &mut Http, id: &str, alloc: &str, deadline: Duration) -> Res<()> {
    let stopped = http.request("DELETE", &format!("/v1/job/{id}?purge=true"), None)?;
    stopped.expect_ok("DELETE /v1/job")?;
    stop_wait(http, alloc, stopped.index, deadline)
}

/// Follows the allocation from `index` until it is neither pending nor running.
pub fn stop_wait(http: &mut Http, alloc: &str, mut index: u64, deadline: Duration) -> Res<()> {
    let start = Instant::now();
    loop {
        let path = format!("/v1/allocation/{alloc}?index={index}&wait={BLOCK_WAIT}");
        let (next, alloc) = http.get_json(&path)?;
        if !matches!(alloc["ClientStatus"].as_str(), Some("pending" | "running")) {
            return Ok(());
        }
        if start.elapsed() > deadline {
            return Err(format!(
                "still {} after {deadline:?}",
                alloc["ClientStatus"]
            ));
        }
        index = index.max(next);
    }
}

/// The `PUT /v1/jobs` request for a service job `id` of one group `bench` of one
/// raw_exec task `sleep` (`/bin/sleep 600`), as [`start_job`] wants it.
pub fn sleep_job(id: &str) -> Value {
    json!({"Job": {
        "ID": id,
        "Name": id,
        "Type": "service",
        "Datacenters": ["dc1"],
        "TaskGroups": [{
            "Name": "bench",
            "Count": 1,
            "Tasks": [{
                "Name": "sleep",
                "Driver": "raw_exec",
                "Config": {"command": "/bin/sleep", "args": ["600"]},
                "Resources": {"CPU": 20, "MemoryMB": 16},
            }],
        }],
    }})
}

/// How many steps [`steps`] splits a start into.
pub const STEP_COUNT: usize = 5;

/// One timed job start: how long it took, the allocation that runs, and its steps when
/// the allocation carried every timestamp.
pub struct Started {
    pub took: Duration,
    pub alloc: String,
    pub steps: Option<[Duration; STEP_COUNT]>,
}

/// Registers the job `id` (`body` is the `PUT /v1/jobs` request, encoded) and follows
/// its allocations until one runs; the time is from the request to the answer that
/// showed it running. Its task must be called `sleep`.
pub fn start_job(http: &mut Http, id: &str, body: &[u8], deadline: Duration) -> Res<Started> {
    let sent_at = unix_nanos();
    let start = Instant::now();
    let registered = http.request("PUT", "/v1/jobs", Some(body))?;
    registered.expect_ok("PUT /v1/jobs")?;
    let alloc = wait_running(http, id, registered.index, deadline)?;
    let took = start.elapsed();
    Ok(Started {
        took,
        alloc: string(&alloc["ID"]),
        steps: steps(&alloc, sent_at, sent_at + took.as_nanos() as i64),
    })
}

/// The durations between a start's timestamps, which the agent records on the same
/// clock as this process's: the request (`sent_at`), the allocation's `CreateTime` (the
/// scheduler's time), its task's `Received` and `Started` events (the client's), its
/// `ModifyTime` (when the server applied the client's `running` update) and the answer
/// that showed it running (`seen_at`).
fn steps(alloc: &Value, sent_at: i64, seen_at: i64) -> Option<[Duration; STEP_COUNT]> {
    let event = |kind: &str| {
        alloc["TaskStates"]["sleep"]["Events"]
            .as_array()?
            .iter()
            .find(|e| e["Type"] == kind)?["Time"]
            .as_i64()
    };
    let times = [
        sent_at,
        alloc["CreateTime"].as_i64()?,
        event("Received")?,
        event("Started")?,
        alloc["ModifyTime"].as_i64()?,
        seen_at,
    ];
    let mut steps = [Duration::ZERO; STEP_COUNT];
    for (step, pair) in steps.iter_mut().zip(times.windows(2)) {
        *step = Duration::from_nanos(u64::try_from(pair[1] - pair[0]).unwrap_or(0));
    }
    Some(steps)
}
