//! From a parsed file to a [`Job`]: variables and locals first, then the `job` block,
//! one module per family of blocks.

mod connect;
mod group;
mod job;
mod misc;
mod network;
mod placement;
mod policy;
mod resources;
mod service;
mod task;
mod template;

use caravan_model::Job;
use hcl::Value;

use crate::ParseOptions;
use crate::body::Body;
use crate::reader::{Decoder, Reader};
use crate::sourcemap::SourceMap;
use crate::vars;

/// Decodes a whole file: top-level blocks, variables, locals and the one job.
pub(crate) fn decode_file(d: &mut Decoder<'_>, body: Body<'_>, opts: &ParseOptions) -> Option<Job> {
    let mut top = Reader::new(body, SourceMap::ROOT, "the job file".to_owned());
    let variable = top.blocks(d, "variable", 1);
    let variables = top.blocks(d, "variables", 0);
    let locals = top.blocks(d, "locals", 0);
    let jobs = top.blocks(d, "job", 1);

    let decls = vars::declare(d, &top, &variable, &variables);
    let values = vars::resolve(d, &decls, opts);
    // Without a value for every variable, the rest would only repeat that error.
    let missing = decls.iter().any(|v| !values.contains_key(&v.name));
    d.eval
        .context_mut()
        .declare_var("var", Value::Object(values));
    if missing {
        top.finish(d);
        return None;
    }
    vars::locals(d, &locals);
    top.finish(d);

    let Some(first) = jobs.first() else {
        let end = d.src.text.len();
        d.error(
            &(end..end),
            "no `job` block: a job file needs one `job \"<name>\" { ... }` block",
        );
        return None;
    };
    let line = d.line(&first.kind_span);
    for extra in &jobs[1..] {
        d.error(
            &extra.header_span(),
            format!(
                "only one `job` block is allowed in a job file; the first one is on line {line}"
            ),
        );
    }
    Some(job::decode(d, first))
}
