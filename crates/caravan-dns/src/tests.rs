//! Unit tests of the resolver: every query form against a literal catalog, health
//! filtering, truncation, case, malformed packets, and the snapshot adapter.

use std::net::IpAddr;

use caravan_model::HealthStatus;
use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::SOA;
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};

use crate::*;

mod malformed;
mod names;
mod services;
mod snapshot;
mod truncation;

/// The catalog most tests read:
/// - nodes node-1 (10.0.0.1, meta), node-2 (10.0.0.2) and node-v6 (fd00::4) in dc1,
///   node-3 (10.0.1.3) in dc2;
/// - redis on node-1 at the node's address and on node-2 at its own;
/// - web: five instances with their own addresses;
/// - flaky: one passing, one warning, one critical; down: critical only;
/// - far: in dc2; v6: on node-v6; hosted: at a host name.
fn catalog() -> MemoryCatalog {
    use HealthStatus::*;
    let mut c = MemoryCatalog::new();
    c.add_node("node-1", "10.0.0.1", "dc1")
        .add_node("node-2", "10.0.0.2", "dc1")
        .add_node("node-v6", "fd00::4", "dc1")
        .add_node("node-3", "10.0.1.3", "dc2")
        .set_node_meta("node-1", "rack", "r1")
        .set_node_meta("node-1", "rfc1035-note", "hello")
        .set_serial(42);
    c.add_instance("redis", "node-1", "", 6379, &["cache", "primary"], Passing)
        .add_instance("redis", "node-2", "10.0.0.22", 6380, &["cache"], Passing);
    for i in 1..=5u16 {
        let node = if i % 2 == 0 { "node-2" } else { "node-1" };
        c.add_instance(
            "web",
            node,
            &format!("10.0.0.{}", 100 + i),
            8000 + i,
            &["v1"],
            Passing,
        );
    }
    c.add_instance("flaky", "node-1", "10.0.0.31", 80, &[], Passing)
        .add_instance("flaky", "node-2", "10.0.0.32", 80, &[], Warning)
        .add_instance("flaky", "node-2", "10.0.0.33", 80, &[], Critical)
        .add_instance("down", "node-1", "10.0.0.41", 80, &[], Critical)
        .add_instance("far", "node-3", "", 80, &[], Passing)
        .add_instance("v6", "node-v6", "", 443, &[], Passing)
        .add_instance("hosted", "node-1", "db.example.com", 5432, &[], Passing);
    c
}

fn query_bytes(name: &str, qtype: RecordType, edns: Option<u16>) -> Vec<u8> {
    let mut message = Message::new(0x1234, MessageType::Query, OpCode::Query);
    message.metadata.recursion_desired = true;
    message.add_query(Query::query(Name::from_ascii(name).expect("name"), qtype));
    if let Some(payload) = edns {
        let mut e = Edns::new();
        e.set_max_payload(payload);
        message.set_edns(e);
    }
    message.to_vec().expect("encode query")
}

fn ask_with(
    catalog: &dyn CatalogView,
    config: &DnsConfig,
    name: &str,
    qtype: RecordType,
    transport: Transport,
    edns: Option<u16>,
    seed: u64,
) -> Message {
    let bytes = answer(
        &query_bytes(name, qtype, edns),
        transport,
        catalog,
        config,
        seed,
    )
    .expect("an answer");
    Message::from_vec(&bytes).expect("a valid response")
}

/// Asks the standard catalog over TCP (no limits) with the default config.
fn ask(name: &str, qtype: RecordType) -> Message {
    ask_with(
        &catalog(),
        &DnsConfig::default(),
        name,
        qtype,
        Transport::Tcp,
        None,
        1,
    )
}

fn ips(message: &Message) -> Vec<IpAddr> {
    let mut ips: Vec<IpAddr> = message
        .answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::A(a) => Some(IpAddr::V4(a.0)),
            RData::AAAA(a) => Some(IpAddr::V6(a.0)),
            _ => None,
        })
        .collect();
    ips.sort();
    ips
}

fn ip(s: &str) -> IpAddr {
    s.parse().expect("ip")
}

/// (target, port) of each SRV answer, sorted.
fn srvs(message: &Message) -> Vec<(String, u16)> {
    let mut out: Vec<(String, u16)> = message
        .answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::SRV(srv) => {
                assert_eq!(
                    (srv.priority, srv.weight),
                    (1, 1),
                    "Consul's priority and weight"
                );
                Some((srv.target.to_ascii(), srv.port))
            }
            _ => None,
        })
        .collect();
    out.sort();
    out
}

/// (owner, address) of each additional address record, sorted.
fn additionals(message: &Message) -> Vec<(String, IpAddr)> {
    let mut out: Vec<(String, IpAddr)> = message
        .additionals
        .iter()
        .filter_map(|r| match &r.data {
            RData::A(a) => Some((r.name.to_ascii(), IpAddr::V4(a.0))),
            RData::AAAA(a) => Some((r.name.to_ascii(), IpAddr::V6(a.0))),
            _ => None,
        })
        .collect();
    out.sort();
    out
}

/// The SOA in AUTHORITY, asserting that it is the only record there.
fn authority_soa(message: &Message) -> (&Record, &SOA) {
    assert_eq!(message.authorities.len(), 1, "one SOA: {message}");
    let record = &message.authorities[0];
    match &record.data {
        RData::SOA(soa) => (record, soa),
        other => panic!("not an SOA: {other:?}"),
    }
}

fn assert_nxdomain(message: &Message) {
    assert_eq!(
        message.metadata.response_code,
        ResponseCode::NXDomain,
        "{message}"
    );
    assert!(message.answers.is_empty());
    assert!(message.metadata.authoritative);
    authority_soa(message);
}

fn assert_nodata(message: &Message) {
    assert_eq!(
        message.metadata.response_code,
        ResponseCode::NoError,
        "{message}"
    );
    assert!(message.answers.is_empty(), "{message}");
    assert!(message.metadata.authoritative);
    authority_soa(message);
}

fn assert_class_in(message: &Message) {
    for record in message.answers.iter().chain(&message.additionals) {
        if record.record_type() != RecordType::OPT {
            assert_eq!(record.dns_class, DNSClass::IN);
        }
    }
}
