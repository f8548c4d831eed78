//! The `job` block.

use caravan_model::{Job, JobId, TaskGroup};

use super::{group, misc, placement, policy};
use crate::body::Block;
use crate::reader::{Decoder, Reader};
use crate::sourcemap::SourceMap;

pub(super) fn decode(d: &mut Decoder<'_>, block: &Block<'_>) -> Job {
    let id = block.labels.first().map_or("", |l| l.text);
    d.map = SourceMap::new(block.header_span());
    let mut r = Reader::new(block.body, SourceMap::ROOT, format!("job {id:?}"));
    let mut job = Job {
        id: JobId::new(id),
        name: r.string(d, "name").unwrap_or_else(|| id.to_owned()),
        namespace: r.string(d, "namespace"),
        region: r.string(d, "region"),
        job_type: r.string(d, "type"),
        priority: r.int(d, "priority"),
        all_at_once: r.bool(d, "all_at_once"),
        datacenters: r.strings(d, "datacenters").unwrap_or_default(),
        node_pool: r.string(d, "node_pool"),
        vault_token: r.string(d, "vault_token"),
        consul_token: r.string(d, "consul_token"),
        meta: r.string_map(d, "meta").unwrap_or_default(),
        ..Job::default()
    };
    job.constraints = placement::constraints(d, &mut r);
    job.affinities = placement::affinities(d, &mut r);
    job.spreads = placement::spreads(d, &mut r);
    let update = r.block(d, "update");
    job.update = update.map(|b| policy::update(d, &r, &b));
    let reschedule = r.block(d, "reschedule");
    job.reschedule = reschedule.map(|b| policy::reschedule(d, &r, &b));
    let migrate = r.block(d, "migrate");
    job.migrate = migrate.map(|b| policy::migrate(d, &r, &b));
    let periodic = r.block(d, "periodic");
    job.periodic = periodic.map(|b| misc::periodic(d, &r, &b));
    let parameterized = r.block(d, "parameterized");
    job.parameterized = parameterized.map(|b| misc::parameterized(d, &r, &b));
    job.multiregion = r.opaque(d, "multiregion");
    job.ui = r.opaque(d, "ui");
    // Nomad's model has no job-level vault: it is the default of every task.
    let vault = r.opaque(d, "vault");

    for block in r.blocks(d, "group", 1) {
        job.task_groups
            .push(group::decode(d, &r, &block, vault.as_ref()));
    }
    // A task directly under the job is a group of its own, of the same name.
    for block in r.blocks(d, "task", 1) {
        let name = block.labels.first().map_or("", |l| l.text);
        if job.task_groups.iter().any(|g| g.name == name) {
            d.error(
                &block.header_span(),
                format!("task {name:?} directly under job {id:?} makes a group of the same name, and group {name:?} already exists"),
            );
            continue;
        }
        let group: TaskGroup = group::from_task(d, &block, vault.as_ref());
        job.task_groups.push(group);
    }
    r.finish(d);
    job
}
