//! HCL -> model -> the API's JSON -> model gives the same job, for every seed and
//! fixture; and HCL's JSON syntax decodes to the same job as the HCL it mirrors.

mod common;

use std::path::Path;

use caravan_jobspec::{ParseOptions, SourceFile, parse};
use caravan_model::Job;
use common::{fixture_path, fixtures, must_parse_file, seeds};

fn through_api_json(job: &Job) -> Job {
    let text =
        serde_json::to_string_pretty(&serde_json::json!({ "Job": job })).expect("a job serializes");
    parse(&SourceFile::new("job.json", text), &ParseOptions::default())
        .unwrap_or_else(|e| panic!("the API JSON of {} should parse:\n{e}", job.id))
}

fn assert_round_trips(path: &Path) {
    let job = must_parse_file(path);
    assert_eq!(
        through_api_json(&job),
        job,
        "{} changed through the API JSON",
        path.display()
    );
    // Canonicalized jobs survive the trip too (what the CLI sends to the server).
    let mut canonical = job;
    canonical.canonicalize();
    assert_eq!(
        through_api_json(&canonical),
        canonical,
        "{} (canonicalized)",
        path.display()
    );
}

#[test]
fn seeds_round_trip_through_api_json() {
    for path in seeds() {
        assert_round_trips(&path);
    }
}

#[test]
fn fixtures_round_trip_through_api_json() {
    for path in fixtures() {
        assert_round_trips(&path);
    }
}

#[test]
fn bare_api_job_object_is_accepted() {
    let job = must_parse_file(&common::crate_dir().join("../../examples/seeds/s4-connect.nomad"));
    let text = serde_json::to_string(&job).expect("serializes");
    let back =
        parse(&SourceFile::new("job.json", text), &ParseOptions::default()).expect("bare job JSON");
    assert_eq!(back, job);
}

fn seed_and_json(seed: &str, json: &str) -> (Job, Job) {
    let hcl = must_parse_file(&common::crate_dir().join("../../examples/seeds").join(seed));
    let json = must_parse_file(&fixture_path(json));
    (hcl, json)
}

#[test]
fn hcl_json_syntax_decodes_like_hcl() {
    let (hcl, json) = seed_and_json("s4-connect.nomad", "s4-connect.hcl.json");
    assert_eq!(json, hcl);
}

#[test]
fn hcl_json_syntax_with_arrays_variables_and_runtime_references() {
    let (hcl, json) = seed_and_json("s2-same-group.nomad", "s2-same-group.hcl.json");
    assert_eq!(json, hcl);
    assert_eq!(
        json.task_groups[0].tasks[1].env["DEMO_REDIS_ADDR"],
        "${NOMAD_ADDR_redis}"
    );
}
