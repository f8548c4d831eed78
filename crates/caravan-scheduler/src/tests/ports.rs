//! The host-port ledger through the scheduler: dynamic ranges, uniqueness across jobs,
//! static collisions, node reserved ports.

use std::collections::BTreeSet;

use proptest::prelude::*;

use super::harness::*;
use crate::Outcome;

fn host_ports(out: &Outcome) -> Vec<(String, u16)> {
    placed(out)
        .iter()
        .flat_map(|a| {
            a.allocated_resources
                .shared
                .ports
                .iter()
                .map(|p| (a.node_id.to_string(), p.value))
        })
        .collect()
}

#[test]
fn dynamic_ports_in_range_with_mapping() {
    let mut h = Harness::new();
    h.add_node(node("n1"));
    let out = h.run_job(with_ports(job("redis", 3), &["db", "metrics"], &[]));
    let allocs = placed(&out);
    for a in &allocs {
        let ports = &a.allocated_resources.shared.ports;
        assert_eq!(ports.len(), 2);
        for p in ports {
            assert!((20000..=32000).contains(&p.value), "{p:?}");
            assert_eq!(p.to, 8080);
            assert!(p.host_ip.starts_with("10.0.0."));
        }
        let net = &a.allocated_resources.shared.networks[0];
        assert!(net.ip.starts_with("10.0.0."));
        assert!(net.dynamic_ports.iter().all(|p| p.value >= 20000));
    }
    let ports = host_ports(&out);
    let unique: BTreeSet<_> = ports.iter().collect();
    assert_eq!(unique.len(), 6);
}

#[test]
fn node_dynamic_range_and_reserved_ports_are_respected() {
    let mut h = Harness::new();
    let mut n = node("n1");
    n.node_resources.min_dynamic_port = 40000;
    n.node_resources.max_dynamic_port = 40009;
    n.reserved_resources.networks.reserved_host_ports = "40000-40004,40006".into();
    h.add_node(n);
    let out = h.run_job(with_ports(job("web", 5), &["http"], &[]));
    let got: BTreeSet<u16> = host_ports(&out).into_iter().map(|(_, p)| p).collect();
    assert_eq!(got, BTreeSet::from([40005, 40007, 40008, 40009]));
    let metric = &out.eval_update.failed_tg_allocs["web"];
    assert_eq!(
        metric
            .dimension_exhausted
            .get("network: dynamic port selection failed"),
        Some(&1)
    );
}

#[test]
fn static_port_collision_blocks_with_the_reason() {
    let mut h = Harness::new();
    h.add_node(node("n1"));
    let out = h.run_job(with_ports(job("redis-a", 1), &[], &[("redis", 6379)]));
    assert_eq!(
        placed(&out)[0].allocated_resources.shared.ports[0].value,
        6379
    );
    let out = h.run_job(with_ports(job("redis-b", 1), &[], &[("redis", 6379)]));
    assert!(placed(&out).is_empty());
    let metric = &out.eval_update.failed_tg_allocs["web"];
    assert_eq!(
        metric
            .dimension_exhausted
            .get("network: reserved port collision redis=6379"),
        Some(&1)
    );
    assert!(out.blocked.is_some());
    // A port the agent reserves collides the same way.
    let mut n2 = node("n2");
    n2.reserved_resources.networks.reserved_host_ports = "22,6379".into();
    h.add_node(n2);
    let out = h.run(&out.blocked.clone().expect("blocked"));
    assert!(placed(&out).is_empty());
    assert_eq!(
        out.eval_update.failed_tg_allocs["web"]
            .dimension_exhausted
            .get("network: reserved port collision redis=6379"),
        Some(&2)
    );
}

#[test]
fn two_jobs_never_share_a_dynamic_port_on_a_small_range() {
    let mut h = Harness::new();
    let mut n = node("n1");
    n.node_resources.min_dynamic_port = 30000;
    n.node_resources.max_dynamic_port = 30019;
    h.add_node(n);
    let mut all = Vec::new();
    for i in 0..4 {
        let out = h.run_job(with_ports(job(&format!("j{i}"), 5), &["p"], &[]));
        all.extend(host_ports(&out));
    }
    let unique: BTreeSet<_> = all.iter().collect();
    assert_eq!((all.len(), unique.len()), (20, 20));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Many jobs with dynamic and static ports on one node: no host port is ever held by
    /// two live allocations, and every dynamic port is in the node's range.
    #[test]
    fn many_jobs_on_one_node_never_share_a_host_port(
        jobs in proptest::collection::vec((1i64..6, 0usize..4, proptest::option::of(7000i64..7004)), 1..12),
        seed in 0u64..1000,
    ) {
        let mut h = Harness::new();
        let mut n = sized_node("n1", 1_000_000, 1_000_000);
        n.node_resources.min_dynamic_port = 31000;
        n.node_resources.max_dynamic_port = 31063;
        n.reserved_resources.networks.reserved_host_ports = "31010-31019".into();
        h.add_node(n);
        for (i, (count, dynamic, fixed)) in jobs.into_iter().enumerate() {
            let labels: Vec<String> = (0..dynamic).map(|d| format!("d{d}")).collect();
            let labels: Vec<&str> = labels.iter().map(String::as_str).collect();
            let fixed: Vec<(&str, i64)> = fixed.map(|p| ("s", p)).into_iter().collect();
            let mut j = with_ports(job(&format!("job{i}-{seed}"), count), &labels, &fixed);
            j.meta.insert("seed".into(), seed.to_string());
            h.run_job(j);
        }
        let snap = h.snap();
        let mut seen = BTreeSet::new();
        for a in snap.allocs().filter(|a| !a.is_terminal()) {
            for p in &a.allocated_resources.shared.ports {
                prop_assert!(seen.insert(p.value), "port {} given twice", p.value);
                if p.label.starts_with('d') {
                    prop_assert!((31000..=31063).contains(&p.value));
                    prop_assert!(!(31010..=31019).contains(&p.value), "reserved port {}", p.value);
                }
            }
        }
    }
}
