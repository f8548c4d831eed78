//! The `group` block, and the group made for a `task` written directly under `job`.

use caravan_model::{Segment, TaskGroup};

use super::{misc, network, placement, policy, service, task};
use crate::body::{Block, Body};
use crate::reader::{Decoder, Reader};
use crate::sourcemap::SourceMap;

pub(super) fn decode(
    d: &mut Decoder<'_>,
    job: &Reader<'_>,
    block: &Block<'_>,
    vault: Option<&serde_json::Value>,
) -> TaskGroup {
    let name = block.labels.first().map_or("", |l| l.text).to_owned();
    let mut r = job.child(d, block, Segment::Labeled("group", name.clone()));
    let mut g = TaskGroup {
        name,
        count: r.int(d, "count"),
        meta: r.string_map(d, "meta").unwrap_or_default(),
        shutdown_delay: r.duration(d, "shutdown_delay"),
        stop_after_client_disconnect: r.duration(d, "stop_after_client_disconnect"),
        max_client_disconnect: r.duration(d, "max_client_disconnect"),
        prevent_reschedule_on_lost: r.bool(d, "prevent_reschedule_on_lost"),
        ..TaskGroup::default()
    };
    g.constraints = placement::constraints(d, &mut r);
    g.affinities = placement::affinities(d, &mut r);
    g.spreads = placement::spreads(d, &mut r);
    let restart = r.block(d, "restart");
    g.restart_policy = restart.map(|b| policy::restart(d, &r, &b));
    let reschedule = r.block(d, "reschedule");
    g.reschedule_policy = reschedule.map(|b| policy::reschedule(d, &r, &b));
    let update = r.block(d, "update");
    g.update = update.map(|b| policy::update(d, &r, &b));
    let migrate = r.block(d, "migrate");
    g.migrate = migrate.map(|b| policy::migrate(d, &r, &b));
    let disk = r.block(d, "ephemeral_disk");
    g.ephemeral_disk = disk.map(|b| misc::ephemeral_disk(d, &r, &b));
    let network = r.block(d, "network");
    g.networks = network
        .map(|b| network::decode(d, &r, &b, Segment::Field("network")))
        .into_iter()
        .collect();
    g.services = service::decode_all(d, &mut r);
    g.volumes = misc::volumes(d, &mut r);
    let scaling = r.block(d, "scaling");
    g.scaling = scaling.map(|b| misc::scaling(d, &r, &b));
    g.consul = r.opaque(d, "consul");
    g.disconnect = r.opaque(d, "disconnect");
    let group_vault = r.opaque(d, "vault");
    let vault = group_vault.as_ref().or(vault);
    for block in r.blocks(d, "task", 1) {
        g.tasks.push(task::decode(d, &r, &block, vault));
    }
    r.finish(d);
    g
}

/// `job "x" { task "t" { ... } }`: a group named after the task, holding it.
pub(super) fn from_task(
    d: &mut Decoder<'_>,
    block: &Block<'_>,
    vault: Option<&serde_json::Value>,
) -> TaskGroup {
    let name = block.labels.first().map_or("", |l| l.text).to_owned();
    let node = d.map.child(
        SourceMap::ROOT,
        Segment::Labeled("group", name.clone()),
        block.header_span(),
    );
    let parent = Reader::new(Body::Json(&[]), node, format!("group {name:?}"));
    let task = task::decode(d, &parent, block, vault);
    TaskGroup {
        name,
        tasks: vec![task],
        ..TaskGroup::default()
    }
}
