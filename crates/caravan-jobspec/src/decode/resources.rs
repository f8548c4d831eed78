//! `resources` and its `device` blocks (and the deprecated `network` inside it).

use caravan_model::{RequestedDevice, Resources, Segment};

use super::{network, placement};
use crate::body::Block;
use crate::reader::{Decoder, Reader};

pub(super) fn decode(d: &mut Decoder<'_>, task: &Reader<'_>, block: &Block<'_>) -> Resources {
    let mut r = task.child(d, block, Segment::Field("resources"));
    let mut res = Resources {
        cpu: r.int(d, "cpu"),
        cores: r.int(d, "cores"),
        memory_mb: r.int(d, "memory"),
        memory_max_mb: r.int(d, "memory_max"),
        disk_mb: r.int(d, "disk"),
        ..Resources::default()
    };
    for (i, block) in r.blocks(d, "network", 0).iter().enumerate() {
        res.networks.push(network::decode(
            d,
            &r,
            block,
            Segment::Indexed("network", i),
        ));
    }
    for block in r.blocks(d, "device", 1) {
        res.devices.push(device(d, &r, &block));
    }
    r.finish(d);
    res
}

fn device(d: &mut Decoder<'_>, resources: &Reader<'_>, block: &Block<'_>) -> RequestedDevice {
    let name = block.labels.first().map_or("", |l| l.text).to_owned();
    let mut r = resources.child(d, block, Segment::Labeled("device", name.clone()));
    let count = r.uint(d, "count");
    let mut device = RequestedDevice {
        name,
        count,
        ..RequestedDevice::default()
    };
    device.constraints = placement::constraints(d, &mut r);
    device.affinities = placement::affinities(d, &mut r);
    r.finish(d);
    device
}
