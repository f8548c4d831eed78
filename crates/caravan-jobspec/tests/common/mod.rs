//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use caravan_jobspec::{Diagnostic, Diagnostics, ParseOptions, SourceFile};
use caravan_model::Job;

pub fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The seed job files of the project.
pub fn seeds() -> Vec<PathBuf> {
    let dir = crate_dir().join("../../examples/seeds");
    files_with(&dir, "nomad")
}

/// The fixtures of this crate.
pub fn fixtures() -> Vec<PathBuf> {
    files_with(&crate_dir().join("tests/fixtures"), "nomad")
}

pub fn fixture_path(name: &str) -> PathBuf {
    crate_dir().join("tests/fixtures").join(name)
}

fn files_with(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == ext))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no .{ext} files in {}", dir.display());
    files
}

pub fn read(path: &Path) -> SourceFile {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    SourceFile::new(
        path.file_name().expect("a file name").to_string_lossy(),
        text,
    )
}

/// Options every fixture parses with: the variables fixture needs `image_tag`.
pub fn fixture_options(path: &Path) -> ParseOptions {
    let mut opts = ParseOptions::default();
    if path.file_name().is_some_and(|n| n == "variables.nomad") {
        opts.vars.push(("image_tag".into(), "1.0".into()));
    }
    opts
}

pub fn parse_text(text: &str) -> Result<Job, Diagnostics> {
    caravan_jobspec::parse(
        &SourceFile::new("job.nomad", text),
        &ParseOptions::default(),
    )
}

pub fn must_parse(text: &str) -> Job {
    parse_text(text).unwrap_or_else(|e| panic!("expected the job to parse:\n{e}"))
}

pub fn must_parse_file(path: &Path) -> Job {
    caravan_jobspec::parse(&read(path), &fixture_options(path))
        .unwrap_or_else(|e| panic!("{} should parse:\n{e}", path.display()))
}

/// The diagnostics of a text that must not parse.
pub fn errors(text: &str) -> Vec<Diagnostic> {
    match parse_text(text) {
        Ok(job) => panic!("expected errors, got a job: {job:?}"),
        Err(diags) => diags.0,
    }
}

/// Asserts one diagnostic contains `fragment` and sits at `line:col`.
#[track_caller]
pub fn assert_error(diags: &[Diagnostic], fragment: &str, line: usize, col: usize) {
    let found = diags.iter().find(|d| d.message.contains(fragment));
    match found {
        Some(d) => assert_eq!(
            (d.line, d.col),
            (line, col),
            "{fragment:?} is at {}:{}, expected {line}:{col}\n{}",
            d.line,
            d.col,
            Diagnostics(diags.to_vec())
        ),
        None => panic!(
            "no diagnostic contains {fragment:?}; got:\n{}",
            Diagnostics(diags.to_vec())
        ),
    }
}
