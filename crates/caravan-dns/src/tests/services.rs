//! Service lookups: A/AAAA, SRV with additionals, tags, RFC 2782, health filtering,
//! datacenters, TTLs and the shuffle.

use std::collections::BTreeMap;
use std::time::Duration;

use super::*;

#[test]
fn a_has_one_record_per_instance_at_its_or_its_nodes_address() {
    let m = ask("redis.service.consul", RecordType::A);
    assert_eq!(m.metadata.response_code, ResponseCode::NoError);
    assert_eq!(m.metadata.id, 0x1234);
    assert!(
        m.metadata.authoritative,
        "answers for our domain are authoritative"
    );
    assert!(
        !m.metadata.recursion_available,
        "no recursors, no recursion"
    );
    assert!(m.metadata.recursion_desired, "RD is echoed");
    assert_eq!(m.queries.len(), 1, "the question is echoed");
    assert_eq!(ips(&m), [ip("10.0.0.1"), ip("10.0.0.22")]);
    assert!(
        m.answers.iter().all(|r| r.ttl == 0),
        "Consul's default TTL is 0"
    );
    assert!(m.authorities.is_empty() && m.additionals.is_empty());
    assert_class_in(&m);
}

#[test]
fn srv_targets_the_node_or_the_hex_address_with_a_records_in_additional() {
    let m = ask("redis.service.consul", RecordType::SRV);
    assert_eq!(
        srvs(&m),
        [
            ("0a000016.addr.dc1.consul.".to_owned(), 6380),
            ("node-1.node.dc1.consul.".to_owned(), 6379),
        ]
    );
    assert_eq!(
        additionals(&m),
        [
            ("0a000016.addr.dc1.consul.".to_owned(), ip("10.0.0.22")),
            ("node-1.node.dc1.consul.".to_owned(), ip("10.0.0.1")),
        ]
    );
}

#[test]
fn srv_lists_each_target_once_in_additional() {
    let mut c = catalog();
    c.add_instance("multi", "node-1", "", 1, &[], HealthStatus::Passing)
        .add_instance("multi", "node-1", "", 2, &[], HealthStatus::Passing);
    let m = ask_with(
        &c,
        &DnsConfig::default(),
        "multi.service.consul",
        RecordType::SRV,
        Transport::Tcp,
        None,
        1,
    );
    assert_eq!(srvs(&m).len(), 2);
    assert_eq!(
        additionals(&m),
        [("node-1.node.dc1.consul.".to_owned(), ip("10.0.0.1"))]
    );
}

#[test]
fn a_records_are_not_repeated_for_instances_sharing_an_address() {
    let mut c = MemoryCatalog::new();
    c.add_node("n", "10.0.0.9", "dc1")
        .add_instance("twice", "n", "", 1, &[], HealthStatus::Passing)
        .add_instance("twice", "n", "", 2, &[], HealthStatus::Passing);
    let m = ask_with(
        &c,
        &DnsConfig::default(),
        "twice.service.consul",
        RecordType::A,
        Transport::Tcp,
        None,
        1,
    );
    assert_eq!(ips(&m), [ip("10.0.0.9")]);
}

#[test]
fn tag_lookups_filter_instances() {
    assert_eq!(
        ips(&ask("cache.redis.service.consul", RecordType::A)).len(),
        2
    );
    assert_eq!(
        ips(&ask("primary.redis.service.consul", RecordType::A)),
        [ip("10.0.0.1")]
    );
    assert_eq!(
        srvs(&ask("primary.redis.service.consul", RecordType::SRV)),
        [("node-1.node.dc1.consul.".to_owned(), 6379)]
    );
    assert_nxdomain(&ask("nope.redis.service.consul", RecordType::A));
}

#[test]
fn rfc2782_lookups_treat_tcp_and_udp_as_no_tag() {
    for name in [
        "_redis._tcp.service.consul",
        "_redis._udp.service.consul",
        "_redis._tcp.service.dc1.consul",
        "_redis._tcp.consul",
        "_redis._cache.service.consul",
    ] {
        assert_eq!(srvs(&ask(name, RecordType::SRV)).len(), 2, "{name}");
    }
    assert_eq!(
        srvs(&ask("_redis._primary.service.consul", RecordType::SRV)),
        [("node-1.node.dc1.consul.".to_owned(), 6379)]
    );
    assert_nxdomain(&ask("_redis._nope.service.consul", RecordType::SRV));
}

#[test]
fn critical_instances_are_never_served_and_warning_ones_by_default() {
    assert_eq!(
        ips(&ask("flaky.service.consul", RecordType::A)),
        [ip("10.0.0.31"), ip("10.0.0.32")]
    );
    let only_passing = DnsConfig {
        only_passing: true,
        ..DnsConfig::default()
    };
    let m = ask_with(
        &catalog(),
        &only_passing,
        "flaky.service.consul",
        RecordType::A,
        Transport::Tcp,
        None,
        1,
    );
    assert_eq!(ips(&m), [ip("10.0.0.31")]);
}

#[test]
fn a_failing_check_takes_an_instance_out_and_recovery_brings_it_back() {
    let mut c = catalog();
    c.set_health("redis", "node-2", HealthStatus::Critical);
    let m = ask_with(
        &c,
        &DnsConfig::default(),
        "redis.service.consul",
        RecordType::A,
        Transport::Tcp,
        None,
        1,
    );
    assert_eq!(ips(&m), [ip("10.0.0.1")]);
    c.set_health("redis", "node-2", HealthStatus::Passing);
    let m = ask_with(
        &c,
        &DnsConfig::default(),
        "redis.service.consul",
        RecordType::A,
        Transport::Tcp,
        None,
        1,
    );
    assert_eq!(ips(&m).len(), 2);
}

#[test]
fn unknown_and_fully_filtered_services_are_nxdomain_with_the_soa() {
    let m = ask("nothing.service.consul", RecordType::A);
    assert_nxdomain(&m);
    let (record, soa) = authority_soa(&m);
    assert_eq!(record.name.to_ascii(), "consul.");
    assert_eq!(soa.mname.to_ascii(), "ns.consul.");
    assert_eq!(soa.rname.to_ascii(), "hostmaster.consul.");
    assert_eq!(
        (soa.serial, soa.refresh, soa.retry, soa.expire, soa.minimum),
        (42, 3600, 600, 86400, 0)
    );
    // consul#1142: every instance critical is the same as none.
    assert_nxdomain(&ask("down.service.consul", RecordType::A));
    assert_nxdomain(&ask("down.service.consul", RecordType::SRV));
}

#[test]
fn an_existing_name_without_that_type_is_nodata() {
    assert_nodata(&ask("redis.service.consul", RecordType::TXT));
    assert_nodata(&ask("redis.service.consul", RecordType::AAAA));
    assert_nodata(&ask("v6.service.consul", RecordType::A));
    assert_nodata(&ask("hosted.service.consul", RecordType::A));
}

#[test]
fn ipv6_instances_answer_aaaa() {
    assert_eq!(
        ips(&ask("v6.service.consul", RecordType::AAAA)),
        [ip("fd00::4")]
    );
    let m = ask("v6.service.consul", RecordType::SRV);
    assert_eq!(srvs(&m), [("node-v6.node.dc1.consul.".to_owned(), 443)]);
    assert_eq!(
        additionals(&m),
        [("node-v6.node.dc1.consul.".to_owned(), ip("fd00::4"))]
    );
}

#[test]
fn any_answers_both_families() {
    let mut c = catalog();
    c.add_instance("dual", "node-1", "10.0.0.50", 1, &[], HealthStatus::Passing)
        .add_instance("dual", "node-1", "fd00::50", 1, &[], HealthStatus::Passing);
    let m = ask_with(
        &c,
        &DnsConfig::default(),
        "dual.service.consul",
        RecordType::ANY,
        Transport::Tcp,
        None,
        1,
    );
    assert_eq!(ips(&m), [ip("10.0.0.50"), ip("fd00::50")]);
}

#[test]
fn a_host_name_address_is_the_srv_target_itself() {
    let m = ask("hosted.service.consul", RecordType::SRV);
    assert_eq!(srvs(&m), [("db.example.com.".to_owned(), 5432)]);
    assert!(m.additionals.is_empty());
}

#[test]
fn datacenters_select_instances_and_unknown_ones_are_nxdomain() {
    assert_nxdomain(&ask("far.service.consul", RecordType::A));
    assert_eq!(
        ips(&ask("far.service.dc2.consul", RecordType::A)),
        [ip("10.0.1.3")]
    );
    assert_eq!(
        ips(&ask("far.service.DC2.dc.consul", RecordType::A)),
        [ip("10.0.1.3")]
    );
    assert_eq!(
        srvs(&ask("far.service.dc2.consul", RecordType::SRV)),
        [("node-3.node.dc2.consul.".to_owned(), 80)]
    );
    assert_eq!(
        ips(&ask("redis.service.dc1.consul", RecordType::A)).len(),
        2
    );
    assert_nxdomain(&ask("redis.service.dc2.consul", RecordType::A));
    assert_nxdomain(&ask("redis.service.dc9.consul", RecordType::A));
}

#[test]
fn service_ttl_applies_by_name_with_prefix_entries() {
    let config = DnsConfig {
        service_ttl: BTreeMap::from([
            ("*".to_owned(), Duration::from_secs(5)),
            ("red*".to_owned(), Duration::from_secs(30)),
        ]),
        ..DnsConfig::default()
    };
    let m = ask_with(
        &catalog(),
        &config,
        "redis.service.consul",
        RecordType::SRV,
        Transport::Tcp,
        None,
        1,
    );
    assert!(
        m.answers.iter().chain(&m.additionals).all(|r| r.ttl == 30),
        "{m}"
    );
    let m = ask_with(
        &catalog(),
        &config,
        "web.service.consul",
        RecordType::A,
        Transport::Tcp,
        None,
        1,
    );
    assert!(m.answers.iter().all(|r| r.ttl == 5));
}

#[test]
fn answers_are_shuffled_by_the_seed() {
    let order = |seed| {
        let m = ask_with(
            &catalog(),
            &DnsConfig::default(),
            "web.service.consul",
            RecordType::A,
            Transport::Tcp,
            None,
            seed,
        );
        m.answers.iter().map(|r| r.data.clone()).collect::<Vec<_>>()
    };
    assert_eq!(order(3), order(3), "the same seed gives the same order");
    let orders: std::collections::HashSet<_> = (0..20).map(|s| format!("{:?}", order(s))).collect();
    assert!(
        orders.len() > 5,
        "different seeds give different orders: {}",
        orders.len()
    );
}

#[test]
fn another_domain_and_datacenter_are_configurable() {
    let config = DnsConfig {
        domain: "cluster.local".into(),
        datacenter: "east".into(),
        ..DnsConfig::default()
    };
    let mut c = MemoryCatalog::new();
    c.add_node("n1", "10.1.0.1", "east").add_instance(
        "api",
        "n1",
        "",
        80,
        &[],
        HealthStatus::Passing,
    );
    let m = ask_with(
        &c,
        &config,
        "api.service.cluster.local",
        RecordType::SRV,
        Transport::Tcp,
        None,
        1,
    );
    assert_eq!(srvs(&m), [("n1.node.east.cluster.local.".to_owned(), 80)]);
    let m = ask_with(
        &c,
        &config,
        "gone.service.cluster.local",
        RecordType::A,
        Transport::Tcp,
        None,
        1,
    );
    let (record, soa) = authority_soa(&m);
    assert_eq!(record.name.to_ascii(), "cluster.local.");
    assert_eq!(soa.mname.to_ascii(), "ns.cluster.local.");
    let m = ask_with(
        &c,
        &config,
        "api.service.consul",
        RecordType::A,
        Transport::Tcp,
        None,
        1,
    );
    assert_eq!(
        m.metadata.response_code,
        ResponseCode::Refused,
        "consul. is not ours now"
    );
}
