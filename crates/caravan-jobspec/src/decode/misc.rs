//! The smaller blocks: `ephemeral_disk`, `logs`, `artifact`, `volume`,
//! `volume_mount`, `lifecycle`, `dispatch_payload`, `periodic`, `parameterized`,
//! `scaling` and `check_restart`.

use std::collections::BTreeMap;

use caravan_model::{
    CheckRestart, DispatchPayloadConfig, EphemeralDisk, Lifecycle, LogConfig,
    ParameterizedJobConfig, PeriodicConfig, ScalingPolicy, Segment, TaskArtifact, VolumeMount,
    VolumeRequest,
};

use crate::body::Block;
use crate::reader::{Decoder, Reader};

pub(super) fn ephemeral_disk(
    d: &mut Decoder<'_>,
    group: &Reader<'_>,
    block: &Block<'_>,
) -> EphemeralDisk {
    let mut r = group.child(d, block, Segment::Field("ephemeral_disk"));
    let disk = EphemeralDisk {
        sticky: r.bool(d, "sticky"),
        migrate: r.bool(d, "migrate"),
        size_mb: r.int(d, "size"),
    };
    r.finish(d);
    disk
}

pub(super) fn logs(d: &mut Decoder<'_>, task: &Reader<'_>, block: &Block<'_>) -> LogConfig {
    let mut r = task.child(d, block, Segment::Field("logs"));
    let mut logs = LogConfig {
        max_files: r.int(d, "max_files"),
        max_file_size_mb: r.int(d, "max_file_size"),
        disabled: r.bool(d, "disabled"),
    };
    // Newer Nomad spells it `enabled`.
    if let Some(enabled) = r.bool(d, "enabled") {
        logs.disabled = Some(!enabled);
    }
    r.finish(d);
    logs
}

pub(super) fn artifacts(d: &mut Decoder<'_>, task: &mut Reader<'_>) -> Vec<TaskArtifact> {
    let blocks = task.blocks(d, "artifact", 0);
    blocks
        .iter()
        .enumerate()
        .map(|(i, block)| {
            let mut r = task.child(d, block, Segment::Indexed("artifact", i));
            let a = TaskArtifact {
                getter_source: r.string(d, "source"),
                relative_dest: r.string(d, "destination"),
                getter_mode: r.string(d, "mode"),
                getter_options: r.string_map(d, "options").unwrap_or_default(),
                getter_headers: r.string_map(d, "headers").unwrap_or_default(),
            };
            r.finish(d);
            a
        })
        .collect()
}

pub(super) fn volumes(
    d: &mut Decoder<'_>,
    group: &mut Reader<'_>,
) -> BTreeMap<String, VolumeRequest> {
    let blocks = group.blocks(d, "volume", 1);
    let mut out = BTreeMap::new();
    for block in blocks {
        let name = block.labels.first().map_or("", |l| l.text).to_owned();
        let mut r = group.child(d, &block, Segment::Labeled("volume", name.clone()));
        let v = VolumeRequest {
            name: name.clone(),
            volume_type: r.string(d, "type").unwrap_or_default(),
            source: r.string(d, "source").unwrap_or_default(),
            read_only: r.bool(d, "read_only").unwrap_or(false),
            access_mode: r.string(d, "access_mode").unwrap_or_default(),
            attachment_mode: r.string(d, "attachment_mode").unwrap_or_default(),
            per_alloc: r.bool(d, "per_alloc").unwrap_or(false),
        };
        r.finish(d);
        out.insert(name, v);
    }
    out
}

pub(super) fn volume_mounts(d: &mut Decoder<'_>, task: &mut Reader<'_>) -> Vec<VolumeMount> {
    let blocks = task.blocks(d, "volume_mount", 0);
    blocks
        .iter()
        .enumerate()
        .map(|(i, block)| {
            let mut r = task.child(d, block, Segment::Indexed("volume_mount", i));
            let m = VolumeMount {
                volume: r.string(d, "volume"),
                destination: r.string(d, "destination"),
                read_only: r.bool(d, "read_only"),
                propagation_mode: r.string(d, "propagation_mode"),
            };
            r.finish(d);
            m
        })
        .collect()
}

pub(super) fn lifecycle(d: &mut Decoder<'_>, task: &Reader<'_>, block: &Block<'_>) -> Lifecycle {
    let mut r = task.child(d, block, Segment::Field("lifecycle"));
    let l = Lifecycle {
        hook: r.string(d, "hook").unwrap_or_default(),
        sidecar: r.bool(d, "sidecar").unwrap_or(false),
    };
    r.finish(d);
    l
}

pub(super) fn dispatch_payload(
    d: &mut Decoder<'_>,
    task: &Reader<'_>,
    block: &Block<'_>,
) -> DispatchPayloadConfig {
    let mut r = task.child(d, block, Segment::Field("dispatch_payload"));
    let p = DispatchPayloadConfig {
        file: r.string(d, "file").unwrap_or_default(),
    };
    r.finish(d);
    p
}

pub(super) fn periodic(d: &mut Decoder<'_>, job: &Reader<'_>, block: &Block<'_>) -> PeriodicConfig {
    let mut r = job.child(d, block, Segment::Field("periodic"));
    let cron = r.string(d, "cron");
    let crons = r.strings(d, "crons").unwrap_or_default();
    let mut specs: Vec<String> = cron.into_iter().collect();
    specs.extend(crons);
    let p = PeriodicConfig {
        enabled: r.bool(d, "enabled"),
        spec: specs.first().cloned(),
        // Nomad's parser marks cron schedules; there is no other kind in a job file.
        spec_type: (!specs.is_empty()).then(|| "cron".to_owned()),
        specs,
        prohibit_overlap: r.bool(d, "prohibit_overlap"),
        time_zone: r.string(d, "time_zone"),
    };
    r.finish(d);
    p
}

pub(super) fn parameterized(
    d: &mut Decoder<'_>,
    job: &Reader<'_>,
    block: &Block<'_>,
) -> ParameterizedJobConfig {
    let mut r = job.child(d, block, Segment::Field("parameterized"));
    let p = ParameterizedJobConfig {
        payload: r.string(d, "payload").unwrap_or_default(),
        meta_required: r.strings(d, "meta_required").unwrap_or_default(),
        meta_optional: r.strings(d, "meta_optional").unwrap_or_default(),
    };
    r.finish(d);
    p
}

pub(super) fn scaling(d: &mut Decoder<'_>, group: &Reader<'_>, block: &Block<'_>) -> ScalingPolicy {
    let mut r = group.child(d, block, Segment::Field("scaling"));
    let s = ScalingPolicy {
        min: r.int(d, "min"),
        max: r.int(d, "max"),
        enabled: r.bool(d, "enabled"),
        policy: r.freeform(d, "policy").unwrap_or_default(),
    };
    r.finish(d);
    s
}

pub(super) fn check_restart(
    d: &mut Decoder<'_>,
    parent: &Reader<'_>,
    block: &Block<'_>,
) -> CheckRestart {
    let mut r = parent.child(d, block, Segment::Field("check_restart"));
    let c = CheckRestart {
        limit: r.int(d, "limit").unwrap_or(0),
        grace: r.duration(d, "grace"),
        ignore_warnings: r.bool(d, "ignore_warnings").unwrap_or(false),
    };
    r.finish(d);
    c
}
