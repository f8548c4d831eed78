//! Node, address and apex lookups, names outside the domain, and case.

use super::*;

fn txts(message: &Message) -> Vec<String> {
    let mut out: Vec<String> = message
        .answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::TXT(txt) => Some(
                txt.txt_data
                    .iter()
                    .map(|piece| String::from_utf8_lossy(piece).into_owned())
                    .collect::<String>(),
            ),
            _ => None,
        })
        .collect();
    out.sort();
    out
}

#[test]
fn node_lookups_answer_the_nodes_address() {
    for name in [
        "node-1.node.consul",
        "node-1.node.dc1.consul",
        "node-1.node.dc1.dc.consul",
    ] {
        let m = ask(name, RecordType::A);
        assert_eq!(ips(&m), [ip("10.0.0.1")], "{name}");
        assert!(m.metadata.authoritative);
    }
    assert_eq!(
        ips(&ask("node-v6.node.consul", RecordType::AAAA)),
        [ip("fd00::4")]
    );
    assert_eq!(
        ips(&ask("node-3.node.dc2.consul", RecordType::A)),
        [ip("10.0.1.3")]
    );
}

#[test]
fn node_meta_is_served_as_txt() {
    assert_eq!(
        txts(&ask("node-1.node.consul", RecordType::TXT)),
        ["hello", "rack=r1"]
    );
    let any = ask("node-1.node.consul", RecordType::ANY);
    assert_eq!(ips(&any), [ip("10.0.0.1")]);
    assert_eq!(txts(&any).len(), 2);
}

#[test]
fn unknown_nodes_are_nxdomain_and_other_types_nodata() {
    assert_nxdomain(&ask("ghost.node.consul", RecordType::A));
    assert_nxdomain(&ask("node-3.node.consul", RecordType::A)); // it is in dc2
    assert_nxdomain(&ask("node-1.node.dc2.consul", RecordType::A));
    assert_nodata(&ask("node-1.node.consul", RecordType::AAAA));
    assert_nodata(&ask("node-2.node.consul", RecordType::TXT)); // no meta
}

#[test]
fn addr_lookups_decode_the_hex_address() {
    assert_eq!(
        ips(&ask("0a000016.addr.dc1.consul", RecordType::A)),
        [ip("10.0.0.22")]
    );
    assert_eq!(
        ips(&ask("0a000016.addr.consul", RecordType::A)),
        [ip("10.0.0.22")]
    );
    assert_eq!(
        ips(&ask(
            "fd000000000000000000000000000004.addr.dc1.consul",
            RecordType::AAAA
        )),
        [ip("fd00::4")]
    );
    assert_nodata(&ask("0a000016.addr.dc1.consul", RecordType::AAAA));
    assert_nxdomain(&ask("0a0000.addr.dc1.consul", RecordType::A));
    assert_nxdomain(&ask("0a000016.addr.dc7.consul", RecordType::A));
}

#[test]
fn the_apex_answers_soa_and_ns() {
    let m = ask("consul.", RecordType::SOA);
    assert_eq!(m.metadata.response_code, ResponseCode::NoError);
    assert!(
        matches!(&m.answers[..], [r] if matches!(&r.data, RData::SOA(soa) if soa.serial == 42))
    );
    let m = ask("consul.", RecordType::NS);
    assert!(
        matches!(&m.answers[..], [r] if matches!(&r.data, RData::NS(ns) if ns.0.to_ascii() == "ns.consul.")),
        "{m}"
    );
    assert_nodata(&ask("consul.", RecordType::A));
}

#[test]
fn names_of_no_known_shape_are_nxdomain() {
    for name in [
        "a.b.redis.service.consul",
        "service.consul",
        "web.query.consul",
        "web.connect.consul",
        "x.y.consul",
    ] {
        assert_nxdomain(&ask(name, RecordType::A));
    }
}

#[test]
fn names_outside_the_domain_are_refused_without_recursors() {
    let m = ask("example.com.", RecordType::A);
    assert_eq!(m.metadata.response_code, ResponseCode::Refused);
    assert!(!m.metadata.authoritative, "not our zone");
    assert!(m.answers.is_empty());
}

#[test]
fn with_recursors_outside_names_are_forwarded() {
    let config = DnsConfig {
        recursors: vec!["127.0.0.1:53".parse().expect("addr")],
        ..DnsConfig::default()
    };
    let c = catalog();
    let query = query_bytes("example.com.", RecordType::A, None);
    assert_eq!(
        resolve(&query, Transport::Udp, &c, &config, 1),
        Resolution::Forward
    );
    // `answer` cannot forward: it refuses, and says recursion is available.
    let m = Message::from_vec(&answer(&query, Transport::Udp, &c, &config, 1).expect("reply"))
        .expect("decode");
    assert_eq!(m.metadata.response_code, ResponseCode::Refused);
    // Our own names are still ours, with RA set.
    let m = ask_with(
        &c,
        &config,
        "redis.service.consul",
        RecordType::A,
        Transport::Udp,
        None,
        1,
    );
    assert!(m.metadata.recursion_available);
    assert_eq!(ips(&m).len(), 2);
}

#[test]
fn names_fold_case_and_answers_keep_the_askers_case() {
    let m = ask("ReDiS.SeRvIcE.CoNsUl.", RecordType::A);
    assert_eq!(ips(&m).len(), 2);
    assert!(
        m.answers
            .iter()
            .all(|r| r.name.to_ascii() == "ReDiS.SeRvIcE.CoNsUl."),
        "{m}"
    );
    assert_eq!(
        ips(&ask("PRIMARY.redis.service.consul", RecordType::A)),
        [ip("10.0.0.1")]
    );
    assert_eq!(
        ips(&ask("NODE-1.NODE.DC1.CONSUL", RecordType::A)),
        [ip("10.0.0.1")]
    );
    assert_eq!(
        ips(&ask("0A000016.ADDR.consul", RecordType::A)),
        [ip("10.0.0.22")]
    );
    assert_eq!(
        srvs(&ask("_REDIS._TCP.service.consul", RecordType::SRV)).len(),
        2
    );
    // Registered in mixed case, asked in lower case.
    let mut c = MemoryCatalog::new();
    c.add_node("Box", "10.9.0.1", "dc1").add_instance(
        "MyApp",
        "Box",
        "",
        80,
        &["Blue"],
        HealthStatus::Passing,
    );
    let m = ask_with(
        &c,
        &DnsConfig::default(),
        "blue.myapp.service.consul",
        RecordType::SRV,
        Transport::Tcp,
        None,
        1,
    );
    assert_eq!(srvs(&m), [("Box.node.dc1.consul.".to_owned(), 80)]);
    let m = ask_with(
        &c,
        &DnsConfig::default(),
        "box.node.consul",
        RecordType::A,
        Transport::Tcp,
        None,
        1,
    );
    assert_eq!(ips(&m), [ip("10.9.0.1")]);
}
