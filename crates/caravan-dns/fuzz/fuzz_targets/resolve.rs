//! Any packet, over either transport: the resolver answers with a response to the same
//! id, or drops it; it never panics.

#![no_main]

use std::sync::OnceLock;

use caravan_dns::{DnsConfig, MemoryCatalog, Transport, answer};
use caravan_model::HealthStatus;
use libfuzzer_sys::fuzz_target;

fn catalog() -> &'static MemoryCatalog {
    static CATALOG: OnceLock<MemoryCatalog> = OnceLock::new();
    CATALOG.get_or_init(|| {
        let mut c = MemoryCatalog::new();
        c.add_node("node-1", "10.0.0.1", "dc1")
            .add_node("node-2", "fd00::2", "dc2")
            .set_node_meta("node-1", "rack", "r1")
            .add_instance(
                "redis",
                "node-1",
                "",
                6379,
                &["cache"],
                HealthStatus::Passing,
            )
            .add_instance(
                "redis",
                "node-2",
                "10.0.0.22",
                6380,
                &[],
                HealthStatus::Warning,
            )
            .add_instance(
                "web",
                "node-1",
                "db.example.com",
                80,
                &[],
                HealthStatus::Passing,
            )
            .add_instance("down", "node-1", "", 1, &[], HealthStatus::Critical);
        for i in 0..20u16 {
            c.add_instance(
                "big",
                "node-1",
                &format!("10.1.0.{i}"),
                1000 + i,
                &[],
                HealthStatus::Passing,
            );
        }
        c
    })
}

fuzz_target!(|data: &[u8]| {
    let config = DnsConfig::default();
    for transport in [Transport::Udp, Transport::Tcp] {
        if let Some(reply) = answer(data, transport, catalog(), &config, 1) {
            assert!(reply.len() >= 12, "a reply has a header");
            assert_eq!(reply[..2], data[..2], "the id is echoed");
            assert_ne!(reply[2] & 0x80, 0, "QR is set");
            if transport == Transport::Udp {
                assert!(reply.len() <= 4096, "UDP replies stay within 4096 bytes");
            }
        }
    }
});
