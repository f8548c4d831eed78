//! Any bytes, as a job file: parsing (and validating) must return, never panic.
#![no_main]

use caravan_jobspec::{ParseOptions, SourceFile, parse, parse_and_validate};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let file = SourceFile::new("fuzz.nomad", String::from_utf8_lossy(data));
    let opts = ParseOptions::default();
    if let Err(diags) = parse(&file, &opts) {
        let _ = diags.to_string();
    }
    if let Err(diags) = parse_and_validate(&file, &opts) {
        let _ = diags.to_string();
    }
});
