//! Nomad job files, HCL2 or JSON, into [`caravan_model::Job`].
//!
//! Owns variables, locals, HCL functions and the mapping from HCL blocks to the
//! model. Runtime references (`${NOMAD_*}`, `${node.*}`, `${attr.*}`, `${meta.*}`)
//! are kept literally for the client. Knows nothing about servers.
//!
//! Three inputs are accepted: HCL2 native syntax, HCL's JSON syntax
//! (`{"job": {"redis": {...}}}`) and the API's `{"Job": {...}}`. The first two share one
//! schema-driven decoder ([`reader::Reader`]), which is strict as Nomad is: an unknown
//! block or attribute, a wrong type or a duplicate label is an error at its line and
//! column, and every error is reported, not just the first.

mod body;
mod decode;
mod decoder;
mod eval;
mod functions;
mod generic;
mod json;
mod reader;
mod source;
mod sourcemap;
mod suggest;
mod syntax;
mod value;
mod vars;
mod vartype;

use std::collections::BTreeMap;
use std::path::PathBuf;

use caravan_model::{Job, Segment, job_from_json};

pub use source::{Diagnostic, Diagnostics};

use crate::json::{JsonKind, JsonNode};
use crate::reader::Decoder;
use crate::source::SourceText;
use crate::sourcemap::SourceMap;
use crate::syntax::Parsed;

/// How to read a job file: variable values and what the functions may touch.
#[derive(Debug, Clone, Default)]
pub struct ParseOptions {
    /// `-var name=value` flags, in order; the last one for a name wins.
    pub vars: Vec<(String, String)>,
    /// `-var-file` contents (HCL or JSON `name = value`), in order.
    pub var_files: Vec<SourceFile>,
    /// The process environment; `NOMAD_VAR_<name>` entries set variables.
    pub env: BTreeMap<String, String>,
    /// Whether `file()`, `fileexists()` and the like may read the filesystem.
    pub allow_fs: bool,
    /// Where relative paths of filesystem functions start.
    pub base_dir: Option<PathBuf>,
}

/// A named text: a job file or a var file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceFile {
    pub name: String,
    pub text: String,
}

impl SourceFile {
    pub fn new(name: impl Into<String>, text: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            text: text.into(),
        }
    }
}

/// Decodes a job file as written: no defaults are filled in.
pub fn parse(file: &SourceFile, opts: &ParseOptions) -> Result<Job, Diagnostics> {
    parse_with_map(file, opts).map(|(job, _)| job)
}

/// Decodes, canonicalizes and validates a job file. Validation errors are shown at the
/// block or attribute their path names (or the nearest enclosing block written).
pub fn parse_and_validate(file: &SourceFile, opts: &ParseOptions) -> Result<Job, Diagnostics> {
    let (mut job, map) = parse_with_map(file, opts)?;
    job.canonicalize();
    match job.validate() {
        Ok(()) => Ok(job),
        Err(errors) => {
            let src = SourceText::new(&file.name, &file.text);
            let diags = errors
                .0
                .iter()
                .map(|e| src.diagnostic(&map.lookup(&e.path), e.to_string()))
                .collect();
            Err(Diagnostics::sorted(diags))
        }
    }
}

fn parse_with_map(file: &SourceFile, opts: &ParseOptions) -> Result<(Job, SourceMap), Diagnostics> {
    let src = SourceText::new(&file.name, &file.text);
    let parsed = syntax::parse(&src).map_err(|d| Diagnostics(vec![d]))?;
    if let Parsed::Json(node) = &parsed
        && is_api_json(node)
    {
        return api_json(&src, node);
    }
    let Some(body) = parsed.body() else {
        return Err(Diagnostics(vec![
            src.diagnostic(&(0..1), "a job file must be a JSON object"),
        ]));
    };
    let mut d = Decoder::new(&src, vars::base_evaluator(opts));
    let job = decode::decode_file(&mut d, body, opts);
    match job {
        Some(job) if d.diags.is_empty() => Ok((job, d.map)),
        _ => Err(Diagnostics::sorted(d.diags)),
    }
}

/// The API's shape (`{"Job": {...}}`, or a bare job object with `ID`), as opposed to
/// HCL's JSON syntax (`{"job": {...}}`).
fn is_api_json(node: &JsonNode) -> bool {
    let JsonKind::Object(members) = &node.kind else {
        return false;
    };
    let hcl_keys = ["job", "variable", "variables", "locals"];
    if members.iter().any(|m| hcl_keys.contains(&m.key.as_str())) {
        return false;
    }
    members
        .iter()
        .any(|m| matches!(m.key.as_str(), "Job" | "ID" | "TaskGroups" | "Name"))
}

fn api_json(src: &SourceText<'_>, node: &JsonNode) -> Result<(Job, SourceMap), Diagnostics> {
    let text = src.text.trim_start_matches('\u{feff}');
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| {
        Diagnostics(vec![
            src.diagnostic(&(0..1), format!("invalid job JSON: {e}")),
        ])
    })?;
    let job_node = match &node.kind {
        JsonKind::Object(members) => members
            .iter()
            .find(|m| m.key == "Job")
            .map_or(node, |m| &m.value),
        _ => node,
    };
    match job_from_json(value) {
        Ok(job) => Ok((job, api_source_map(job_node))),
        Err(e) => {
            Err(Diagnostics(vec![src.diagnostic(
                &job_node.span,
                format!("invalid job JSON: {e}"),
            )]))
        }
    }
}

/// A coarse source map for API JSON: the job, its groups and their tasks by name.
fn api_source_map(job: &JsonNode) -> SourceMap {
    let mut map = SourceMap::new(job.span.start..job.span.start + 1);
    let members = |n: &'_ JsonNode| match &n.kind {
        JsonKind::Object(m) => m.clone(),
        _ => Vec::new(),
    };
    let name_of = |n: &JsonNode| {
        members(n)
            .into_iter()
            .find(|m| m.key == "Name")
            .and_then(|m| match m.value.kind {
                JsonKind::String(s) => Some(s),
                _ => None,
            })
    };
    for m in members(job).into_iter().filter(|m| m.key == "TaskGroups") {
        let JsonKind::Array(groups) = &m.value.kind else {
            continue;
        };
        for group in groups {
            let Some(name) = name_of(group) else { continue };
            let group_path = vec![Segment::Labeled("group", name)];
            map.insert(&group_path, group.span.start..group.span.start + 1);
            for t in members(group).into_iter().filter(|m| m.key == "Tasks") {
                let JsonKind::Array(tasks) = &t.value.kind else {
                    continue;
                };
                for task in tasks {
                    let Some(task_name) = name_of(task) else {
                        continue;
                    };
                    let mut path = group_path.clone();
                    path.push(Segment::Labeled("task", task_name));
                    map.insert(&path, task.span.start..task.span.start + 1);
                }
            }
        }
    }
    map
}
