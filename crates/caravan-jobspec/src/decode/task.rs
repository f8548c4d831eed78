//! The `task` block.

use caravan_model::{Segment, Task};

use super::{misc, placement, policy, resources, service, template};
use crate::body::Block;
use crate::reader::{Decoder, Reader};

pub(super) fn decode(
    d: &mut Decoder<'_>,
    group: &Reader<'_>,
    block: &Block<'_>,
    vault: Option<&serde_json::Value>,
) -> Task {
    let name = block.labels.first().map_or("", |l| l.text).to_owned();
    let mut r = group.child(d, block, Segment::Labeled("task", name.clone()));
    let mut t = Task {
        name,
        driver: r.string(d, "driver").unwrap_or_default(),
        user: r.string(d, "user").unwrap_or_default(),
        config: r.freeform(d, "config").unwrap_or_default(),
        env: r.string_map(d, "env").unwrap_or_default(),
        meta: r.string_map(d, "meta").unwrap_or_default(),
        kill_timeout: r.duration(d, "kill_timeout"),
        leader: r.bool(d, "leader").unwrap_or(false),
        shutdown_delay: r.duration(d, "shutdown_delay").unwrap_or_default(),
        kill_signal: r.string(d, "kill_signal").unwrap_or_default(),
        kind: r.string(d, "kind").unwrap_or_default(),
        ..Task::default()
    };
    t.constraints = placement::constraints(d, &mut r);
    t.affinities = placement::affinities(d, &mut r);
    t.services = service::decode_all(d, &mut r);
    let res = r.block(d, "resources");
    t.resources = res.map(|b| resources::decode(d, &r, &b));
    let restart = r.block(d, "restart");
    t.restart_policy = restart.map(|b| policy::restart(d, &r, &b));
    let logs = r.block(d, "logs");
    t.log_config = logs.map(|b| misc::logs(d, &r, &b));
    t.artifacts = misc::artifacts(d, &mut r);
    t.templates = template::decode_all(d, &mut r);
    t.volume_mounts = misc::volume_mounts(d, &mut r);
    let lifecycle = r.block(d, "lifecycle");
    t.lifecycle = lifecycle.map(|b| misc::lifecycle(d, &r, &b));
    let payload = r.block(d, "dispatch_payload");
    t.dispatch_payload = payload.map(|b| misc::dispatch_payload(d, &r, &b));
    t.vault = r.opaque(d, "vault").or_else(|| vault.cloned());
    t.identity = r.opaque(d, "identity");
    t.consul = r.opaque(d, "consul");
    t.csi_plugin_config = r.opaque(d, "csi_plugin");
    r.finish(d);
    t
}
