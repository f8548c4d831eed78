//! How much of an answer each transport carries: the UDP answer limit, the 512-byte and
//! EDNS payload sizes, and TCP carrying everything.

use super::*;

fn web(config: &DnsConfig, qtype: RecordType, transport: Transport, edns: Option<u16>) -> Message {
    ask_with(
        &catalog(),
        config,
        "web.service.consul",
        qtype,
        transport,
        edns,
        7,
    )
}

#[test]
fn udp_without_edns_carries_three_answers_and_sets_tc() {
    let m = web(&DnsConfig::default(), RecordType::A, Transport::Udp, None);
    assert_eq!(m.answers.len(), 3);
    assert!(
        m.metadata.truncation,
        "TC tells the client to retry over TCP"
    );
    assert!(m.edns.is_none(), "no OPT for a query without one");
}

#[test]
fn tcp_carries_every_answer() {
    let m = web(&DnsConfig::default(), RecordType::A, Transport::Tcp, None);
    assert_eq!(m.answers.len(), 5);
    assert!(!m.metadata.truncation);
}

#[test]
fn srv_over_udp_keeps_the_additionals_of_the_answers_kept() {
    let m = web(&DnsConfig::default(), RecordType::SRV, Transport::Udp, None);
    assert_eq!(m.answers.len(), 3);
    assert!(m.metadata.truncation);
    let targets: Vec<String> = srvs(&m).into_iter().map(|(t, _)| t).collect();
    let extra: Vec<String> = additionals(&m).into_iter().map(|(t, _)| t).collect();
    assert_eq!(targets, extra);
}

#[test]
fn edns_queries_are_bounded_by_size_only() {
    let m = web(
        &DnsConfig::default(),
        RecordType::A,
        Transport::Udp,
        Some(1232),
    );
    assert_eq!(m.answers.len(), 5);
    assert!(!m.metadata.truncation);
    let edns = m.edns.as_ref().expect("OPT answered with OPT");
    assert_eq!(edns.max_payload(), 1232);
    assert_eq!(edns.version(), 0);
}

#[test]
fn the_answer_limit_is_configurable_and_tc_optional() {
    let unlimited = DnsConfig {
        udp_answer_limit: 0,
        ..DnsConfig::default()
    };
    let m = web(&unlimited, RecordType::A, Transport::Udp, None);
    assert_eq!((m.answers.len(), m.metadata.truncation), (5, false));
    let quiet = DnsConfig {
        enable_truncate: false,
        ..DnsConfig::default()
    };
    let m = web(&quiet, RecordType::A, Transport::Udp, None);
    assert_eq!(
        (m.answers.len(), m.metadata.truncation),
        (3, false),
        "Consul's default"
    );
}

fn big_catalog(instances: u16) -> MemoryCatalog {
    let mut c = MemoryCatalog::new();
    c.add_node("a-rather-long-node-name-to-fill-packets", "10.0.0.1", "dc1");
    for i in 0..instances {
        let address = format!("10.1.{}.{}", i / 250, i % 250 + 1);
        c.add_instance(
            "big",
            "a-rather-long-node-name-to-fill-packets",
            &address,
            10_000 + i,
            &[],
            HealthStatus::Passing,
        );
    }
    c
}

#[test]
fn answers_that_do_not_fit_the_payload_are_cut_with_tc() {
    let c = big_catalog(300);
    let config = DnsConfig {
        udp_answer_limit: 0,
        ..DnsConfig::default()
    };
    for (edns, limit) in [
        (None, 512),
        (Some(512), 512),
        (Some(1232), 1232),
        (Some(65000), 4096),
    ] {
        let bytes = answer(
            &query_bytes("big.service.consul", RecordType::A, edns),
            Transport::Udp,
            &c,
            &config,
            1,
        )
        .expect("answer");
        assert!(bytes.len() <= limit, "{} > {limit}", bytes.len());
        let m = Message::from_vec(&bytes).expect("decode");
        assert!(m.metadata.truncation, "{edns:?}");
        assert!(
            !m.answers.is_empty() && m.answers.len() < 300,
            "{edns:?}: {}",
            m.answers.len()
        );
    }
    let m = ask_with(
        &c,
        &config,
        "big.service.consul",
        RecordType::A,
        Transport::Tcp,
        None,
        1,
    );
    assert_eq!((m.answers.len(), m.metadata.truncation), (300, false));
}

#[test]
fn srv_additionals_are_dropped_before_answers_without_tc() {
    // Instances on nodes of their own with long names: each SRV carries a long target
    // and each target an additional A record. Some count fits 1232 bytes with its
    // answers but not with their additionals.
    let mut dropped_extras_at = None;
    for n in 1..40u16 {
        let mut c = MemoryCatalog::new();
        for i in 0..n {
            let node = format!("a-rather-long-node-name-to-fill-packets-{i}");
            c.add_node(&node, &format!("10.2.0.{}", i + 1), "dc1")
                .add_instance("big", &node, "", 9000 + i, &[], HealthStatus::Passing);
        }
        let bytes = answer(
            &query_bytes("big.service.consul", RecordType::SRV, Some(1232)),
            Transport::Udp,
            &c,
            &DnsConfig::default(),
            1,
        )
        .expect("answer");
        assert!(bytes.len() <= 1232);
        let m = Message::from_vec(&bytes).expect("decode");
        let (answers, extras) = (m.answers.len(), additionals(&m).len());
        if answers == usize::from(n) && extras == 0 {
            assert!(
                !m.metadata.truncation,
                "additionals are optional (RFC 2181 9)"
            );
            dropped_extras_at.get_or_insert(n);
        } else if answers == usize::from(n) {
            assert_eq!(extras, answers);
        } else {
            assert!(m.metadata.truncation);
            assert!(extras == 0 || extras == answers);
        }
    }
    assert!(
        dropped_extras_at.is_some(),
        "some size keeps answers but not additionals"
    );
}
