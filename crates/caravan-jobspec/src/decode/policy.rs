//! `restart`, `reschedule`, `update` and `migrate`.

use caravan_model::{MigrateStrategy, ReschedulePolicy, RestartPolicy, Segment, UpdateStrategy};

use crate::body::Block;
use crate::reader::{Decoder, Reader};

pub(super) fn restart(
    d: &mut Decoder<'_>,
    parent: &Reader<'_>,
    block: &Block<'_>,
) -> RestartPolicy {
    let mut r = parent.child(d, block, Segment::Field("restart"));
    let p = RestartPolicy {
        attempts: r.int(d, "attempts"),
        interval: r.duration(d, "interval"),
        delay: r.duration(d, "delay"),
        mode: r.string(d, "mode"),
        render_templates: r.bool(d, "render_templates"),
    };
    r.finish(d);
    p
}

pub(super) fn reschedule(
    d: &mut Decoder<'_>,
    parent: &Reader<'_>,
    block: &Block<'_>,
) -> ReschedulePolicy {
    let mut r = parent.child(d, block, Segment::Field("reschedule"));
    let p = ReschedulePolicy {
        attempts: r.int(d, "attempts"),
        interval: r.duration(d, "interval"),
        delay: r.duration(d, "delay"),
        delay_function: r.string(d, "delay_function"),
        max_delay: r.duration(d, "max_delay"),
        unlimited: r.bool(d, "unlimited"),
    };
    r.finish(d);
    p
}

pub(super) fn update(
    d: &mut Decoder<'_>,
    parent: &Reader<'_>,
    block: &Block<'_>,
) -> UpdateStrategy {
    let mut r = parent.child(d, block, Segment::Field("update"));
    let p = UpdateStrategy {
        stagger: r.duration(d, "stagger"),
        max_parallel: r.int(d, "max_parallel"),
        health_check: r.string(d, "health_check"),
        min_healthy_time: r.duration(d, "min_healthy_time"),
        healthy_deadline: r.duration(d, "healthy_deadline"),
        progress_deadline: r.duration(d, "progress_deadline"),
        canary: r.int(d, "canary"),
        auto_revert: r.bool(d, "auto_revert"),
        auto_promote: r.bool(d, "auto_promote"),
    };
    r.finish(d);
    p
}

pub(super) fn migrate(
    d: &mut Decoder<'_>,
    parent: &Reader<'_>,
    block: &Block<'_>,
) -> MigrateStrategy {
    let mut r = parent.child(d, block, Segment::Field("migrate"));
    let p = MigrateStrategy {
        max_parallel: r.int(d, "max_parallel"),
        health_check: r.string(d, "health_check"),
        min_healthy_time: r.duration(d, "min_healthy_time"),
        healthy_deadline: r.duration(d, "healthy_deadline"),
    };
    r.finish(d);
    p
}
