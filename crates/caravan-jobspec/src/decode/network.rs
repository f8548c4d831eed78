//! `network` blocks and their `port`, `dns` and `cni` blocks.

use caravan_model::{CniConfig, DnsConfig, NetworkResource, Port, Segment};

use crate::body::Block;
use crate::reader::{Decoder, Reader};

/// A network, at `segment` under its parent (a group's one network, or one of the
/// deprecated networks of a task's `resources`).
pub(super) fn decode(
    d: &mut Decoder<'_>,
    parent: &Reader<'_>,
    block: &Block<'_>,
    segment: Segment,
) -> NetworkResource {
    let mut r = parent.child(d, block, segment);
    let mut n = NetworkResource {
        mode: r.string(d, "mode").unwrap_or_default(),
        hostname: r.string(d, "hostname").unwrap_or_default(),
        mbits: r.int(d, "mbits"),
        ..NetworkResource::default()
    };
    // Every port is dynamic here; canonicalization moves the static ones.
    for block in r.blocks(d, "port", 1) {
        n.dynamic_ports.push(port(d, &r, &block));
    }
    let dns = r.block(d, "dns");
    n.dns = dns.map(|b| {
        let mut r = r.child(d, &b, Segment::Field("dns"));
        let dns = DnsConfig {
            servers: r.strings(d, "servers").unwrap_or_default(),
            searches: r.strings(d, "searches").unwrap_or_default(),
            options: r.strings(d, "options").unwrap_or_default(),
        };
        r.finish(d);
        dns
    });
    let cni = r.block(d, "cni");
    n.cni = cni.map(|b| {
        let mut r = r.child(d, &b, Segment::Field("cni"));
        let cni = CniConfig {
            args: r.string_map(d, "args").unwrap_or_default(),
        };
        r.finish(d);
        cni
    });
    r.finish(d);
    n
}

fn port(d: &mut Decoder<'_>, network: &Reader<'_>, block: &Block<'_>) -> Port {
    let label = block.labels.first().map_or("", |l| l.text).to_owned();
    let mut r = network.child(d, block, Segment::Labeled("port", label.clone()));
    let port = Port {
        label,
        value: r.int(d, "static").unwrap_or(0),
        to: r.int(d, "to").unwrap_or(0),
        host_network: r.string(d, "host_network").unwrap_or_default(),
        ignore_collision: r.bool(d, "ignore_collision").unwrap_or(false),
    };
    r.finish(d);
    port
}
