//! `service` blocks (group or task level) and their `check` blocks.

use caravan_model::{Segment, Service, ServiceCheck, ServiceWeights};

use super::{connect, misc};
use crate::body::Block;
use crate::reader::{Decoder, Reader};

/// Every `service` block of a group or task.
pub(super) fn decode_all(d: &mut Decoder<'_>, parent: &mut Reader<'_>) -> Vec<Service> {
    parent
        .blocks(d, "service", 0)
        .iter()
        .enumerate()
        .map(|(i, b)| decode(d, parent, b, i))
        .collect()
}

fn decode(d: &mut Decoder<'_>, parent: &Reader<'_>, block: &Block<'_>, index: usize) -> Service {
    let mut r = parent.child(d, block, Segment::Indexed("service", index));
    let name = r.string(d, "name").unwrap_or_default();
    if !name.is_empty() {
        d.map
            .alias(r.node, Segment::Labeled("service", name.clone()));
        r.set_what(format!("service {name:?}"));
    }
    let mut s = Service {
        name,
        port_label: r.string(d, "port").unwrap_or_default(),
        tags: r.strings(d, "tags").unwrap_or_default(),
        canary_tags: r.strings(d, "canary_tags").unwrap_or_default(),
        enable_tag_override: r.bool(d, "enable_tag_override").unwrap_or(false),
        address_mode: r.string(d, "address_mode").unwrap_or_default(),
        address: r.string(d, "address").unwrap_or_default(),
        task_name: r.string(d, "task").unwrap_or_default(),
        on_update: r.string(d, "on_update").unwrap_or_default(),
        provider: r.string(d, "provider").unwrap_or_default(),
        cluster: r.string(d, "cluster").unwrap_or_default(),
        kind: r.string(d, "kind").unwrap_or_default(),
        meta: r.string_map(d, "meta").unwrap_or_default(),
        canary_meta: r.string_map(d, "canary_meta").unwrap_or_default(),
        tagged_addresses: r.string_map(d, "tagged_addresses").unwrap_or_default(),
        ..Service::default()
    };
    for (i, block) in r.blocks(d, "check", 0).iter().enumerate() {
        s.checks.push(check(d, &r, block, i));
    }
    let check_restart = r.block(d, "check_restart");
    s.check_restart = check_restart.map(|b| misc::check_restart(d, &r, &b));
    let connect = r.block(d, "connect");
    s.connect = connect.map(|b| connect::decode(d, &r, &b));
    let weights = r.block(d, "weights");
    s.weights = weights.map(|b| {
        let mut r = r.child(d, &b, Segment::Field("weights"));
        let w = ServiceWeights {
            passing: r.int(d, "passing").unwrap_or(0),
            warning: r.int(d, "warning").unwrap_or(0),
        };
        r.finish(d);
        w
    });
    s.identity = r.opaque(d, "identity");
    r.finish(d);
    s
}

fn check(
    d: &mut Decoder<'_>,
    service: &Reader<'_>,
    block: &Block<'_>,
    index: usize,
) -> ServiceCheck {
    let mut r = service.child(d, block, Segment::Indexed("check", index));
    let name = r.string(d, "name").unwrap_or_default();
    if !name.is_empty() {
        d.map.alias(r.node, Segment::Labeled("check", name.clone()));
        r.set_what(format!("check {name:?}"));
    }
    let mut c = ServiceCheck {
        name,
        check_type: r.string(d, "type").unwrap_or_default(),
        command: r.string(d, "command").unwrap_or_default(),
        args: r.strings(d, "args").unwrap_or_default(),
        path: r.string(d, "path").unwrap_or_default(),
        protocol: r.string(d, "protocol").unwrap_or_default(),
        port_label: r.string(d, "port").unwrap_or_default(),
        expose: r.bool(d, "expose").unwrap_or(false),
        address_mode: r.string(d, "address_mode").unwrap_or_default(),
        advertise: r.string(d, "advertise").unwrap_or_default(),
        interval: r.duration(d, "interval").unwrap_or_default(),
        timeout: r.duration(d, "timeout").unwrap_or_default(),
        initial_status: r.string(d, "initial_status").unwrap_or_default(),
        notes: r.string(d, "notes").unwrap_or_default(),
        tls_server_name: r.string(d, "tls_server_name").unwrap_or_default(),
        tls_skip_verify: r.bool(d, "tls_skip_verify").unwrap_or(false),
        header: r.string_list_map(d, "header").unwrap_or_default(),
        method: r.string(d, "method").unwrap_or_default(),
        body: r.string(d, "body").unwrap_or_default(),
        grpc_service: r.string(d, "grpc_service").unwrap_or_default(),
        grpc_use_tls: r.bool(d, "grpc_use_tls").unwrap_or(false),
        task_name: r.string(d, "task").unwrap_or_default(),
        success_before_passing: r.int(d, "success_before_passing").unwrap_or(0),
        failures_before_critical: r.int(d, "failures_before_critical").unwrap_or(0),
        failures_before_warning: r.int(d, "failures_before_warning").unwrap_or(0),
        on_update: r.string(d, "on_update").unwrap_or_default(),
        ..ServiceCheck::default()
    };
    let check_restart = r.block(d, "check_restart");
    c.check_restart = check_restart.map(|b| misc::check_restart(d, &r, &b));
    r.finish(d);
    c
}
