//! `connect` and everything under it: the sidecar service and its proxy, upstreams,
//! expose paths, and the sidecar task.

use caravan_model::{
    Connect, ConnectExpose, ConnectProxy, ConnectUpstream, ExposePath, LogConfig, MeshGateway,
    Segment, SidecarService, SidecarTask,
};

use super::{misc, resources};
use crate::body::Block;
use crate::reader::{Decoder, Reader};

pub(super) fn decode(d: &mut Decoder<'_>, service: &Reader<'_>, block: &Block<'_>) -> Connect {
    let mut r = service.child(d, block, Segment::Field("connect"));
    let mut c = Connect {
        native: r.bool(d, "native").unwrap_or(false),
        ..Connect::default()
    };
    let sidecar_service = r.block(d, "sidecar_service");
    c.sidecar_service = sidecar_service.map(|b| sidecar(d, &r, &b));
    let sidecar_task = r.block(d, "sidecar_task");
    c.sidecar_task = sidecar_task.map(|b| task(d, &r, &b));
    c.gateway = r.opaque(d, "gateway");
    r.finish(d);
    c
}

fn sidecar(d: &mut Decoder<'_>, connect: &Reader<'_>, block: &Block<'_>) -> SidecarService {
    let mut r = connect.child(d, block, Segment::Field("sidecar_service"));
    let mut s = SidecarService {
        port: r.string(d, "port").unwrap_or_default(),
        tags: r.strings(d, "tags").unwrap_or_default(),
        meta: r.string_map(d, "meta").unwrap_or_default(),
        disable_default_tcp_check: r.bool(d, "disable_default_tcp_check").unwrap_or(false),
        ..SidecarService::default()
    };
    let proxy_block = r.block(d, "proxy");
    s.proxy = proxy_block.map(|b| proxy(d, &r, &b));
    r.finish(d);
    s
}

fn proxy(d: &mut Decoder<'_>, sidecar: &Reader<'_>, block: &Block<'_>) -> ConnectProxy {
    let mut r = sidecar.child(d, block, Segment::Field("proxy"));
    let mut p = ConnectProxy {
        local_service_address: r.string(d, "local_service_address").unwrap_or_default(),
        local_service_port: r.int(d, "local_service_port").unwrap_or(0),
        config: r.freeform(d, "config").unwrap_or_default(),
        ..ConnectProxy::default()
    };
    for (i, block) in r.blocks(d, "upstreams", 0).iter().enumerate() {
        p.upstreams.push(upstream(d, &r, block, i));
    }
    let expose_block = r.block(d, "expose");
    p.expose = expose_block.map(|b| expose(d, &r, &b));
    p.transparent_proxy = r.opaque(d, "transparent_proxy");
    r.finish(d);
    p
}

fn upstream(
    d: &mut Decoder<'_>,
    proxy: &Reader<'_>,
    block: &Block<'_>,
    index: usize,
) -> ConnectUpstream {
    let mut r = proxy.child(d, block, Segment::Indexed("upstreams", index));
    let destination_name = r.string(d, "destination_name").unwrap_or_default();
    if !destination_name.is_empty() {
        d.map.alias(
            r.node,
            Segment::Labeled("upstreams", destination_name.clone()),
        );
    }
    let mut u = ConnectUpstream {
        destination_name,
        destination_namespace: r.string(d, "destination_namespace").unwrap_or_default(),
        destination_peer: r.string(d, "destination_peer").unwrap_or_default(),
        destination_partition: r.string(d, "destination_partition").unwrap_or_default(),
        destination_type: r.string(d, "destination_type").unwrap_or_default(),
        local_bind_port: r.int(d, "local_bind_port").unwrap_or(0),
        local_bind_address: r.string(d, "local_bind_address").unwrap_or_default(),
        local_bind_socket_path: r.string(d, "local_bind_socket_path").unwrap_or_default(),
        local_bind_socket_mode: r.string(d, "local_bind_socket_mode").unwrap_or_default(),
        datacenter: r.string(d, "datacenter").unwrap_or_default(),
        config: r.freeform(d, "config").unwrap_or_default(),
        ..ConnectUpstream::default()
    };
    let gateway = r.block(d, "mesh_gateway");
    u.mesh_gateway = gateway.map(|b| {
        let mut r = r.child(d, &b, Segment::Field("mesh_gateway"));
        let g = MeshGateway {
            mode: r.string(d, "mode").unwrap_or_default(),
        };
        r.finish(d);
        g
    });
    r.finish(d);
    u
}

fn expose(d: &mut Decoder<'_>, proxy: &Reader<'_>, block: &Block<'_>) -> ConnectExpose {
    let mut r = proxy.child(d, block, Segment::Field("expose"));
    let mut e = ConnectExpose::default();
    for (i, block) in r.blocks(d, "path", 0).iter().enumerate() {
        let mut pr = r.child(d, block, Segment::Indexed("path", i));
        e.paths.push(ExposePath {
            path: pr.string(d, "path").unwrap_or_default(),
            protocol: pr.string(d, "protocol").unwrap_or_default(),
            local_path_port: pr.int(d, "local_path_port").unwrap_or(0),
            listener_port: pr.string(d, "listener_port").unwrap_or_default(),
        });
        pr.finish(d);
    }
    r.finish(d);
    e
}

fn task(d: &mut Decoder<'_>, connect: &Reader<'_>, block: &Block<'_>) -> SidecarTask {
    let mut r = connect.child(d, block, Segment::Field("sidecar_task"));
    let mut t = SidecarTask {
        name: r.string(d, "name").unwrap_or_default(),
        driver: r.string(d, "driver").unwrap_or_default(),
        user: r.string(d, "user").unwrap_or_default(),
        config: r.freeform(d, "config").unwrap_or_default(),
        env: r.string_map(d, "env").unwrap_or_default(),
        meta: r.string_map(d, "meta").unwrap_or_default(),
        kill_timeout: r.duration(d, "kill_timeout"),
        shutdown_delay: r.duration(d, "shutdown_delay"),
        kill_signal: r.string(d, "kill_signal").unwrap_or_default(),
        ..SidecarTask::default()
    };
    let res = r.block(d, "resources");
    t.resources = res.map(|b| resources::decode(d, &r, &b));
    let logs = r.block(d, "logs");
    t.log_config = logs.map(|b| -> LogConfig { misc::logs(d, &r, &b) });
    r.finish(d);
    t
}
