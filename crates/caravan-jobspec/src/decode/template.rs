//! `template` blocks. The Go template text in `data` is never touched; only HCL's own
//! `${...}` interpolation applies to it, as in Nomad.

use caravan_model::{ChangeScript, Segment, Template, WaitConfig};

use crate::body::Block;
use crate::reader::{Decoder, Reader};

pub(super) fn decode_all(d: &mut Decoder<'_>, task: &mut Reader<'_>) -> Vec<Template> {
    task.blocks(d, "template", 0)
        .iter()
        .enumerate()
        .map(|(i, b)| decode(d, task, b, i))
        .collect()
}

fn decode(d: &mut Decoder<'_>, task: &Reader<'_>, block: &Block<'_>, index: usize) -> Template {
    let mut r = task.child(d, block, Segment::Indexed("template", index));
    let dest_path = r.string(d, "destination");
    if let Some(dest) = &dest_path {
        d.map
            .alias(r.node, Segment::Labeled("template", dest.clone()));
        r.set_what(format!("template {dest:?}"));
    }
    let mut t = Template {
        dest_path,
        source_path: r.string(d, "source"),
        embedded_tmpl: r.string(d, "data"),
        change_mode: r.string(d, "change_mode"),
        change_signal: r.string(d, "change_signal"),
        splay: r.duration(d, "splay"),
        perms: r.string(d, "perms"),
        uid: r.int(d, "uid"),
        gid: r.int(d, "gid"),
        left_delim: r.string(d, "left_delimiter"),
        right_delim: r.string(d, "right_delimiter"),
        envvars: r.bool(d, "env"),
        vault_grace: r.duration(d, "vault_grace"),
        err_missing_key: r.bool(d, "error_on_missing_key"),
        once: r.bool(d, "once"),
        ..Template::default()
    };
    let script = r.block(d, "change_script");
    t.change_script = script.map(|b| {
        let mut r = r.child(d, &b, Segment::Field("change_script"));
        let s = ChangeScript {
            command: r.string(d, "command"),
            args: r.strings(d, "args").unwrap_or_default(),
            timeout: r.duration(d, "timeout"),
            fail_on_error: r.bool(d, "fail_on_error"),
        };
        r.finish(d);
        s
    });
    let wait = r.block(d, "wait");
    t.wait = wait.map(|b| {
        let mut r = r.child(d, &b, Segment::Field("wait"));
        let w = WaitConfig {
            min: r.duration(d, "min"),
            max: r.duration(d, "max"),
        };
        r.finish(d);
        w
    });
    r.finish(d);
    t
}
